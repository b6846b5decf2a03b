"""Out-of-distribution evaluation (held-out batches/donors) and the spurious-feature sparsity of a fit."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys as K
from ..model import SparseNODE

logger = logging.getLogger(__name__)

HELDOUT_SCALINGS = ("lineage", "model", "none")
#: Points of the uniform grid a fixed-step solver integrates on before interpolating to the cells' times.


def spurious_feature_sparsity(adjacency: np.ndarray, var_names, regulators, threshold: float = 1e-3) -> float:
    """Feature sparsity restricted to inputs that are not regulators (higher is better).

    The fraction of zero entries of the ``[source, target]`` adjacency in the rows of genes that are not in
    ``regulators`` (e.g. not transcription factors of a prior network), an entry counting as zero when it is at most
    ``threshold`` times the largest absolute entry. ``nan`` when every modelled gene is a regulator.

    Parameters
    ----------
    adjacency
        ``(genes, genes)`` input-output adjacency, rows = source.
    var_names
        Genes in the order of the adjacency's rows.
    regulators
        Names allowed to regulate (e.g. ``set(sn.datasets.base_grn()["source"])``).
    threshold
        Relative threshold under which an entry counts as zero.

    Examples
    --------
    >>> import numpy as np, sparsenode as sn
    >>> adj = np.array([[1.0, 1.0], [0.0, 0.5]])
    >>> sn.tl.spurious_feature_sparsity(adj, ["tf", "gene"], ["tf"])
    0.5
    """
    adj = np.abs(np.asarray(adjacency, dtype=np.float64))
    names = [str(v) for v in var_names]
    if adj.ndim != 2 or adj.shape[0] != len(names):
        raise ValueError(f"adjacency has shape {adj.shape}; expected ({len(names)}, genes) rows = var_names")
    regs = {str(r) for r in regulators}
    rows = [i for i, g in enumerate(names) if g not in regs]
    if not rows:
        return float("nan")
    sub = adj[rows] / max(float(adj.max()), 1e-12)
    return float((sub <= threshold).mean())


def _test_sets(test, batch_key: str | None) -> dict[str, AnnData]:
    if isinstance(test, AnnData):
        if batch_key is None or batch_key not in test.obs:
            return {"test": test}
        col = test.obs[batch_key].astype("category")
        return {str(b): test[np.asarray(col == b)] for b in col.cat.categories if (col == b).any()}
    if isinstance(test, Mapping):
        if not test:
            raise ValueError("test is an empty mapping; pass {name: AnnData, ...}")
        for name, a in test.items():
            if not isinstance(a, AnnData):
                raise TypeError(f"test[{name!r}] is a {type(a).__name__}, not an AnnData")
        return {str(k): v for k, v in test.items()}
    raise TypeError(f"test must be an AnnData or a mapping of names to AnnData, got {type(test).__name__}")


def _dense(x) -> np.ndarray:
    return np.asarray(x.todense() if hasattr(x, "todense") else x, dtype=np.float64)


def evaluate_heldout(
    adata: AnnData | SparseNODE,
    test,
    *,
    key: str = K.PATHREG,
    time_key: str = "time",
    lineage_key: str | None = "lineage",
    batch_key: str | None = "batch",
    layer: str | None = None,
    scaling: str = "lineage",
    start_cells: int = 1,
    device: str = "cpu",
) -> pd.DataFrame:
    """Forecasting error of a fitted model on held-out trajectories (other donors, batches or conditions).

    The PathReg paper's protocol: each held-out trajectory (one per batch and lineage) is sorted by time, its genes
    and its time are min-max scaled on its own cells (``scaling="lineage"``), the fitted field is integrated from the
    trajectory's own initial state (the mean of its first ``start_cells`` cells) over its own normalised time, and the
    MSE against its cells is taken (mean over cells and genes). The paper reports the sum over lineages per batch:
    ``table.groupby("batch")["mse"].sum()``.

    Parameters
    ----------
    adata
        AnnData holding a fit in ``adata.uns[key]``, or a fitted :class:`~sparsenode.SparseNODE`.
    test
        Held-out cells: an AnnData (split by ``adata.obs[batch_key]`` when present) or ``{name: AnnData}``. Must
        hold every modelled gene.
    key
        Key of the fit when ``adata`` is an AnnData.
    time_key, lineage_key, batch_key
        Columns of the test data's ``obs`` (``lineage_key=None``: each test set is one trajectory).
    layer
        Layer of the test data to use instead of ``X``.
    scaling
        ``"lineage"`` (min-max per gene and time per trajectory, as the paper), ``"model"`` (the fit's own per-gene
        scaling and time range) or ``"none"`` (values and times used as given: already scaled).
    start_cells
        Number of earliest cells averaged into the initial state.
    device
        Where to simulate.

    Returns
    -------
    DataFrame with one row per batch and lineage: ``batch``, ``lineage``, ``n_cells``, ``mse``.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=5, n_cells=300, seed=0)
    >>> sn.tl.fit_node(adata, method="node", time_key="time", lineage_key="lineage", max_epochs=3, progress_bar=False)
    >>> test = sn.datasets.toy_grn(n_genes=5, n_cells=300, seed=1)
    >>> table = sn.tl.evaluate_heldout(adata, {"seed1": test}, key="node")
    >>> list(table.columns), len(table)
    (['batch', 'lineage', 'n_cells', 'mse'], 2)
    """
    if scaling not in HELDOUT_SCALINGS:
        raise ValueError(f"scaling must be one of {HELDOUT_SCALINGS}, not {scaling!r}")
    start_cells = int(start_cells)
    if start_cells < 1:
        raise ValueError(f"start_cells must be >= 1, got {start_cells}")
    if isinstance(adata, SparseNODE):
        model = adata
    elif isinstance(adata, AnnData):
        model = SparseNODE.from_adata(adata, key=key, device=device)
    else:
        raise TypeError(f"expected an AnnData with a fit or a SparseNODE, got {type(adata).__name__}")
    if scaling == "model" and model.trajectories is None:
        raise ValueError("scaling='model' needs the fit's trajectories; use scaling='lineage'")
    sets = _test_sets(test, batch_key)
    rows = []
    for name, sub in sets.items():
        if time_key not in sub.obs:
            raise KeyError(f"no column {time_key!r} in the obs of test set {name!r}; pass time_key=...")
        missing = [g for g in model.var_names if g not in set(map(str, sub.var_names))]
        if missing:
            raise KeyError(
                f"test set {name!r} lacks {len(missing)} modelled gene(s), e.g. {missing[:5]}; held-out data must "
                "hold every gene of the fit"
            )
        if layer is not None and layer not in sub.layers:
            raise KeyError(f"no layer {layer!r} in test set {name!r}")
        if lineage_key is None:
            groups = {"all": np.ones(sub.n_obs, dtype=bool)}
        else:
            if lineage_key not in sub.obs:
                raise KeyError(f"no column {lineage_key!r} in the obs of test set {name!r}; pass lineage_key=...")
            col = sub.obs[lineage_key].astype("category")
            groups = {str(c): np.asarray(col == c) for c in col.cat.categories if (col == c).any()}
        gidx = sub.var_names.get_indexer(model.var_names)
        mat = sub.X if layer is None else sub.layers[layer]
        for lin, sel in groups.items():
            t = pd.to_numeric(sub.obs[time_key], errors="coerce").to_numpy(dtype=np.float64)[sel]
            x = _dense(mat[np.flatnonzero(sel)][:, gidx])
            ok = np.isfinite(t)
            t, x = t[ok], x[ok]
            if t.size < start_cells + 1:
                raise ValueError(f"test set {name!r}, lineage {lin!r}: too few cells with a finite time")
            order = np.argsort(t, kind="stable")
            t, x = t[order], x[order]
            if scaling == "lineage":
                lo, hi = x.min(axis=0), x.max(axis=0)
                x = (x - lo) / np.where(hi - lo > 1e-12, hi - lo, 1.0)
                span = t[-1] - t[0]
                t = (t - t[0]) / (span if span > 0 else 1.0)
            elif scaling == "model":
                traj = model.trajectories
                x = (x - traj.offset.astype(np.float64)) / traj.scale.astype(np.float64)
                t0, t1 = traj.time_range
                t = (t - t0) / (t1 - t0 if t1 > t0 else 1.0)
            x0 = x[:start_cells].mean(axis=0, keepdims=True)
            grid, inverse = np.unique(t, return_inverse=True)
            if grid.size < 2:
                raise ValueError(f"test set {name!r}, lineage {lin!r}: all cells share one time")
            sim = model.simulate(x0, grid - grid[0])[0]  # (times, genes); irregular times are fine for any solver
            mse = float(((sim[inverse] - x) ** 2).mean())
            rows.append({"batch": name, "lineage": lin, "n_cells": int(t.size), "mse": mse})
    return pd.DataFrame(rows, columns=["batch", "lineage", "n_cells", "mse"])
