"""Fixed-step Runge-Kutta integration on a uniform time grid, written for speed.

Binned trajectories live on a uniform grid, so a fixed-step solver needs no step-size control, no interpolation and
no host-device synchronisation: every solve is the same sequence of kernels. That makes it cheap on the CPU (few
tensor operations per step) and lets a whole training step be captured in a CUDA graph (:mod:`._graphs`).
"""

from __future__ import annotations

import torch

# Butcher tableaus of the explicit fixed-step methods offered: (a rows, b weights); c is implied (autonomous fields
# use no time argument, and the time passed to the field is the interval's start).
_TABLEAUS: dict[str, tuple[tuple[tuple[float, ...], ...], tuple[float, ...]]] = {
    "euler": ((), (1.0,)),
    "midpoint": (((0.5,),), (0.0, 1.0)),
    "rk4": (((0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)), (1 / 6, 1 / 3, 1 / 3, 1 / 6)),
}


def grid_methods() -> tuple[str, ...]:
    """Names of the fixed-step methods :func:`integrate_grid` implements."""
    return tuple(_TABLEAUS)


def _step(field, t: torch.Tensor, y: torch.Tensor, h: float, method: str) -> torch.Tensor:
    a_rows, b = _TABLEAUS[method]
    ks = [field(t, y)]
    for row in a_rows:
        yi = y
        for aij, kj in zip(row, ks, strict=False):
            if aij != 0.0:
                yi = yi + (h * aij) * kj
        ks.append(field(t, yi))
    out = y
    for bi, ki in zip(b, ks, strict=True):
        if bi != 0.0:
            out = out + (h * bi) * ki
    return out


def integrate_grid(
    field, y0: torch.Tensor, n_intervals: int, dt: float, *, method: str = "rk4", substeps: int = 1
) -> torch.Tensor:
    """States at ``0, dt, ..., n_intervals * dt`` from ``y0``, shape ``(n_intervals + 1, *y0.shape)``.

    Parameters
    ----------
    field
        Callable ``field(t, y) -> dy/dt``.
    y0
        Initial states.
    n_intervals
        Number of grid intervals to integrate over.
    dt
        Grid spacing (a Python float: no device synchronisation).
    method
        ``"rk4"`` (classical fourth order), ``"midpoint"`` or ``"euler"``.
    substeps
        Solver steps per grid interval.

    Examples
    --------
    >>> import torch
    >>> from sparsenode.train._grid import integrate_grid
    >>> y = integrate_grid(lambda t, y: -y, torch.ones(1), 10, 0.1)
    >>> round(float(y[-1]), 5), round(float(torch.exp(torch.tensor(-1.0))), 5)
    (0.36788, 0.36788)
    """
    if method not in _TABLEAUS:
        raise ValueError(f"unknown fixed-step method {method!r}; choose one of {sorted(_TABLEAUS)}")
    substeps = int(substeps)
    if substeps < 1:
        raise ValueError(f"substeps must be >= 1, got {substeps}")
    h = float(dt) / substeps
    t = torch.zeros((), device=y0.device, dtype=y0.dtype)
    out = [y0]
    y = y0
    for _ in range(int(n_intervals)):
        for _ in range(substeps):
            y = _step(field, t, y, h, method)
        out.append(y)
    return torch.stack(out)
