"""Plots of benchmark tables: box plots per data set with peers beside our methods, and a method x data set heat map.

These read the tidy table of :func:`sparsenode.bm.benchmark` (not AnnData). Each takes ``ax=None, show=None`` and
returns the Axes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ._methods import method_kind

__all__ = ["boxplot", "heatmap", "method_order"]

_KIND_ORDER = {"sparsenode": 0, "other": 1, "baseline": 2, "peer": 3}
_LABELS = {"auprc_ratio": "AUPRC ratio", "epr": "EPR", "auroc": "AUROC", "auprc": "AUPRC"}


def method_order(methods) -> list[str]:
    """Order methods as reports show them: sparsenode methods, other methods, baselines, then peers.

    Parameters
    ----------
    methods
        Method names (duplicates are dropped).

    Returns
    -------
    The names, grouped by kind (see :func:`sparsenode.bm.method_kind`) and alphabetical within a kind.

    Examples
    --------
    >>> from sparsenode.bm.pl import method_order
    >>> method_order(["peer:PIDC", "pearson", "pathreg"])
    ['pathreg', 'pearson', 'peer:PIDC']
    """
    return sorted(dict.fromkeys(methods), key=lambda m: (_KIND_ORDER[method_kind(m)], m))


def _select(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    if metric not in set(table["metric"]):
        raise ValueError(f"metric {metric!r} is not in the table; it has {sorted(set(table['metric']))}")
    return table[(table["metric"] == metric) & (table["error"] == "")]


def _palette(methods: list[str]) -> dict:
    ours = [m for m in methods if method_kind(m) in ("sparsenode", "other")]
    base = [m for m in methods if method_kind(m) == "baseline"]
    peers = [m for m in methods if method_kind(m) == "peer"]
    pal = dict(zip(ours, sns.color_palette("tab10", max(len(ours), 1)), strict=False))
    pal.update(zip(base, sns.color_palette("YlOrBr", len(base) + 2)[2:], strict=False))
    pal.update(zip(peers, sns.color_palette("Greys", len(peers) + 3)[2:-1], strict=False))
    return pal


def _finish(ax, show):
    if show is None:
        show = plt.isinteractive()
    if show:
        plt.show()
    return ax


def boxplot(
    table: pd.DataFrame,
    metric: str = "auprc_ratio",
    *,
    by: str = "group",
    methods=None,
    ax: plt.Axes | None = None,
    show: bool | None = None,
) -> plt.Axes:
    """Box plots of one metric per data set, one box per method (ours in colour, peers in grey).

    Parameters
    ----------
    table
        Tidy table of :func:`sparsenode.bm.benchmark` (or :func:`sparsenode.bm.read_results`).
    metric
        Metric to plot, e.g. ``"auprc_ratio"`` or ``"epr"``; a dashed line marks 1 (random) for ratios.
    by
        Column that defines the x-axis groups: ``"group"`` (data set family; boxes over replicates and seeds) or
        ``"dataset"``.
    methods
        Methods to show, in this order (default: all, ours first, then baselines, then peers).
    ax
        Axes to draw into (default: a new figure sized to the grid).
    show
        Show the figure (default: when matplotlib is interactive).

    Returns
    -------
    The Axes.

    Examples
    --------
    >>> import tempfile
    >>> import sparsenode as sn
    >>> table = sn.bm.benchmark(datasets="krumsiek11", methods=["pearson", "ridge_derivative"], seeds=[0],
    ...                         output_dir=tempfile.mkdtemp())
    >>> ax = sn.bm.pl.boxplot(table, "auprc_ratio", show=False)
    >>> ax.get_ylabel()
    'AUPRC ratio'
    """
    data = _select(table, metric)
    order = method_order(data["method"]) if methods is None else [m for m in methods if m in set(data["method"])]
    data = data[data["method"].isin(order)]
    groups = sorted(data[by].unique())
    if ax is None:
        width = min(max(6.0, 0.11 * len(groups) * len(order) + 3.0), 30.0)
        _, ax = plt.subplots(figsize=(width, 4.5))
    sns.boxplot(
        data=data,
        x=by,
        y="value",
        hue="method",
        order=groups,
        hue_order=order,
        palette=_palette(order),
        fliersize=0,
        linewidth=0.7,
        ax=ax,
    )
    # every value as a dot too: with one or two replicates a box is only a line
    sns.stripplot(
        data=data,
        x=by,
        y="value",
        hue="method",
        order=groups,
        hue_order=order,
        palette=_palette(order),
        dodge=True,
        size=2.5,
        edgecolor="0.2",
        linewidth=0.3,
        legend=False,
        ax=ax,
    )
    if metric in ("auprc_ratio", "epr", "signed_epr"):
        ax.axhline(1.0, color="k", linestyle="--", linewidth=0.8, zorder=0)
    for x in np.arange(len(groups) - 1) + 0.5:
        ax.axvline(x, color="0.85", linewidth=0.8, zorder=0)
    ax.set_xlabel("")
    ax.set_ylabel(_LABELS.get(metric, metric))
    ax.legend(
        title="", ncol=max(1, (len(order) + 11) // 12), fontsize="small", bbox_to_anchor=(1.0, 1.0), loc="upper left"
    )
    return _finish(ax, show)


def heatmap(
    table: pd.DataFrame,
    metric: str = "auprc_ratio",
    *,
    by: str = "group",
    methods=None,
    annot: bool = True,
    ax: plt.Axes | None = None,
    show: bool | None = None,
) -> plt.Axes:
    """Heat map of the median of one metric, methods x data sets.

    Parameters
    ----------
    table
        Tidy table of :func:`sparsenode.bm.benchmark`.
    metric
        Metric to show.
    by
        ``"group"`` (median over replicates and seeds of a data set family) or ``"dataset"``.
    methods
        Methods (rows) to show, in this order (default: all, ours first, then baselines, then peers).
    annot
        Write the medians into the cells.
    ax
        Axes to draw into (default: a new figure sized to the table).
    show
        Show the figure (default: when matplotlib is interactive).

    Returns
    -------
    The Axes.

    Examples
    --------
    >>> import tempfile
    >>> import sparsenode as sn
    >>> table = sn.bm.benchmark(datasets="krumsiek11", methods=["pearson", "ridge_derivative"], seeds=[0],
    ...                         output_dir=tempfile.mkdtemp())
    >>> ax = sn.bm.pl.heatmap(table, "epr", show=False)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['pearson', 'ridge_derivative']
    """
    data = _select(table, metric)
    med = data.groupby(["method", by])["value"].median().unstack(by)
    order = method_order(med.index) if methods is None else [m for m in methods if m in med.index]
    med = med.loc[order, sorted(med.columns)]
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.75 * med.shape[1] + 1.5, 0.8 + 0.32 * med.shape[0]))
    center = 1.0 if metric in ("auprc_ratio", "epr", "signed_epr") else (0.5 if metric == "auroc" else None)
    sns.heatmap(
        med,
        annot=annot,
        fmt=".2f",
        cmap="RdBu_r" if center is not None else "viridis",
        center=center,
        linewidths=0.5,
        annot_kws={"fontsize": 7},
        cbar_kws={"label": f"median {_LABELS.get(metric, metric)}"},
        ax=ax,
    )
    ax.set_xlabel("")
    ax.set_ylabel("")
    return _finish(ax, show)
