"""Regenerate the plot gallery (docs/gallery/*.png) from two PathReg fits of krumsiek11.

The network comes from a default fit (a 16-member ensemble by gradient matching, with edge confidence); the
trajectories and the knockout from a fit by multiple shooting, the kind the docs recommend for simulations (a
gradient-matched field's own trajectories can drift from the data).

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
import scanpy as sc

import sparsenode as sn

HERE = Path(__file__).resolve().parent
KNOCKOUT = "Gata1"
SIM_LAMBDA_PATH = 0.03  # the simulation fit of the quickstart tutorial
PATH_LAMBDAS = (0.01, 0.1, 1.0, 10.0, 30.0, 100.0, 300.0)  # gradient-matching strengths, as in the methods tutorial
START_TIME = 60.0  # the knockout starts from each lineage's observed state at this pseudotime
FIT = {"time_key": "time", "lineage_key": "lineage", "seed": 0, "progress_bar": False}


def fit(path_epochs: int) -> ad.AnnData:
    """Fit krumsiek11 and store everything the gallery plots read."""
    adata = sn.datasets.krumsiek11()
    sn.tl.fit_pathreg(adata, **FIT)  # defaults: the network with edge confidence
    sn.tl.infer_grn(adata)
    sn.tl.fit_pathreg(adata, lambda_path=SIM_LAMBDA_PATH, objective="shooting", key_added="sim", **FIT)
    add_perturbation(adata)
    add_regularization_path(adata, path_epochs)
    sc.pp.pca(adata, n_comps=5)
    sc.pp.neighbors(adata, n_neighbors=15, use_rep="X_pca", random_state=0)
    sc.tl.umap(adata, random_state=0)
    return adata


def add_perturbation(adata: ad.AnnData, key: str = "perturbation") -> None:
    """Knock out ``KNOCKOUT`` after the lineages have split (a shared progenitor start cannot choose a fate)."""
    sn.tl.simulate_knockout(adata, [KNOCKOUT], key="sim", start_time=START_TIME, key_added=key)


def add_regularization_path(adata: ad.AnnData, epochs: int, key: str = "regularization_path") -> None:
    """Fit a warm-started PathReg path over ``lambda_path``."""
    sn.tl.regularization_path(adata, lambdas=PATH_LAMBDAS, epochs_per_lambda=epochs, key_added=key, **FIT)


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
    save(sn.pl.trajectory_fit(adata, key="sim", start_time=START_TIME, show=False), "trajectory_fit")
    save(sn.pl.training_history(adata, key="sim", show=False), "training_history")
    save(sn.pl.perturbation(adata, show=False), "perturbation_lines")
    save(sn.pl.perturbation(adata, kind="heatmap", top_k=None, show=False), "perturbation_heatmap")
    save(sn.pl.perturbation_embedding(adata, show=False), "perturbation_embedding")
    save(sn.pl.regularization_path(adata, show=False), "regularization_path")


def main() -> None:
    """Parse the arguments, fit (or load the cache) and draw."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path-epochs", type=int, default=200, help="epochs per strength along the path")
    parser.add_argument("--cache", type=Path, default=None, help="h5ad file to reuse or to store the fits in")
    args = parser.parse_args()
    if args.cache is not None and args.cache.exists():
        adata = ad.read_h5ad(args.cache)
    else:
        adata = fit(args.path_epochs)
        if args.cache is not None:
            adata.write_h5ad(args.cache)
    draw(adata)


if __name__ == "__main__":
    main()
