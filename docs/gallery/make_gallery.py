"""Regenerate the plot gallery (docs/gallery/*.png) from a PathReg fit of krumsiek11.

Usage::

    python docs/gallery/make_gallery.py                 # fit (a few minutes on a CPU) and draw
    python docs/gallery/make_gallery.py --cache fit.h5ad  # reuse the fits stored in fit.h5ad, or store them there
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import scanpy as sc

import sparsenode as sn

HERE = Path(__file__).resolve().parent
KNOCKOUT = "Gata1"
LAMBDA_PATH = 5e-3  # prunes about half of the possible regulators of this small system within 300 epochs
START_TIME = 60.0  # the knockout starts from each lineage's observed state at this pseudotime
FIT = {"time_key": "time", "lineage_key": "lineage", "hidden": (16, 16), "progress_bar": False}


def fit(epochs: int, path_epochs: int, n_lambdas: int) -> ad.AnnData:
    """Fit krumsiek11 and store everything the gallery plots read."""
    adata = sn.datasets.krumsiek11()
    sn.tl.fit_pathreg(adata, lambda_path=LAMBDA_PATH, max_epochs=epochs, **FIT)
    sn.tl.infer_grn(adata)
    add_perturbation(adata)
    add_regularization_path(adata, path_epochs, n_lambdas)
    sc.pp.pca(adata, n_comps=5)
    sc.pp.neighbors(adata, n_neighbors=15, use_rep="X_pca", random_state=0)
    sc.tl.umap(adata, random_state=0)
    return adata


def add_perturbation(adata: ad.AnnData, key: str = "perturbation") -> None:
    """Knock out ``KNOCKOUT`` after the lineages have split (a shared progenitor start cannot choose a fate)."""
    sn.tl.simulate_knockout(adata, [KNOCKOUT], key="pathreg", start_time=START_TIME, key_added=key)


def add_regularization_path(adata: ad.AnnData, epochs: int, n_lambdas: int, key: str = "regularization_path") -> None:
    """Fit a warm-started PathReg path over ``lambda_path``."""
    sn.tl.regularization_path(adata, lambdas=np.logspace(-4, -1, n_lambdas), epochs_per_lambda=epochs,
                              key_added=key, **FIT)


def save(obj, name: str) -> None:
    """Save a returned Axes, Figure or seaborn grid as ``docs/gallery/<name>.png``."""
    fig = getattr(obj, "figure", obj)
    fig.savefig(HERE / f"{name}.png", dpi=110, bbox_inches="tight")
    plt.close("all")
    print("wrote", HERE / f"{name}.png")


def draw(adata: ad.AnnData) -> None:
    """Draw every gallery image."""
    save(sn.pl.regulatory_graph(adata, top_k=25, show=False), "regulatory_graph")
    save(sn.pl.regulatory_graph(adata, top_k=25, layout="hierarchical", show=False), "regulatory_graph_hierarchical")
    save(sn.pl.adjacency(adata, show=False), "adjacency")
    save(sn.pl.trajectory_fit(adata, show=False), "trajectory_fit")
    save(sn.pl.training_history(adata, show=False), "training_history")
    save(sn.pl.perturbation(adata, show=False), "perturbation_lines")
    save(sn.pl.perturbation(adata, kind="heatmap", top_k=None, show=False), "perturbation_heatmap")
    save(sn.pl.perturbation_embedding(adata, show=False), "perturbation_embedding")
    save(sn.pl.regularization_path(adata, show=False), "regularization_path")


def main() -> None:
    """Parse the arguments, fit (or load the cache) and draw."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300, help="epochs of the main fit")
    parser.add_argument("--path-epochs", type=int, default=150, help="epochs per strength along the path")
    parser.add_argument("--n-lambdas", type=int, default=7, help="penalty strengths along the path")
    parser.add_argument("--cache", type=Path, default=None, help="h5ad file to reuse or to store the fits in")
    args = parser.parse_args()
    if args.cache is not None and args.cache.exists():
        adata = ad.read_h5ad(args.cache)
    else:
        adata = fit(args.epochs, args.path_epochs, args.n_lambdas)
        if args.cache is not None:
            adata.write_h5ad(args.cache)
    draw(adata)


if __name__ == "__main__":
    main()
