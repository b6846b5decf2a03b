"""Benchmark runner: a grid of data sets x methods x seeds, run locally or as Ray tasks, written as tidy CSV tables.

Every grid cell (one data set, one method, one seed) is written to ``output_dir/cells/<dataset>__<method>__seed<seed>
.csv`` as soon as it finishes; ``output_dir/results.csv`` holds every cell of the folder: the grid just run, then
the cells that earlier calls with other grids left there. With ``resume=True`` a cell whose file exists without an
error is read back instead of being recomputed.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import resource
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData
from tqdm.auto import tqdm

from .._settings import settings
from ._datasets import DatasetSpec, read_peer, resolve_datasets
from ._methods import METHODS, PEER_PREFIX, SPARSENODE_METHODS, _as_edges
from .metrics import score

__all__ = ["COLUMNS", "benchmark", "read_results", "run_cell"]

logger = logging.getLogger(__name__)

COLUMNS = ["dataset", "group", "method", "seed", "metric", "value", "runtime_s", "peak_memory_mb", "error"]
RESULTS_FILE = "results.csv"
CELLS_DIR = "cells"
ERROR_METRIC = "error"
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 0.0

_CACHE: dict[tuple, AnnData] = {}


# --------------------------------------------------------------------------------------------------------------------
# one cell
# --------------------------------------------------------------------------------------------------------------------
class _PeakMemory:
    """Peak resident memory of this process (MB) while the block runs, sampled every 20 ms from /proc."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _rss() -> float:
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * _PAGE_MB
        except (OSError, ValueError, IndexError):  # not Linux: the process's peak so far
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __enter__(self):
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self._rss())
        return False


def _load(dataset: DatasetSpec) -> AnnData:
    key = (dataset.kind, dataset.path, repr(sorted(dataset.options.items())))
    if key not in _CACHE:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = dataset.load()
    return _CACHE[key].copy()


def _invoke(fn: Callable, adata: AnnData, context: dict, options: dict):
    """Call a method with the context arguments it accepts (time_key, lineage_key, seed) and its options."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in context.items() if takes_any or k in params}
    kwargs.update(options)
    return fn(adata, **kwargs)


def run_cell(
    dataset: DatasetSpec,
    method: str,
    seed: int,
    *,
    fn: Callable | None = None,
    options: dict | None = None,
    n_threads: int | None = None,
) -> pd.DataFrame:
    """Run one grid cell and return its tidy rows; errors are caught and recorded, never raised.

    Parameters
    ----------
    dataset
        The data set (see :func:`sparsenode.bm.resolve_datasets`).
    method
        Method name; ``"peer:<ALGORITHM>"`` reads the published prediction of a BEELINE peer.
    seed
        Random seed passed to the method.
    fn
        The method callable (default: ``sparsenode.bm.METHODS[method]``).
    options
        Keyword arguments for the method.
    n_threads
        Torch intra-op threads for this cell (default: leave as is).

    Returns
    -------
    Tidy DataFrame with :data:`COLUMNS`: one row per metric, or one row with metric ``"error"`` and the message.

    Examples
    --------
    >>> from sparsenode.bm import resolve_datasets, run_cell
    >>> (ds,) = resolve_datasets("krumsiek11")
    >>> rows = run_cell(ds, "pearson", 0)
    >>> bool(rows.set_index("metric").loc["auroc", "value"] > 0.5)
    True
    """
    if n_threads is not None:
        import torch

        torch.set_num_threads(int(n_threads))
    metrics: dict[str, float] = {}
    error = ""
    start = time.perf_counter()
    with _PeakMemory() as mem:
        try:
            adata = _load(dataset)
            if method.startswith(PEER_PREFIX):
                edges, extra = read_peer(dataset, method[len(PEER_PREFIX) :]), {}
            else:
                if fn is None:
                    if method not in METHODS:
                        raise KeyError(f"unknown method {method!r}; registered: {sorted(METHODS)} or 'peer:<ALGO>'")
                    fn = METHODS[method]
                context = {"time_key": dataset.time_key, "lineage_key": dataset.lineage_key, "seed": int(seed)}
                edges, extra = _as_edges(_invoke(fn, adata, context, dict(options or {})))
            truth = adata.uns.get("true_network")
            if truth is not None and edges is not None:
                metrics.update(score(edges, truth))
            metrics.update(extra)
            if not metrics:
                raise ValueError(f"method {method!r} gave no metrics on {dataset.name!r} (no true network, no extras)")
        except Exception as exc:  # a failing cell is recorded, the grid goes on
            metrics = {}
            error = f"{type(exc).__name__}: {exc}"
            logger.debug("cell %s/%s/%s failed:\n%s", dataset.name, method, seed, traceback.format_exc())
    runtime = time.perf_counter() - start
    if error:
        metrics = {ERROR_METRIC: float("nan")}
    return pd.DataFrame(
        {
            "dataset": dataset.name,
            "group": dataset.group,
            "method": method,
            "seed": int(seed),
            "metric": list(metrics),
            "value": np.asarray(list(metrics.values()), dtype=np.float64),
            "runtime_s": runtime,
            "peak_memory_mb": mem.peak,
            "error": error,
        },
        columns=COLUMNS,
    )


# --------------------------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------------------------
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "-", str(name))


def _cell_file(output_dir: Path, dataset: str, method: str, seed: int) -> Path:
    return output_dir / CELLS_DIR / f"{_safe(dataset)}__{_safe(method)}__seed{int(seed)}.csv"


def _with_other_cells(table: pd.DataFrame, output_dir: Path, cells: list) -> pd.DataFrame:
    """``table`` followed by the cell files in ``output_dir`` that belong to no cell of this grid.

    A folder filled by several calls (say, baselines first, then a new method) keeps one ``results.csv`` for all of
    them; the cells of the current grid come first, in grid order.
    """
    mine = {_cell_file(output_dir, c.dataset.name, c.method, c.seed).name for c in cells}
    others = []
    for f in sorted((output_dir / CELLS_DIR).glob("*.csv")):
        if f.name in mine:
            continue
        try:
            others.append(_read_csv(f))
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
            logger.warning("skipping unreadable cell file %s", f)
    return pd.concat([table, *others], ignore_index=True) if others else table


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write atomically (temporary file, then rename): a killed run never leaves half a table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)


def _read_csv(path: Path) -> pd.DataFrame:
    df = pd.read_csv(
        path,
        dtype={"dataset": str, "group": str, "method": str, "metric": str, "error": str},
        float_precision="round_trip",
    )
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} is not a sparsenode benchmark table: columns {missing} are missing")
    df["error"] = df["error"].fillna("")
    df["seed"] = df["seed"].astype(np.int64)
    return df[COLUMNS + [c for c in df.columns if c not in COLUMNS]]


def read_results(path: str | PathLike) -> pd.DataFrame:
    """Read a benchmark table written by :func:`benchmark`.

    Parameters
    ----------
    path
        The ``results.csv`` or the output folder holding it (or, failing that, its ``cells/`` files).

    Returns
    -------
    Tidy DataFrame with :data:`COLUMNS` (``error`` is ``""`` for cells that ran).

    Examples
    --------
    >>> import tempfile
    >>> import sparsenode as sn
    >>> out = tempfile.mkdtemp()
    >>> table = sn.bm.benchmark(datasets="krumsiek11", methods=["pearson"], seeds=[0], output_dir=out)
    >>> sn.bm.read_results(out).equals(table)
    True
    """
    path = Path(path)
    if path.is_dir():
        if (path / RESULTS_FILE).is_file():
            path = path / RESULTS_FILE
        else:
            files = sorted((path / CELLS_DIR).glob("*.csv"))
            if not files:
                raise FileNotFoundError(f"no {RESULTS_FILE} and no {CELLS_DIR}/*.csv in {path}; run a benchmark first")
            return pd.concat([_read_csv(f) for f in files], ignore_index=True)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; give a benchmark output folder or its {RESULTS_FILE}")
    return _read_csv(path)


# --------------------------------------------------------------------------------------------------------------------
# the grid
# --------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Cell:
    dataset: DatasetSpec
    method: str
    seed: int


def _options_for(method: str, method_options: dict, fit_options: dict) -> dict:
    opts = dict(fit_options) if method in SPARSENODE_METHODS else {}
    opts.update(method_options.get(method, {}))
    return opts


def _wants_gpu(method: str, options: dict, cluster_gpus: float) -> bool:
    if method not in SPARSENODE_METHODS:
        return False
    device = str(options.get("device", settings.device))
    return device.startswith("cuda") or (device == "auto" and cluster_gpus > 0)


def _run_ray(cells, fns, opts, n_threads, address, ray_init, done: Callable) -> None:
    try:
        import ray
    except ImportError as exc:
        raise ImportError("backend='ray' needs Ray: pip install 'sparsenode[ray]' (or pip install ray)") from exc
    started = False
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False}
        kwargs.update(ray_init or {})
        ray.init(address=address, **kwargs)
        started = True
    try:
        gpus = float(ray.cluster_resources().get("GPU", 0))
        task = ray.remote(run_cell)
        pending = {}
        for i, cell in enumerate(cells):
            need_gpu = _wants_gpu(cell.method, opts[i], gpus)
            ref = task.options(num_cpus=1, num_gpus=1 if need_gpu else 0).remote(
                cell.dataset, cell.method, cell.seed, fn=fns[i], options=opts[i], n_threads=n_threads
            )
            pending[ref] = i
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                i = pending.pop(ref)
                done(i, ray.get(ref))
    finally:
        if started:
            ray.shutdown()


def benchmark(
    *,
    datasets,
    methods: Iterable[str],
    seeds: Iterable[int] = (0,),
    backend: str = "local",
    output_dir: str | PathLike,
    resume: bool = True,
    method_options: dict | None = None,
    fit_options: dict | None = None,
    registry: dict[str, Callable] | None = None,
    n_threads: int | None = None,
    address: str | None = None,
    ray_init: dict | None = None,
    progress_bar: bool | None = None,
) -> pd.DataFrame:
    """Score methods on data sets with known networks, over seeds, and write a tidy results table.

    Every cell of the grid data set x method x seed loads the data set, runs the method, scores its edges against
    the true network with :func:`sparsenode.bm.score` and adds the method's own metrics (sparsity, training error,
    perturbation accuracy on toy systems). A failing cell is recorded with its error message; the grid goes on.

    Parameters
    ----------
    datasets
        Data set specs (see :func:`sparsenode.bm.resolve_datasets`): ``"krumsiek11"``, ``"toy_grn"``, a BEELINE
        input folder, a folder of them (e.g. ``.../beeline/inputs``: all 50), a glob, or dicts such as
        ``{"kind": "toy_grn", "n_genes": 8, "seed": 1}`` and ``{"kind": "mocap", "path": ".../mocap35.mat"}``.
    methods
        Names in :data:`sparsenode.bm.METHODS` (the seven sparsenode methods ``node``, ``l0``, ``cnode``,
        ``grouplasso``, ``lassonet_inner``, ``lassonet_outer``, ``pathreg`` and the baselines ``pearson``,
        ``lagged_correlation``, ``ridge_derivative``), names in ``registry``, or ``"peer:<ALGORITHM>"`` for
        BEELINE's published predictions of a peer (``peer:GENIE3``, ``peer:PIDC``, ...); peer cells are made only
        for data sets with published predictions (BEELINE inputs).
    seeds
        Seeds; every method runs once per seed (deterministic methods give the same values each time).
    backend
        ``"local"`` (one cell after the other in this process) or ``"ray"`` (one Ray task per cell, one CPU each and
        one GPU for sparsenode fits on CUDA; needs ``pip install 'sparsenode[ray]'``).
    output_dir
        Folder for ``cells/*.csv`` (one file per finished cell) and ``results.csv`` (the whole grid).
    resume
        Read back cells whose file exists and holds no error instead of recomputing them; failed cells are retried.
    method_options
        ``{method: {keyword: value}}`` passed to that method, e.g. ``{"pathreg": {"lambdas": {"lambda_path": 0.01}}}``.
    fit_options
        Keywords passed to every sparsenode method (:func:`sparsenode.tl.fit_node` settings such as
        ``max_epochs``, ``device``; ``grn_mode`` and ``knockouts`` of :func:`sparsenode.bm.sparsenode_method`);
        ``method_options`` override them.
    registry
        Extra methods ``{name: callable}`` (see :data:`sparsenode.bm.METHODS` for the calling convention); they
        take precedence over built-in names.
    n_threads
        Torch threads per cell (default: unchanged locally; Ray limits each task to its one CPU).
    address
        Ray cluster address (e.g. ``"auto"`` or ``"ray://head:10001"``); default: start a local Ray instance, which
        is shut down at the end. An already initialised Ray session is used as it is.
    ray_init
        Further keyword arguments of ``ray.init``.
    progress_bar
        Show a progress bar over the grid (default: ``sn.settings.progress_bar``).

    Returns
    -------
    Tidy DataFrame with columns ``dataset``, ``group`` (data set family, e.g. ``dyn-BF``), ``method``, ``seed``,
    ``metric``, ``value``, ``runtime_s`` (wall time of the cell), ``peak_memory_mb`` (peak resident memory of the
    process running the cell) and ``error`` (``""``, or the message of a failed cell, whose single row has metric
    ``"error"``), in grid order (method, data set, seed). The same table is written to ``output_dir/results.csv``,
    followed by the rows of any other grid's cells already in ``output_dir/cells`` (earlier calls into the same
    folder), so that ``results.csv`` and ``sparsenode report`` always cover the whole folder.

    Examples
    --------
    >>> import tempfile
    >>> import sparsenode as sn
    >>> table = sn.bm.benchmark(datasets=["krumsiek11"], methods=["pearson", "ridge_derivative"], seeds=[0],
    ...                         output_dir=tempfile.mkdtemp())
    >>> table.query("metric == 'auprc_ratio'").set_index("method")["value"].round(2).to_dict()
    {'pearson': 1.75, 'ridge_derivative': 1.48}
    """
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', not {backend!r}")
    specs = resolve_datasets(datasets)
    methods = [methods] if isinstance(methods, str) else [str(m) for m in methods]
    seeds = [int(s) for s in ([seeds] if isinstance(seeds, int | np.integer) else seeds)]
    if not specs or not methods or not seeds:
        raise ValueError("give at least one data set, one method and one seed")
    registry = dict(registry or {})
    unknown = [m for m in methods if not m.startswith(PEER_PREFIX) and m not in registry and m not in METHODS]
    if unknown:
        raise KeyError(
            f"unknown method(s) {unknown}; choose from {sorted(METHODS)}, 'peer:<ALGORITHM>' or add them via registry="
        )
    method_options = dict(method_options or {})
    fit_options = dict(fit_options or {})
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    show = settings.progress_bar if progress_bar is None else progress_bar

    # published peer predictions exist only for BEELINE inputs: other data sets get no peer cells
    # method-major order: an interrupted run has whole methods done over all data sets
    cells = [
        _Cell(d, m, s) for m in methods for d in specs if d.peers_dir or not m.startswith(PEER_PREFIX) for s in seeds
    ]
    results: list[pd.DataFrame | None] = [None] * len(cells)
    todo: list[int] = []
    for i, cell in enumerate(cells):
        path = _cell_file(output_dir, cell.dataset.name, cell.method, cell.seed)
        if resume and path.is_file():
            try:
                old = _read_csv(path)
            except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
                old = None
            if old is not None and not (old["error"] != "").any():
                results[i] = old
                continue
        todo.append(i)

    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), desc="benchmark", unit="cell", disable=not show)

    def done(i: int, rows: pd.DataFrame) -> None:
        cell = cells[i]
        _write_csv(rows, _cell_file(output_dir, cell.dataset.name, cell.method, cell.seed))
        results[i] = rows
        if (rows["error"] != "").any():
            logger.warning("%s / %s / seed %d failed: %s", cell.dataset.name, cell.method, cell.seed, rows["error"][0])
        bar.set_postfix_str(f"{cell.dataset.name} {cell.method}", refresh=False)
        bar.update()

    fns = [registry.get(c.method) or METHODS.get(c.method) for c in cells]
    opts = [_options_for(c.method, method_options, fit_options) for c in cells]
    try:
        if backend == "local":
            for i in todo:
                c = cells[i]
                done(i, run_cell(c.dataset, c.method, c.seed, fn=fns[i], options=opts[i], n_threads=n_threads))
        elif todo:
            sub = [cells[i] for i in todo]
            _run_ray(
                sub,
                [fns[i] for i in todo],
                [opts[i] for i in todo],
                n_threads,
                address,
                ray_init,
                lambda j, rows: done(todo[j], rows),
            )
    finally:
        bar.close()
        finished = [r for r in results if r is not None]
        table = pd.concat(finished, ignore_index=True) if finished else pd.DataFrame(columns=COLUMNS)
        _write_csv(_with_other_cells(table, output_dir, cells), output_dir / RESULTS_FILE)
    n_failed = int(table.loc[table["error"] != "", ["dataset", "method", "seed"]].drop_duplicates().shape[0])
    logger.info("benchmark: %d cells (%d newly run, %d failed) in %s", len(cells), len(todo), n_failed, output_dir)
    return table
