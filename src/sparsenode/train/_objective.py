"""Training objectives: multiple shooting and gradient matching on smoothed trajectories.

Both take ``(field, data, config)``: ``data`` is :class:`~sparsenode.train.Segments` (shooting: integrate from
observed bins and compare with later bins) or :class:`DerivativeTargets` (gradient matching: compare the field
``f(x)`` with the time derivative of the smoothed trajectory at observed bins, no ODE solve at all).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._solvers import solve


def smooth_trajectories(
    values: np.ndarray, fit_mask: np.ndarray, times: np.ndarray, bandwidth: float, at_mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Local-linear (Gaussian kernel) smoothing of each lineage: level and slope at every bin.

    Parameters
    ----------
    values
        ``(lineages, bins, genes)`` binned trajectories.
    fit_mask
        ``(lineages, bins)`` bins used to fit the smoother.
    times
        ``(bins,)`` bin centres.
    bandwidth
        Kernel width in bins (``<= 0``: no smoothing, central finite differences of the ``fit_mask`` bins).
    at_mask
        Bins where level and slope are wanted (default ``fit_mask``); the others are left at zero.

    Returns
    -------
    ``(level, slope)``, each ``(lineages, bins, genes)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsenode.train import smooth_trajectories
    >>> t = np.linspace(0, 1, 11)
    >>> values = (2 * t)[None, :, None]  # one lineage, one gene, slope 2
    >>> level, slope = smooth_trajectories(values, np.ones((1, 11), bool), t, bandwidth=1.5)
    >>> np.allclose(slope, 2.0, atol=1e-4)
    True
    """
    at_mask = fit_mask if at_mask is None else at_mask
    v = np.asarray(values, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    level = np.zeros_like(v)
    slope = np.zeros_like(v)
    width = (t[1] - t[0]) if t.size > 1 else 1.0
    for li in range(v.shape[0]):  # lineages are few; the work inside is vectorised
        fb = np.flatnonzero(fit_mask[li])
        ab = np.flatnonzero(at_mask[li])
        if fb.size < 2 or ab.size == 0:
            continue
        tf, vf, ta = t[fb], v[li, fb], t[ab]
        if bandwidth <= 0:
            level[li, ab] = np.stack([np.interp(ta, tf, vf[:, g]) for g in range(v.shape[2])], axis=1)
            grad = np.gradient(vf, tf, axis=0)
            slope[li, ab] = np.stack([np.interp(ta, tf, grad[:, g]) for g in range(v.shape[2])], axis=1)
            continue
        dt = tf[None, :] - ta[:, None]  # (at, fit)
        w = np.exp(-0.5 * (dt / (bandwidth * width)) ** 2)
        s0, s1, s2 = w.sum(1), (w * dt).sum(1), (w * dt * dt).sum(1)
        r0 = w @ vf
        r1 = (w * dt) @ vf
        det = s0 * s2 - s1 * s1
        det = np.where(np.abs(det) < 1e-12, np.inf, det)
        level[li, ab] = (s2[:, None] * r0 - s1[:, None] * r1) / det[:, None]
        slope[li, ab] = (s0[:, None] * r1 - s1[:, None] * r0) / det[:, None]
    return level.astype(np.float32), slope.astype(np.float32)


@dataclass
class DerivativeTargets:
    """Gradient-matching data: states ``x`` ``(N, d)``, smoothed derivatives ``dx`` ``(N, d)``, bin of each row.

    Built by :func:`make_derivative_targets`; ``scale`` is the mean squared derivative that normalises the error.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsenode.train import make_derivative_targets
    >>> t = np.linspace(0, 1, 6)
    >>> tg = make_derivative_targets(t[None, :, None], np.ones((1, 6), bool), np.ones((1, 6), bool), t, 0, "cpu")
    >>> tuple(tg.x.shape), tuple(tg.dx.shape), float(tg.scale)
    ((6, 1), (6, 1), 1.0)
    """

    x: torch.Tensor
    dx: torch.Tensor
    lineage: torch.Tensor
    start: torch.Tensor
    scale: torch.Tensor


def make_derivative_targets(
    values: np.ndarray,
    fit_mask: np.ndarray,
    target_mask: np.ndarray,
    times: np.ndarray,
    bandwidth: float,
    device: torch.device,
) -> DerivativeTargets:
    """States and smoothed derivatives at ``target_mask`` bins, the smoother fitted on ``fit_mask`` bins only.

    The state is the observed bin (so validation bins are scored at data the smoother never saw) and the target
    the slope of the smoothed trajectory there. ``scale`` is the mean squared derivative per gene, so that the
    objective is comparable across data sets.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsenode.train import make_derivative_targets
    >>> t = np.linspace(0, 1, 6)
    >>> values = np.stack([t, 1 - t], axis=-1)[None]  # (1 lineage, 6 bins, 2 genes)
    >>> tg = make_derivative_targets(values, np.ones((1, 6), bool), np.ones((1, 6), bool), t, 0, "cpu")
    >>> tg.dx[0].tolist()
    [1.0, -1.0]
    """
    _, slope = smooth_trajectories(values, fit_mask, times, bandwidth, at_mask=target_mask)
    lin, st = np.nonzero(target_mask)
    to = lambda a, dt=torch.float32: torch.as_tensor(np.ascontiguousarray(a), dtype=dt, device=device)
    dx = slope[lin, st]
    scale = float(np.mean(dx**2)) if dx.size else 1.0
    return DerivativeTargets(
        x=to(values[lin, st]),
        dx=to(dx),
        lineage=to(lin, torch.int64),
        start=to(st, torch.int64),
        scale=torch.tensor(max(scale, 1e-8), device=device),
    )


def _shooting_mse(field, seg, config, member_weights):
    e = field.n_members
    y0 = seg.y0.unsqueeze(0).expand(e, -1, -1)
    pred = solve(field, y0, seg.t, solver=config.solver, rtol=config.rtol, atol=config.atol, step_size=config.step_size)
    pred = field.apply_outer_skip(pred)[1:]  # (H, members, S, d)
    sq = (pred - seg.targets.unsqueeze(1)).pow(2).mean(dim=-1)  # (H, members, S)
    w = seg.weights.unsqueeze(1)
    if member_weights is not None:
        w = w * member_weights.unsqueeze(0)  # member_weights: (members, S)
    w = w.expand_as(sq)
    return (sq * w).sum(dim=(0, 2)) / w.sum(dim=(0, 2)).clamp_min(1e-12)


def _gradient_mse(field, tg: DerivativeTargets, member_weights):
    e = field.n_members
    x = tg.x.unsqueeze(0).expand(e, -1, -1)
    pred = field(torch.zeros((), device=x.device), x)  # (members, N, d)
    sq = (pred - tg.dx.unsqueeze(0)).pow(2).mean(dim=-1) / tg.scale  # (members, N)
    if member_weights is None:
        return sq.mean(dim=1)
    return (sq * member_weights).sum(dim=1) / member_weights.sum(dim=1).clamp_min(1e-12)


def objective(field, data, config, member_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted data-fit error per ensemble member ``(members,)``.

    Parameters
    ----------
    field
        Vector field (``prepare`` already called).
    data
        :class:`~sparsenode.train.Segments` (multiple shooting, one batched ODE solve) or
        :class:`DerivativeTargets` (gradient matching, one batched field evaluation).
    config
        :class:`~sparsenode.train.TrainConfig` (solver settings for shooting).
    member_weights
        Optional ``(members, rows)`` non-negative weights (bootstrap ensembles).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sparsenode.module import MLPField
    >>> from sparsenode.train import TrainConfig, make_derivative_targets, objective
    >>> t = np.linspace(0, 1, 6)
    >>> values = np.stack([t, 1 - t], axis=-1)[None]
    >>> tg = make_derivative_targets(values, np.ones((1, 6), bool), np.ones((1, 6), bool), t, 0, "cpu")
    >>> objective(MLPField(2, hidden=(4,), n_members=3), tg, TrainConfig()).shape  # one error per member
    torch.Size([3])
    """
    if isinstance(data, DerivativeTargets):
        return _gradient_mse(field, data, member_weights)
    return _shooting_mse(field, data, config, member_weights)
