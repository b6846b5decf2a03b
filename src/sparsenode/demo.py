"""``python -m sparsenode.demo``: fit PathReg on krumsiek11 and score the network against the truth.

This is what ``make demo`` runs. It writes the fitted AnnData and a plot of the network into ``--output``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns a process exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", default="demo_output", help="folder for the .h5ad and the plot")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import sparsenode as sn

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    adata = sn.datasets.krumsiek11()
    print(
        f"krumsiek11: {adata.n_obs} cells x {adata.n_vars} genes, lineages {list(adata.obs['lineage'].cat.categories)}"
    )
    t0 = time.perf_counter()
    sn.tl.fit_pathreg(
        adata,
        time_key="time",
        lineage_key="lineage",
        seed=args.seed,
        device=args.device,
        progress_bar=sys.stderr.isatty(),
    )
    sn.tl.infer_grn(adata, key="pathreg")
    seconds = time.perf_counter() - t0
    metrics = adata.uns["pathreg"]["metrics"]
    print(
        f"fitted PathReg in {seconds:.1f} s: train MSE {metrics['train_mse']:.4f}, "
        f"validation MSE {metrics['val_mse']:.4f}, feature sparsity {metrics['feature_sparsity']:.2f}"
    )

    edges = sn.get.grn(adata, key="pathreg")
    truth = adata.uns["true_network"]
    true_pairs = set(zip(truth["source"], truth["target"], strict=True))
    print("\ntop 15 edges (source -> target), * = in the true network:")
    for row in edges.head(15).itertuples():
        mark = "*" if (row.source, row.target) in true_pairs else " "
        kind = "activates" if row.sign > 0 else "represses"
        print(f"  {mark} {row.source:>7} {kind:>9} {row.target:<7} {row.weight:+.3f}")

    genes = list(map(str, adata.var_names))
    ours = sn.bm.score(edges, truth, genes=genes)
    corr = sn.bm.pearson_grn(adata)
    base = sn.bm.score(corr, truth, genes=genes)
    print(
        f"\nagainst the true network ({ours['n_true_edges']} edges without self-loops, density {ours['density']:.3f}):"
    )
    print(f"  {'method':<22}{'AUROC':>8}{'AUPRC':>8}{'AUPRC ratio':>13}")
    for name, s in (("PathReg (sparsenode)", ours), ("|Pearson correlation|", base)):
        print(f"  {name:<22}{s['auroc']:>8.3f}{s['auprc']:>8.3f}{s['auprc_ratio']:>13.2f}")

    path = out / "krumsiek11_pathreg.h5ad"
    adata.write_h5ad(path)
    ax = sn.pl.adjacency(adata, key="pathreg", cluster=False, show=False)
    fig = ax.figure if hasattr(ax, "figure") else plt.gcf()
    fig.savefig(out / "adjacency.png", dpi=120, bbox_inches="tight")
    plt.close("all")
    print(f"\nwrote {path} and {out / 'adjacency.png'}")
    return 0 if np.isfinite(ours["auprc_ratio"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
