"""One grouplasso training epoch on 200 genes: the batched field against a Python loop of 200 MLPs.

Both sides do the same work per epoch under the package's default objective (``--objective gradient``: one field
evaluation at every training bin of 2 lineages x 30 bins against the smoothed slopes) or under multiple shooting
(``--objective shooting``: every 10-bin segment integrated with the same fixed-step RK4 solver, so both take exactly
the same number of function evaluations): MSE, backward, one Adam step, and the proximal group-lasso step on the
first layer of every output's MLP.

- batched: :class:`sparsenode.module.GroupedMLPField` (one einsum network for all outputs) with the package's
  proximal step.
- loop: 200 separate ``nn.Sequential`` MLPs (``Linear(200, h) -> softplus -> Linear(h, h) -> softplus ->
  Linear(h, 1)``), one per output gene; the field concatenates their outputs at every function evaluation, and the
  proximal step runs over the 200 first-layer matrices. Adam uses torch's default multi-tensor (foreach) update
  over all 200 x 6 parameters, i.e. the loop is only where it cannot be avoided.

Run by hand (one torch thread)::

    PYTHONPATH=src python benchmarks/grouplasso_speed.py --genes 200 --epochs 3 [--objective shooting]
    PYTHONPATH=src python benchmarks/grouplasso_speed.py --device cuda --epochs 20   # on a GPU machine

On CUDA the epoch times are wall times after ``torch.cuda.synchronize()`` (the CPU-time line is then not printed).
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch
from torch import nn

from sparsenode.module import GroupedMLPField, get_method
from sparsenode.train import TrainConfig, make_derivative_targets, make_segments
from sparsenode.train._trainer import _segment_mse


class LoopField(nn.Module):
    """``dx_i/dt = mlp_i(x) - k_i x_i`` with one separate ``nn.Sequential`` per output gene."""

    def __init__(self, n_genes: int, hidden: tuple[int, ...], seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.n_genes = n_genes
        self.n_members = 1

        def mlp():
            sizes = [n_genes, *hidden]
            layers = []
            for a, b in itertools.pairwise(sizes):
                layers += [nn.Linear(a, b), nn.Softplus()]
            return nn.Sequential(*layers, nn.Linear(sizes[-1], 1))

        self.mlps = nn.ModuleList(mlp() for _ in range(n_genes))
        self.raw_decay = nn.Parameter(torch.full((1, n_genes), -1.0))
        self.n_evals = 0

    def prepare(self, sample=None):
        """Nothing to fix per solve (kept for the trainer's interface)."""

    def release(self):
        """Nothing cached."""

    def apply_outer_skip(self, states):
        """Identity (no LassoNet skip)."""
        return states

    def forward(self, t, y):
        """Derivative of ``y`` ``(members, batch, genes)``."""
        self.n_evals += 1
        out = torch.cat([m(y) for m in self.mlps], dim=-1)
        return out - nn.functional.softplus(self.raw_decay).unsqueeze(1) * y

    @torch.no_grad()
    def prox(self, lr: float, lam: float) -> None:
        """Group-lasso proximal step on each MLP's first-layer input columns."""
        for m in self.mlps:
            w = m[0].weight  # (hidden, inputs): group k is column k
            norms = w.norm(dim=0, keepdim=True)
            w.mul_(torch.clamp(1.0 - lr * lam / norms.clamp_min(1e-12), min=0.0))


def _data(n_genes: int, n_lineages: int = 2, n_bins: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, n_bins)
    phase = rng.uniform(0, 2 * np.pi, (n_lineages, 1, n_genes))
    values = (0.5 + 0.4 * np.sin(2 * np.pi * t[None, :, None] + phase)).astype(np.float32)
    mask = np.ones((n_lineages, n_bins), dtype=bool)
    return values, mask, t.astype(np.float32)


def _sync(device) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def epoch_seconds(field, prox, seg, config, n_epochs: int, device=None) -> tuple[float, float]:
    """Median wall and CPU (process) seconds of one epoch (forward + backward + Adam + prox) after a warm-up.

    On a shared machine the CPU time of this single-threaded process is the steadier figure; on CUDA the wall time
    (after synchronising) is the figure.
    """
    opt = torch.optim.Adam(field.parameters(), lr=config.lr)
    times, cpu = [], []
    for i in range(n_epochs + 1):
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        field.prepare(sample=True)
        loss = _segment_mse(field, seg, config, None).sum()
        field.release()
        loss.backward()
        opt.step()
        prox(config.lr)
        _sync(device)
        if i > 0:  # the first epoch warms up allocators
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return float(np.median(times)), float(np.median(cpu))


def main(argv=None) -> None:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--genes", type=int, default=200)
    p.add_argument("--hidden", type=int, nargs="+", default=[32, 32])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--objective", choices=["gradient", "shooting"], default="gradient")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here; run on the GPU machine or use --device cpu")
    hidden = tuple(a.hidden)
    values, mask, times = _data(a.genes)
    config = TrainConfig(solver="rk4", segment_bins=10, objective=a.objective)
    if a.objective == "gradient":
        seg = make_derivative_targets(values, mask, mask, times, config.smoothing, device)
    else:
        seg = make_segments(values, mask, mask, times, config.segment_bins, device)
    method = get_method("grouplasso")
    lam = method.lambdas

    batched = GroupedMLPField(a.genes, hidden, "softplus").to(device)
    t_batched = epoch_seconds(batched, lambda lr: method.prox(batched, lr, lam), seg, config, a.epochs, device)
    evals_b = batched.n_evals

    loop = LoopField(a.genes, hidden).to(device)
    t_loop = epoch_seconds(loop, lambda lr: loop.prox(lr, lam["lambda_group"]), seg, config, a.epochs, device)
    evals_l = loop.n_evals
    n_params = (sum(p.numel() for p in batched.parameters()), sum(p.numel() for p in loop.parameters()))
    lines = [
        f"genes={a.genes} hidden={hidden} objective={a.objective} rows={seg.lineage.shape[0]} threads={a.threads} "
        f"device={device}",
        f"parameters: batched {n_params[0]}, loop {n_params[1]}; function evaluations: {evals_b} vs {evals_l}",
        f"one epoch, wall: batched {t_batched[0]:.4f} s, loop of {a.genes} MLPs {t_loop[0]:.4f} s, "
        f"ratio {t_loop[0] / t_batched[0]:.1f}x",
    ]
    if device.type == "cpu":
        lines.append(
            f"one epoch, CPU: batched {t_batched[1]:.3f} s, loop of {a.genes} MLPs {t_loop[1]:.3f} s, "
            f"ratio {t_loop[1] / t_batched[1]:.1f}x"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
