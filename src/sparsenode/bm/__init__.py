"""Benchmarking: metrics, reference baselines, method registry, runners and reports."""

from . import metrics
from ._baselines import BASELINES, lagged_correlation_grn, pearson_grn, ridge_derivative_grn
from .metrics import METRICS, score

__all__ = [
    "BASELINES",
    "METRICS",
    "lagged_correlation_grn",
    "metrics",
    "pearson_grn",
    "ridge_derivative_grn",
    "score",
]
