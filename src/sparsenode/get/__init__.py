"""Getters: tidy tables out of what ``tl`` stored in AnnData."""

from ._grn import grn

__all__ = ["grn"]
