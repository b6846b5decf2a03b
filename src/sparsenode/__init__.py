"""sparsenode: sparse neural ODEs for gene regulatory networks and in-silico perturbations on AnnData."""

from importlib.metadata import PackageNotFoundError, version

from . import bm, datasets, get, io, pl, pp, tl
from ._settings import settings
from .model import SparseNODE

try:
    __version__ = version("sparsenode")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["SparseNODE", "__version__", "bm", "datasets", "get", "io", "pl", "pp", "settings", "tl"]
