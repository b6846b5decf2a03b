"""The AnnData-aware model class."""

from ._model import SparseNODE

__all__ = ["SparseNODE"]
