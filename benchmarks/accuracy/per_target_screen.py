"""Screen per-target normalisations of the default network on cached default fits (how ``per_target`` was chosen).

Usage (repository root, 2-core CPU dev machine)::

    OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks/accuracy nice -n 10 python benchmarks/accuracy/per_target_screen.py \
        [--which known,beeline] [--cache /tmp/acc/fits_pt] [--out results/per_target_screen.csv]

Fits ``sn.tl.fit_pathreg`` with defaults once per seed (0-4) of krumsiek11 and toy_grn (10, 50 genes) and per BEELINE
replicate (0-4), caches the AnnData, reads the network with ``infer_grn(per_target=False)`` (the ranking before the
per-target step) and scores transforms of its absolute weights ``M`` ([source, target], self-loops out):

- ``global``: ``M`` itself; ``row`` / ``col`` / ``clr``: CLR's clipped z-scores per source, per target, or both
  (``sqrt(z_row^2 + z_col^2)``); ``colmax``: each target's column divided by its largest entry;
- ``g+<w>colz`` / ``g+<w>colmax`` / ``g+<w>colrank``: the global rank plus ``w`` times the rank of the per-target
  clipped z-score / column maximum / rank within the target (``g+1colz`` is ``infer_grn``'s ``per_target=True``).

Prints the mean AUPRC and AP ratios on the known-truth sets and, on BEELINE, how many data sets each transform wins
against the three baselines and the best of the 12 peers (medians over replicates) and the geometric mean of the
ratio to the best peer. Last, the edge confidence with and without ``per_target``: the share of the default
network's ``n_genes`` strongest edges that fewer than half of the members select (``frequency < 0.5``), and the AUPRC
ratio of the ``frequency`` itself as a ranking.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common as c
import anndata as ad
import numpy as np
import pandas as pd
from readout_screen import KNOWN, jobs

import sparsenode as sn
from sparsenode.tl._grn import _average_ranks


def confidence(adata) -> dict:
    """Edge confidence of the default network with the members selecting per target (``per_target=True``) or
    globally (``False``): share of the strongest ``n_genes`` edges with frequency < 0.5, AUPRC ratio of frequency."""
    genes = list(map(str, adata.var_names))
    d = len(genes)
    off = ~np.eye(d, dtype=bool)
    out = {}
    sn.tl.infer_grn(adata)
    top = np.argsort(-np.abs(np.asarray(adata.varp["pathreg_grn"]))[off])[:d]
    for label, per_target in (("per_target", True), ("global", False)):
        sn.tl.infer_grn(adata, per_target=per_target)
        freq = np.asarray(adata.uns["pathreg"]["grn"]["frequency"], dtype=np.float64)
        out[f"top_low_frequency_{label}"] = float((freq[off][top] < 0.5).mean())
        frame = pd.DataFrame(freq, index=genes, columns=genes)
        score = sn.bm.score(frame, adata.uns["true_network"], genes=genes)
        out[f"frequency_auprc_ratio_{label}"] = score["auprc_ratio"]
    return out


def global_network(cache: Path, name, seed, lineage_key, load) -> tuple[np.ndarray, ad.AnnData]:
    f = cache / f"{name}_{seed}.h5ad"
    if f.is_file():
        adata = ad.read_h5ad(f)
    else:
        adata = load()
        t0 = time.perf_counter()
        sn.tl.fit_pathreg(
            adata, time_key="time", lineage_key=lineage_key, seed=seed, progress_bar=False, device="cpu"
        )  # fmt: skip
        print(f"fitted {name} {seed} in {time.perf_counter() - t0:.1f} s", flush=True)
        cache.mkdir(parents=True, exist_ok=True)
        adata.write_h5ad(f)
    sn.tl.infer_grn(adata, per_target=False)
    m = np.abs(np.asarray(adata.varp["pathreg_grn"], dtype=np.float64))
    np.fill_diagonal(m, np.nan)
    return m, adata


def _rank(m):
    out = np.full(m.shape, np.nan)
    ok = ~np.isnan(m)
    out[ok] = _average_ranks(m[ok]) / ok.sum()
    return out


def _z(m, axis):
    return np.clip((m - np.nanmean(m, axis, keepdims=True)) / (np.nanstd(m, axis, keepdims=True) + 1e-12), 0, None)


def _colmax(m):
    return m / np.nanmax(m, 0, keepdims=True)


def _colrank(m):
    out = np.full(m.shape, np.nan)
    for j in range(m.shape[1]):
        ok = ~np.isnan(m[:, j])
        out[ok, j] = _average_ranks(m[ok, j]) / ok.sum()
    return out


def transforms() -> dict:
    t = {
        "global": lambda m: m,
        "row": lambda m: _z(m, 1),
        "col": lambda m: _z(m, 0),
        "clr": lambda m: np.sqrt(_z(m, 0) ** 2 + _z(m, 1) ** 2),
        "colmax": lambda m: _colmax(m) + 1e-3 * _rank(m),
    }
    per_target = {"colz": lambda m: _z(m, 0), "colmax": _colmax, "colrank": _colrank}
    for w in (0.5, 1.0, 2.0):
        for name, f in per_target.items():
            t[f"g+{w:g}{name}"] = lambda m, w=w, f=f: _rank(m) + w * _rank(f(m) + 1e-6 * _rank(m))
    return t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--which", default="known,beeline")
    p.add_argument("--cache", default="/tmp/acc/fits_pt")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    c.one_thread()
    rows, conf = [], []
    for name, seed, lineage_key, load in jobs(a.which.split(",")):
        m, adata = global_network(Path(a.cache), name, seed, lineage_key, load)
        conf.append({"dataset": name, "seed": seed, **confidence(adata)})
        genes = list(map(str, adata.var_names))
        for t, f in transforms().items():
            w = pd.DataFrame(np.nan_to_num(f(m), nan=0.0), index=genes, columns=genes)
            s = sn.bm.score(w, adata.uns["true_network"], genes=genes)
            rows.append({"dataset": name, "seed": seed, "transform": t, "auprc_ratio": s["auprc_ratio"],
                         "ap_ratio": s["ap_ratio"]})  # fmt: skip
    df = pd.DataFrame(rows)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(a.out, index=False)
    known = df[df.dataset.isin(KNOWN)]
    if len(known):
        print(known.pivot_table(index="transform", columns="dataset", values=["auprc_ratio", "ap_ratio"]).round(2))
    bee = df[~df.dataset.isin(KNOWN)]
    if len(bee):
        ref = c.reference_table().groupby("dataset").median(numeric_only=True)
        best = ref[c.PEERS].max(axis=1)
        out = []
        for t, g in bee.groupby("transform", sort=False):
            med = g.groupby("dataset").auprc_ratio.median()
            row = {"transform": t}
            for b in ("pearson", "lagged_correlation", "ridge_derivative"):
                row[b] = int((med > ref.loc[med.index, b]).sum())
            row["best_peer"] = int((med > best.loc[med.index]).sum())
            row["geo_to_best"] = float(np.exp(np.log(med / best.loc[med.index]).mean()))
            out.append(row)
        print(pd.DataFrame(out).round(3).to_string(index=False))
    print(pd.DataFrame(conf).groupby("dataset").mean(numeric_only=True).drop(columns="seed").round(3).to_string())


if __name__ == "__main__":
    main()
