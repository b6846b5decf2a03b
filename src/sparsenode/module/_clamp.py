"""Clamped vector fields for in-silico knockouts and overexpression."""

from __future__ import annotations

import torch
from torch import nn

from ._field import VectorField


class ClampedField(nn.Module):
    """Wrap a field so that clamped genes hold their value: ``x_k = v_k`` and ``dx_k/dt = 0``.

    Parameters
    ----------
    field
        The fitted vector field.
    mask
        ``(genes,)`` or ``(members, batch, genes)`` 0/1 tensor of clamped genes.
    values
        Values the clamped genes are held at (same shape as ``mask``, or broadcastable).

    Examples
    --------
    Hold gene 0 of a three-gene field at zero (a knockout): its derivative vanishes.

    >>> import torch
    >>> from sparsenode.module import ClampedField, MLPField
    >>> field = MLPField(3, hidden=(8,))
    >>> knockout = ClampedField(field, mask=torch.tensor([1.0, 0.0, 0.0]), values=torch.zeros(3))
    >>> knockout(torch.zeros(()), torch.ones(1, 2, 3))[..., 0].abs().max().item()
    0.0
    """

    def __init__(self, field: VectorField, mask: torch.Tensor, values: torch.Tensor):
        super().__init__()
        self.field = field
        self.register_buffer("mask", mask.float())
        self.register_buffer("values", values.float())

    def clamp(self, y: torch.Tensor) -> torch.Tensor:
        """Set the clamped genes of ``y`` to their values."""
        return y * (1.0 - self.mask) + self.values * self.mask

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Derivative of the field at the clamped state, zero for clamped genes."""
        return self.field(t, self.clamp(y)) * (1.0 - self.mask)

    @property
    def n_members(self) -> int:
        """Ensemble members of the wrapped field."""
        return self.field.n_members

    def apply_outer_skip(self, states: torch.Tensor) -> torch.Tensor:
        """Delegate to the wrapped field."""
        return self.field.apply_outer_skip(states)
