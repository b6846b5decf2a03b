"""Preprocessing: turn cells along pseudotime into trajectories."""

from ._genes import select_genes
from ._ood import add_noise, drop_frames, hold_out_trials
from ._pseudotime import pseudotime
from ._trajectories import Trajectories, bin_trajectories

__all__ = [
    "Trajectories",
    "add_noise",
    "bin_trajectories",
    "drop_frames",
    "hold_out_trials",
    "pseudotime",
    "select_genes",
]
