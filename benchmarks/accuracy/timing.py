"""Wall time of a default PathReg fit with edge confidence (its default ensemble) on one BEELINE replicate.

Usage (repository root, 2-core CPU dev machine)::

    OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks/accuracy nice -n 10 python benchmarks/accuracy/timing.py \
        [--dataset dyn-LI] [--replicate 0] [--members M] [--bootstrap]

Prints the seconds of ``sn.tl.fit_pathreg(...)`` (defaults: a 16-member ensemble on these small systems; or
``n_members=M``, ``bootstrap=True``) plus ``sn.tl.infer_grn``, the AUPRC
ratio of the ensemble network and its ten most frequently selected edges.
"""

from __future__ import annotations

import argparse
import time

import _common as c

import sparsenode as sn


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="dyn-LI")
    p.add_argument("--replicate", type=int, default=0)
    p.add_argument("--members", type=int, default=None, help="ensemble size (default: the package default)")
    p.add_argument("--bootstrap", action="store_true")
    a = p.parse_args()
    c.one_thread()
    (_, _, inp, _), *_ = c.replicates([a.dataset], [a.replicate])
    adata = sn.io.read_beeline(inp)
    t0 = time.perf_counter()
    sn.tl.fit_pathreg(
        adata, time_key="time", lineage_key=c.LINEAGE_KEY, n_members=a.members, bootstrap=a.bootstrap,
        progress_bar=False, device="cpu",
    )  # fmt: skip
    sn.tl.infer_grn(adata)
    sec = time.perf_counter() - t0
    edges = sn.get.grn(adata)
    res = sn.bm.score(edges, adata.uns["true_network"], genes=list(map(str, adata.var_names)))
    members = adata.uns["pathreg"]["params"]["n_members"]
    print(f"{a.dataset} replicate {a.replicate}: {adata.n_obs} cells x {adata.n_vars} genes, {members} members")
    print(f"fit + infer_grn: {sec:.1f} s; AUPRC ratio {res['auprc_ratio']:.2f}")
    print(edges.sort_values("frequency", ascending=False).head(10).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
