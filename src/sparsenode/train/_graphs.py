"""A training loop captured in one CUDA graph per epoch.

On a GPU, a training step of a small vector field costs far less arithmetic than kernel launches and Python:
thousands of tiny kernels per step, each launched from Python. With a fixed-step solver on the uniform bin grid
(:mod:`._grid`) every step runs the same kernels on tensors of the same shapes, so the whole epoch -- gate sampling,
the batched solve of every shooting segment, the penalty, backward, the Adam update, the proximal step, the
learning-rate schedule, validation, the best-weights bookkeeping and the history -- is recorded once as a CUDA graph
and replayed with one launch per epoch. The host only looks at the device every ``sync_every`` epochs (progress bar,
early stopping, NaN check).

Results follow the same objective, schedule and model selection as :func:`sparsenode.train.train`; they differ from
the eager loop only by floating-point order and the random numbers of gate sampling.
"""

from __future__ import annotations

import logging
import math
import time
import warnings

import torch
from tqdm.auto import trange

from ._grid import grid_methods

logger = logging.getLogger(__name__)


def graphs_available(device: torch.device, solver: str, objective: str = "shooting") -> bool:
    """Whether the CUDA-graph loop can run: a CUDA device, and a fixed-step grid solver or gradient matching.

    A hybrid fit (gradient matching, then shooting) needs the grid solver for its shooting phase.
    """
    return device.type == "cuda" and (objective == "gradient" or solver in grid_methods())


def sparsity_tensor(adjacency: torch.Tensor, threshold: float = 1e-3) -> torch.Tensor:
    """Feature sparsity as a device scalar (no synchronisation): see :func:`sparsenode.train.feature_sparsity`."""
    a = adjacency.detach().abs()
    scale = a.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
    return ((a / scale) <= threshold).float().mean()


def _cpu_time_grid(seg):
    """A copy of the segments whose time grid lives on the host, so that the fixed-step solve never syncs."""
    if not hasattr(seg, "t"):  # gradient-matching targets: no solve, nothing to move
        return seg
    seg = type(seg)(**{k: getattr(seg, k) for k in seg.__dataclass_fields__})
    seg.t = seg.t.detach().cpu()
    return seg


def train_graphed(
    field,
    method,
    lambdas: dict,
    seg_train,
    seg_val,
    mw_train,
    mw_val,
    config,
    segment_mse,
    *,
    progress_bar: bool = True,
    description: str = "fitting",
    sync_every: int = 25,
    capture: bool = True,
    initial_score: float = math.inf,
) -> dict:
    """Fit ``field`` with the epoch captured in a CUDA graph; same inputs and history as the eager loop.

    ``segment_mse(field, segments, config, member_weights) -> (members,)`` is the eager loop's objective, reused
    unchanged (its time grid is moved to the host so that the solve needs no synchronisation). With
    ``capture=False`` the same epoch body runs eagerly (any device): the bookkeeping that lives on the device
    (schedule, best weights, history) can then be checked against the eager loop on a CPU.
    ``initial_score`` makes the starting weights a candidate of model selection with that score (a hybrid fit's warm
    start; ``best_epoch`` stays -1 while they are kept).
    """
    device = next(field.parameters()).device
    seg_train = _cpu_time_grid(seg_train)
    seg_val = _cpu_time_grid(seg_val) if seg_val is not None else None
    n_epochs = int(config.max_epochs)
    params = [p for p in field.parameters() if p.requires_grad]
    gate_ids = {id(p) for n, p in field.named_parameters() if n.startswith("log_alpha")}
    lr0 = float(config.lr)
    eta_min = lr0 * float(config.lr_final_factor)
    bases = [lr0]
    groups = [{"params": [p for p in params if id(p) not in gate_ids], "lr": torch.tensor(lr0, device=device)}]
    if gate_ids:
        base = lr0 * float(config.gate_lr_factor)
        bases.append(base)
        groups.append(
            {
                "params": [p for p in params if id(p) in gate_ids],
                "lr": torch.tensor(base, device=device),
                "weight_decay": 0.0,
            }
        )
    # capturable: the step count and the bias corrections stay on the device, as graph capture of step() requires
    opt = torch.optim.Adam(
        groups,
        lr=torch.tensor(lr0, device=device),
        weight_decay=config.weight_decay,
        fused=True,
        capturable=device.type == "cuda",
    )

    epoch_t = torch.zeros((), device=device)
    n_slots = n_epochs + 3  # the warm-up epochs write past the end before everything is reset
    hist_t = {k: torch.full((n_slots,), float("nan"), device=device) for k in ("loss", "mse", "penalty", "val_mse")}
    hist_t["sparsity"] = torch.zeros(n_slots, device=device)
    hist_t["lr"] = torch.zeros(n_slots, device=device)
    state = field.state_dict(keep_vars=True)
    best = {k: v.detach().clone() for k, v in state.items()}
    best_score = torch.full((), float(initial_score), device=device)
    best_epoch = torch.full((), -1.0, device=device)
    n_members = field.n_members

    def epoch_body() -> None:
        idx = epoch_t.long().reshape(1)
        frac = epoch_t / n_epochs
        for group, base in zip(opt.param_groups, bases, strict=True):
            group["lr"].copy_(eta_min + (base - eta_min) * 0.5 * (1.0 + torch.cos(math.pi * frac)))
        field.train()
        field.prepare(sample=True)
        mse = segment_mse(field, seg_train, config, mw_train)
        field.release()
        pen = method.penalty(field, lambdas) if method.penalty is not None else torch.zeros_like(mse)
        loss = (mse + pen).sum()
        loss.backward()
        if config.grad_clip is not None:
            for p in params:
                if p.grad is not None:
                    torch.nn.utils.clip_grad_norm_([p], config.grad_clip, foreach=True)
        opt.step()
        lr_now = opt.param_groups[0]["lr"]
        if method.prox is not None:
            method.prox(field, lr_now, lambdas)
        field.eval()
        with torch.no_grad():
            field.prepare(sample=False)
            vm = segment_mse(field, seg_val, config, mw_val) if seg_val is not None else mse.detach()
            field.release()
            pen_eval = method.penalty(field, lambdas) if method.penalty is not None else torch.zeros_like(vm)
            sparsity = sparsity_tensor(method.adjacency(field))
            score = (vm + pen_eval).mean()
            improved = score < best_score  # NaN never improves
            for k, v in state.items():
                best[k].copy_(torch.where(improved, v.detach(), best[k]))
            best_epoch.copy_(torch.where(improved, epoch_t, best_epoch))
            best_score.copy_(torch.where(improved, score, best_score))
            for k, val in (
                ("loss", loss.detach() / n_members),
                ("mse", mse.detach().mean()),
                ("penalty", pen.detach().mean()),
                ("val_mse", vm.mean()),
                ("sparsity", sparsity),
                ("lr", lr_now),
            ):
                hist_t[k].index_copy_(0, idx, val.reshape(1).to(hist_t[k].dtype))
            epoch_t.add_(1.0)

    graph, evals_per_epoch = None, 0
    if capture:
        graph, evals_per_epoch = _capture(field, opt, state, epoch_body, device)
        with torch.no_grad():
            for k, v in state.items():
                best[k].copy_(v)
            epoch_t.zero_()
            best_score.fill_(float(initial_score))
            best_epoch.fill_(-1.0)
            for v in hist_t.values():
                v.fill_(float("nan"))
    field.n_evals = 0

    def run_epoch() -> None:
        if graph is not None:
            graph.replay()
        else:
            opt.zero_grad(set_to_none=True)
            epoch_body()

    stopped = "max_epochs"
    done = 0
    t0 = time.perf_counter()
    bar = trange(n_epochs, desc=description, disable=not progress_bar, leave=False)
    try:
        while done < n_epochs:
            chunk = min(sync_every, n_epochs - done)
            for _ in range(chunk):
                run_epoch()
            done += chunk
            bar.update(chunk)
            last_loss = float(hist_t["loss"][done - 1])  # one synchronisation per chunk
            be = int(best_epoch)
            bar.set_postfix(
                mse=f"{float(hist_t['mse'][done - 1]):.4f}",
                val=f"{float(hist_t['val_mse'][done - 1]):.4f}",
                sparsity=f"{float(hist_t['sparsity'][done - 1]):.2f}",
            )
            if not math.isfinite(last_loss):
                warnings.warn(
                    f"the loss became {last_loss} by epoch {done - 1}; training stopped and the best weights so far "
                    f"(epoch {be}) were kept. Lower lr, or check the input for extreme values.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                stopped = "nan"
                break
            if config.patience is not None and (done - 1) - be >= config.patience:
                stopped = "early_stopping"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
        warnings.warn(
            f"training interrupted at epoch {done}; the best weights so far (epoch {int(best_epoch)}) were kept",
            RuntimeWarning,
            stacklevel=3,
        )
    finally:
        bar.close()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    with torch.no_grad():
        for k, v in state.items():
            v.copy_(best[k])
    field.eval()
    if graph is not None:
        field.n_evals = evals_per_epoch * done
    hist = {k: v[:done].cpu().tolist() for k, v in hist_t.items()}
    if stopped == "nan":  # keep the history up to the first non-finite loss, as the eager loop does
        bad = [i for i, x in enumerate(hist["loss"]) if not math.isfinite(x)]
        hist = {k: v[: bad[0]] for k, v in hist.items()}
    hist["best_epoch"] = int(best_epoch)
    hist["stopped"] = stopped
    hist["n_evals"] = int(field.n_evals)
    hist["seconds"] = float(time.perf_counter() - t0)
    if graph is not None:
        hist["cuda_graph"] = 1
    logger.info(
        "%s: %d epochs in %.1fs (device-side loop), best epoch %d (%s)",
        description,
        done,
        hist["seconds"],
        hist["best_epoch"],
        stopped,
    )
    return hist


def _capture(field, opt, state: dict, epoch_body, device: torch.device):
    """Record ``epoch_body`` (with backward and the optimiser step) as a CUDA graph; the model state is unchanged.

    Two warm-up epochs run on a side stream first (allocations, library handles), as CUDA graph capture requires;
    the parameters and the optimiser state they changed are restored afterwards, so training starts from the
    initial weights. Returns the graph and the number of function evaluations one epoch makes.
    """
    init = {k: v.detach().clone() for k, v in state.items()}
    stream = torch.cuda.Stream(device=device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        for _ in range(2):
            opt.zero_grad(set_to_none=True)
            epoch_body()
    torch.cuda.current_stream(device).wait_stream(stream)
    field.n_evals = 0
    opt.zero_grad(set_to_none=True)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        epoch_body()
    evals_per_epoch = field.n_evals
    with torch.no_grad():
        for k, v in state.items():
            v.copy_(init[k])
        for st in opt.state.values():
            for v in st.values():
                if torch.is_tensor(v):
                    v.zero_()
    return graph, evals_per_epoch
