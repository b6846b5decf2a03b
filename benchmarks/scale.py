"""How the cost of a fit grows with genes and cells: time per epoch, binning time and peak memory.

Toy data: smooth branching trajectories (sums of sigmoids of pseudotime per gene, with noise), so that any gene
count and cell count can be made in seconds. For each method in ``--methods``, each gene count and each cell count,
the script bins the cells, fits ``--epochs`` epochs and records seconds per epoch (after one warm-up epoch) and peak
memory; then it fits the exponent of cost against genes and against cells (log-log least squares).

Usage::

    python benchmarks/scale.py --device cuda --genes 100,500,2000,5000 --cells 1000,10000,100000
    python benchmarks/scale.py --full-fit --device cuda      # 2,000 genes x 100,000 cells, a complete PathReg fit
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

import sparsenode as sn
from sparsenode.train import TrainConfig


def toy_adata(n_genes: int, n_cells: int, seed: int = 0, sparse: bool = True) -> ad.AnnData:
    """Cells on two lineages with smooth gene programmes; sparse counts-like matrix (about 70 % zeros)."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 1, n_cells).astype(np.float32)
    lineage = rng.integers(0, 2, n_cells)
    centre = rng.uniform(0, 1, (2, n_genes)).astype(np.float32)
    slope = rng.normal(0, 8, (2, n_genes)).astype(np.float32)
    rows = []
    for start in range(0, n_cells, 10_000):  # chunked so 100,000 x 5,000 never exists densely
        sl = slice(start, min(start + 10_000, n_cells))
        mean = 1.0 / (1.0 + np.exp(-slope[lineage[sl]] * (t[sl, None] - centre[lineage[sl]])))
        x = rng.poisson(3.0 * mean).astype(np.float32)
        rows.append(sp.csr_matrix(x) if sparse else x)
    X = sp.vstack(rows).tocsr() if sparse else np.vstack(rows)
    adata = ad.AnnData(X)
    adata.var_names = [f"g{i}" for i in range(n_genes)]
    adata.obs["time"] = t
    adata.obs["lineage"] = pd.Categorical(np.where(lineage == 0, "A", "B"))
    return adata


def peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(method: str, n_genes: int, n_cells: int, args, device: torch.device) -> dict:
    adata = toy_adata(n_genes, n_cells)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    traj = sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineage", n_bins=args.n_bins)
    bin_s = time.perf_counter() - t0
    hidden = (16,) if method == "grouplasso" else tuple(int(h) for h in args.hidden.split(","))
    model = sn.SparseNODE(traj.var_names, method=method, hidden=hidden, device=str(device))
    warm = sn.SparseNODE(traj.var_names, method=method, hidden=hidden, device=str(device))
    warm.fit(traj, TrainConfig(max_epochs=1, solver=args.solver, patience=None), progress_bar=False)  # warm-up
    cfg = TrainConfig(max_epochs=args.epochs, solver=args.solver, patience=None)
    t0 = time.perf_counter()
    model.fit(traj, cfg, progress_bar=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    fit_s = time.perf_counter() - t0
    return {
        "method": method,
        "genes": n_genes,
        "cells": n_cells,
        "bin_s": round(bin_s, 3),
        "fit_s": round(fit_s, 3),
        "ms_per_epoch": round(1000 * fit_s / len(model.history["loss"]), 2),
        # the training loop alone (on CUDA without the one-off graph capture)
        "loop_ms_per_epoch": round(1000 * float(model.history["seconds"]) / len(model.history["loss"]), 3),
        "peak_mb": round(peak_mb(device), 1),
    }


def exponent(rows: list[dict], key: str, cost: str, **fixed) -> float:
    sel = [r for r in rows if all(r[k] == v for k, v in fixed.items())]
    if len(sel) < 2:
        return float("nan")
    x = np.log([r[key] for r in sel])
    y = np.log([max(r[cost], 1e-6) for r in sel])
    return float(np.polyfit(x, y, 1)[0])


def full_fit(args, device: torch.device) -> dict:
    """A complete default PathReg fit through the AnnData front on 2,000 genes x 100,000 cells."""
    t0 = time.perf_counter()
    adata = toy_adata(2000, 100_000)
    make_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    sn.tl.fit_pathreg(
        adata, time_key="time", lineage_key="lineage", device=str(device), solver=args.solver, progress_bar=False
    )
    fit_total = time.perf_counter() - t0
    t1 = time.perf_counter()
    sn.tl.infer_grn(adata, key="pathreg")
    total = time.perf_counter() - t0
    grn_s = time.perf_counter() - t1
    t1 = time.perf_counter()
    sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineage")
    bin_s = time.perf_counter() - t1
    h = adata.uns["pathreg"]["history"]
    return {
        "genes": 2000,
        "cells": 100_000,
        "make_data_s": round(make_s, 1),
        "fit_and_grn_s": round(total, 1),
        "epochs": len(h["loss"]),
        "fit_pathreg_s": round(fit_total, 1),
        "binning_s": round(bin_s, 1),
        "training_loop_s": round(float(h["seconds"]), 2),
        "infer_grn_s": round(grn_s, 1),
        "peak_mb": round(peak_mb(device), 1),
        "train_mse": float(adata.uns["pathreg"]["metrics"]["train_mse"]),
        "val_mse": float(adata.uns["pathreg"]["metrics"]["val_mse"]),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--methods", default="pathreg,grouplasso,node")
    p.add_argument("--genes", default="100,500,2000,5000")
    p.add_argument("--cells", default="1000,10000,100000")
    p.add_argument("--base-cells", type=int, default=10_000, help="cell count of the gene sweep")
    p.add_argument("--base-genes", type=int, default=500, help="gene count of the cell sweep")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--n-bins", type=int, default=30)
    p.add_argument("--hidden", default="100,100")
    p.add_argument("--solver", default="rk4")
    p.add_argument("--max-grouplasso-genes", type=int, default=2000)
    p.add_argument("--full-fit", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    device = sn._utils.resolve_device(args.device)
    if args.full_fit:
        res = full_fit(args, device)
        print(json.dumps(res))
        if args.out:
            Path(args.out).write_text(json.dumps(res, indent=1))
        return res
    rows = []
    for method in args.methods.split(","):
        for g in map(int, args.genes.split(",")):
            if method == "grouplasso" and g > args.max_grouplasso_genes:
                continue
            rows.append(one(method, g, args.base_cells, args, device))
            print(json.dumps(rows[-1]), flush=True)
        for c in map(int, args.cells.split(",")):
            if c != args.base_cells:
                rows.append(one(method, args.base_genes, c, args, device))
                print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for method in args.methods.split(","):
        summary[method] = {
            "epoch_exponent_genes": round(
                exponent(rows, "genes", "ms_per_epoch", method=method, cells=args.base_cells), 2
            ),
            "epoch_exponent_cells": round(
                exponent(rows, "cells", "ms_per_epoch", method=method, genes=args.base_genes), 2
            ),
            "binning_exponent_cells": round(exponent(rows, "cells", "bin_s", method=method, genes=args.base_genes), 2),
        }
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    return rows, summary


if __name__ == "__main__":
    main()
