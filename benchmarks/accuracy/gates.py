"""PathReg with per-weight gates against the per-unit variant on toy_grn (issue #3), paired by seed.

Usage (repository root, 2-core CPU dev machine)::

    OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks/accuracy nice -n 10 python benchmarks/accuracy/gates.py \
        [--seeds 0-19] [--lambdas 0.003] [--hidden 32,32] [--prune] \
        [--modes flux_lagens,structure] [--lineages 2] [--genes 10] [--out results/gates_paired.csv]

For every seed, toy_grn (``--genes``, default 10) is simulated once and fitted twice with the same arguments, once with
``gates="weight"`` (PathReg's default) and once with ``gates="unit"`` (the paper's public code); each fit is read
out with every mode of ``--modes`` (suffix ``:global``: ``per_target=False``) and scored by BEELINE's AUPRC ratio
and by the average-precision ratio (which does not reward tied scores: the per-unit structural adjacency is
constant along each source's row). ``--prune`` also scores each fit after ``sn.tl.prune(threshold="auto")``, the
two-stage fit. The summary prints the mean per gate type and the number of seeds on which per-weight gates are
ahead, plus a two-sided sign-flip permutation test of the paired mean difference.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import _common as c
import numpy as np
import pandas as pd

import sparsenode as sn


def seeds_arg(text: str) -> list[int]:
    """``"0-19"`` or ``"0,3,5"`` -> list of ints."""
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def score_modes(adata, modes, truth, genes, **fields) -> list[dict]:
    """One row per readout of the fit in ``adata.uns["pathreg"]``: ``fields``, its sparsity and validation MSE, and
    the AUPRC and AP ratios."""
    metrics = adata.uns["pathreg"]["metrics"]
    fields = {**fields, "feature_sparsity": metrics["feature_sparsity"], "val_mse": metrics["val_mse"]}
    out = []
    for mode in modes:
        c.infer_grn(adata, mode)  # "flux_lagens:global": per_target=False
        s = sn.bm.score(sn.get.grn(adata), truth, genes=genes)
        out.append({**fields, "mode": mode, "auprc_ratio": s["auprc_ratio"], "ap_ratio": s["ap_ratio"]})
    return out


def sign_flip_p(diff: np.ndarray, n: int = 20000, seed: int = 0) -> float:
    """Two-sided p-value of a zero mean paired difference (random sign flips)."""
    diff = diff[np.isfinite(diff)]
    if diff.size == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    flips = rng.choice([-1.0, 1.0], size=(n, diff.size))
    null = np.abs((flips * diff).mean(axis=1))
    return float((np.sum(null >= abs(diff.mean()) - 1e-12) + 1) / (n + 1))


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    keys = ["stage", "lam", "hidden", "mode"]
    rows = []
    for k, g in df.groupby(keys, sort=False):
        w = g[g.gates == "weight"].set_index("seed")
        u = g[g.gates == "unit"].set_index("seed")
        both = w.index.intersection(u.index)
        row = dict(zip(keys, k, strict=True))
        row["seeds"] = len(both)
        for metric in ("auprc_ratio", "ap_ratio"):
            d = (w.loc[both, metric] - u.loc[both, metric]).to_numpy()
            row[f"{metric}_weight"] = w.loc[both, metric].mean()
            row[f"{metric}_unit"] = u.loc[both, metric].mean()
            row[f"{metric}_weight_ahead"] = int((d > 0).sum())
            row[f"{metric}_p"] = sign_flip_p(d)
        rows.append(row)
    return pd.DataFrame(rows)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--lambdas", default="0.003", help="lambda_path values, comma-separated")
    p.add_argument("--hidden", default="32,32", help="hidden sizes; several separated by ';'")
    p.add_argument("--modes", default="flux_lagens,structure")
    p.add_argument("--lineages", type=int, default=2, help="n_lineages of toy_grn (default 2, the data set's own)")
    p.add_argument("--genes", type=int, default=10, help="n_genes of toy_grn (default 10)")
    p.add_argument("--prune", action="store_true", help="also score the two-stage fit (sn.tl.prune, 'auto')")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    c.one_thread()
    modes = a.modes.split(",")
    lams = [float(x) for x in a.lambdas.split(",")]
    hiddens = [tuple(int(h) for h in hs.split(",")) for hs in a.hidden.split(";")]
    rows = []
    for seed, lam, hidden, gates in itertools.product(seeds_arg(a.seeds), lams, hiddens, ("weight", "unit")):
        adata = sn.datasets.toy_grn(n_genes=a.genes, n_lineages=a.lineages, seed=seed)
        truth, genes = adata.uns["true_network"], list(map(str, adata.var_names))
        t0 = time.perf_counter()
        sn.tl.fit_node(
            adata, method="pathreg", gates=gates, lambdas={"lambda_path": lam}, hidden=hidden, seed=seed,
            time_key="time", lineage_key="lineage", progress_bar=False, device="cpu",
        )  # fmt: skip
        base = {"seed": seed, "gates": gates, "lam": lam, "hidden": "x".join(map(str, hidden))}
        rows += score_modes(adata, modes, truth, genes, **base, stage="onestage", seconds=time.perf_counter() - t0)
        if a.prune:
            t1 = time.perf_counter()
            sn.tl.prune(adata, "pathreg", threshold="auto", device="cpu", progress_bar=False, key_added="pathreg")
            rows += score_modes(adata, modes, truth, genes, **base, stage="pruned", seconds=time.perf_counter() - t1)
        print(rows[-1], flush=True)
        if a.out:
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_csv(a.out, index=False)
    summary = summarise(pd.DataFrame(rows))
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(summary.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
