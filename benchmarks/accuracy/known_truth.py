"""Network recovery of ``sn.tl.fit_pathreg`` on the data sets with known truth: krumsiek11 and toy_grn (10, 50 genes).

Usage (repository root, 2-core CPU dev machine)::

    OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks/accuracy nice -n 10 python benchmarks/accuracy/known_truth.py \
        [--seeds 0,1,2,3,4] [--mode flux_lagens[,flux_lagens:global,flux]] [--objective gradient] \
        [--out results/known_truth.csv]

Prints the AUPRC ratio of PathReg (defaults) and of the |Pearson| baseline per data set and seed, and the means. A
mode with the suffix ``:global`` is read out with ``per_target=False``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common as c
import pandas as pd

import sparsenode as sn


def datasets(seed):
    yield "krumsiek11", sn.datasets.krumsiek11()
    yield "toy_grn_10", sn.datasets.toy_grn(n_genes=10, seed=seed)
    yield "toy_grn_50", sn.datasets.toy_grn(n_genes=50, seed=seed)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--mode", default="flux_lagens", help="readout(s), comma-separated; the first is the headline")
    p.add_argument("--objective", default="gradient")
    p.add_argument("--only", default=None, help="comma-separated subset of krumsiek11,toy_grn_10,toy_grn_50")
    p.add_argument("--fit", default="", help="extra fit_pathreg arguments, e.g. \"activation='silu',smoothing=2.0\"")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    extra = c.parse_kwargs(a.fit)
    c.one_thread()
    rows = []
    for seed in [int(s) for s in a.seeds.split(",")]:
        for name, adata in datasets(seed):
            if a.only and name not in a.only.split(","):
                continue
            t0 = time.perf_counter()
            sn.tl.fit_pathreg(
                adata, time_key="time", lineage_key="lineage", objective=a.objective, seed=seed,
                progress_bar=False, device="cpu", **extra,
            )  # fmt: skip
            truth = adata.uns["true_network"]
            genes = list(map(str, adata.var_names))
            row = {"dataset": name, "seed": seed}
            for i, mode in enumerate(a.mode.split(",")):  # the first is "pathreg", the others "pathreg_<mode>"
                c.infer_grn(adata, mode)  # "flux_lagens:global": per_target=False
                if i == 0:
                    row["seconds"] = time.perf_counter() - t0
                ours = sn.bm.score(sn.get.grn(adata), truth, genes=genes)["auprc_ratio"]
                row["pathreg" if i == 0 else f"pathreg_{mode}"] = ours
            row["pearson"] = sn.bm.score(sn.bm.pearson_grn(adata), truth, genes=genes)["auprc_ratio"]
            rows.append(row)
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(a.out, index=False)
    print(df.groupby("dataset").mean(numeric_only=True).round(2).to_string())


if __name__ == "__main__":
    main()
