"""Training: solver registry, shooting segments, the optimisation loop."""

from ._checkpoint import Checkpointer
from ._objective import DerivativeTargets, make_derivative_targets, objective, smooth_trajectories
from ._solvers import SOLVERS, get_solver, solve
from ._trainer import OBJECTIVES, Segments, TrainConfig, feature_sparsity, make_segments, split_bins, train

__all__ = [
    "OBJECTIVES",
    "SOLVERS",
    "Checkpointer",
    "DerivativeTargets",
    "Segments",
    "TrainConfig",
    "feature_sparsity",
    "get_solver",
    "make_derivative_targets",
    "make_segments",
    "objective",
    "smooth_trajectories",
    "solve",
    "split_bins",
    "train",
]
