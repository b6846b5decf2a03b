"""The default readout over initialisations: mean over the members of an unbootstrapped ensemble, and the ensemble.

Usage (repository root, 2-core CPU dev machine)::

    OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks/accuracy nice -n 10 python benchmarks/accuracy/init_spread.py \
        [--members 8] [--sets krumsiek11,toy_grn_10] [--fit "activation='silu'"] [--out x.csv]

Single fits on known truth are a lottery over the initialisation (``members.py``), so five single fits per data
set rank settings poorly. Here each seed 0-4 fits ``--members`` members from their own initialisations in one
batched fit (no bootstrap); every member is scored with the default readout (``flux_lagens``, exactly as
``infer_grn`` combines its parts), and so is the ensemble. Prints per data set the mean over seeds of the member
mean, the best member, the ensemble and the member with the lowest training MSE.
"""

from __future__ import annotations

import argparse
import time

import _common as c
import numpy as np
import pandas as pd
from readout_screen import parts, score_spec

import sparsenode as sn

SPEC = "F*2+lc1+lc2+pl1+pl2+dir1"  # flux_lagens


def load(name: str, seed: int):
    if name == "krumsiek11":
        return sn.datasets.krumsiek11()
    return sn.datasets.toy_grn(n_genes=int(name.rsplit("_", 1)[1]), seed=seed)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--sets", default="krumsiek11,toy_grn_10")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--fit", default="", help="extra fit_pathreg arguments, e.g. \"activation='softplus'\"")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    c.one_thread()
    extra, k = c.parse_kwargs(a.fit), a.members
    rows = []
    for name in a.sets.split(","):
        for seed in [int(s) for s in a.seeds.split(",")]:
            adata = load(name, seed)
            t0 = time.perf_counter()
            sn.tl.fit_pathreg(
                adata, time_key="time", lineage_key="lineage", seed=seed, n_members=k, progress_bar=False,
                device="cpu", **extra,
            )  # fmt: skip
            model = sn.SparseNODE.from_adata(adata, device="cpu")
            shared, flux, abs_j, adj = parts(model)
            off = ~np.eye(model.n_genes, dtype=bool)
            genes = list(map(str, model.var_names))

            def score(sel, shared=shared, flux=flux, abs_j=abs_j, adj=adj, off=off, genes=genes, adata=adata):
                net = score_spec(SPEC, shared, flux[sel], abs_j[sel], adj[sel], off)
                net = pd.DataFrame(net, index=genes, columns=genes)
                return sn.bm.score(net, adata.uns["true_network"], genes=genes)["auprc_ratio"]

            per = [score(slice(m, m + 1)) for m in range(k)]
            pred, traj = model.predict(members=True), model.trajectories
            mse = np.nan_to_num([((pred[m] - traj.values) ** 2)[traj.mask].mean() for m in range(k)], nan=np.inf)
            rows.append(
                {
                    "dataset": name,
                    "seed": seed,
                    "member_mean": float(np.mean(per)),
                    "member_max": float(np.max(per)),
                    "ensemble": score(slice(None)),
                    "lowest_train_mse": per[int(np.argmin(mse))],
                    "seconds": time.perf_counter() - t0,
                }
            )
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    if a.out:
        df.to_csv(a.out, index=False)
    print(df.groupby("dataset").mean(numeric_only=True).drop(columns="seed").round(2).to_string())


if __name__ == "__main__":
    main()
