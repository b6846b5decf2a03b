"""Plotting: read what ``sn.tl`` stored in AnnData and draw it (never trains).

Every function follows scanpy's ``show`` convention: ``show=False`` returns the Axes (or the Figure for multi-panel
plots), ``show=True`` calls :func:`matplotlib.pyplot.show`, ``show=None`` shows under an interactive backend only.
"""

from ._fit import regularization_path, training_history, trajectory_fit
from ._forecast import forecast
from ._network import adjacency, regulatory_graph
from ._perturbation import perturbation, perturbation_embedding
from ._skeleton import skeleton

__all__ = [
    "adjacency",
    "forecast",
    "perturbation",
    "perturbation_embedding",
    "regularization_path",
    "regulatory_graph",
    "skeleton",
    "training_history",
    "trajectory_fit",
]
