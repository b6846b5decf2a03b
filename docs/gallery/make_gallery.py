"""Regenerate the plot gallery (docs/gallery/*.png) from a PathReg fit of krumsiek11.

Usage::

    python docs/gallery/make_gallery.py                 # fit (a few minutes on a CPU) and draw
    python docs/gallery/make_gallery.py --cache fit.h5ad  # reuse the fits stored in fit.h5ad, or store them there

The perturbation and the regularisation path use ``sn.tl.perturb`` and ``sn.tl.regularization_path`` where the
installed sparsenode has them; otherwise this script builds the same tables from the fitted model (a knockout
simulated with ``SparseNODE.predict(clamp=...)``) and from a few short fits at increasing penalty.
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
LAMBDA_PATH = 5e-3  # the default (5e-2) prunes every edge of this small system within 300 epochs
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
    """Knock out ``KNOCKOUT`` in the fitted model; store the results the way ``sn.tl.perturb`` does."""
    if hasattr(sn.tl, "perturb"):
        sn.tl.perturb(adata, genes=[KNOCKOUT], mode="knockout", key="pathreg", key_added=key)
        return
    model = sn.SparseNODE.from_adata(adata, key="pathreg", device="cpu")
    traj = adata.uns["pathreg"]["trajectories"]
    offset, scale = np.asarray(traj["offset"]), np.asarray(traj["scale"])
    wildtype = model.predict() * scale + offset
    ko = model.var_names.index(KNOCKOUT)
    perturbed = model.predict(clamp={KNOCKOUT: -offset[ko] / scale[ko]})  # expression 0 on the model's scale
    perturbed = perturbed * scale + offset
    times = np.asarray(traj["times"], dtype=np.float32)
    t0, t1 = np.asarray(traj["time_range"], dtype=float)
    lineages = np.asarray(traj["lineages"]).astype(str)
    delta = (perturbed - wildtype).astype(np.float32)
    adata.uns[key] = {
        "params": {"fit_key": "pathreg", "mode": "knockout", "genes": np.array([KNOCKOUT])},
        "times": times,
        "pseudotime": (t0 + times * (t1 - t0)).astype(np.float32),
        "lineages": lineages,
        "var_names": np.asarray(model.var_names),
        "wildtype": wildtype.astype(np.float32),
        "perturbed": perturbed.astype(np.float32),
        "delta": delta,
        "log_fold_change": np.log2((np.clip(perturbed, 0, None) + 0.1) / (np.clip(wildtype, 0, None) + 0.1)),
    }
    # per cell: the mean change over genes in the cell's lineage and nearest time bin
    t_norm = (adata.obs["time"].to_numpy(float) - t0) / max(t1 - t0, 1e-12)
    bins = np.abs(t_norm[:, None] - times[None, :]).argmin(axis=1)
    lin = np.array([list(lineages).index(x) for x in adata.obs["lineage"].astype(str)])
    mask = np.asarray(traj["mask"], dtype=bool)
    effect = delta.mean(axis=2)[lin, bins]
    adata.obs[f"{key}_effect"] = np.where(mask[lin, bins], effect, np.nan)


def add_regularization_path(adata: ad.AnnData, epochs: int, n_lambdas: int, key: str = "regularization_path") -> None:
    """Fit a short PathReg path over ``lambda_path``; store it the way ``sn.tl.regularization_path`` does."""
    lambdas = np.logspace(-3, -1, n_lambdas)
    if hasattr(sn.tl, "regularization_path"):
        sn.tl.regularization_path(adata, lambdas=lambdas, max_epochs=epochs, key_added=key, **FIT)
        return
    rows = []
    for lam in lambdas:
        tmp = sn.datasets.krumsiek11()
        sn.tl.fit_pathreg(tmp, lambda_path=float(lam), max_epochs=epochs, **FIT)
        rows.append(tmp.uns["pathreg"]["metrics"])
    val = np.array([r["val_mse"] for r in rows])
    best = int(np.argmin(val))
    # the sparsest fit whose validation error is within 10 % of the best
    ok = [i for i in range(len(rows)) if val[i] <= 1.1 * val[best]]
    rec = max(ok, key=lambda i: (rows[i]["feature_sparsity"], lambdas[i]))
    adata.uns[key] = {
        "lambdas": lambdas,
        "train_mse": np.array([r["train_mse"] for r in rows]),
        "val_mse": val,
        "feature_sparsity": np.array([r["feature_sparsity"] for r in rows]),
        "weight_sparsity": np.array([r["weight_sparsity"] for r in rows]),
        "recommended": float(lambdas[rec]),
        "method": "pathreg",
    }


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
    parser.add_argument("--path-epochs", type=int, default=300, help="epochs of each fit along the path")
    parser.add_argument("--n-lambdas", type=int, default=5, help="penalty strengths along the path")
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
