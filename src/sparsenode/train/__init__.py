"""Training: solver registry, shooting segments, the optimisation loop."""

from ._checkpoint import Checkpointer
from ._solvers import SOLVERS, get_solver, solve
from ._trainer import Segments, TrainConfig, feature_sparsity, make_segments, split_bins, train

__all__ = [
    "SOLVERS",
    "Checkpointer",
    "Segments",
    "TrainConfig",
    "feature_sparsity",
    "get_solver",
    "make_segments",
    "solve",
    "split_bins",
    "train",
]
