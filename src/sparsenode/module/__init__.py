"""Torch-only building blocks: hard-concrete gates, vector fields, the method registry. Never sees AnnData."""

from ._clamp import ClampedField
from ._field import ACTIVATIONS, GroupedMLPField, MLPField, VectorField, build_field, jacobian, jacobian_summary
from ._gates import deterministic_gates, prob_nonzero, sample_gates
from ._methods import (
    METHODS,
    Method,
    abs_product,
    gate_product,
    get_method,
    make_field,
    prior_dependency,
    with_prior_penalty,
)
from ._prune import apply_masks, prune_masks, refit_method

__all__ = [
    "ACTIVATIONS",
    "METHODS",
    "ClampedField",
    "GroupedMLPField",
    "MLPField",
    "Method",
    "VectorField",
    "abs_product",
    "apply_masks",
    "build_field",
    "deterministic_gates",
    "gate_product",
    "get_method",
    "jacobian",
    "jacobian_summary",
    "make_field",
    "prior_dependency",
    "prob_nonzero",
    "prune_masks",
    "refit_method",
    "sample_gates",
    "with_prior_penalty",
]
