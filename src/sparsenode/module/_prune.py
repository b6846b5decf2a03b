"""Prune-and-refit: hard-zero a fitted field's weak structural units and keep them at zero while refitting.

The unit that is pruned follows each method's structure (METHODS.md section 3):

- ``grouplasso``: the groups ``[W_1^{(i)}]_{., k}`` (input ``k`` of output ``i``), by their norm;
- ``lassonet_inner``/``lassonet_outer``: input-output pairs (by ``|S|`` plus the first-layer column norm), whole inputs
  (first-layer columns, by norm) and single skip entries;
- ``pathreg``/``l0``, ``node``/``cnode``: input-output pairs, by the method's structural adjacency (the gate
  product, or the product of absolute weights; METHODS.md section 3).

A unit is pruned when its score is at most ``threshold`` times the largest score of its kind (per tensor and
ensemble member). Zeroing weights of a shared MLP cannot remove one pair without touching others, so in every MLP
field (all methods but ``grouplasso``) pairs are removed by the field's edge mask (:meth:`MLPField.set_edge_mask`).
Single weights are not pruned by magnitude (that hurt the fit long before any pair went, on toy_grn); weights that
are already zero or gated off stay zero, and gates are fixed: exactly 1 where open, exactly 0 where closed.
"""

from __future__ import annotations

import dataclasses

import torch

from ._field import GroupedMLPField, MLPField, VectorField
from ._gates import deterministic_gates
from ._methods import Method

#: name of the pair mask in the dict of :func:`prune_masks` (a buffer of :class:`MLPField`, not a parameter)
EDGE_MASK = "edge_mask"
#: gate logit whose deterministic and sampled hard-concrete gates are exactly 1 (and -GATE_LOGIT: exactly 0)
GATE_LOGIT = 20.0


def _keep(score: torch.Tensor, threshold: float, dims: tuple[int, ...]) -> torch.Tensor:
    top = score.amax(dim=dims, keepdim=True)
    return (score > threshold * top) & (score > 0)


@torch.no_grad()
def prune_masks(field: VectorField, method: Method, threshold: float) -> dict[str, torch.Tensor]:
    """Boolean keep-masks, by parameter name, of the structural units that survive pruning.

    Parameters
    ----------
    field
        A fitted vector field.
    method
        Its method (decides which units are pruned, see the module docstring).
    threshold
        Relative threshold in ``[0, 1)``: a unit is pruned when its score is at most ``threshold`` times the largest
        score of its kind; ``0`` prunes only units that are already exactly zero (closed gates, zero groups).

    Returns
    -------
    ``{parameter name: bool tensor}``; masks of gate logits (``log_alpha.*``) say which gates stay open, and
    ``"edge_mask"`` (MLP fields, only when a pair is pruned) which input-output pairs stay, as
    ``(members, outputs, inputs)``.

    Examples
    --------
    >>> import torch
    >>> from sparsenode.module import GroupedMLPField, get_method, prune_masks
    >>> field = GroupedMLPField(3, hidden=(4,))
    >>> with torch.no_grad():
    ...     field.first[0, 0, :, 1] = 0.0  # input 1 of output 0 is already gone
    >>> masks = prune_masks(field, get_method("grouplasso"), threshold=0.0)
    >>> masks["first"][0, 0, :, 1].any().item(), masks["first"][0, 1, :, 1].all().item()
    (False, True)
    """
    if not 0.0 <= float(threshold) < 1.0:
        raise ValueError(f"threshold must be in [0, 1) (relative to the largest unit), got {threshold}")
    if isinstance(field, GroupedMLPField):
        norms = field.group_norms(keepdim=True)  # (members, output, 1, input)
        return {"first": _keep(norms, threshold, (1, 2, 3)).expand_as(field.first).clone()}
    if not isinstance(field, MLPField):
        raise TypeError(f"cannot prune a {type(field).__name__}; expected an MLPField or GroupedMLPField")
    pairs = _keep(method.adjacency(field), threshold, (1, 2))  # (members, outputs, inputs)
    if field.edge_mask is not None:
        pairs = pairs & (field.edge_mask > 0)
    # an all-ones edge mask would only cost genes-fold passes: set one only when a pair goes
    masks: dict[str, torch.Tensor] = {EDGE_MASK: pairs} if not pairs.all() or field.edge_mask is not None else {}
    if method.skip is not None:  # LassoNet: features (first-layer columns) and skip entries
        w = field.weights[0]
        cols = _keep(w.norm(dim=1, keepdim=True), threshold, (1, 2))  # (members, 1, inputs)
        masks["weights.0"] = cols.expand_as(w).clone()
        masks["skip"] = _keep(field.skip.abs(), threshold, (1, 2)) & pairs.transpose(1, 2)
        return masks
    gates = field.gate_values(sample=False) if field.gates is not None else [None] * field.n_layers
    for i, (w, z) in enumerate(zip(field.weights, gates, strict=True)):  # weights: only those already zero
        eff = w.abs() if z is None else w.abs() * z
        masks[f"weights.{i}"] = eff > 0
        if field.gates == "weight":
            masks[f"log_alpha.{i}"] = masks[f"weights.{i}"]
        elif field.gates == "unit":  # one gate per input unit: open while the unit feeds any kept weight
            open_now = deterministic_gates(field.log_alpha[i]) > 0
            masks[f"log_alpha.{i}"] = open_now & masks[f"weights.{i}"].any(dim=1, keepdim=True)
    return masks


@torch.no_grad()
def apply_masks(field: VectorField, masks: dict[str, torch.Tensor]) -> None:
    """Zero the pruned weights in place and fix gate logits at ``+-GATE_LOGIT`` (gates exactly 1 or 0).

    Examples
    --------
    >>> from sparsenode.module import MLPField, apply_masks, get_method, prune_masks
    >>> field = MLPField(3, hidden=(4,), gates="weight")
    >>> field.log_alpha[0].data[0, 0, 0] = -10.0  # one gate closed by the fit
    >>> apply_masks(field, prune_masks(field, get_method("pathreg"), threshold=0.0))
    >>> sorted({float(v) for z in field.gate_values(sample=False) for v in z.detach().unique()})
    [0.0, 1.0]
    """
    params = dict(field.named_parameters())
    for name, keep in masks.items():
        if name == EDGE_MASK:
            if field.edge_mask is None or not torch.equal(field.edge_mask > 0, keep):
                field.set_edge_mask(keep.float())
            continue
        if name not in params:
            raise KeyError(f"the field has no parameter {name!r}; the masks come from a different field")
        p = params[name]
        if name.startswith("log_alpha"):
            p.copy_(torch.where(keep, GATE_LOGIT, -GATE_LOGIT).expand_as(p))
        else:
            p.mul_(keep.to(p.dtype))


def refit_method(method: Method, masks: dict[str, torch.Tensor]) -> Method:
    """The method without its penalty, whose step-wise proximal operator re-applies the pruning masks.

    Training a field with it refits the surviving weights while pruned units stay exactly zero and gate logits stay
    at ``+-GATE_LOGIT`` (their gradients vanish there: the gates are clamped at exactly 0 or 1). Apply the masks
    (:func:`apply_masks`) once before training: the edge mask is set then, not by the step.

    Examples
    --------
    >>> from sparsenode.module import MLPField, get_method, prune_masks, refit_method
    >>> field = MLPField(3, hidden=(4,))
    >>> m = refit_method(get_method("cnode"), prune_masks(field, get_method("cnode"), 0.1))
    >>> m.name, m.penalty is None, m.prox is not None
    ('cnode', True, True)
    """
    # the edge mask is a buffer the optimiser never touches; re-applying only parameter masks keeps the step free of
    # host-device synchronisation (it runs inside CUDA-graph captures)
    param_masks = {k: v for k, v in masks.items() if k != EDGE_MASK}

    def prox(field, lr, lambdas):
        apply_masks(field, param_masks)

    return dataclasses.replace(method, penalty=None, prox=prox)
