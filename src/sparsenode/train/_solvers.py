"""ODE solvers by name: a registry over torchdiffeq's methods."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torchdiffeq import odeint

from ._grid import integrate_grid


@dataclass(frozen=True)
class Solver:
    """A torchdiffeq method and whether it takes a fixed step."""

    method: str
    fixed_step: bool


SOLVERS: dict[str, Solver] = {
    "dopri5": Solver("dopri5", False),
    "bosh3": Solver("bosh3", False),
    "adaptive_heun": Solver("adaptive_heun", False),
    "rk4": Solver("rk4", True),
    "midpoint": Solver("midpoint", True),
    "euler": Solver("euler", True),
}


def get_solver(name: str) -> Solver:
    """Look a solver up by name, with an error listing the choices.

    Examples
    --------
    >>> from sparsenode.train import get_solver
    >>> get_solver("rk4").fixed_step
    True
    """
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; choose one of {sorted(SOLVERS)}")
    return SOLVERS[name]


def _union_grid(step: float):
    """Torchdiffeq grid constructor: uniform steps of at most ``step`` plus every requested time."""

    def construct(func, y0, t):
        n = max(1, math.ceil(float(t[-1] - t[0]) / step - 1e-9))
        base = torch.linspace(float(t[0]), float(t[-1]), n + 1, dtype=t.dtype, device=t.device)
        return torch.unique(torch.cat([base, t]))  # sorted

    return construct


def solve(
    field: torch.nn.Module,
    y0: torch.Tensor,
    t: torch.Tensor,
    *,
    solver: str = "dopri5",
    rtol: float = 1e-3,
    atol: float = 1e-4,
    step_size: float | None = None,
) -> torch.Tensor:
    """Integrate ``dy/dt = field(t, y)`` from ``y0`` and return the states at ``t`` (time first).

    Fixed-step solvers take ``step_size`` (default: the spacing of a uniform ``t``; for irregular ``t``, such as
    cells' pseudotimes, its mean spacing, with every requested time added to the grid); adaptive ones
    ``rtol``/``atol``.
    On a uniform grid whose spacing is a whole number of steps (binned trajectories always are), fixed-step solvers
    run sparsenode's own grid integrator (no interpolation, no host synchronisation inside the solve).

    Examples
    --------
    >>> import torch
    >>> from sparsenode.module import MLPField
    >>> from sparsenode.train import solve
    >>> y = solve(MLPField(3, hidden=(8,)), torch.ones(1, 2, 3), torch.linspace(0, 1, 5), solver="rk4")
    >>> y.shape  # (times, members, batch, genes)
    torch.Size([5, 1, 2, 3])
    """
    spec = get_solver(solver)
    if spec.fixed_step:
        tt = t.detach().cpu().double()
        gaps = torch.diff(tt)
        explicit_step = step_size is not None
        if step_size is None:
            step_size = float(gaps.min()) if tt.numel() > 1 else 1.0
        if tt.numel() > 1:
            dt = float(gaps.mean())
            substeps = round(dt / float(step_size))
            # a grid stored in float32 (binned trajectories) is uniform only up to the rounding of its largest time
            tol = max(1e-6 * abs(dt), 16 * torch.finfo(t.dtype).eps * float(tt.abs().max()), 1e-12)
            uniform = bool((gaps - dt).abs().max() <= tol)
            if uniform and substeps >= 1 and abs(substeps * float(step_size) - dt) <= substeps * tol:
                return integrate_grid(field, y0, tt.numel() - 1, dt, method=spec.method, substeps=substeps)
        if tt.numel() > 1:  # irregular times (e.g. cells): a uniform grid plus the requested times, no tiny steps
            step = float(step_size) if explicit_step else float(gaps.mean())
            return odeint(field, y0, t, method=spec.method, options={"grid_constructor": _union_grid(step)})
        return odeint(field, y0, t, method=spec.method, options={"step_size": float(step_size)})
    return odeint(field, y0, t, method=spec.method, rtol=rtol, atol=atol)
