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
    """Draw one reparameterised hard-concrete sample per gate (differentiable in ``log_alpha``)."""
    u = torch.rand_like(log_alpha).clamp_(_EPS, 1.0 - _EPS)
    s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / beta)
    return (s * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)


def deterministic_gates(log_alpha: torch.Tensor) -> torch.Tensor:
    """Test-time gate values: exactly zero for pruned weights, in ``(0, 1]`` otherwise."""
    return (torch.sigmoid(log_alpha) * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)


def prob_nonzero(log_alpha: torch.Tensor, beta: float = BETA) -> torch.Tensor:
    """Probability ``q(z != 0)`` that a gate is non-zero; its sum is the expected L0 norm."""
    return torch.sigmoid(log_alpha - beta * math.log(-GAMMA / ZETA))


def init_log_alpha(shape: tuple[int, ...], keep_prob: float = 0.9, generator: torch.Generator | None = None):
    """Initial gate logits so that gates start open with probability about ``keep_prob``."""
    mean = math.log(keep_prob) - math.log(1.0 - keep_prob)
    return mean + 0.01 * torch.randn(shape, generator=generator)
