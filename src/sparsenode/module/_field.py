"""Vector fields ``dx/dt = f(x)`` as torch modules, batched over ensemble members.

Every field takes states of shape ``(members, batch, genes)`` and returns derivatives of the same shape. Weights carry
a leading ensemble dimension, so an ensemble of fits (seeds, bootstrap resamples) is one module and one ODE solve.
Gates, when present, are drawn once per solve: call :meth:`VectorField.prepare` before each ``odeint`` call.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from . import _gates

ACTIVATIONS = {
    "tanh": torch.tanh,
    "softplus": nn.functional.softplus,
    "relu": torch.relu,
    "elu": nn.functional.elu,
    "silu": nn.functional.silu,
    "sigmoid": torch.sigmoid,
}


def _check_activation(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def _uniform(shape: tuple[int, ...], fan_in: int, generator: torch.Generator | None) -> torch.Tensor:
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * bound


class VectorField(nn.Module):
    """Base class: shared state handling for all fields.

    Parameters
    ----------
    n_genes
        Dimension of the state.
    n_members
        Number of independent ensemble members computed in one batched pass.
    decay
        Add a learnable first-order decay ``-k_i x_i`` (``k_i = softplus(.) >= 0``) to each output. It models mRNA
        degradation, so that the network part of the field only has to carry regulation between genes.
    input_mask
        Optional ``(genes,)`` 0/1 tensor: inputs with 0 cannot act on any output (e.g. non-regulators of a prior).

    Examples
    --------
    Subclasses implement the network; the base class adds the decay term and the input mask.

    >>> from sparsenode.module import MLPField, VectorField
    >>> issubclass(MLPField, VectorField)
    True
    >>> MLPField(3, hidden=(8,)).decay_rates().shape  # (members, genes)
    torch.Size([1, 3])
    """

    def __init__(self, n_genes: int, n_members: int = 1, decay: bool = True, input_mask: torch.Tensor | None = None):
        super().__init__()
        self.n_genes = int(n_genes)
        self.n_members = int(n_members)
        self.has_decay = bool(decay)
        if decay:
            self.raw_decay = nn.Parameter(torch.full((n_members, n_genes), -1.0))
        mask = torch.ones(n_genes) if input_mask is None else torch.as_tensor(input_mask, dtype=torch.float32)
        self.register_buffer("input_mask", mask.reshape(n_genes).float())
        self._cache: dict | None = None
        self.n_evals = 0

    # -- state for one solve -------------------------------------------------------------------------------------
    def prepare(self, sample: bool | None = None) -> None:
        """Fix the effective weights for one ODE solve (gates sampled once if ``sample``, else deterministic)."""
        if sample is None:
            sample = self.training
        self._cache = self._effective(sample)

    def release(self) -> None:
        """Drop the weights cached by :meth:`prepare` (frees the autograd graph they hold)."""
        self._cache = None

    def _effective(self, sample: bool) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _network(self, y: torch.Tensor, cache: dict) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply_outer_skip(self, states: torch.Tensor) -> torch.Tensor:
        """Map solver output to predictions (identity except for LassoNet outer)."""
        return states

    def decay_rates(self) -> torch.Tensor:
        """Per-gene decay rates ``(members, genes)`` (zeros when the field has no decay term)."""
        if not self.has_decay:
            return torch.zeros(self.n_members, self.n_genes, device=self.input_mask.device)
        return nn.functional.softplus(self.raw_decay)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Return ``dx/dt`` for states ``y`` of shape ``(members, batch, genes)``."""
        cache = self._cache if self._cache is not None else self._effective(False)
        self.n_evals += 1
        out = self._network(y * self.input_mask, cache)
        if self.has_decay:
            out = out - nn.functional.softplus(self.raw_decay).unsqueeze(1) * y
        return out

    def config(self) -> dict:
        """JSON-serialisable constructor arguments (without the input mask)."""
        raise NotImplementedError  # pragma: no cover


class MLPField(VectorField):
    """A dense MLP ``f(x) = W_{L+1} s(··· s(W_1 x + b_1) ···) + b_{L+1}``, optionally gated and with a linear skip.

    Parameters
    ----------
    n_genes
        State dimension (input and output size).
    hidden
        Sizes of the hidden layers.
    activation
        Name of the non-linearity (see ``ACTIVATIONS``).
    gates
        ``None`` (no gates), ``"weight"`` (one hard-concrete gate per weight, the default for PathReg and L0) or
        ``"unit"`` (one gate per input unit of each layer, as in the PathReg paper's public code: it can only select
        inputs globally, so every output shares the same inputs).
    skip
        ``None``, ``"inner"`` (a linear skip ``x S`` added inside the field: LassoNet inner) or ``"outer"`` (the
        skip matrix ``S`` exists but is applied to the solver's output by the caller: LassoNet outer).
    n_members, decay, input_mask
        See :class:`VectorField`.
    seed
        Seed of the weight initialisation.
    keep_prob
        Initial probability that a gate is open.

    Examples
    --------
    States are ``(members, batch, genes)``; the field returns ``dx/dt`` of the same shape.

    >>> import torch
    >>> from sparsenode.module import MLPField
    >>> field = MLPField(3, hidden=(8, 8), gates="weight")
    >>> field(torch.zeros(()), torch.ones(1, 5, 3)).shape
    torch.Size([1, 5, 3])
    >>> field.config()["gates"]
    'weight'
    """

    def __init__(
        self,
        n_genes: int,
        hidden: tuple[int, ...] = (64, 64),
        activation: str = "softplus",
        gates: str | None = None,
        skip: str | None = None,
        n_members: int = 1,
        decay: bool = True,
        input_mask: torch.Tensor | None = None,
        seed: int = 0,
        keep_prob: float = 0.9,
    ):
        super().__init__(n_genes, n_members, decay, input_mask)
        if gates not in (None, "weight", "unit"):
            raise ValueError(f"gates must be None, 'weight' or 'unit', not {gates!r}")
        self.hidden = tuple(int(h) for h in hidden)
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must list at least one positive layer size, got {hidden!r}")
        self.activation = activation
        self._act = _check_activation(activation)
        self.gates = gates
        if skip not in (None, "inner", "outer"):
            raise ValueError(f"skip must be None, 'inner' or 'outer', not {skip!r}")
        self.skip_mode = skip
        self.has_skip = skip == "inner"
        self.keep_prob = float(keep_prob)
        gen = torch.Generator().manual_seed(int(seed))
        sizes = [n_genes, *self.hidden, n_genes]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.log_alpha = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            self.weights.append(nn.Parameter(_uniform((n_members, fan_out, fan_in), fan_in, gen)))
            self.biases.append(nn.Parameter(_uniform((n_members, fan_out), fan_in, gen)))
            if gates == "weight":
                self.log_alpha.append(nn.Parameter(_gates.init_log_alpha((n_members, fan_out, fan_in), keep_prob, gen)))
            elif gates == "unit":
                self.log_alpha.append(nn.Parameter(_gates.init_log_alpha((n_members, 1, fan_in), keep_prob, gen)))
        if skip is not None:
            self.skip = nn.Parameter(torch.zeros(n_members, n_genes, n_genes))
        self.register_buffer("edge_mask", None)  # set by pruning: (members, outputs, inputs) 0/1, see set_edge_mask

    def set_edge_mask(self, mask: torch.Tensor | None) -> None:
        """Remove single input-output pairs: output ``i`` sees input ``j`` only where ``mask[e, i, j]`` is 1.

        A shared MLP cannot drop one pair by zeroing weights, so a masked field evaluates the network once per
        output on its own masked input (exact, about ``genes`` times the cost of a pass). ``None`` removes the mask.
        The mask is a buffer: it is saved in the state dict.

        Examples
        --------
        >>> import torch
        >>> from sparsenode.module import MLPField, jacobian
        >>> field = MLPField(3, hidden=(8,))
        >>> mask = torch.ones(1, 3, 3)
        >>> mask[0, 0, 2] = 0.0  # input 2 no longer acts on output 0
        >>> field.set_edge_mask(mask)
        >>> jacobian(field, torch.rand(1, 4, 3))[0, :, 0, 2].abs().max().item()
        0.0
        """
        if mask is None:
            self.edge_mask = None
            return
        mask = torch.as_tensor(mask, dtype=torch.float32, device=self.weights[0].device)
        shape = (self.n_members, self.n_genes, self.n_genes)
        if tuple(mask.shape) != shape:
            raise ValueError(f"edge mask must have shape (members, outputs, inputs) = {shape}, got {tuple(mask.shape)}")
        self.edge_mask = mask.clone()

    @property
    def n_layers(self) -> int:
        """Number of weight matrices."""
        return len(self.weights)

    def gate_values(self, sample: bool) -> list[torch.Tensor]:
        """Gate matrices ``(members, out, in)`` per layer (sampled or deterministic); empty without gates."""
        if self.gates is None:
            return []
        fn = _gates.sample_gates if sample else _gates.deterministic_gates
        return [fn(la).expand_as(w) for la, w in zip(self.log_alpha, self.weights, strict=True)]

    def gate_probabilities(self) -> list[torch.Tensor]:
        """``q(z != 0)`` per weight ``(members, out, in)`` per layer; empty without gates."""
        return [_gates.prob_nonzero(la).expand_as(w) for la, w in zip(self.log_alpha, self.weights, strict=True)]

    def apply_outer_skip(self, states: torch.Tensor) -> torch.Tensor:
        """LassoNet outer: ``z + (z * mask) S`` on solver output ``(..., members, batch, genes)``; identity otherwise.

        Masked sources (``input_mask``: genes that may not regulate) reach no output through the skip either.
        """
        if self.skip_mode != "outer":
            return states
        return states + torch.matmul(states * self.input_mask, self.skip)

    def _effective(self, sample: bool) -> dict:
        ws = list(self.weights)
        if self.gates is not None:
            ws = [w * z for w, z in zip(ws, self.gate_values(sample), strict=True)]
        return {"W": ws, "b": list(self.biases)}

    def _network(self, y: torch.Tensor, cache: dict) -> torch.Tensor:
        if self.edge_mask is None:
            return self._dense(y, cache)
        e, b, d = y.shape
        masked = (y.unsqueeze(1) * self.edge_mask.unsqueeze(2)).reshape(e, d * b, d)  # output i's own inputs
        out = self._dense(masked, cache).reshape(e, d, b, d)  # (members, for output i, batch, all outputs)
        return torch.diagonal(out, dim1=1, dim2=3)  # output i of pass i: (members, batch, outputs)

    def _dense(self, y: torch.Tensor, cache: dict) -> torch.Tensor:
        h = y
        last = self.n_layers - 1
        for i, (w, b) in enumerate(zip(cache["W"], cache["b"], strict=True)):
            h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
            if i < last:
                h = self._act(h)
        if self.has_skip:
            h = h + torch.bmm(y, self.skip)
        return h

    def config(self) -> dict:
        """JSON-serialisable constructor arguments."""
        return {
            "kind": "mlp",
            "n_genes": self.n_genes,
            "hidden": list(self.hidden),
            "activation": self.activation,
            "gates": self.gates,
            "skip": self.skip_mode,
            "n_members": self.n_members,
            "decay": self.has_decay,
            "keep_prob": self.keep_prob,
        }


class GroupedMLPField(VectorField):
    """One small MLP per output gene (Bellot et al. 2021), computed as one batched network.

    The first layer is a dense ``(genes * hidden, genes)`` matrix whose row block ``i`` feeds output ``i``'s MLP;
    deeper layers are block-diagonal ``(genes, hidden, hidden)`` tensors applied with ``einsum``. The group-lasso
    groups are the columns ``[W_1^{(i)}]_{., k}``: input ``k`` of output ``i``.

    Examples
    --------
    >>> import torch
    >>> from sparsenode.module import GroupedMLPField
    >>> field = GroupedMLPField(4, hidden=(8,))
    >>> field(torch.zeros(()), torch.ones(1, 2, 4)).shape
    torch.Size([1, 2, 4])
    >>> field.group_norms().shape  # (members, output, input)
    torch.Size([1, 4, 4])
    """

    def __init__(
        self,
        n_genes: int,
        hidden: tuple[int, ...] = (16,),
        activation: str = "softplus",
        n_members: int = 1,
        decay: bool = True,
        input_mask: torch.Tensor | None = None,
        seed: int = 0,
    ):
        super().__init__(n_genes, n_members, decay, input_mask)
        self.hidden = tuple(int(h) for h in hidden)
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must list at least one positive layer size, got {hidden!r}")
        self.activation = activation
        self._act = _check_activation(activation)
        gen = torch.Generator().manual_seed(int(seed))
        d, e, h0 = n_genes, n_members, self.hidden[0]
        self.first = nn.Parameter(_uniform((e, d, h0, d), d, gen))  # (members, output, hidden, input)
        self.first_bias = nn.Parameter(_uniform((e, d, h0), d, gen))
        self.blocks = nn.ParameterList()
        self.block_biases = nn.ParameterList()
        for fan_in, fan_out in zip(self.hidden[:-1], self.hidden[1:], strict=True):
            self.blocks.append(nn.Parameter(_uniform((e, d, fan_out, fan_in), fan_in, gen)))
            self.block_biases.append(nn.Parameter(_uniform((e, d, fan_out), fan_in, gen)))
        self.last = nn.Parameter(_uniform((e, d, self.hidden[-1]), self.hidden[-1], gen))
        self.last_bias = nn.Parameter(_uniform((e, d), self.hidden[-1], gen))

    def _effective(self, sample: bool) -> dict:
        return {}

    def _network(self, y: torch.Tensor, cache: dict) -> torch.Tensor:
        e, b, d = y.shape
        h = torch.bmm(y, self.first.reshape(e, -1, d).transpose(1, 2)).reshape(e, b, d, -1)
        h = self._act(h + self.first_bias.unsqueeze(1))
        for w, bias in zip(self.blocks, self.block_biases, strict=True):
            h = self._act(torch.einsum("ebih,eioh->ebio", h, w) + bias.unsqueeze(1))
        return torch.einsum("ebih,eih->ebi", h, self.last) + self.last_bias.unsqueeze(1)

    def group_norms(self, keepdim: bool = False) -> torch.Tensor:
        """``||[W_1^{(i)}]_{., k}||_2`` as ``(members, output i, input k)`` (``keepdim``: ``(members, i, 1, k)``).

        Summed squares rather than ``Tensor.norm``: a norm over the strided hidden axis is about 15x slower on CPU
        (200 genes, hidden 32), and this runs after every optimiser step (proximal step, sparsity).
        """
        return self.first.pow(2).sum(dim=2, keepdim=keepdim).sqrt()

    def config(self) -> dict:
        """JSON-serialisable constructor arguments."""
        return {
            "kind": "grouped",
            "n_genes": self.n_genes,
            "hidden": list(self.hidden),
            "activation": self.activation,
            "n_members": self.n_members,
            "decay": self.has_decay,
        }


def build_field(config: dict, input_mask: torch.Tensor | None = None, seed: int = 0) -> VectorField:
    """Rebuild a field from :meth:`VectorField.config`.

    Examples
    --------
    >>> from sparsenode.module import MLPField, build_field
    >>> field = MLPField(3, hidden=(8,), gates="weight")
    >>> copy = build_field(field.config())
    >>> type(copy).__name__, copy.n_genes, copy.config() == field.config()
    ('MLPField', 3, True)
    """
    cfg = dict(config)
    kind = cfg.pop("kind")
    cfg["hidden"] = tuple(cfg["hidden"])
    if kind == "mlp":
        return MLPField(**cfg, input_mask=input_mask, seed=seed)
    if kind == "grouped":
        return GroupedMLPField(**cfg, input_mask=input_mask, seed=seed)
    raise ValueError(f"unknown field kind {kind!r} in a stored model config")


def jacobian_summary(
    field: VectorField, states: torch.Tensor, rates: torch.Tensor | None = None, chunk: int = 256
) -> dict[str, torch.Tensor]:
    """Means over the states of the Jacobian ``J[e, b, i, j] = d f_i / d x_j``, without holding all of it at once.

    Parameters
    ----------
    field
        The vector field.
    states
        ``(members, batch, genes)`` states to evaluate the Jacobian at.
    rates
        Optional ``(members or 1, batch, genes)`` rates of change ``dx_j/dt`` at those states; then ``"flux"``, the
        mean of ``|J[e, b, i, j] * rates[e, b, j]|`` over the batch, is returned too.
    chunk
        Outputs per batched vector-Jacobian product; memory holds one ``(chunk, members, batch, genes)`` block.

    Returns
    -------
    ``{"mean", "mean_abs"[, "flux"]}``, each ``(members, outputs, inputs)``: the same numbers as reducing
    :func:`jacobian` over its batch dimension, in one pass over chunks of outputs (2,000 genes x 60 states: 120 MB
    per chunk instead of 1 GB for the whole Jacobian).

    Examples
    --------
    >>> import torch
    >>> from sparsenode.module import MLPField, jacobian, jacobian_summary
    >>> field, x = MLPField(3, hidden=(8,)), torch.rand(1, 5, 3)
    >>> s = jacobian_summary(field, x, rates=torch.ones(1, 5, 3))
    >>> sorted(s), tuple(s["mean"].shape)
    (['flux', 'mean', 'mean_abs'], (1, 3, 3))
    >>> bool(torch.allclose(s["mean"], jacobian(field, x).mean(dim=1)))
    True
    """
    keys = ("mean", "mean_abs") if rates is None else ("mean", "mean_abs", "flux")
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
    for g in _jacobian_blocks(field, states, chunk):  # (chunk outputs, members, batch, inputs)
        parts["mean"].append(g.mean(dim=2))
        parts["mean_abs"].append(g.abs().mean(dim=2))
        if rates is not None:
            parts["flux"].append((g * rates.detach().unsqueeze(0)).abs_().mean(dim=2))
    return {k: torch.cat(v, dim=0).transpose(0, 1) for k, v in parts.items()}


def _jacobian_blocks(field: VectorField, states: torch.Tensor, chunk: int):
    """Yield the Jacobian at ``states`` in blocks of ``chunk`` outputs, each ``(chunk, members, batch, inputs)``,
    from batched vector-Jacobian products (no Python loop over single genes).
    """
    x = states.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = field(torch.zeros((), device=x.device), x)
        d = out.shape[-1]
        eye = torch.eye(d, device=x.device, dtype=x.dtype)
        for start in range(0, d, chunk):
            v = eye[start : min(start + chunk, d)].reshape(-1, 1, 1, d).expand(-1, *out.shape)
            (g,) = torch.autograd.grad(out, x, grad_outputs=v, retain_graph=True, is_grads_batched=True)
            yield g.detach()


def jacobian(field: VectorField, states: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """Jacobians ``J[e, b, i, j] = d f_i / d x_j`` at ``states`` ``(members, batch, genes)``.

    Computed with batched vector-Jacobian products over chunks of outputs (no Python loop over single genes).

    Examples
    --------
    >>> import torch
    >>> from sparsenode.module import MLPField, jacobian
    >>> field = MLPField(3, hidden=(8,))
    >>> jacobian(field, torch.ones(1, 5, 3)).shape  # (members, batch, outputs, inputs)
    torch.Size([1, 5, 3, 3])
    """
    return torch.cat(list(_jacobian_blocks(field, states, chunk)), dim=0).permute(1, 2, 0, 3)
