"""Plots of a fit: observed against fitted trajectories, training history, regularisation path."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from anndata import AnnData
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .. import _keys as K
from ..model import SparseNODE
from ._utils import PATH_HINT, as_list, check_names, finish, get_fit, lineage_colors, panel_grid, str_list

__all__ = ["regularization_path", "training_history", "trajectory_fit"]


def trajectory_fit(
    adata: AnnData,
    *,
    key: str = K.PATHREG,
    genes: Sequence[str] | None = None,
    lineages: Sequence[str] | None = None,
    n_genes: int = 6,
    ncols: int = 3,
    scaled: bool = False,
    start_time: float | None = None,
    show: bool | None = None,
) -> Figure | None:
    """Observed binned expression against pseudotime, with the fitted ODE solution on top.

    Points are the pseudotime bins the model was fitted to (``adata.uns[key]["trajectories"]``), sized by the number
    of cells in the bin; lines are the model's solution from each lineage's first bin, or from its observed state at
    ``start_time`` (:meth:`sparsenode.SparseNODE.predict` on the stored weights; nothing is trained). One panel per
    gene, one colour per lineage (``adata.uns[f"{lineage_key}_colors"]`` when set). Pseudotime is shown on the
    original axis.

    Parameters
    ----------
    adata
        AnnData after :func:`sparsenode.tl.fit_pathreg` or :func:`sparsenode.tl.fit_node`.
    key
        Key of the fit.
    genes
        Genes to show; default: the ``n_genes`` modelled genes whose binned expression varies most (on the scaled
        axis, so every gene counts alike whatever its level).
    lineages
        Lineages to show; default: all.
    n_genes
        Number of genes shown when ``genes`` is ``None``.
    ncols
        Panels per row.
    scaled
        Show expression on the scaled axis the model works on instead of the original units.
    start_time
        Start each lineage's solution from its observed bin at this pseudotime (original axis) instead of its first
        bin. Lineages that leave one shared progenitor state (krumsiek11, most branching data) start identically, and
        a deterministic ODE cannot split one state into several fates: start after the branch point to see how the
        model follows each lineage. Only the lineages shown need data after it.
    show
        ``False`` returns the Figure; ``True`` calls :func:`matplotlib.pyplot.show`; ``None`` shows under an
        interactive backend only.

    Returns
    -------
    Figure or None
        The Figure (one Axes per gene) when ``show=False``.

    Raises
    ------
    KeyError
        When ``adata.uns[key]`` holds no fit (run :func:`sparsenode.tl.fit_pathreg`) or a gene or lineage is unknown.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=8, n_cells=200, seed=0)
    >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=3, hidden=(8,), n_bins=10,
    ...                   progress_bar=False)
    >>> fig = sn.pl.trajectory_fit(adata, genes=["g0", "g1"], show=False)
    >>> [ax.get_title() for ax in fig.axes]
    ['g0', 'g1']
    """
    stored = get_fit(adata, key, K.TRAJECTORIES)
    traj = stored[K.TRAJECTORIES]
    var_names = str_list(stored[K.VAR_NAMES])
    all_lineages = str_list(traj["lineages"])
    values = np.asarray(traj["values"], dtype=float)  # (L, T, G), scaled
    mask = np.asarray(traj["mask"], dtype=bool)
    counts = np.asarray(traj.get("counts", mask.astype(int)), dtype=float)
    t0, t1 = (float(x) for x in np.asarray(traj["time_range"]))
    pseudotime = t0 + np.asarray(traj["times"], dtype=float) * (t1 - t0)
    offset = np.asarray(traj["offset"], dtype=float)
    scale = np.asarray(traj["scale"], dtype=float)

    if genes is None:
        spread = np.array([np.var(values[:, :, g][mask]) if mask.any() else 0.0 for g in range(len(var_names))])
        order = np.argsort(-spread, kind="stable")[: max(int(n_genes), 1)]
        genes = [var_names[i] for i in order]
    else:
        genes = as_list(genes)
        check_names(genes, var_names, f"gene(s) modelled by fit {key!r}")
    lineages = all_lineages if lineages is None else as_list(lineages)
    check_names(lineages, all_lineages, f"lineage(s) of fit {key!r}")

    model = SparseNODE.from_adata(adata, key=key, device="cpu")
    shown = model.trajectories.lineage_indices(lineages)
    starts = model.trajectories.start_bins(start_time, lineage_idx=shown)  # fails here, before anything is drawn
    pred = model.predict(start_time=start_time, lineages=lineages)  # (shown lineages, T, G), scaled
    if not scaled:
        values = values * scale + offset
        pred = pred * scale + offset
    lineage_key = stored.get(K.PARAMS, {}).get("lineage_key")
    colors = lineage_colors(adata, lineages, None if lineage_key in (None, "none") else str(lineage_key))
    size = 6 + 40 * counts / max(float(counts.max()), 1.0)

    fig, axes = panel_grid(len(genes), ncols)
    for ax, gene in zip(axes, genes, strict=True):
        g = var_names.index(gene)
        for k, lin in enumerate(lineages):
            li = all_lineages.index(lin)
            m = mask[li]
            ax.scatter(
                pseudotime[m],
                values[li, m, g],
                s=size[li, m],
                color=colors[lin],
                alpha=0.55,
                edgecolor="none",
                zorder=2,
            )
            s = starts[k]
            ax.plot(pseudotime[s:], pred[k, s:, g], color=colors[lin], lw=2, zorder=3)
        ax.set_title(gene)
        ax.set_xlabel("pseudotime")
        ax.set_ylabel("scaled expression" if scaled else "expression")
        ax.grid(alpha=0.25, lw=0.5)
    handles = [
        Line2D([], [], color=colors[lin], lw=2, marker="o", markersize=5, alpha=0.9, label=lin) for lin in lineages
    ]
    handles += [
        Line2D([], [], ls="", marker="o", color="grey", alpha=0.6, label="observed (size ∝ cells in bin)"),
        Line2D([], [], color="grey", lw=2, label="fitted ODE"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), frameon=False, fontsize=8)
    start = "" if start_time is None else f" from pseudotime {float(start_time):g}"
    fig.suptitle(f"{key}: observed bins and fitted trajectories{start}")
    return finish(fig, show)


def training_history(adata: AnnData, *, key: str = K.PATHREG, show: bool | None = None) -> Figure | None:
    """Training curves of a fit: loss, training and validation MSE, penalty and sparsity per epoch.

    Reads ``adata.uns[key]["history"]``; the epoch whose weights were kept (``best_epoch``, lowest validation
    MSE + penalty) is marked by a dotted line in every panel. Epochs are counted from 1.

    Parameters
    ----------
    adata
        AnnData after :func:`sparsenode.tl.fit_pathreg` or :func:`sparsenode.tl.fit_node`.
    key
        Key of the fit.
    show
        ``False`` returns the Figure; ``True`` calls :func:`matplotlib.pyplot.show`; ``None`` shows under an
        interactive backend only.

    Returns
    -------
    Figure or None
        The Figure (one Axes per quantity) when ``show=False``.

    Raises
    ------
    KeyError
        When ``adata.uns[key]`` holds no fit history (run :func:`sparsenode.tl.fit_pathreg`).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=5, n_cells=200, seed=0)
    >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=4, hidden=(8,), n_bins=10,
    ...                   progress_bar=False)
    >>> fig = sn.pl.training_history(adata, show=False)
    >>> [ax.get_title() for ax in fig.axes]
    ['loss', 'MSE', 'penalty', 'feature sparsity']
    """
    hist = get_fit(adata, key, K.HISTORY)[K.HISTORY]
    panels = [
        ("loss", [("loss", "loss", "black")]),
        ("MSE", [("mse", "training", "#1b9e77"), ("val_mse", "validation", "#d95f02")]),
        ("penalty", [("penalty", "penalty", "#7570b3")]),
        ("feature sparsity", [("sparsity", "sparsity", "#e7298a")]),
    ]
    panels = [(t, [c for c in curves if c[0] in hist and np.size(hist[c[0]]) > 0]) for t, curves in panels]
    panels = [(t, curves) for t, curves in panels if curves]
    if not panels:
        raise KeyError(f"adata.uns[{key!r}]['history'] holds no per-epoch curves; refit with sn.tl.fit_pathreg")
    best = int(np.asarray(hist["best_epoch"])) + 1 if "best_epoch" in hist else None
    fig, axes = panel_grid(len(panels), ncols=len(panels), panel_size=(3.2, 2.8))
    for ax, (title, curves) in zip(axes, panels, strict=True):
        for name, label, color in curves:
            y = np.asarray(hist[name], dtype=float)
            ax.plot(np.arange(1, y.size + 1), y, color=color, lw=1.5, label=label)
        if title in ("loss", "MSE"):
            ys = np.concatenate([np.asarray(hist[c[0]], dtype=float) for c in curves])
            ys = ys[np.isfinite(ys)]
            if ys.size and ys.min() > 0 and ys.max() / ys.min() > 10:  # log only where it spans a decade
                ax.set_yscale("log")
        if title == "feature sparsity":
            ax.set_ylim(-0.03, 1.03)
        if best is not None and best > 0:
            ax.axvline(best, color="grey", ls=":", lw=1.2, label=f"best epoch ({best})")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.25, lw=0.5)
        ax.legend(fontsize=7, frameon=False)
    stopped = hist.get("stopped")
    fig.suptitle(f"{key}: training history" + (f" (stopped: {stopped})" if stopped is not None else ""))
    return finish(fig, show)


def regularization_path(adata: AnnData, *, key: str = "regularization_path", show: bool | None = None) -> Figure | None:
    """Plot validation error and sparsity along a path of regularisation strengths λ.

    Reads the table :func:`sparsenode.tl.regularization_path` stores in ``adata.uns[key]`` (``lambdas``,
    ``train_mse``, ``val_mse``, ``feature_sparsity``, ``weight_sparsity``, ``recommended``, ``method``,
    ``lambda_name``). Top: training and validation MSE; bottom: feature and weight
    sparsity; λ on a log axis (symmetric-log when the path includes λ = 0), the recommended λ marked in both.

    Parameters
    ----------
    adata
        AnnData holding a regularisation path.
    key
        Key of the path in ``adata.uns``.
    show
        ``False`` returns the Figure; ``True`` calls :func:`matplotlib.pyplot.show`; ``None`` shows under an
        interactive backend only.

    Returns
    -------
    Figure or None
        The Figure (two Axes sharing the λ axis) when ``show=False``.

    Raises
    ------
    KeyError
        When ``adata.uns[key]`` is missing or lacks a column.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=5, n_cells=100, seed=0)
    >>> lam = np.logspace(-3, 0, 5)
    >>> adata.uns["regularization_path"] = {
    ...     "lambdas": lam, "train_mse": 0.01 + lam / 10, "val_mse": 0.02 + (np.log10(lam) + 1.5) ** 2 / 100,
    ...     "feature_sparsity": np.linspace(0, 0.9, 5), "weight_sparsity": np.linspace(0.1, 0.95, 5),
    ...     "recommended": float(lam[2]), "method": "pathreg"}
    >>> fig = sn.pl.regularization_path(adata, show=False)
    >>> fig.axes[1].get_xlabel()
    'λ (regularisation strength)'
    """
    if key not in adata.uns or not isinstance(adata.uns[key], dict):
        raise KeyError(f"no regularisation path in adata.uns[{key!r}]; {PATH_HINT.format(key=key)}")
    table = adata.uns[key]
    missing = [c for c in ("lambdas", "val_mse") if c not in table]
    if missing:
        raise KeyError(f"adata.uns[{key!r}] lacks {missing}; {PATH_HINT.format(key=key)}")
    lam = np.asarray(table["lambdas"], dtype=float)
    order = np.argsort(lam, kind="stable")
    lam = lam[order]

    def column(name):
        if name not in table:
            return None
        y = np.asarray(table[name], dtype=float)
        if y.shape != order.shape:
            raise ValueError(f"adata.uns[{key!r}][{name!r}] has {y.size} values for {lam.size} lambdas")
        return y[order]

    fig, (ax_mse, ax_sp) = plt.subplots(
        2, 1, figsize=(6.0, 5.6), sharex=True, layout="constrained", height_ratios=(3, 2)
    )
    for name, label, color, marker in (
        ("train_mse", "training MSE", "#1b9e77", "s"),
        ("val_mse", "validation MSE", "#d95f02", "o"),
    ):
        y = column(name)
        if y is not None:
            ax_mse.plot(lam, y, color=color, marker=marker, ms=4, lw=1.5, label=label)
    for name, label, color, marker in (
        ("feature_sparsity", "feature sparsity", "#7570b3", "o"),
        ("weight_sparsity", "weight sparsity", "#e7298a", "s"),
    ):
        y = column(name)
        if y is not None:
            ax_sp.plot(lam, y, color=color, marker=marker, ms=4, lw=1.5, label=label)
    positive = lam[lam > 0]
    if positive.size == lam.size:
        ax_sp.set_xscale("log")
    elif positive.size:
        ax_sp.set_xscale("symlog", linthresh=float(positive.min()))
    mse = np.concatenate([column(c) for c in ("train_mse", "val_mse") if c in table])
    mse = mse[np.isfinite(mse)]
    if mse.size and mse.min() > 0 and mse.max() / mse.min() > 10:  # log only where it spans a decade
        ax_mse.set_yscale("log")
    rec = table.get("recommended")
    if rec is not None and np.isfinite(float(rec)):
        rec = float(rec)
        for ax in (ax_mse, ax_sp):
            ax.axvline(
                rec, color="black", ls="--", lw=1.2, label=f"recommended λ = {rec:.3g}" if ax is ax_mse else None
            )
        val = column("val_mse")
        near = int(np.argmin(np.abs(lam - rec)))
        ax_mse.scatter([lam[near]], [val[near]], s=140, marker="*", color="black", zorder=4)
    ax_mse.set_ylabel("MSE")
    ax_sp.set_ylabel("sparsity")
    ax_sp.set_ylim(-0.03, 1.03)
    name = table.get("lambda_name")
    ax_sp.set_xlabel(f"λ ({name})" if name is not None else "λ (regularisation strength)")
    for ax in (ax_mse, ax_sp):
        ax.grid(alpha=0.25, lw=0.5)
        ax.legend(fontsize=8, frameon=False)
    method = table.get("method")
    ax_mse.set_title(f"regularisation path ({method})" if method is not None else "regularisation path")
    return finish(fig, show)
