"""The method set: for each method, how its field is built, what it penalises, its proximal step and its
structural input-output adjacency (METHODS.md sections 2-3).

Adjacencies are returned as ``(members, outputs, inputs)`` tensors (torch convention); the model layer transposes
them to sparsenode's ``[source, target]`` convention.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch

from ._field import GroupedMLPField, MLPField, VectorField


def abs_product(field: MLPField, weights: list[torch.Tensor] | None = None) -> torch.Tensor:
    """``|W_{L+1}| ··· |W_1|`` as ``(members, outputs, inputs)``: an upper bound on input-output dependence.

    Examples
    --------
    >>> from sparsenode.module import MLPField, abs_product
    >>> abs_product(MLPField(3, hidden=(8, 8))).shape
    torch.Size([1, 3, 3])
    """
    ws = list(field.weights) if weights is None else weights
    out = ws[0].abs()
    for w in ws[1:]:
        out = torch.bmm(w.abs(), out)
    return out


def gate_product(gates: list[torch.Tensor]) -> torch.Tensor:
    """``G_{L+1} ··· G_1`` as ``(members, outputs, inputs)``: (expected) number of open input-output paths.

    Examples
    --------
    With every gate open, each input reaches each output through ``8 * 8`` paths.

    >>> import torch
    >>> from sparsenode.module import gate_product
    >>> gates = [torch.ones(1, 8, 3), torch.ones(1, 8, 8), torch.ones(1, 3, 8)]  # (members, out, in) per layer
    >>> gate_product(gates)[0, 0, 0].item()
    64.0
    """
    out = gates[0]
    for g in gates[1:]:
        out = torch.bmm(g, out)
    return out


def _path_norm(field: MLPField) -> float:
    """Largest possible entry of a gate product: the number of paths between one input and one output."""
    n = 1.0
    for h in field.hidden:
        n *= h
    return n


def _cnode_penalty(field: MLPField) -> torch.Tensor:
    return abs_product(field).mean(dim=(1, 2))


def _pathreg_penalty(field: MLPField, lambdas: dict) -> torch.Tensor:
    pen = (
        lambdas["lambda_path"]
        * gate_product(field.gate_probabilities()).sum(dim=(1, 2))
        / (_path_norm(field) * field.n_genes**2)
    )
    if lambdas.get("lambda_weight", 0.0):
        pen = pen + lambdas["lambda_weight"] * _cnode_penalty(field)
    return pen


def _l0_penalty(field: MLPField, lambdas: dict) -> torch.Tensor:
    total = sum(p.sum(dim=(1, 2)) for p in field.gate_probabilities())
    n = sum(w[0].numel() for w in field.weights)
    return lambdas["lambda_l0"] * total / n


def _group_prox(field: GroupedMLPField, lr: float, lambdas: dict) -> None:
    with torch.no_grad():
        w = field.first  # (members, output, hidden, input): groups over the hidden axis
        norms = field.group_norms(keepdim=True)
        shrink = torch.clamp(1.0 - lr * lambdas["lambda_group"] / norms.clamp_min(1e-12), min=0.0)
        w.mul_(shrink)


def _hier_prox(field: MLPField, lr: float, lambdas: dict) -> None:
    """LassoNet's hierarchical proximal operator on (skip column k, first-layer column k) pairs."""
    lam = lr * lambdas["lambda_skip"]
    rho = lambdas.get("rho", 10.0)
    with torch.no_grad():
        s = field.skip  # (members, inputs, outputs): column k of S is row k here
        w = field.weights[0]  # (members, hidden, inputs)
        s_norm = s.norm(dim=2)  # (members, inputs)
        w_abs = w.abs().transpose(1, 2)  # (members, inputs, hidden)
        w_sorted, _ = torch.sort(w_abs, dim=2, descending=True)
        m = w_sorted.shape[2]
        cums = torch.cumsum(w_sorted, dim=2)
        ranks = torch.arange(0, m + 1, device=w.device, dtype=w.dtype)
        cums = torch.cat([torch.zeros_like(cums[..., :1]), cums], dim=2)  # (members, inputs, m + 1)
        thr = rho / (1.0 + ranks * rho**2) * torch.clamp(s_norm.unsqueeze(-1) + rho * cums - lam, min=0.0)
        bounds = torch.cat([w_sorted, torch.zeros_like(w_sorted[..., :1])], dim=2)
        upper = torch.cat([torch.full_like(w_sorted[..., :1], float("inf")), w_sorted], dim=2)
        ok = (thr >= bounds) & (thr <= upper)
        idx = ok.to(torch.int64).argmax(dim=2, keepdim=True)
        w_star = torch.gather(thr, 2, idx).squeeze(-1)  # (members, inputs)
        s_new = (w_star / rho).unsqueeze(-1) * s / s_norm.clamp_min(1e-12).unsqueeze(-1)
        s.copy_(torch.where(s_norm.unsqueeze(-1) > 0, s_new, torch.zeros_like(s)))
        clip = w_star.unsqueeze(1)  # (members, 1, inputs)
        w.copy_(torch.sign(w) * torch.minimum(w.abs(), clip))


def _first_layer_norms(field: MLPField) -> torch.Tensor:
    return field.weights[0].norm(dim=1)  # (members, inputs)


def _lassonet_adjacency(field: MLPField) -> torch.Tensor:
    s = field.skip.abs().transpose(1, 2)  # (members, outputs, inputs)
    return s + _first_layer_norms(field).unsqueeze(1)


@dataclass(frozen=True)
class Method:
    """What defines one sparse-NODE method.

    Attributes
    ----------
    name
        Registry name.
    field_kind
        ``"mlp"`` or ``"grouped"``.
    gates
        Gate type of the MLP field (``None``, ``"weight"``, ``"unit"``).
    skip
        LassoNet skip placement: ``None``, ``"inner"`` (inside the field) or ``"outer"`` (after the solver).
    lambdas
        Default regularisation strengths.
    penalty
        ``(field, lambdas) -> (members,)`` differentiable penalty, or None.
    prox
        ``(field, lr, lambdas) -> None`` proximal step run after each optimiser step, or None.
    adjacency
        ``field -> (members, outputs, inputs)`` structural adjacency.
    description
        One line for docs and reprs.

    Examples
    --------
    >>> from sparsenode.module import METHODS
    >>> method = METHODS["pathreg"]
    >>> method.field_kind, method.gates, sorted(method.lambdas)
    ('mlp', 'weight', ['lambda_path', 'lambda_weight'])
    """

    name: str
    field_kind: str
    gates: str | None
    skip: str | None
    lambdas: dict = field(default_factory=dict)
    penalty: object = None
    prox: object = None
    adjacency: object = None
    description: str = ""


def _gate_adjacency(field: MLPField) -> torch.Tensor:
    return gate_product(field.gate_values(sample=False))


METHODS: dict[str, Method] = {
    "node": Method(
        "node", "mlp", None, None, {}, None, None, lambda f: abs_product(f), "unregularised neural ODE (baseline)"
    ),
    "cnode": Method(
        "cnode",
        "mlp",
        None,
        None,
        {"lambda_weight": 1e-3},
        lambda f, lam: lam["lambda_weight"] * _cnode_penalty(f),
        None,
        lambda f: abs_product(f),
        "C-NODE: L1 penalty on the product of absolute weight matrices",
    ),
    "l0": Method(
        "l0",
        "mlp",
        "weight",
        None,
        {"lambda_l0": 1e-2},
        _l0_penalty,
        None,
        _gate_adjacency,
        "expected-L0 penalty on hard-concrete gates of every weight",
    ),
    "pathreg": Method(
        "pathreg",
        "mlp",
        "weight",
        None,
        {"lambda_path": 3e-3, "lambda_weight": 0.0},
        _pathreg_penalty,
        None,
        _gate_adjacency,
        "PathReg: penalty on the expected number of input-output paths through gated weights",
    ),
    "grouplasso": Method(
        "grouplasso",
        "grouped",
        None,
        None,
        {"lambda_group": 0.1},
        None,
        _group_prox,
        lambda f: f.group_norms(),
        "one MLP per output with a proximal group-lasso step on its input columns",
    ),
    "lassonet_inner": Method(
        "lassonet_inner",
        "mlp",
        None,
        "inner",
        {"lambda_skip": 1e-2, "rho": 10.0},
        None,
        _hier_prox,
        _lassonet_adjacency,
        "LassoNet with the linear skip inside the vector field",
    ),
    "lassonet_outer": Method(
        "lassonet_outer",
        "mlp",
        None,
        "outer",
        {"lambda_skip": 1e-2, "rho": 10.0},
        None,
        _hier_prox,
        _lassonet_adjacency,
        "LassoNet with the linear skip applied to the solver's output",
    ),
}


def prior_dependency(field: VectorField) -> torch.Tensor:
    """Differentiable input-output dependency ``(members, outputs, inputs)`` that the soft prior penalises.

    - MLP fields (``node``, ``cnode``, ``l0``, ``pathreg``, both LassoNets): the path product
      ``|W_{L+1}| ··· |W_1|``; with gates, each weight is multiplied by its gate's probability of being non-zero
      (so the penalty closes gates as well as shrinking weights); with a LassoNet skip, ``|S|`` (input ``k`` to
      output ``i`` directly) is added.
    - grouped fields (``grouplasso``): the group norms ``||[W_1^{(i)}]_{., k}||_2``.

    Examples
    --------
    >>> from sparsenode.module import GroupedMLPField, MLPField, prior_dependency
    >>> prior_dependency(MLPField(3, hidden=(8,), gates="weight")).shape  # (members, outputs, inputs)
    torch.Size([1, 3, 3])
    >>> prior_dependency(GroupedMLPField(3, hidden=(4,))).shape
    torch.Size([1, 3, 3])
    """
    if isinstance(field, GroupedMLPField):
        return field.group_norms()
    if field.gates is not None:
        return gate_product(field.gate_probabilities()) / _path_norm(field)
    dep = abs_product(field)
    if field.skip_mode is not None:
        dep = dep + field.skip.abs().transpose(1, 2)  # skip is (members, inputs, outputs)
    return dep


def with_prior_penalty(method: Method, off_prior: torch.Tensor, lambda_prior: float) -> Method:
    """The method with ``lambda_prior * sum_{(k -> i) not in prior} D[i, k] / genes**2`` added to its penalty.

    ``D`` is :func:`prior_dependency`; ``off_prior`` is a ``(outputs, inputs)`` 0/1 tensor with 1 for every pair
    the prior does not list (on the field's device). Methods without a penalty of their own (``node``, the proximal
    methods) get this term alone; the trainer adds it to the loss like any method penalty, under both objectives
    and for every ensemble member.

    Examples
    --------
    >>> import torch
    >>> from sparsenode.module import MLPField, get_method, with_prior_penalty
    >>> off = 1.0 - torch.eye(3)  # the prior lists self-edges only
    >>> method = with_prior_penalty(get_method("node"), off, 0.1)
    >>> method.penalty(MLPField(3, hidden=(8,)), method.lambdas).shape  # one value per ensemble member
    torch.Size([1])
    """
    lam = float(lambda_prior)
    if not (math.isfinite(lam) and lam >= 0):
        raise ValueError(f"lambda_prior must be a finite non-negative number, got {lambda_prior}")
    base = method.penalty
    off = off_prior.float()
    n = float(off.numel())

    def penalty(f, lambdas):
        pen = lam * (prior_dependency(f) * off).sum(dim=(1, 2)) / n
        return pen if base is None else base(f, lambdas) + pen

    return dataclasses.replace(method, penalty=penalty)


def get_method(name: str) -> Method:
    """Look a method up by name, with an error listing the choices.

    Examples
    --------
    >>> from sparsenode.module import get_method
    >>> get_method("grouplasso").field_kind
    'grouped'
    """
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHODS)}")
    return METHODS[name]


def make_field(
    method: Method,
    n_genes: int,
    *,
    hidden: tuple[int, ...],
    activation: str,
    n_members: int,
    decay: bool,
    input_mask: torch.Tensor | None,
    seed: int,
    gates: str | None = None,
) -> VectorField:
    """Build the vector field a method needs.

    Examples
    --------
    >>> from sparsenode.module import get_method, make_field
    >>> field = make_field(
    ...     get_method("l0"), 4, hidden=(8,), activation="softplus", n_members=1, decay=True, input_mask=None, seed=0
    ... )
    >>> type(field).__name__, field.config()["gates"]
    ('MLPField', 'weight')
    """
    if method.field_kind == "grouped":
        return GroupedMLPField(
            n_genes, hidden, activation, n_members=n_members, decay=decay, input_mask=input_mask, seed=seed
        )
    f = MLPField(
        n_genes,
        hidden,
        activation,
        gates=gates if gates is not None else method.gates,
        skip=method.skip,
        n_members=n_members,
        decay=decay,
        input_mask=input_mask,
        seed=seed,
    )
    return f
