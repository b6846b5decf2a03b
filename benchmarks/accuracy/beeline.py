"""Network recovery of ``sn.tl.fit_pathreg`` (defaults) on the BEELINE inputs against baselines and peers.

Usage (repository root, 2-core CPU dev machine)::

    OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks/accuracy nice -n 10 python benchmarks/accuracy/beeline.py \
        [--reps 0,1,2,3,4] [--mode flux_lagens[,flux_lagens:global,flux]] [--objective gradient] [--members M] \
        [--bootstrap] [--out results/x.csv]
    python benchmarks/accuracy/beeline.py --from-csv results/a.csv,results/b.csv   # re-print, e.g. of split runs

A mode with the suffix ``:global`` is read out with ``per_target=False``. Prints per data set the median AUPRC
ratio over replicates of PathReg, the three reference baselines and the best of the 12 published peers, and how
many data sets PathReg wins.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common as c
import numpy as np
import pandas as pd

import sparsenode as sn


def run_one(inp, *, modes, objective, members, bootstrap, seed, extra=None):
    adata = sn.io.read_beeline(inp)
    t0 = time.perf_counter()
    sn.tl.fit_pathreg(
        adata, time_key="time", lineage_key=c.LINEAGE_KEY, objective=objective, n_members=members,
        bootstrap=bootstrap, seed=seed, progress_bar=False, device="cpu", **(extra or {}),
    )  # fmt: skip
    out = {}
    for i, mode in enumerate(modes):  # the first mode is reported as "pathreg", the others as "pathreg_<mode>"
        c.infer_grn(adata, mode)  # "flux_lagens:global": per_target=False
        if i == 0:
            out["seconds"] = time.perf_counter() - t0
        res = sn.bm.score(sn.get.grn(adata), adata.uns["true_network"], genes=list(map(str, adata.var_names)))
        out["pathreg" if i == 0 else f"pathreg_{mode}"] = res["auprc_ratio"]
    m = adata.uns["pathreg"]["metrics"]
    return {**out, "train_mse": m["train_mse"], "val_mse": m["val_mse"]}


def summary(df: pd.DataFrame, ref: pd.DataFrame) -> pd.DataFrame:
    both = df.merge(ref, on=["dataset", "replicate"])
    med = both.groupby("dataset", sort=False).median(numeric_only=True)
    ours = [k for k in med.columns if k.startswith("pathreg")]
    out = med[[*ours, "pearson", "lagged_correlation", "ridge_derivative"]].copy()
    out["best_peer"] = med[c.PEERS].max(axis=1)
    out["best_peer_name"] = med[c.PEERS].idxmax(axis=1)
    out["seconds"] = med["seconds"]
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reps", default="0,1,2,3,4")
    p.add_argument("--datasets", default=None)
    p.add_argument("--mode", default="flux_lagens", help="readout(s), comma-separated; the first is the headline")
    p.add_argument("--objective", default="gradient")
    p.add_argument("--members", type=int, default=None, help="ensemble size (default: the package default)")
    p.add_argument("--bootstrap", action="store_true")
    p.add_argument("--fit", default="", help="extra fit_pathreg arguments, e.g. \"activation='silu',smoothing=2.0\"")
    p.add_argument("--out", default=None)
    p.add_argument("--from-csv", default=None, help="comma-separated result files to summarise instead of fitting")
    a = p.parse_args()
    if a.from_csv:
        report(pd.concat([pd.read_csv(f) for f in a.from_csv.split(",")], ignore_index=True), c.reference_table())
        return
    extra = c.parse_kwargs(a.fit)
    c.one_thread()
    ref = c.reference_table()
    reps = [int(r) for r in a.reps.split(",")]
    ds = a.datasets.split(",") if a.datasets else None
    rows = []
    for name, r, inp, _ in c.replicates(ds, reps):
        res = run_one(
            inp,
            modes=a.mode.split(","),
            objective=a.objective,
            members=a.members,
            bootstrap=a.bootstrap,
            seed=r,
            extra=extra,
        )
        rows.append({"dataset": name, "replicate": r, **res})
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(a.out, index=False)
    report(df, ref)


def report(df: pd.DataFrame, ref: pd.DataFrame) -> None:
    tab = summary(df, ref)
    print(tab.round(2).to_string())
    for b in ("pearson", "lagged_correlation", "ridge_derivative", "best_peer"):
        print(f"pathreg beats {b} on {int((tab['pathreg'] > tab[b]).sum())}/{len(tab)}")
    print("mean seconds per fit", float(np.mean(df["seconds"])))


if __name__ == "__main__":
    main()
