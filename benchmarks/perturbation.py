"""Knockout predictions vs the true perturbed ODE on ``toy_grn`` (issue #4 acceptance), per method and seed.

For each seed, a ``toy_grn`` data set is simulated, a model is fitted with the package defaults, every gene is knocked
out on its own (``sn.tl.simulate_knockout``) and the predicted end-state change of the other genes is compared with
the true one (``sn.datasets.toy_perturbation_truth``, the same clamp on the true Hill ODE). Scored are the
(knockout, lineage, gene) triples whose true end-state change exceeds the noise level of the data (the simulator's
noise sd, ``noise x`` the gene's range): sign agreement and Spearman correlation of predicted vs true change.

Run by hand (minutes on a 2-core CPU)::

    PYTHONPATH=src python benchmarks/perturbation.py --methods pathreg node --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd
import torch
from anndata import AnnData

import sparsenode as sn


def score(adata: AnnData, key: str, genes: list[str]) -> dict:
    """Sign agreement and Spearman of predicted vs true end-state knockout effects above the noise level."""
    names = list(map(str, adata.var_names))
    x = np.asarray(adata.X)
    noise = float(adata.uns["params"]["noise"]) * (x.max(0) - x.min(0))  # per gene, expression units
    pred, true, thr = [], [], []
    for g in genes:
        truth = sn.datasets.toy_perturbation_truth(adata, [g])
        sn.tl.simulate_knockout(adata, g, key=key, key_added="_ko")
        keep = np.asarray(names) != g
        pred.append(adata.uns["_ko"]["delta"][:, -1][:, keep].ravel())
        true.append((truth["perturbed"][:, -1] - truth["wildtype"][:, -1])[:, keep].ravel())
        thr.append(np.broadcast_to(noise[keep], (truth["perturbed"].shape[0], keep.sum())).ravel())
    del adata.uns["_ko"], adata.obs["_ko_effect"]
    p, t, n = np.concatenate(pred), np.concatenate(true), np.concatenate(thr)
    big = np.abs(t) > n
    every = sn.bm.metrics.perturbation_accuracy(p, t, noise=n)
    return {
        "knockouts": len(genes),
        "scored": every["n_effects"],
        "of": int(big.size),
        "sign_agreement": every["sign_agreement"],
        "spearman": sn.bm.metrics.perturbation_accuracy(p[big], t[big])["spearman"],
        "spearman_all": every["spearman"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["pathreg", "node"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--n-genes", type=int, default=10)
    parser.add_argument("--n-cells", type=int, default=1000)
    parser.add_argument("--objective", default=None, help="fit_node objective (default: the package default)")
    parser.add_argument("--lambdas", default="{}", help="JSON {method: {name: value}} overriding defaults")
    parser.add_argument("--out", default=None, help="CSV of the per-seed rows")
    args = parser.parse_args()
    fit_kw = {} if args.objective is None else {"objective": args.objective}
    lambdas = json.loads(args.lambdas)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=FutureWarning)
    rows = []
    for seed in args.seeds:
        adata = sn.datasets.toy_grn(n_genes=args.n_genes, n_cells=args.n_cells, seed=seed)
        genes = list(map(str, adata.var_names))
        for method in args.methods:
            t0 = time.perf_counter()
            sn.tl.fit_node(
                adata, method=method, lambdas=lambdas.get(method), time_key="time", lineage_key="lineage", seed=seed,
                progress_bar=False, **fit_kw,
            )  # fmt: skip
            fit_s = time.perf_counter() - t0
            rows.append({"method": method, "seed": seed, **score(adata, method, genes), "fit_s": round(fit_s, 1)})
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    if args.out:
        df.to_csv(args.out, index=False)
    print(df.to_string(index=False))
    summary = df.groupby("method")[["sign_agreement", "spearman", "spearman_all"]].agg(["mean", "min"])
    print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
