"""The training loop: multiple shooting over binned trajectories, Adam, cosine schedule, early stopping."""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import trange

from ..module import Method, VectorField
from ._checkpoint import Checkpointer
from ._graphs import graphs_available, train_graphed
from ._objective import make_derivative_targets, objective
from ._solvers import get_solver

logger = logging.getLogger(__name__)


OBJECTIVES = ("shooting", "gradient", "hybrid")


@dataclass
class TrainConfig:
    """Optimisation settings.

    Attributes
    ----------
    max_epochs
        Number of optimiser steps (one step sees every segment of every lineage).
    lr
        Initial Adam learning rate; a cosine schedule decays it to ``lr * lr_final_factor``.
    lr_final_factor
        Final learning rate as a fraction of ``lr``.
    patience
        Stop when the validation objective has not improved for this many epochs (``None``: never stop early).
    val_fraction
        Fraction of non-initial bins held out for validation (early stopping and model selection).
    segment_bins
        Multiple shooting: each segment starts at an observed bin and is integrated over this many following bins.
        ``None`` integrates each lineage from its first bin over the whole trajectory (single shooting).
    solver, rtol, atol, step_size
        ODE solver (see ``SOLVERS``), tolerances of adaptive solvers, step of fixed-step solvers.
    grad_clip
        Clip each parameter's gradient norm to this value (``None``: no clipping).
    weight_decay
        Adam weight decay.
    gate_lr_factor
        Learning rate of gate logits relative to ``lr``: gates have to travel several logit units to close, so they
        learn faster than weights.
    cuda_graphs
        On a CUDA device with a fixed-step solver (``"rk4"``, ``"midpoint"``, ``"euler"``), capture each epoch in a
        CUDA graph and replay it (same objective and model selection, many times faster for small fields). Fits
        that write checkpoints (``checkpoint_dir``) run eagerly.
    checkpoint_dir, checkpoint_every
        Folder where a training checkpoint is written every ``checkpoint_every`` epochs (``None``: no checkpoints);
        ``train(..., resume=True)`` continues from it.

    objective
        ``"shooting"`` (multiple shooting over ``segment_bins``; ODE solves), ``"gradient"`` (gradient matching:
        the field at each observed bin against the slope of the smoothed trajectory; no solves, much cheaper per
        epoch) or ``"hybrid"`` (gradient matching as a warm start, then shooting refinement of the same weights;
        see ``warmstart_fraction``).
    smoothing
        Gradient matching: width in bins of the Gaussian local-linear smoother that gives the slopes (``0``:
        finite differences).
    warmstart_fraction
        ``objective="hybrid"`` only: the first ``round(warmstart_fraction * max_epochs)`` epochs match gradients
        (at least one epoch each phase). The warm start runs its whole budget (no early stopping) with its own
        cosine schedule from ``lr``; its best weights by gradient-matching validation error start the refinement,
        which runs the remaining epochs by shooting with a fresh Adam state and a restarted cosine schedule from
        ``lr * refine_lr_factor``. Model selection and ``patience`` then use the shooting validation error only:
        the kept weights are the best of the warm start and every refinement epoch.
    refine_lr_factor
        ``objective="hybrid"`` only: learning rate of the shooting refinement relative to ``lr``.

    Examples
    --------
    >>> from sparsenode.train import TrainConfig
    >>> config = TrainConfig(max_epochs=50, patience=None, solver="rk4")
    >>> config.validate()
    >>> config.to_dict()["patience"]  # None is stored as -1
    -1

    A hybrid fit: 40 gradient-matching epochs, then 10 shooting epochs.

    >>> hybrid = TrainConfig(max_epochs=50, objective="hybrid", warmstart_fraction=0.8)
    >>> hybrid.validate()
    >>> hybrid.warmstart_epochs
    40
    """

    max_epochs: int = 500
    lr: float = 1e-2
    lr_final_factor: float = 0.1
    patience: int | None = 200
    val_fraction: float = 0.1
    segment_bins: int | None = 10
    solver: str = "dopri5"
    rtol: float = 1e-3
    atol: float = 1e-4
    step_size: float | None = None
    grad_clip: float | None = None
    weight_decay: float = 0.0
    gate_lr_factor: float = 10.0
    cuda_graphs: bool = True
    checkpoint_dir: str | None = None
    checkpoint_every: int = 100
    objective: str = "shooting"
    smoothing: float = 1.5
    warmstart_fraction: float = 0.75
    refine_lr_factor: float = 1.0

    @property
    def warmstart_epochs(self) -> int:
        """Gradient-matching epochs of a hybrid fit (``0`` for the other objectives)."""
        if self.objective != "hybrid":
            return 0
        return min(max(round(float(self.warmstart_fraction) * int(self.max_epochs)), 1), int(self.max_epochs) - 1)

    def validate(self) -> None:
        """Raise ``ValueError`` on settings that cannot work."""
        if int(self.max_epochs) < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if not 0.0 <= self.val_fraction < 0.9:
            raise ValueError(f"val_fraction must be in [0, 0.9), got {self.val_fraction}")
        if self.segment_bins is not None and int(self.segment_bins) < 1:
            raise ValueError(f"segment_bins must be >= 1 or None, got {self.segment_bins}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, not {self.objective!r}")
        if not (math.isfinite(self.smoothing) and self.smoothing >= 0):
            raise ValueError(f"smoothing must be a finite number >= 0 (bins), got {self.smoothing}")
        if not (math.isfinite(self.warmstart_fraction) and 0.0 < self.warmstart_fraction < 1.0):
            raise ValueError(
                f"warmstart_fraction must be in (0, 1) (the share of max_epochs spent on gradient matching before "
                f"the shooting refinement), got {self.warmstart_fraction}"
            )
        if not (math.isfinite(self.refine_lr_factor) and self.refine_lr_factor > 0):
            raise ValueError(f"refine_lr_factor must be a positive number, got {self.refine_lr_factor}")
        if self.objective == "hybrid" and int(self.max_epochs) < 2:
            raise ValueError(
                f"objective='hybrid' needs max_epochs >= 2 (one gradient-matching and one shooting epoch at least), "
                f"got {self.max_epochs}; raise max_epochs or use objective='gradient'"
            )
        get_solver(self.solver)

    def to_dict(self) -> dict:
        """Plain dict (None replaced by -1 so it is h5ad-safe)."""
        return {k: (-1 if v is None else v) for k, v in asdict(self).items()}


def split_bins(mask: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out a random ``val_fraction`` of each lineage's filled bins (never its first) for validation.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsenode.train import split_bins
    >>> train_mask, val_mask = split_bins(np.ones((2, 10), dtype=bool), val_fraction=0.2, seed=0)
    >>> int(train_mask.sum()), int(val_mask.sum()), bool(val_mask[:, 0].any())
    (16, 4, False)
    """
    rng = np.random.default_rng(seed)
    val = np.zeros_like(mask)
    if val_fraction > 0:
        for li in range(mask.shape[0]):
            filled = np.flatnonzero(mask[li])
            candidates = filled[1:]
            n_val = round(val_fraction * len(filled))
            if n_val > 0 and len(candidates) > n_val + 1:
                val[li, rng.choice(candidates, size=n_val, replace=False)] = True
    return mask & ~val, val


@dataclass
class Segments:
    """Shooting segments as tensors: starts ``(S, d)``, targets ``(H, S, d)``, per-target weights ``(H, S)``.

    Examples
    --------
    :func:`make_segments` builds them:

    >>> import numpy as np
    >>> import torch
    >>> from sparsenode.train import make_segments
    >>> values, mask, times = np.zeros((1, 6, 3)), np.ones((1, 6), dtype=bool), np.linspace(0, 1, 6)
    >>> seg = make_segments(values, mask, mask, times, horizon=2, device=torch.device("cpu"))
    >>> seg.y0.shape, seg.targets.shape, seg.weights.shape
    (torch.Size([5, 3]), torch.Size([2, 5, 3]), torch.Size([2, 5]))
    """

    y0: torch.Tensor
    targets: torch.Tensor
    weights: torch.Tensor
    t: torch.Tensor
    lineage: torch.Tensor
    start: torch.Tensor


def make_segments(
    values: np.ndarray,
    start_mask: np.ndarray,
    target_mask: np.ndarray,
    times: np.ndarray,
    horizon: int | None,
    device: torch.device,
    first_only: bool = False,
) -> Segments:
    """Build shooting segments starting at ``start_mask`` bins and scored on ``target_mask`` bins.

    Examples
    --------
    Six observed bins of one lineage give five segments, each scored on up to ``horizon`` following bins:

    >>> import numpy as np
    >>> import torch
    >>> from sparsenode.train import make_segments
    >>> values, mask, times = np.zeros((1, 6, 3)), np.ones((1, 6), dtype=bool), np.linspace(0, 1, 6)
    >>> seg = make_segments(values, mask, mask, times, horizon=2, device=torch.device("cpu"))
    >>> seg.start.tolist(), seg.weights.sum().item()
    ([0, 1, 2, 3, 4], 9.0)
    """
    n_lin, n_bins, _ = values.shape
    h = n_bins - 1 if horizon is None else min(int(horizon), n_bins - 1)
    if first_only:
        starts = [(li, int(np.flatnonzero(start_mask[li])[0])) for li in range(n_lin) if start_mask[li].any()]
    else:
        starts = [(li, j) for li in range(n_lin) for j in np.flatnonzero(start_mask[li]) if j < n_bins - 1]
    lin = np.array([s[0] for s in starts], dtype=np.int64)
    st = np.array([s[1] for s in starts], dtype=np.int64)
    idx = st[None, :] + np.arange(1, h + 1)[:, None]  # (H, S)
    valid = idx < n_bins
    idx_c = np.minimum(idx, n_bins - 1)
    w = target_mask[lin[None, :], idx_c] & valid
    keep = w.any(axis=0)
    lin, st, idx_c, w = lin[keep], st[keep], idx_c[:, keep], w[:, keep]
    to = lambda a, dt=torch.float32: torch.as_tensor(np.ascontiguousarray(a), dtype=dt, device=device)
    return Segments(
        y0=to(values[lin, st]),
        targets=to(values[lin[None, :], idx_c]),
        weights=to(w),
        t=to(times[: h + 1] - times[0]),
        lineage=to(lin, torch.int64),
        start=to(st, torch.int64),
    )


def _segment_mse(field: VectorField, seg: Segments, config: TrainConfig, member_weights: torch.Tensor | None):
    """Weighted MSE per member ``(members,)`` of the segments' predictions (see :func:`objective`)."""
    return objective(field, seg, config, member_weights)


def feature_sparsity(adjacency: torch.Tensor, threshold: float = 1e-3) -> float:
    """Fraction of input-output entries (relative to the largest) at or below ``threshold``; mean over members.

    Examples
    --------
    >>> import torch
    >>> from sparsenode.train import feature_sparsity
    >>> feature_sparsity(torch.tensor([[[1.0, 0.0], [0.5, 0.0]]]))
    0.5
    """
    a = adjacency.detach().abs()
    scale = a.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
    return float(((a / scale) <= threshold).float().mean())


def train(
    field: VectorField,
    method: Method,
    lambdas: dict,
    values: np.ndarray,
    mask: np.ndarray,
    times: np.ndarray,
    config: TrainConfig,
    *,
    seed: int = 0,
    progress_bar: bool = True,
    member_weights: np.ndarray | None = None,
    description: str = "fitting",
    resume: bool = False,
    checkpoint_meta: dict | None = None,
) -> dict:
    """Fit ``field`` to binned trajectories in place and return the training history.

    Parameters
    ----------
    field
        The vector field (already on the target device).
    method
        Method whose penalty and proximal step are applied.
    lambdas
        Regularisation strengths.
    values, mask, times
        Binned trajectories ``(lineages, bins, genes)``, their mask and the shared time grid.
    config
        Optimisation settings.
    seed
        Seed of the validation split and of gate sampling (the caller forks the RNG).
    progress_bar
        Show a tqdm bar with loss and sparsity.
    member_weights
        Optional ``(members, lineages, bins)`` non-negative weights per target bin (bootstrap ensembles).
    description
        Label of the progress bar.
    resume
        Continue from the checkpoint in ``config.checkpoint_dir`` (a new fit when there is none yet).
    checkpoint_meta
        Strings identifying the fit (genes, architecture), stored in checkpoints and checked on resume.

    Returns
    -------
    History: per-epoch lists ``loss``, ``mse``, ``penalty``, ``val_mse``, ``sparsity``, ``lr`` plus ``best_epoch``,
    ``best_val_mse`` (validation MSE of the kept weights), ``stopped`` (why training ended), ``n_evals`` and
    ``seconds``. A hybrid fit (``config.objective="hybrid"``) records the objective of the epoch in its lists
    (gradient matching before ``switch_epoch``, shooting from it on) and adds ``switch_epoch`` and
    ``warmstart_val_mse`` (the shooting validation MSE of the warm start's best weights); the kept weights are
    the best of the warm start and every refinement epoch by shooting validation error (``best_epoch`` is before
    ``switch_epoch`` when the warm start was kept).

    Examples
    --------
    The engine under :func:`sparsenode.tl.fit_node`, without AnnData:

    >>> import sparsenode as sn
    >>> from sparsenode.module import get_method, make_field
    >>> from sparsenode.train import TrainConfig, train
    >>> adata = sn.datasets.toy_grn(n_genes=4, n_cells=200)
    >>> traj = sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineage")
    >>> method = get_method("pathreg")
    >>> field = make_field(
    ...     method, 4, hidden=(8,), activation="softplus", n_members=1, decay=True, input_mask=None, seed=0
    ... )
    >>> config = TrainConfig(max_epochs=3, patience=None)
    >>> history = train(field, method, method.lambdas, traj.values, traj.mask, traj.times, config, progress_bar=False)
    >>> len(history["loss"]), history["stopped"]
    (3, 'max_epochs')

    A hybrid fit: three gradient-matching epochs, then two of shooting; validation by shooting from the switch on.

    >>> config = TrainConfig(max_epochs=5, patience=None, objective="hybrid", warmstart_fraction=0.6)
    >>> history = train(field, method, method.lambdas, traj.values, traj.mask, traj.times, config, progress_bar=False)
    >>> history["switch_epoch"], len(history["val_mse"])
    (3, 5)
    """
    config.validate()
    device = next(field.parameters()).device
    train_mask, val_mask = split_bins(mask, config.val_fraction, seed)
    hybrid = config.objective == "hybrid"
    n_warm = config.warmstart_epochs
    build = lambda obj: _objective_data(obj, values, train_mask, val_mask, times, config, device, member_weights)
    main = build("shooting" if hybrid else config.objective)  # the objective that selects the kept weights
    warm = build("gradient") if hybrid else None

    graphed = config.cuda_graphs and config.checkpoint_dir is None and not resume
    if graphed and graphs_available(device, config.solver, config.objective):
        if hybrid:
            return _train_hybrid_graphed(
                field, method, lambdas, warm, main, config, progress_bar=progress_bar, description=description
            )
        hist = train_graphed(
            field, method, lambdas, *main, config, _segment_mse, progress_bar=progress_bar, description=description
        )
        hist["best_val_mse"] = _val_at(hist, hist["best_epoch"])
        return hist
    params = [p for p in field.parameters() if p.requires_grad]
    gate_ids = {id(p) for n, p in field.named_parameters() if n.startswith("log_alpha")}
    groups = [{"params": [p for p in params if id(p) not in gate_ids]}]
    if gate_ids:
        groups.append(
            {
                "params": [p for p in params if id(p) in gate_ids],
                "lr": config.lr * config.gate_lr_factor,
                "weight_decay": 0.0,
            }
        )
    opt = torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
    n_epochs = int(config.max_epochs)
    if hybrid:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _hybrid_lr_factor(config))
    else:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=n_epochs, eta_min=config.lr * config.lr_final_factor
        )
    hist = {k: [] for k in ("loss", "mse", "penalty", "val_mse", "sparsity", "lr")}
    best = {"score": math.inf, "epoch": -1, "state": copy.deepcopy(field.state_dict())}
    stopped = "max_epochs"
    field.n_evals = 0
    ckpt = Checkpointer.from_config(config, field, opt, sched, checkpoint_meta)
    start_epoch, best, hist = ckpt.resume(best, hist) if resume else (0, best, hist)
    t0 = time.perf_counter()
    bar = trange(start_epoch, n_epochs, desc=description, disable=not progress_bar, leave=False)
    try:
        for epoch in bar:
            if hybrid and epoch == n_warm:
                best = _switch_to_shooting(field, method, lambdas, opt, best, hist, main, config)
            seg_train, seg_val, mw_train, mw_val = warm if epoch < n_warm else main
            field.train()
            opt.zero_grad(set_to_none=True)
            field.prepare(sample=True)
            mse = _segment_mse(field, seg_train, config, mw_train)
            field.release()
            pen = method.penalty(field, lambdas) if method.penalty is not None else torch.zeros_like(mse)
            loss = (mse + pen).sum()
            if not torch.isfinite(loss):
                warnings.warn(
                    f"the loss became {float(loss.detach())} at epoch {epoch}; training stopped and the best "
                    "weights so far "
                    f"(epoch {best['epoch']}) were kept. Lower lr, or check the input for extreme values.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                stopped = "nan"
                break
            loss.backward()
            if config.grad_clip is not None:
                for p in params:
                    if p.grad is not None:
                        torch.nn.utils.clip_grad_norm_([p], config.grad_clip)
            opt.step()
            lr_now = opt.param_groups[0]["lr"]
            if method.prox is not None:
                method.prox(field, lr_now, lambdas)
            sched.step()

            field.eval()
            with torch.no_grad():
                field.prepare(sample=False)
                vm = _segment_mse(field, seg_val, config, mw_val) if seg_val is not None else mse.detach()
                field.release()
                pen_eval = method.penalty(field, lambdas) if method.penalty is not None else torch.zeros_like(vm)
                adj = method.adjacency(field)
            score = float((vm + pen_eval).mean())
            sparsity = feature_sparsity(adj)
            hist["loss"].append(float(loss.detach()) / field.n_members)
            hist["mse"].append(float(mse.detach().mean()))
            hist["penalty"].append(float(pen.detach().mean()))
            hist["val_mse"].append(float(vm.mean()))
            hist["sparsity"].append(sparsity)
            hist["lr"].append(lr_now)
            if not math.isfinite(score):
                stopped = "nan"
                warnings.warn(
                    f"validation loss became {score} at epoch {epoch}; kept the best weights so far",
                    RuntimeWarning,
                    stacklevel=2,
                )
                break
            if score < best["score"]:
                best = {"score": score, "epoch": epoch, "state": copy.deepcopy(field.state_dict())}
            if epoch % 10 == 0 or epoch == n_epochs - 1:
                bar.set_postfix(
                    mse=f"{hist['mse'][-1]:.4f}", val=f"{hist['val_mse'][-1]:.4f}", sparsity=f"{sparsity:.2f}"
                )
            # patience counts shooting epochs only in a hybrid fit (the warm start always runs its whole budget)
            if (
                config.patience is not None
                and epoch >= n_warm
                and epoch - max(best["epoch"], n_warm - 1) >= (config.patience)
            ):
                stopped = "early_stopping"
                break
            ckpt.step(epoch, best, hist)
    except KeyboardInterrupt:
        stopped = "interrupted"
        warnings.warn(
            f"training interrupted at epoch {len(hist['loss'])}; the best weights so far (epoch {best['epoch']}) "
            "were kept",
            RuntimeWarning,
            stacklevel=2,
        )
    finally:
        bar.close()
        field.release()
    field.load_state_dict(best["state"])
    field.eval()
    hist["best_epoch"] = int(best["epoch"])
    if "switch_epoch" in hist:  # a hybrid fit that reached its shooting phase (a float after a checkpoint round trip)
        hist["switch_epoch"] = int(hist["switch_epoch"])
    hist["best_val_mse"] = _val_at(hist, hist["best_epoch"])
    hist["stopped"] = stopped
    hist["n_evals"] = int(field.n_evals)
    hist["seconds"] = float(time.perf_counter() - t0)
    logger.info(
        "%s: %d epochs in %.1fs, best epoch %d (%s)",
        description,
        len(hist["loss"]),
        hist["seconds"],
        best["epoch"],
        stopped,
    )
    return hist


def _objective_data(objective, values, train_mask, val_mask, times, config, device, member_weights):
    """Training and validation data of one objective, with the bootstrap weights of their rows."""
    if (train_mask.sum(axis=1) < 2).all():
        raise ValueError("no training segments: each lineage needs at least two filled time bins")
    if objective == "gradient":
        make = lambda target: make_derivative_targets(values, train_mask, target, times, config.smoothing, device)
    else:
        first_only = config.segment_bins is None
        make = lambda target: make_segments(values, train_mask, target, times, config.segment_bins, device, first_only)
    seg_train = make(train_mask)
    seg_val = make(val_mask) if val_mask.any() else None
    if seg_train.lineage.shape[0] == 0:
        raise ValueError("no training segments: each lineage needs at least two filled time bins")
    mw_train = mw_val = None
    if member_weights is not None:
        mwt = torch.as_tensor(member_weights, dtype=torch.float32, device=device)
        mw_train = mwt[:, seg_train.lineage, seg_train.start]
        if seg_val is not None:
            mw_val = mwt[:, seg_val.lineage, seg_val.start]
    return seg_train, seg_val, mw_train, mw_val


def _val_at(hist: dict, epoch: int) -> float:
    """Validation MSE of the kept weights: that of epoch ``epoch``, or the warm start's when a hybrid fit kept it."""
    if "switch_epoch" in hist and epoch < int(hist["switch_epoch"]):
        return float(hist["warmstart_val_mse"])
    val = hist["val_mse"]
    return float(val[epoch]) if 0 <= epoch < len(val) else math.nan


def _hybrid_lr_factor(config: TrainConfig):
    """Learning-rate factor per epoch of a hybrid fit: a cosine over the warm start, another over the refinement."""
    n_warm, n_total, final = config.warmstart_epochs, int(config.max_epochs), float(config.lr_final_factor)
    refine = float(config.refine_lr_factor)

    def factor(epoch: int) -> float:
        if epoch < n_warm:
            return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * epoch / n_warm))
        frac = (epoch - n_warm) / (n_total - n_warm)
        return refine * (final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * frac)))

    return factor


@torch.no_grad()
def _shooting_score(field, method, lambdas, data, config) -> tuple[float, float]:
    """Validation MSE (training MSE without validation bins) and model-selection score of the current weights."""
    seg_train, seg_val, mw_train, mw_val = data
    field.eval()
    field.prepare(sample=False)
    vm = (
        _segment_mse(field, seg_val, config, mw_val)
        if seg_val is not None
        else _segment_mse(field, seg_train, config, mw_train)
    )
    field.release()
    pen = method.penalty(field, lambdas) if method.penalty is not None else torch.zeros_like(vm)
    return float(vm.mean()), float((vm + pen).mean())


def _switch_to_shooting(field, method, lambdas, opt, best, hist, data, config) -> dict:
    """End the warm start of a hybrid fit: its best weights, a fresh Adam state, selection by shooting from now on."""
    field.load_state_dict(best["state"])
    opt.state.clear()
    val_mse, score = _shooting_score(field, method, lambdas, data, config)
    hist["switch_epoch"] = config.warmstart_epochs
    hist["warmstart_val_mse"] = val_mse
    logger.info("hybrid fit: warm start (epoch %d) has shooting validation MSE %.4g", best["epoch"], val_mse)
    # the warm start competes with every refinement epoch on the shooting score; its epoch number marks it as kept
    return {"score": score if math.isfinite(score) else math.inf, "epoch": best["epoch"], "state": best["state"]}


def _train_hybrid_graphed(field, method, lambdas, warm, main, config, *, progress_bar, description) -> dict:
    """A hybrid fit as two CUDA-graph loops (gradient matching, then shooting); same schedule as the eager loop."""
    n_warm, n_total = config.warmstart_epochs, int(config.max_epochs)
    cfg_warm = dataclasses.replace(config, objective="gradient", max_epochs=n_warm, patience=None)
    h1 = train_graphed(
        field, method, lambdas, *warm, cfg_warm, _segment_mse, progress_bar=progress_bar, description=description
    )
    if h1["stopped"] != "max_epochs":  # NaN or interrupted during the warm start: keep its best weights
        h1["best_val_mse"] = _val_at(h1, h1["best_epoch"])
        return h1
    val_mse, score = _shooting_score(field, method, lambdas, main, config)
    cfg_refine = dataclasses.replace(
        config, objective="shooting", max_epochs=n_total - n_warm, lr=config.lr * config.refine_lr_factor
    )
    h2 = train_graphed(
        field,
        method,
        lambdas,
        *main,
        cfg_refine,
        _segment_mse,
        progress_bar=progress_bar,
        description=description,
        initial_score=score if math.isfinite(score) else math.inf,
    )
    hist = {k: list(h1[k]) + list(h2[k]) for k in ("loss", "mse", "penalty", "val_mse", "sparsity", "lr")}
    hist["switch_epoch"] = n_warm
    hist["warmstart_val_mse"] = val_mse
    hist["best_epoch"] = n_warm + int(h2["best_epoch"]) if h2["best_epoch"] >= 0 else int(h1["best_epoch"])
    hist["best_val_mse"] = _val_at(hist, hist["best_epoch"])
    hist["stopped"] = h2["stopped"]
    hist["n_evals"] = int(h1["n_evals"]) + int(h2["n_evals"])
    hist["seconds"] = float(h1["seconds"]) + float(h2["seconds"])
    if "cuda_graph" in h2:
        hist["cuda_graph"] = 1
    field.n_evals = hist["n_evals"]
    return hist
