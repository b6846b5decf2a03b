"""Hard-concrete L0 gates (Louizos, Welling & Kingma 2018).

Each gated weight has a logit ``log_alpha``. In training a gate is sampled with the reparameterisation
``s = sigmoid((log u - log(1 - u) + log_alpha) / beta)``, stretched to ``(gamma, zeta)`` and clamped to ``[0, 1]``;
at test time the gate is the deterministic ``clamp(sigmoid(log_alpha) (zeta - gamma) + gamma, 0, 1)``.
"""

from __future__ import annotations

import math

import torch

BETA = 2.0 / 3.0
GAMMA = -0.1
ZETA = 1.1
_EPS = 1e-6


def sample_gates(log_alpha: torch.Tensor, beta: float = BETA) -> torch.Tensor:
    """Draw one reparameterised hard-concrete sample per gate (differentiable in ``log_alpha``).

    Examples
    --------
    Gates are exactly 0 or 1 for strongly negative or positive logits and in between otherwise.

    >>> import torch
    >>> from sparsenode.module import sample_gates
    >>> z = sample_gates(torch.tensor([-20.0, 0.0, 20.0]))
    >>> z[0].item(), z[2].item(), bool(0.0 <= z[1] <= 1.0)
    (0.0, 1.0, True)
    """
    u = torch.rand_like(log_alpha).clamp_(_EPS, 1.0 - _EPS)
    s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / beta)
    return (s * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)


def deterministic_gates(log_alpha: torch.Tensor) -> torch.Tensor:
    """Test-time gate values: exactly zero for pruned weights, in ``(0, 1]`` otherwise.

    Examples
    --------
    >>> import torch
    >>> from sparsenode.module import deterministic_gates
    >>> deterministic_gates(torch.tensor([-10.0, 0.0, 10.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    return (torch.sigmoid(log_alpha) * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)


def prob_nonzero(log_alpha: torch.Tensor, beta: float = BETA) -> torch.Tensor:
    """Probability ``q(z != 0)`` that a gate is non-zero; its sum is the expected L0 norm.

    Examples
    --------
    >>> import torch
    >>> from sparsenode.module import prob_nonzero
    >>> p = prob_nonzero(torch.tensor([-10.0, 10.0]))
    >>> round(p[0].item(), 3), round(p[1].item(), 3)
    (0.0, 1.0)
    """
    return torch.sigmoid(log_alpha - beta * math.log(-GAMMA / ZETA))


def init_log_alpha(shape: tuple[int, ...], keep_prob: float = 0.9, generator: torch.Generator | None = None):
    """Initial gate logits so that gates start open with probability about ``keep_prob``."""
    mean = math.log(keep_prob) - math.log(1.0 - keep_prob)
    return mean + 0.01 * torch.randn(shape, generator=generator)
