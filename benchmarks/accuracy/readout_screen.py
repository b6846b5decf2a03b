"""Screen readouts of ``infer_grn`` on cached default fits: weighted means of normalised ranks of named parts.

Usage (repository root, 2-core CPU dev machine)::

    OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks/accuracy nice -n 10 python benchmarks/accuracy/readout_screen.py \
        "F+lc1,F*2+lc1+lc2+pl1+pl2+dir1" [--which known,beeline] [--members 1] [--n-bins 30] [--cache /tmp/acc/fits] \
        [--out results/readout_screen.csv]

Fits ``sn.tl.fit_pathreg`` with defaults once per BEELINE replicate (0-4) and per seed (0-4) of krumsiek11 and
toy_grn (10, 50 genes), caches the AnnData in ``--cache`` and scores each spec. A spec ``"F*2+lc1+dir1"`` is the
weighted mean (weights after ``*``, default 1) of the normalised ranks of its parts, masked where the fit pruned the
edge and averaged over ensemble members, exactly as ``infer_grn`` combines them. Parts: ``F`` the flux; ``J`` the
mean absolute Jacobian; ``lc<l>`` the lagged |correlation| at lag ``l`` (0-3) pooled over lineages; ``pl<l>`` the same
within lineages; ``dir<l>`` the lead ``lc<l> - lc<l>.T``. ``flux_lagens`` (the default) is ``F*2+lc1+lc2+pl1+pl2+dir1``;
``flux_lagcorr`` is ``F+lc1``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common as c
import anndata as ad
import numpy as np
import pandas as pd

import sparsenode as sn
from sparsenode.tl._grn import _bin_correlation, _jacobian_and_flux, _ranks

KNOWN = ("krumsiek11", "toy_grn_10", "toy_grn_50")


def jobs(which):
    if "known" in which:
        for s in range(5):
            yield "krumsiek11", s, "lineage", lambda: sn.datasets.krumsiek11()
            yield "toy_grn_10", s, "lineage", lambda s=s: sn.datasets.toy_grn(n_genes=10, seed=s)
            yield "toy_grn_50", s, "lineage", lambda s=s: sn.datasets.toy_grn(n_genes=50, seed=s)
    if "beeline" in which:
        for name, r, inp, _ in c.replicates(reps=range(5)):
            yield name, r, c.LINEAGE_KEY, lambda inp=inp: sn.io.read_beeline(inp)


def cached_fit(cache: Path, name, seed, lineage_key, load, members, n_bins) -> ad.AnnData:
    suffix = "" if n_bins == 30 else f"b{n_bins}"
    f = cache / f"{name}_{seed}_m{members}{suffix}.h5ad"
    if f.is_file():
        return ad.read_h5ad(f)
    adata = load()
    t0 = time.perf_counter()
    sn.tl.fit_pathreg(
        adata, time_key="time", lineage_key=lineage_key, seed=seed, n_members=members, bootstrap=members > 1,
        n_bins=n_bins, progress_bar=False, device="cpu",
    )  # fmt: skip
    print(f"fitted {name} {seed} in {time.perf_counter() - t0:.1f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(f)
    return adata


def parts(model) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    shared = {}
    for lag in range(0, 4):
        shared[f"lc{lag}"] = _bin_correlation(model, lag)
        if lag > 0:
            shared[f"pl{lag}"] = _bin_correlation(model, lag, per_lineage=True)
            shared[f"dir{lag}"] = shared[f"lc{lag}"] - shared[f"lc{lag}"].T
    stats = _jacobian_and_flux(model, "data", flux=True)  # per member: mean |Jacobian| and flux in one pass
    return shared, stats["flux"], stats["mean_abs"], model.adjacency(members=True)


def score_spec(spec, shared, flux, abs_j, adj, off):
    nets = []
    for m in range(flux.shape[0]):
        named = {**shared, "F": flux[m], "J": abs_j[m]}
        total, wsum = 0.0, 0.0
        for term in spec.split("+"):
            name, _, w = term.partition("*")
            w = float(w) if w else 1.0
            total, wsum = total + w * _ranks(named[name], off), wsum + w
        keep = np.abs(adj[m]) / max(np.abs(adj[m]).max(), 1e-12) > 1e-3
        nets.append(np.where(keep, total / wsum, 0.0))
    return np.mean(nets, axis=0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("specs")
    p.add_argument("--which", default="known,beeline")
    p.add_argument("--members", type=int, default=1)
    p.add_argument("--n-bins", type=int, default=30)
    p.add_argument("--cache", default="/tmp/acc/fits")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    c.one_thread()
    specs = a.specs.split(",")
    rows = []
    for name, seed, lk, load in jobs(a.which.split(",")):
        adata = cached_fit(Path(a.cache), name, seed, lk, load, a.members, a.n_bins)
        model = sn.SparseNODE.from_adata(adata, device="cpu")
        shared, flux, abs_j, adj = parts(model)
        off = ~np.eye(model.n_genes, dtype=bool)
        genes = list(map(str, model.var_names))
        row = {"dataset": name, "replicate": seed}
        for spec in specs:
            net = pd.DataFrame(score_spec(spec, shared, flux, abs_j, adj, off), index=genes, columns=genes)
            truth = adata.uns["true_network"]
            row[spec] = sn.bm.score(net, truth, genes=list(map(str, adata.var_names)))["auprc_ratio"]
        rows.append(row)
    df = pd.DataFrame(rows)
    if a.out:
        df.to_csv(a.out, index=False)
    pd.set_option("display.width", 250)
    known, bee = df[df.dataset.isin(KNOWN)], df[~df.dataset.isin(KNOWN)]
    if len(known):
        print(known.groupby("dataset")[specs].mean().round(2).T.to_string())
    if len(bee):
        both = bee.merge(c.reference_table(), on=["dataset", "replicate"])
        med = both.groupby("dataset", sort=False).median(numeric_only=True)
        peer = med[c.PEERS].max(axis=1)
        print(med[specs].round(2).T.to_string())
        for k in specs:
            wins = [int((med[k] > med[b]).sum()) for b in ("pearson", "lagged_correlation", "ridge_derivative")]
            gm = float(np.exp(np.mean(np.log(med[k] / peer))))
            n_peer = int((med[k] > peer).sum())
            print(f"{k}: beats pearson/lagged/ridge {wins}, best peer {n_peer}, geo-mean/peer {gm:.3f}")


if __name__ == "__main__":
    main()
