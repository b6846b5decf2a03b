"""Preprocessing: turn cells along pseudotime into trajectories."""

from ._trajectories import Trajectories, bin_trajectories

__all__ = ["Trajectories", "bin_trajectories"]
