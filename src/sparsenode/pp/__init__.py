"""Preprocessing: turn cells along pseudotime into trajectories."""

from ._ood import add_noise, drop_frames, hold_out_trials
from ._trajectories import Trajectories, bin_trajectories

__all__ = ["Trajectories", "add_noise", "bin_trajectories", "drop_frames", "hold_out_trials"]
