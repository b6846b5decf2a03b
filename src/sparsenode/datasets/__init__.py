"""Data sets with known truth (toy ODE systems, krumsiek11) and loaders of real data."""

from ._hematopoiesis import base_grn, hematopoiesis
from ._krumsiek11 import krumsiek11
from ._mocap import mocap35
from ._toy import HillODE, toy_grn, toy_perturbation_truth

__all__ = [
    "HillODE",
    "base_grn",
    "hematopoiesis",
    "krumsiek11",
    "mocap35",
    "toy_grn",
    "toy_perturbation_truth",
]
