"""Do batched ensemble members fit worse than single fits? Same initialisations, single and batched, compared.

Usage (repository root, 2-core CPU dev machine)::

    OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks/accuracy nice -n 10 python benchmarks/accuracy/members.py \
        [--data-seed 1] [--inits 0,1,2,3,4,5,6,7] [--batched 1,2,6,0]

On ``toy_grn(n_genes=10, seed=--data-seed)`` it fits one PathReg model (defaults, ``patience=None``) per
initialisation seed in ``--inits`` (validation split and gate noise seeded by the data seed, so only the initial
weights differ), then one batched ensemble whose members start from exactly the initial weights of the singles in
``--batched``. Per fit (member) it prints the AUPRC ratio of the flux readout alone (``mode="flux"``: the part that
depends on the fit) and the training MSE (single shooting from each lineage's first bin).
"""

from __future__ import annotations

import argparse

import _common as c
import numpy as np
import pandas as pd
import torch

import sparsenode as sn
from sparsenode.tl._grn import _flux
from sparsenode.train import TrainConfig


def member_scores(model, truth) -> tuple[list[float], list[float]]:
    """Flux AUPRC ratio and simulation MSE of each member."""
    flux, adj = _flux(model, "data"), model.adjacency(members=True)
    genes = list(map(str, model.var_names))
    pred, traj = model.predict(members=True), model.trajectories
    ratios, mses = [], []
    for m in range(flux.shape[0]):
        keep = np.abs(adj[m]) / max(np.abs(adj[m]).max(), 1e-12) > 1e-3
        net = np.where(keep, flux[m], 0.0)
        np.fill_diagonal(net, 0.0)
        net = pd.DataFrame(net, index=genes, columns=genes)
        ratios.append(sn.bm.score(net, truth, genes=genes)["auprc_ratio"])
        mses.append(float(((pred[m] - traj.values) ** 2)[traj.mask].mean()))
    return ratios, mses


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-seed", type=int, default=1)
    p.add_argument("--inits", default="0,1,2,3,4,5,6,7")
    p.add_argument("--batched", default="1,2,6,0")
    a = p.parse_args()
    c.one_thread()
    adata = sn.datasets.toy_grn(n_genes=10, seed=a.data_seed)
    truth = adata.uns["true_network"]
    traj = sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineage", n_bins=30)
    config = TrainConfig(max_epochs=1000, objective="gradient", patience=None)
    lambdas = {"lambda_path": 3e-3, "lambda_weight": 0.0}
    inits = {}
    for s in sorted({int(x) for x in a.inits.split(",")} | {int(x) for x in a.batched.split(",")}):
        model = sn.SparseNODE(traj.var_names, method="pathreg", lambdas=lambdas, seed=s, device="cpu")
        inits[s] = {k: v.clone() for k, v in model.field.state_dict().items()}
        model.seed = a.data_seed  # same validation split and gate noise for every fit: only the initial weights differ
        model.fit(traj, config, progress_bar=False)
        (ratio,), (mse,) = member_scores(model, truth)
        print(f"single fit, init {s}: flux AUPRC ratio {ratio:.2f}, train MSE {mse:.4f}", flush=True)
    batched = [int(x) for x in a.batched.split(",")]
    ens = sn.SparseNODE(
        traj.var_names, method="pathreg", lambdas=lambdas, n_members=len(batched), seed=a.data_seed, device="cpu"
    )
    state = ens.field.state_dict()
    for name, _ in ens.field.named_parameters():  # every parameter has the member dimension first
        state[name] = torch.cat([inits[s][name] for s in batched], dim=0)
    ens.field.load_state_dict(state)
    ens.fit(traj, config, progress_bar=False)
    ratios, mses = member_scores(ens, truth)
    for s, r, m in zip(batched, ratios, mses, strict=True):
        print(f"batched member, init {s}: flux AUPRC ratio {r:.2f}, train MSE {m:.4f}")


if __name__ == "__main__":
    main()
