"""Benchmarking: metrics, reference baselines, method registry, runners and reports."""

from . import metrics, pl
from ._baselines import BASELINES, lagged_correlation_grn, pearson_grn, ridge_derivative_grn
from ._datasets import DatasetSpec, beeline_peers, resolve_datasets
from ._methods import METHODS, SPARSENODE_METHODS, method_kind, sparsenode_method
from ._report import report, summarize
from ._runner import COLUMNS, benchmark, read_results, run_cell
from .metrics import METRICS, score

__all__ = [
    "BASELINES",
    "COLUMNS",
    "METHODS",
    "METRICS",
    "SPARSENODE_METHODS",
    "DatasetSpec",
    "beeline_peers",
    "benchmark",
    "lagged_correlation_grn",
    "method_kind",
    "metrics",
    "pearson_grn",
    "pl",
    "read_results",
    "report",
    "resolve_datasets",
    "ridge_derivative_grn",
    "run_cell",
    "score",
    "sparsenode_method",
    "summarize",
]
