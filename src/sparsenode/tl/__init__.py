"""Tools: fit sparse neural ODEs, infer networks, simulate perturbations. The only writers of AnnData."""

from ._fit import fit_node, fit_pathreg
from ._forecast import FORECAST_BASELINES, forecast, forecast_baseline
from ._grn import infer_grn
from ._heldout import evaluate_heldout, spurious_feature_sparsity
from ._path import regularization_path
from ._perturb import perturbation_screen, simulate_knockout, simulate_perturbation
from ._prune import prune
from ._regulators import lineage_regulators

__all__ = [
    "FORECAST_BASELINES",
    "evaluate_heldout",
    "fit_node",
    "fit_pathreg",
    "forecast",
    "forecast_baseline",
    "infer_grn",
    "lineage_regulators",
    "perturbation_screen",
    "prune",
    "regularization_path",
    "simulate_knockout",
    "simulate_perturbation",
    "spurious_feature_sparsity",
]
