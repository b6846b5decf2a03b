"""Preprocessing: turn cells along pseudotime into trajectories."""

from ._genes import select_genes
from ._pseudotime import pseudotime
from ._trajectories import Trajectories, bin_trajectories

__all__ = ["Trajectories", "bin_trajectories", "pseudotime", "select_genes"]
