"""Getters: tidy tables out of what ``tl`` stored in AnnData."""

from ._grn import grn
from ._perturbation import perturbation

__all__ = ["grn", "perturbation"]
