"""The user's whole workflow with the fit on a GPU (run with ``pytest -m gpu`` on a machine with CUDA).

A biologist fits on a GPU workstation and reads, perturbs and shares the result anywhere: the default fit (a batched
ensemble, gradient matching, CUDA graphs), the network with edge confidence, pruning, a strength sweep, knockouts,
and an h5ad that rebuilds on a machine without a GPU.
"""

import warnings

import numpy as np
import pytest
from anndata import read_h5ad

import sparsenode as sn

pytestmark = pytest.mark.gpu

KW = dict(time_key="time", lineage_key="lineage", n_bins=16, max_epochs=60, progress_bar=False)


@pytest.fixture
def gpu_fit():
    adata = sn.datasets.toy_grn(n_genes=6, n_cells=400, seed=0)
    sn.tl.fit_pathreg(adata, device="cuda", **KW)
    return adata


def test_default_ensemble_fit_on_cuda_reads_out_and_rebuilds_on_cpu(gpu_fit, tmp_path):
    res = gpu_fit.uns["pathreg"]
    assert res["params"]["n_members"] == 16  # the default ensemble on few genes
    assert res["history"].get("cuda_graph") == 1
    assert np.isfinite(res["history"]["loss"]).all() and res["history"]["mse"][-1] < res["history"]["mse"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sn.tl.infer_grn(gpu_fit, key="pathreg")
    edges = sn.get.grn(gpu_fit, key="pathreg")
    assert {"frequency", "sign_agreement"} <= set(edges.columns) and len(edges) > 0
    path = tmp_path / "gpu_fit.h5ad"
    gpu_fit.write_h5ad(path)
    back = read_h5ad(path)
    cpu_model = sn.SparseNODE.from_adata(back, key="pathreg", device="cpu")
    gpu_model = sn.SparseNODE.from_adata(gpu_fit, key="pathreg", device="cuda")
    assert not next(cpu_model.field.parameters()).is_cuda
    traj = cpu_model.trajectories
    x0 = traj.values[:, 0]
    times = traj.times
    np.testing.assert_allclose(cpu_model.simulate(x0, times), gpu_model.simulate(x0, times), rtol=1e-3, atol=1e-4)


def test_bootstrap_ensemble_and_shooting_fit_on_cuda():
    adata = sn.datasets.toy_grn(n_genes=6, n_cells=400, seed=1)
    sn.tl.fit_pathreg(adata, device="cuda", n_members=4, bootstrap=True, **KW)
    assert adata.uns["pathreg"]["params"]["n_members"] == 4
    sn.tl.fit_node(adata, method="grouplasso", device="cuda", objective="shooting", solver="rk4", **KW)
    hist = adata.uns["grouplasso"]["history"]
    assert hist.get("cuda_graph") == 1 and np.isfinite(hist["loss"]).all()


def test_prune_path_and_knockout_after_a_cuda_fit(gpu_fit):
    sn.tl.prune(gpu_fit, "pathreg", threshold="auto", refit_epochs=30, device="cuda", progress_bar=False)
    assert "pathreg_pruned" in gpu_fit.uns
    path_kw = {k: KW[k] for k in ("time_key", "lineage_key", "n_bins", "progress_bar")}
    sn.tl.regularization_path(gpu_fit, lambdas=[1e-3, 1e-2], epochs_per_lambda=20, device="cuda", **path_kw)
    assert len(gpu_fit.uns["regularization_path"]["lambdas"]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sn.tl.simulate_knockout(gpu_fit, [gpu_fit.var_names[0]], key="pathreg", key_added="ko")
    assert np.isfinite(np.asarray(gpu_fit.uns["ko"]["delta"], dtype=float)).all()
