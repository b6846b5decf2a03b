"""Lag of the ``flux_lagcorr`` readout: AUPRC ratio with lag 1, 2, 3 bins from the same default fits.

Usage (repository root, 2-core CPU dev machine)::

    OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks/accuracy nice -n 10 python \
        benchmarks/accuracy/lag_sweep.py beeline  # or: known

Writes /tmp/acc/lagpkg_<which>.csv (committed copies: results/beeline_lag_sweep.csv, known_truth_lag_sweep.csv).
"""

import sys
from pathlib import Path

import _common as c
import pandas as pd

import sparsenode as sn

c.one_thread()
which = sys.argv[1]
rows = []
if which == "beeline":
    it = ((name, r, sn.io.read_beeline(inp), c.LINEAGE_KEY) for name, r, inp, _ in c.replicates(reps=range(5)))
else:

    def gen():
        for s in range(5):
            yield "krumsiek11", s, sn.datasets.krumsiek11(), "lineage"
            yield "toy_grn_10", s, sn.datasets.toy_grn(n_genes=10, seed=s), "lineage"
            yield "toy_grn_50", s, sn.datasets.toy_grn(n_genes=50, seed=s), "lineage"

    it = gen()
for name, r, ad, lk in it:
    sn.tl.fit_pathreg(ad, time_key="time", lineage_key=lk, seed=r, progress_bar=False, device="cpu")
    g = list(map(str, ad.var_names))
    row = {"dataset": name, "replicate": r}
    for lag in (1, 2, 3):
        sn.tl.infer_grn(ad, mode="flux_lagcorr", lag=lag)
        row[f"lag{lag}"] = sn.bm.score(sn.get.grn(ad), ad.uns["true_network"], genes=g)["auprc_ratio"]
    rows.append(row)
    print(row, flush=True)
df = pd.DataFrame(rows)
Path("/tmp/acc").mkdir(parents=True, exist_ok=True)
df.to_csv(f"/tmp/acc/lagpkg_{which}.csv", index=False)
if which == "beeline":
    ref = pd.read_csv("benchmarks/accuracy/results/reference.csv")
    med = df.merge(ref, on=["dataset", "replicate"]).groupby("dataset", sort=False).median(numeric_only=True)
    bp = med[c.PEERS].max(axis=1)
    print(med[["lag1", "lag2", "lag3"]].round(2))
    for k in ("lag1", "lag2", "lag3"):
        print(
            k,
            {b: int((med[k] > med[b]).sum()) for b in ("pearson", "lagged_correlation", "ridge_derivative")},
            "peer",
            int((med[k] > bp).sum()),
            "all3",
            int(((med[k] > med.pearson) & (med[k] > med.lagged_correlation) & (med[k] > med.ridge_derivative)).sum()),
        )
else:
    print(df.groupby("dataset").agg(["mean", "min", "max"]).round(2))
