"""grouplasso's default strength and learning rate: criterion (a) of issue 3 and AUPRC, on toy_grn and krumsiek11.

For one data set and seed: ``node`` with defaults (and node + the same refit with nothing pruned, the reference of
the pruned rows), then grouplasso at ``lambda_group`` x ``lr`` in {0.3, 1.0} x {1e-2, 3e-2} (gradient matching,
1000 steps), each also followed by ``sn.tl.prune(threshold="auto")``. Prints one JSON line per run: for every
grouplasso setting ``[val MSE / node's, feature sparsity, [AUPRC ratio, AP ratio], pruned val MSE / refitted
node's, pruned feature sparsity, [pruned AUPRC ratio, AP ratio]]``.

Run by hand (repository root, one torch thread)::

    for s in 0 1 2 3 4; do OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/grouplasso_defaults.py toy $s; done
    for s in 0 1 2 3 4; do OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/grouplasso_defaults.py krumsiek11 $s; done
"""

from __future__ import annotations

import json
import sys
import warnings

import torch

import sparsenode as sn


def main(dataset: str, seed: int) -> dict:
    """Fit node and the grouplasso grid on one data set and seed; return the JSON-able summary."""
    torch.set_num_threads(1)
    sn.settings.progress_bar = False
    ad = sn.datasets.toy_grn(n_genes=10, seed=seed) if dataset == "toy" else sn.datasets.krumsiek11()
    kw = {"time_key": "time", "lineage_key": "lineage", "seed": seed, "progress_bar": False}
    truth = ad.uns["true_network"]

    def score(key):
        sn.tl.infer_grn(ad, key=key)
        s = sn.bm.score(sn.get.grn(ad, key=key), truth)
        return round(s["auprc_ratio"], 2), round(s["ap_ratio"], 2)

    sn.tl.fit_node(ad, method="node", key_added="node", **kw)
    sn.tl.prune(ad, "node", threshold=0.0, key_added="node_r")
    v0, v0r = ad.uns["node"]["metrics"]["val_mse"], ad.uns["node_r"]["metrics"]["val_mse"]
    res = {
        "dataset": dataset,
        "seed": seed,
        "node": (round(v0, 4), score("node")),
        "node_r": (round(v0r, 4), score("node_r")),
    }
    for lam in (0.3, 1.0):
        for lr in (1e-2, 3e-2):
            k = f"gl_{lam}_{lr}"
            sn.tl.fit_node(ad, method="grouplasso", key_added=k, lambdas={"lambda_group": lam}, lr=lr, **kw)
            sn.tl.prune(ad, k, key_added=k + "_p")
            m, mp = ad.uns[k]["metrics"], ad.uns[k + "_p"]["metrics"]
            res[k] = (
                round(m["val_mse"] / v0, 2),
                round(float(m["feature_sparsity"]), 2),
                score(k),
                round(mp["val_mse"] / v0r, 2),
                round(float(mp["feature_sparsity"]), 2),
                score(k + "_p"),
            )
    return res


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))), flush=True)
