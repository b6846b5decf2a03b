"""Markdown summary and plots of a benchmark results table."""

from __future__ import annotations

import logging
from os import PathLike
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import pl
from ._methods import method_kind
from ._runner import read_results

__all__ = ["report", "summarize"]

logger = logging.getLogger(__name__)

REPORT_FILE = "report.md"
_OURS = ("sparsenode", "other")


def summarize(table: pd.DataFrame, metrics=("auprc_ratio", "epr", "auroc"), *, by: str = "group") -> pd.DataFrame:
    """Median of each metric per data set (family) and method, over replicates and seeds.

    Parameters
    ----------
    table
        Tidy table of :func:`sparsenode.bm.benchmark`.
    metrics
        Metrics to summarise.
    by
        ``"group"`` (data set family, e.g. ``dyn-BF`` over its replicates) or ``"dataset"``.

    Returns
    -------
    DataFrame with columns ``by``, ``method``, ``kind`` (``sparsenode``/``baseline``/``peer``/``other``), ``metric``,
    ``median`` and ``n`` (number of values); failed cells are left out.

    Examples
    --------
    >>> import tempfile
    >>> import sparsenode as sn
    >>> table = sn.bm.benchmark(datasets="krumsiek11", methods=["pearson"], seeds=[0, 1],
    ...                         output_dir=tempfile.mkdtemp())
    >>> sn.bm.summarize(table, ["auroc"])[["method", "metric", "n"]].values.tolist()
    [['pearson', 'auroc', 2]]
    """
    ok = table[(table["error"] == "") & table["metric"].isin(list(metrics))]
    out = ok.groupby([by, "method", "metric"], sort=True)["value"].agg(median="median", n="count").reset_index()
    out.insert(2, "kind", [method_kind(m) for m in out["method"]])
    return out


def _fmt(x) -> str:
    return "" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.2f}"


def _md_table(df: pd.DataFrame, index_name: str) -> list[str]:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join([index_name, *cols]) + " |", "|" + "---|" * (len(cols) + 1)]
    for idx, row in df.iterrows():
        cells = [v if isinstance(v, str) else _fmt(v) for v in row.tolist()]
        lines.append("| " + " | ".join([str(idx), *cells]) + " |")
    return lines


def _best_vs_peers(med: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Per data set: the best of our methods, the best peer, and which of ours beat the best peer."""
    kinds = pd.Series({m: method_kind(m) for m in med.index})
    ours = med.loc[kinds[kinds.isin(_OURS)].index]
    peers = med.loc[kinds[kinds == "peer"].index]
    rows = {}
    for g in med.columns:
        o, p = ours[g].dropna(), peers[g].dropna()
        if o.empty or p.empty:
            continue
        best_peer = p.idxmax()
        winners = o[o > p.max()].sort_values(ascending=False)
        rows[g] = {
            "best of ours": f"{o.idxmax()} ({o.max():.2f})",
            "best peer": f"{best_peer.removeprefix('peer:')} ({p.max():.2f})",
            "ours beating the best peer": ", ".join(winners.index) if len(winners) else "-",
        }
    res = pd.DataFrame.from_dict(rows, orient="index")
    note = ""
    if not ours.empty and not peers.empty and len(rows):
        n_any = int(sum(v["ours beating the best peer"] != "-" for v in rows.values()))
        overall = ours[list(rows)].median(axis=1).idxmax()
        n_single = int(sum(ours.loc[overall, g] > peers[g].max() for g in rows))
        note = (
            f"The best of our methods beats the best peer on {n_any} of {len(rows)} data sets; the single best of "
            f"ours overall (`{overall}`, highest median over data sets) beats it on {n_single} of {len(rows)}."
        )
    return res, note


def report(
    results,
    output_dir: str | PathLike | None = None,
    *,
    metrics=("auprc_ratio", "epr", "auroc"),
    by: str = "group",
    title: str = "sparsenode benchmark",
) -> Path:
    """Write a markdown summary and plots of a benchmark.

    Parameters
    ----------
    results
        A results folder or ``results.csv`` of :func:`sparsenode.bm.benchmark`, or its table.
    output_dir
        Where to write ``report.md`` and the PNGs (default: ``<results folder>/report``).
    metrics
        Metrics to tabulate (medians per data set and method) and plot.
    by
        ``"group"`` (data set family over replicates, e.g. ``dyn-BF``) or ``"dataset"``.
    title
        Heading of the report.

    Returns
    -------
    Path of ``report.md``. Beside it: ``box_<metric>.png`` and ``heatmap_<metric>.png`` for AUPRC ratio and EPR
    (those of ``metrics`` present).

    Examples
    --------
    >>> import tempfile
    >>> import sparsenode as sn
    >>> out = tempfile.mkdtemp()
    >>> _ = sn.bm.benchmark(datasets="krumsiek11", methods=["pearson", "ridge_derivative"], seeds=[0], output_dir=out)
    >>> path = sn.bm.report(out)
    >>> path.name, (path.parent / "box_auprc_ratio.png").is_file()
    ('report.md', True)
    """
    if isinstance(results, pd.DataFrame):
        table = results
        if output_dir is None:
            raise ValueError("give output_dir when passing a table instead of a results folder")
    else:
        table = read_results(results)
        if output_dir is None:
            base = Path(results)
            output_dir = (base if base.is_dir() else base.parent) / "report"
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    cells = table[["dataset", "method", "seed"]].drop_duplicates()
    failed = table[table["error"] != ""].drop_duplicates(["dataset", "method", "seed"])
    per_cell = table.drop_duplicates(["dataset", "method", "seed"])
    lines = [
        f"# {title}",
        "",
        f"{cells.shape[0]} grid cells: {table['dataset'].nunique()} data sets ({table[by].nunique()} {by}s), "
        f"{table['method'].nunique()} methods, seeds {sorted(table['seed'].unique().tolist())}; "
        f"{failed.shape[0]} failed. Compute time summed over cells: {per_cell['runtime_s'].sum() / 60:.1f} min.",
        "",
        "Medians over replicates and seeds. Methods: sparsenode's first, then baselines, then the published peers "
        "(`peer:`). Ratios are relative to a random predictor (1.0).",
    ]
    summary = summarize(table, metrics, by=by)
    for metric in metrics:
        sub = summary[summary["metric"] == metric]
        if sub.empty:
            continue
        med = sub.pivot(index="method", columns=by, values="median")
        med = med.loc[pl.method_order(med.index), sorted(med.columns)]
        label = pl._LABELS.get(metric, metric)
        lines += ["", f"## Median {label}", "", *_md_table(med, "method")]
        if metric in ("auprc_ratio", "epr"):
            best, note = _best_vs_peers(med)
            if not best.empty:
                lines += ["", f"### {label}: our methods against the best peer", "", note, "", *_md_table(best, by)]
    runtime = per_cell[per_cell["error"] == ""].groupby("method")[["runtime_s", "peak_memory_mb"]].median()
    if not runtime.empty:
        runtime = runtime.loc[pl.method_order(runtime.index)]
        runtime.columns = ["median runtime (s)", "median peak memory (MB)"]
        lines += ["", "## Cost per cell", "", *_md_table(runtime, "method")]
    if not failed.empty:
        lines += ["", "## Failed cells", ""]
        lines += [f"- {r.dataset} / {r.method} / seed {r.seed}: {r.error}" for r in failed.head(30).itertuples()]
        if failed.shape[0] > 30:
            lines.append(f"- ... and {failed.shape[0] - 30} more")
    pngs = []
    for metric in [m for m in ("auprc_ratio", "epr") if m in metrics and m in set(table["metric"])]:
        for name, fn in (("box", pl.boxplot), ("heatmap", pl.heatmap)):
            ax = fn(table, metric, by=by, show=False)
            file = output_dir / f"{name}_{metric}.png"
            ax.figure.savefig(file, dpi=110, bbox_inches="tight")
            plt.close(ax.figure)
            pngs.append(file.name)
    if pngs:
        lines += ["", "## Plots", "", *[f"![{p}]({p})" for p in pngs]]
    path = output_dir / REPORT_FILE
    path.write_text("\n".join(lines) + "\n")
    logger.info("wrote %s and %d plots", path, len(pngs))
    return path
