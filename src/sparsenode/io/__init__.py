"""Readers: BEELINE-format inputs and rankings, CMU motion capture (ASF/AMC)."""

from ._beeline import read_beeline, read_ranked_edges
from ._mocap import Skeleton, forward_kinematics, read_amc, read_asf, read_mocap

__all__ = ["Skeleton", "forward_kinematics", "read_amc", "read_asf", "read_beeline", "read_mocap", "read_ranked_edges"]
