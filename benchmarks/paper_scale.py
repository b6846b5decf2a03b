"""Paper-scale PathReg on human hematopoiesis: the fit of Aliee et al. (NeurIPS 2022), timed.

Batch s1d2 (3 lineages, 1,272 cells after dropping the first 10 and last 20 cells of each trajectory), 529 genes,
vector field 529-100-100-529 with one gate per weight, 5,000 optimiser steps. Reports wall time, time per step,
function evaluations per step, peak memory, the train MSE and the held-out MSE on the other batches, computed as
the paper does: each lineage simulated from its first cell over its min-max scaled pseudotime, MSE against its
min-max scaled cells, summed over the three lineages.

Usage::

    python benchmarks/paper_scale.py --device cpu --steps 5000 --out benchmarks/results/paper_scale_cpu.json
    python benchmarks/paper_scale.py --device cuda --solver rk4 --steps 5000

Data: ``$SPARSENODE_SHARED_DATA/hematopoiesis`` or ``../shared/data/hematopoiesis`` beside the checkout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import time
from pathlib import Path

import anndata as ad
import torch

import sparsenode as sn
from sparsenode.train import TrainConfig

PAPER = {"train": 0.0353, "s2d1": 0.0384, "s3d6": 0.0729, "s1d1": 0.0365, "s2d4": 0.0273}


def data_dir() -> Path:
    env = os.environ.get("SPARSENODE_SHARED_DATA")
    base = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return base / "hematopoiesis"


def load_batches() -> ad.AnnData:
    """All batches, prepared as the paper does (trimmed; genes and pseudotime min-max scaled per trajectory)."""
    return sn.datasets.hematopoiesis(data_dir())


def paper_mse(model: sn.SparseNODE, adata: ad.AnnData) -> dict[str, float]:
    """Per batch: each lineage simulated from its first cell, MSE against its cells, summed over lineages."""
    table = sn.tl.evaluate_heldout(model, adata, batch_key="batch")
    return table.groupby("batch", observed=True)["mse"].sum().to_dict()


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def profile_summary(model: sn.SparseNODE, traj, config: TrainConfig, epochs: int, top: int = 12) -> list[dict]:
    """Where a training step's time goes: the ``top`` operators by self time over ``epochs`` profiled epochs."""
    from torch.profiler import ProfilerActivity, profile

    cuda = model.device.type == "cuda"
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    cfg = dataclasses.replace(config, max_epochs=epochs, cuda_graphs=False)
    with profile(activities=acts) as prof:
        model.fit(traj, cfg, progress_bar=False)
    attr = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, attr, 0) > 0]
    total = sum(getattr(e, attr) for e in events)
    events.sort(key=lambda e: getattr(e, attr), reverse=True)
    return [
        {"op": e.key, "share": round(getattr(e, attr) / total, 3), "calls_per_epoch": round(e.count / epochs, 1)}
        for e in events[:top]
    ]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--solver", default="dopri5")
    p.add_argument("--n-bins", type=int, default=30)
    p.add_argument(
        "--segment-bins", type=int, default=10, help="multiple-shooting segment length in bins (0: single shooting)"
    )
    p.add_argument("--hidden", default="100,100")
    p.add_argument("--lambda-path", type=float, default=3e-3)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument(
        "--refine-steps",
        type=int,
        default=0,
        help="after the multiple-shooting fit, this many single-shooting steps (whole trajectories from bin 0)",
    )
    p.add_argument("--refine-lr", type=float, default=3e-3)
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="bins held out for model selection (0: train on every bin and keep the weights with the best training "
        "loss, as the paper's code does; also skips the validation solve of every step)",
    )
    p.add_argument(
        "--objective",
        default="shooting",
        choices=["shooting", "hybrid"],
        help="hybrid: gradient matching for --warmstart-fraction of --steps, then multiple shooting",
    )
    p.add_argument("--warmstart-fraction", type=float, default=0.75, help="hybrid only (TrainConfig)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--no-graphs", action="store_true", help="disable CUDA graph capture")
    p.add_argument("--profile", type=int, default=0, help="also profile this many epochs (eager) and list top ops")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = sn._utils.resolve_device(args.device)
    t_all = time.perf_counter()
    data = load_batches()
    train = data[data.obs["batch"] == "s1d2"].copy()
    traj = sn.pp.bin_trajectories(train, time_key="time", lineage_key="lineage", n_bins=args.n_bins, scaling="none")
    model = sn.SparseNODE(
        traj.var_names,
        method="pathreg",
        hidden=tuple(int(h) for h in args.hidden.split(",")),
        lambdas={"lambda_path": args.lambda_path},
        device=str(device),
    )
    config = TrainConfig(
        max_epochs=args.steps,
        solver=args.solver,
        segment_bins=args.segment_bins or None,
        lr=args.lr,
        patience=None,
        cuda_graphs=not args.no_graphs,
        val_fraction=args.val_fraction,
        objective=args.objective,
        warmstart_fraction=args.warmstart_fraction,
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    model.fit(traj, config, progress_bar=False)
    h = dict(model.history)
    if args.refine_steps:
        refine = dataclasses.replace(
            config, max_epochs=args.refine_steps, segment_bins=None, lr=args.refine_lr, objective="shooting"
        )
        model.fit(traj, refine, progress_bar=False)
        h["n_evals"] += model.history["n_evals"]
        h["loss"] = h["loss"] + model.history["loss"]
        h["mse"] = model.history["mse"]
        h["best_epoch"] = len(h["loss"]) - len(model.history["loss"]) + model.history["best_epoch"]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    fit_s = time.perf_counter() - t0
    steps = len(h["loss"])
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}",
        "solver": args.solver,
        "objective": args.objective,
        "warmstart_steps": config.warmstart_epochs,
        "refine_steps": args.refine_steps,
        "val_fraction": args.val_fraction,
        "cuda_graph": bool(h.get("cuda_graph", 0)),
        "steps": steps,
        "fit_seconds": round(fit_s, 2),
        "ms_per_step": round(1000 * fit_s / steps, 2),
        "evals_per_step": round(h["n_evals"] / steps, 1),
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "best_epoch": h["best_epoch"],
        "segment_mse": round(float(h["mse"][-1]), 5),
        "feature_sparsity": round(model.feature_sparsity(), 4),
        "weight_sparsity": round(model.weight_sparsity(), 4),
        "mse": {},
    }
    per_batch = paper_mse(model, data)
    result["mse"]["train"] = round(per_batch["s1d2"], 4)
    for batch in ("s2d1", "s3d6", "s1d1", "s2d4"):
        result["mse"][batch] = round(per_batch[batch], 4)
    result["ratio_to_paper"] = {k: round(v / PAPER[k], 3) for k, v in result["mse"].items()}
    if args.profile:
        result["profile"] = profile_summary(model, traj, config, args.profile)
    result["total_seconds"] = round(time.perf_counter() - t_all, 2)
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
