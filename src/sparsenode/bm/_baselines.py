"""Cheap reference GRN baselines: co-expression, time-lagged correlation and ridge regression of derivatives.

Each baseline returns an edge DataFrame with one row per ordered pair of distinct genes, columns ``source``,
``target``, ``weight`` (float) and ``sign`` (int, -1/0/+1), sorted by decreasing ``|weight|``, ready for
:func:`sparsenode.bm.score`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from ..pp import bin_trajectories

__all__ = ["BASELINES", "lagged_correlation_grn", "pearson_grn", "ridge_derivative_grn"]


def _edges_from_matrix(mat: np.ndarray, names, *, absolute: bool) -> pd.DataFrame:
    """Ordered pairs without self-loops from a d x d matrix (rows = source); NaN becomes 0."""
    mat = np.nan_to_num(np.asarray(mat, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    d = mat.shape[0]
    src, tgt = np.nonzero(~np.eye(d, dtype=bool))
    vals = mat[src, tgt]
    names = np.asarray([str(n) for n in names], dtype=object)
    out = pd.DataFrame(
        {
            "source": names[src],
            "target": names[tgt],
            "weight": np.abs(vals) if absolute else vals,
            "sign": np.sign(vals).astype(np.int64),
        }
    )
    order = np.argsort(-np.abs(vals), kind="mergesort")
    return out.iloc[order].reset_index(drop=True)


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of every column of ``a`` with every column of ``b`` (NaN for constant columns)."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    na = np.sqrt((a * a).sum(axis=0))
    nb = np.sqrt((b * b).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (a.T @ b) / np.outer(na, nb)
    c[~np.isfinite(c)] = np.nan
    return np.clip(c, -1.0, 1.0)


def _check(adata) -> None:
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    if adata.n_vars < 2:
        raise ValueError(f"a network needs at least 2 genes; adata has {adata.n_vars}")


def pearson_grn(adata: AnnData, *, genes=None, layer: str | None = None) -> pd.DataFrame:
    """Co-expression baseline: absolute Pearson correlation across cells.

    The correlation is symmetric, so both directions of a pair get the same weight.

    Parameters
    ----------
    adata
        Cells x genes.
    genes
        Genes to include (default: all).
    layer
        Layer to read instead of ``adata.X``.

    Returns
    -------
    Edges ``source``, ``target``, ``weight`` (``|r|``; 0 for constant genes), ``sign`` (sign of ``r``).

    Examples
    --------
    >>> import numpy as np, anndata as ad
    >>> from sparsenode.bm import pearson_grn
    >>> x = np.array([[0.0, 1.0, 2.0], [1.0, 0.5, 1.0], [2.0, 0.0, 3.0]])
    >>> adata = ad.AnnData(x)
    >>> adata.var_names = ["a", "b", "c"]
    >>> edges = pearson_grn(adata)
    >>> top = edges.iloc[0]
    >>> top["source"], top["target"], int(top["sign"]), round(float(top["weight"]), 3)
    ('a', 'b', -1, 1.0)
    """
    _check(adata)
    sub = adata if genes is None else adata[:, list(genes)]
    x = sub.X if layer is None else sub.layers[layer]
    if adata.n_obs < 3:
        raise ValueError(f"correlation needs at least 3 cells; adata has {adata.n_obs}")
    x = x.toarray() if sp.issparse(x) else np.asarray(x)
    c = _corr(x.astype(np.float64), x.astype(np.float64))
    return _edges_from_matrix(c, sub.var_names, absolute=True)


def _trajectories(adata, time_key, lineage_key, n_bins, genes, layer):
    return bin_trajectories(
        adata, time_key=time_key, lineage_key=lineage_key, n_bins=n_bins, genes=genes, layer=layer, scaling="minmax"
    )


def lagged_correlation_grn(
    adata: AnnData,
    *,
    time_key: str = "time",
    lineage_key: str | None = "lineage",
    n_bins: int = 30,
    lag: int = 1,
    genes=None,
    layer: str | None = None,
) -> pd.DataFrame:
    """Time-lagged correlation baseline: ``corr(x_source(t), x_target(t + lag))`` on binned trajectories.

    Cells are averaged into ``n_bins`` pseudotime bins per lineage (:func:`sparsenode.pp.bin_trajectories`); every
    pair of bins ``(b, b + lag)`` of a lineage where both bins hold cells is one observation, and the observations of
    all lineages are pooled before correlating.

    Parameters
    ----------
    adata
        Cells x genes with a time column.
    time_key
        Column of ``adata.obs`` with (pseudo)time.
    lineage_key
        Lineage column of ``adata.obs`` or membership matrix in ``adata.obsm`` (e.g. ``"lineages"`` from
        :func:`sparsenode.io.read_beeline`, which keeps shared progenitors in every lineage); None: one trajectory.
    n_bins
        Number of pseudotime bins.
    lag
        Lag in bins (>= 1).
    genes
        Genes to include (default: all).
    layer
        Layer to read instead of ``adata.X``.

    Returns
    -------
    Edges ``source``, ``target``, ``weight`` (``|r|``), ``sign`` (sign of ``r``).

    Examples
    --------
    >>> import numpy as np, pandas as pd, anndata as ad
    >>> from sparsenode.bm import lagged_correlation_grn
    >>> t = np.linspace(0, 1, 200)
    >>> obs = pd.DataFrame({"time": t}, index=[f"cell{i}" for i in range(t.size)])
    >>> adata = ad.AnnData(np.c_[np.sin(6 * t), np.sin(6 * t - 0.6)], obs=obs)
    >>> adata.var_names = ["up", "down"]
    >>> edges = lagged_correlation_grn(adata, lineage_key=None, n_bins=20, lag=2)
    >>> edges.iloc[0]["source"]
    'up'
    """
    _check(adata)
    lag = int(lag)
    if lag < 1:
        raise ValueError(f"lag must be at least 1 bin, got {lag}")
    if lag >= n_bins - 1:
        raise ValueError(f"lag ({lag}) must be smaller than n_bins - 1 ({n_bins - 1})")
    traj = _trajectories(adata, time_key, lineage_key, n_bins, genes, layer)
    v, m = traj.values.astype(np.float64), traj.mask
    both = m[:, :-lag] & m[:, lag:]
    src = v[:, :-lag][both]
    tgt = v[:, lag:][both]
    if src.shape[0] < 3:
        raise ValueError(
            f"only {src.shape[0]} pair(s) of non-empty bins {lag} apart; lower lag or n_bins (at least 3 are needed)"
        )
    c = _corr(src, tgt)
    return _edges_from_matrix(c, traj.var_names, absolute=True)


def ridge_derivative_grn(
    adata: AnnData,
    *,
    time_key: str = "time",
    lineage_key: str | None = "lineage",
    n_bins: int = 30,
    alpha: float = 1.0,
    genes=None,
    layer: str | None = None,
) -> pd.DataFrame:
    """Linear-ODE baseline: ridge regression of trajectory derivatives on expression.

    Per lineage, the derivative between consecutive non-empty bins ``b1 < b2`` is
    ``(x[b2] - x[b1]) / (t[b2] - t[b1])`` (time normalised to ``[0, 1]``) and is regressed, with an intercept, on the
    midpoint ``(x[b1] + x[b2]) / 2``; the observations of all lineages are pooled. Solves
    ``dx/dt ≈ x W + c`` with penalty ``alpha * ||W||²``; ``W[source, target]`` is the edge weight.

    Parameters
    ----------
    adata
        Cells x genes with a time column.
    time_key
        Column of ``adata.obs`` with (pseudo)time.
    lineage_key
        Lineage column of ``adata.obs`` or membership matrix in ``adata.obsm``; None: one trajectory.
    n_bins
        Number of pseudotime bins.
    alpha
        Ridge penalty (> 0).
    genes
        Genes to include (default: all).
    layer
        Layer to read instead of ``adata.X``.

    Returns
    -------
    Edges ``source``, ``target``, ``weight`` (the signed coefficient), ``sign``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, anndata as ad
    >>> from sparsenode.bm import ridge_derivative_grn
    >>> t = np.linspace(0, 1, 300)
    >>> a = np.exp(-3 * t)
    >>> b = 1 - a  # b grows while a decays: db/dt = 3 a
    >>> obs = pd.DataFrame({"time": t}, index=[f"cell{i}" for i in range(t.size)])
    >>> adata = ad.AnnData(np.c_[a, b], obs=obs)
    >>> adata.var_names = ["a", "b"]
    >>> edges = ridge_derivative_grn(adata, lineage_key=None, n_bins=20, alpha=1e-3)
    >>> int(edges.set_index(["source", "target"]).loc[("a", "b"), "sign"])
    1
    """
    _check(adata)
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    traj = _trajectories(adata, time_key, lineage_key, n_bins, genes, layer)
    v = traj.values.astype(np.float64)
    t = traj.times.astype(np.float64)
    xs, dxs = [], []
    for li in range(traj.n_lineages):
        b = np.flatnonzero(traj.mask[li])
        if b.size < 2:
            continue
        b1, b2 = b[:-1], b[1:]
        dxs.append((v[li, b2] - v[li, b1]) / (t[b2] - t[b1])[:, None])
        xs.append((v[li, b2] + v[li, b1]) / 2.0)
    if not xs or sum(len(x) for x in xs) < 2:
        raise ValueError("too few non-empty bins to estimate derivatives; lower n_bins or give more cells")
    x = np.concatenate(xs)
    dx = np.concatenate(dxs)
    xc = x - x.mean(axis=0)
    dxc = dx - dx.mean(axis=0)
    d = x.shape[1]
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(d), xc.T @ dxc)
    return _edges_from_matrix(w, traj.var_names, absolute=False)


BASELINES: dict[str, Callable[..., pd.DataFrame]] = {
    "pearson": pearson_grn,
    "lagged_correlation": lagged_correlation_grn,
    "ridge_derivative": ridge_derivative_grn,
}
