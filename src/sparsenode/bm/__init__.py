"""Benchmarking: metrics, reference baselines, method registry, runners and reports."""

from . import metrics
from .metrics import score

__all__ = ["metrics", "score"]
