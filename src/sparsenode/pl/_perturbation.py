"""Plots of simulated perturbations (knockouts, overexpression)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._utils import (
    DIVERGING,
    PERTURB_HINT,
    as_list,
    check_names,
    finish,
    lineage_colors,
    panel_grid,
    str_list,
    symmetric_limit,
)

__all__ = ["perturbation", "perturbation_embedding"]

KINDS = ("lines", "heatmap")
_FIELDS = ("params", "pseudotime", "lineages", "var_names", "wildtype", "perturbed", "delta")


def _get_perturbation(adata: AnnData, key: str) -> dict:
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    if key not in adata.uns or not isinstance(adata.uns[key], dict):
        found = _available(adata)
        here = f" (perturbation results here: {found}; pass key=...)" if found else ""
        raise KeyError(f"no perturbation results in adata.uns[{key!r}]{here}; {PERTURB_HINT.format(key=key)}")
    res = adata.uns[key]
    missing = [f for f in _FIELDS if f not in res]
    if missing:
        raise KeyError(
            f"adata.uns[{key!r}] is not a perturbation result (missing {missing}); {PERTURB_HINT.format(key=key)}"
        )
    return res


def _available(adata: AnnData) -> list[str]:
    """Return the keys of ``adata.uns`` that hold perturbation results."""
    return [k for k, v in adata.uns.items() if isinstance(v, dict) and "delta" in v and "wildtype" in v]


def _describe(res: dict) -> str:
    params = res["params"]
    mode = str(params.get("mode", "perturbation"))
    targets = str_list(params.get("genes", []))
    shown = ", ".join(targets[:4]) + (", ..." if len(targets) > 4 else "")
    return f"{mode} of {shown}" if shown else mode


def _ranked_genes(res: dict, genes, top_k: int | None, lineage_idx: list[int]) -> list[str]:
    """``genes`` checked, or the ``top_k`` genes with the largest end-state ``|delta|``, perturbed genes excluded."""
    var_names = str_list(res["var_names"])
    if genes is not None:
        genes = as_list(genes)
        check_names(genes, var_names, "gene(s) in the perturbation results")
        return genes
    delta = np.abs(np.asarray(res["delta"], dtype=float)[lineage_idx, -1, :])  # (L, G) at the end state
    effect = np.nanmax(delta, axis=0) if delta.size else np.zeros(len(var_names))
    perturbed = set(str_list(res["params"].get("genes", [])))
    order = [i for i in np.argsort(-np.nan_to_num(effect, nan=-1.0), kind="stable") if var_names[i] not in perturbed]
    if top_k is not None:
        order = order[: max(int(top_k), 1)]
    return [var_names[i] for i in order]


def perturbation(
    adata: AnnData,
    *,
    key: str = "perturbation",
    genes: Sequence[str] | None = None,
    top_k: int | None = 6,
    lineages: Sequence[str] | None = None,
    kind: str = "lines",
    ncols: int | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
) -> Axes | Figure | None:
    """Wild-type against perturbed trajectories of a simulated knockout or overexpression.

    Reads ``adata.uns[key]`` written by :func:`sparsenode.tl.simulate_perturbation` (or
    :func:`~sparsenode.tl.simulate_knockout`, whose default ``key_added`` is ``"perturbation"``, this function's
    default ``key``; pass ``key=...`` for results stored under another key). ``kind="lines"``: one panel per gene,
    wild type solid and perturbed dashed, one colour per lineage, against pseudotime. ``kind="heatmap"``: one panel per
    lineage, genes x pseudotime coloured by ``delta = perturbed - wild type`` on a diverging scale centred on zero
    (shared by all panels), genes ordered by their end-state effect.

    Parameters
    ----------
    adata
        AnnData with perturbation results.
    key
        Key of the results in ``adata.uns``.
    genes
        Genes to show; default: the ``top_k`` genes most affected at the end state (largest ``|delta|`` at the last
        time point in any shown lineage), not counting the perturbed genes themselves.
    top_k
        Number of genes shown when ``genes`` is ``None`` (``None``: all).
    lineages
        Lineages to show; default: all.
    kind
        ``"lines"`` or ``"heatmap"``.
    ncols
        Panels per row; default: 3 for ``"lines"``, all lineages in one row (up to 4) for ``"heatmap"``.
    ax
        Axes to draw into, only when a single panel is drawn (one gene for ``"lines"``, one lineage for
        ``"heatmap"``).
    show
        ``False`` returns the plot; ``True`` calls :func:`matplotlib.pyplot.show`; ``None`` shows under an
        interactive backend only.

    Returns
    -------
    Axes, Figure or None
        With ``show=False``: the Axes when a single panel is drawn, else the Figure.

    Raises
    ------
    KeyError
        When ``adata.uns[key]`` holds no perturbation results, or a gene or lineage is unknown.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=5, n_cells=100, seed=0)
    >>> t = np.linspace(0, 1, 20, dtype=np.float32)
    >>> wt = np.stack([np.outer(t, np.arange(1, 6)), np.outer(t, np.arange(5, 0, -1))]).astype(np.float32) / 5
    >>> ko = wt.copy()
    >>> ko[:, :, 0] = 0
    >>> ko[:, :, 2] *= 0.5
    >>> adata.uns["perturbation"] = {
    ...     "params": {"fit_key": "pathreg", "mode": "knockout", "genes": np.array(["g0"])},
    ...     "times": t, "pseudotime": 10 * t, "lineages": np.array(["lineage_0", "lineage_1"]),
    ...     "var_names": np.array(adata.var_names), "wildtype": wt, "perturbed": ko, "delta": ko - wt,
    ...     "log_fold_change": np.log2((ko + 0.1) / (wt + 0.1))}
    >>> fig = sn.pl.perturbation(adata, top_k=3, show=False)
    >>> [ax.get_title() for ax in fig.axes]
    ['g2', 'g1', 'g3']
    >>> ax = sn.pl.perturbation(adata, kind="heatmap", lineages=["lineage_0"], show=False)
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    res = _get_perturbation(adata, key)
    all_lineages = str_list(res["lineages"])
    lineages = all_lineages if lineages is None else as_list(lineages)
    check_names(lineages, all_lineages, f"lineage(s) in adata.uns[{key!r}]")
    lin_idx = [all_lineages.index(lin) for lin in lineages]
    genes = _ranked_genes(res, genes, top_k, lin_idx)
    if not genes:
        raise ValueError("no genes left to show (only the perturbed genes were modelled?); pass genes=...")
    var_names = str_list(res["var_names"])
    g_idx = [var_names.index(g) for g in genes]
    pseudotime = np.asarray(res["pseudotime"], dtype=float)
    title = _describe(res)

    n_panels = len(genes) if kind == "lines" else len(lineages)
    if ax is not None:
        if n_panels != 1:
            what = "gene" if kind == "lines" else "lineage"
            raise ValueError(f"ax draws a single panel but {n_panels} are needed; pass one {what} or ax=None")
        fig, axes = ax.figure, [ax]
    else:
        if ncols is None:
            ncols = 3 if kind == "lines" else min(n_panels, 4)
        fig, axes = (
            panel_grid(n_panels, ncols)
            if kind == "lines"
            else panel_grid(n_panels, ncols, panel_size=(3.8, 1.0 + 0.26 * len(genes)))
        )
    first_column = [i % max(int(ncols or 1), 1) == 0 for i in range(len(axes))]

    if kind == "lines":
        wt = np.asarray(res["wildtype"], dtype=float)
        pt = np.asarray(res["perturbed"], dtype=float)
        colors = lineage_colors(adata, lineages, _lineage_key(adata, res))
        for a, gene, g in zip(axes, genes, g_idx, strict=True):
            for lin, li in zip(lineages, lin_idx, strict=True):
                a.plot(pseudotime, wt[li, :, g], color=colors[lin], lw=2, ls="-")
                a.plot(pseudotime, pt[li, :, g], color=colors[lin], lw=2, ls="--")
            a.set_title(gene)
            a.set_xlabel("pseudotime")
            a.set_ylabel("expression")
            a.grid(alpha=0.25, lw=0.5)
        handles = [Line2D([], [], color=colors[lin], lw=2, label=lin) for lin in lineages]
        handles += [
            Line2D([], [], color="grey", lw=2, ls="-", label="wild type"),
            Line2D([], [], color="grey", lw=2, ls="--", label="perturbed"),
        ]
        if len(axes) == 1:
            axes[0].legend(handles=handles, fontsize=7, frameon=False)
        else:
            fig.legend(
                handles=handles, loc="outside lower center", ncol=min(len(handles), 5), frameon=False, fontsize=8
            )
    else:
        delta = np.asarray(res["delta"], dtype=float)
        sub = delta[np.ix_(lin_idx, np.arange(delta.shape[1]), g_idx)]  # (L, T, genes)
        if len(genes) > 1:  # order rows by the mean end-state change, largest rise on top
            order = np.argsort(-np.nanmean(sub[:, -1, :], axis=0), kind="stable")
            sub = sub[:, :, order]
            genes = [genes[i] for i in order]
        vmax = symmetric_limit(sub)
        norm = TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax)
        mesh = None
        for a, lin, block, first in zip(axes, lineages, sub, first_column, strict=True):
            mesh = a.pcolormesh(
                pseudotime, np.arange(len(genes)), block.T, cmap=DIVERGING, norm=norm, shading="nearest"
            )
            a.set_yticks(np.arange(len(genes)), genes, fontsize=8 if len(genes) <= 30 else 6)
            a.invert_yaxis()
            a.set_title(lin)
            a.set_xlabel("pseudotime")
            a.set_ylabel("gene" if first else "")
        fig.colorbar(mesh, ax=axes, label="Δ expression (perturbed − wild type)", shrink=0.9)
    if len(axes) == 1 and ax is not None:
        axes[0].set_title(f"{axes[0].get_title()} ({title})", fontsize=10)
    else:
        fig.suptitle(title)
    return finish(axes[0] if len(axes) == 1 else fig, show)


def _lineage_key(adata: AnnData, res: dict) -> str | None:
    """Return the lineage column of the fit the perturbation was simulated with, if it is known."""
    fit_key = str(res["params"].get("fit_key", ""))
    fit = adata.uns.get(fit_key)
    if isinstance(fit, dict) and isinstance(fit.get("params"), dict):
        lk = fit["params"].get("lineage_key")
        if lk not in (None, "none"):
            return str(lk)
    return None


def perturbation_embedding(
    adata: AnnData,
    *,
    key: str = "perturbation",
    basis: str = "umap",
    ax: Axes | None = None,
    show: bool | None = None,
    **kwargs,
) -> Axes | None:
    """Cells in an embedding coloured by the simulated perturbation effect ``adata.obs[f"{key}_effect"]``.

    The effect is written by :func:`sparsenode.tl.simulate_perturbation` (the size of the change at each cell's
    pseudotime in its lineage). A thin wrapper around :func:`scanpy.pl.embedding`: signed effects get a diverging
    colormap centred on zero, non-negative ones a sequential one; cells outside the model (NaN) are drawn in light
    grey underneath.

    Parameters
    ----------
    adata
        AnnData with perturbation results and an embedding ``adata.obsm[f"X_{basis}"]``.
    key
        Key of the results (the effect is ``adata.obs[f"{key}_effect"]``).
    basis
        Embedding: ``"umap"``, ``"pca"``, ``"tsne"``, ``"draw_graph_fa"``, ...
    ax
        Axes to draw into; default: a new figure.
    show
        ``False`` returns the Axes; ``True`` calls :func:`matplotlib.pyplot.show`; ``None`` shows under an
        interactive backend only.
    **kwargs
        Passed on to :func:`scanpy.pl.embedding` (``cmap``, ``vcenter``, ``size``, ``title``, ...).

    Returns
    -------
    Axes or None
        The Axes when ``show=False``.

    Raises
    ------
    KeyError
        When the effect column or the embedding is missing.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=5, n_cells=100, seed=0)
    >>> adata.obsm["X_umap"] = np.random.default_rng(0).normal(size=(adata.n_obs, 2))
    >>> adata.obs["perturbation_effect"] = np.linspace(-1, 1, adata.n_obs)
    >>> ax = sn.pl.perturbation_embedding(adata, show=False)
    >>> ax.get_title()
    'perturbation effect'
    """
    import scanpy as sc

    col = f"{key}_effect"
    if col not in adata.obs:
        found = _available(adata)
        here = f" (perturbation results here: {found}; pass key=...)" if found else ""
        raise KeyError(f"no column {col!r} in adata.obs{here}; {PERTURB_HINT.format(key=key)}")
    obsm_key = basis if basis in adata.obsm else f"X_{basis}"
    if obsm_key not in adata.obsm:
        raise KeyError(
            f"no embedding adata.obsm[{f'X_{basis}'!r}]; compute it first, e.g. sc.tl.{basis}(adata), or "
            f"pass basis=... (available: {list(adata.obsm.keys()) or 'none'})"
        )
    effect = np.asarray(adata.obs[col], dtype=float)
    finite = effect[np.isfinite(effect)]
    if finite.size and finite.min() < 0:
        vmax = symmetric_limit(finite)
        kwargs.setdefault("cmap", DIVERGING)
        kwargs.setdefault("vmin", -vmax)
        kwargs.setdefault("vmax", vmax)
    else:
        kwargs.setdefault("cmap", "viridis")
    kwargs.setdefault("na_color", "#e0e0e0")
    kwargs.setdefault("na_in_legend", False)
    res = adata.uns.get(key)
    if isinstance(res, dict) and isinstance(res.get("params"), dict):
        kwargs.setdefault("title", f"{_describe(res)}: effect")
    else:
        kwargs.setdefault("title", f"{key} effect")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.4))
    out = sc.pl.embedding(adata, basis=basis, color=col, ax=ax, show=False, **kwargs)
    out = out[0] if isinstance(out, list) else out
    return finish(out, show)
