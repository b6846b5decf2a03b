"""The fast paths: the grid integrator on CPU, and (on a GPU machine) CUDA-graph training against the eager loop."""

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

import sparsenode as sn
from sparsenode.module import get_method, make_field
from sparsenode.train import TrainConfig, solve, train
from sparsenode.train._grid import integrate_grid


def _linear(a):
    a = torch.as_tensor(a, dtype=torch.float64)
    return lambda t, y: y @ a.T


@pytest.mark.parametrize(("method", "substeps", "tol"), [("rk4", 1, 1e-6), ("midpoint", 4, 1e-4), ("euler", 50, 1e-2)])
def test_grid_integrator_matches_matrix_exponential(method, substeps, tol):
    a = np.array([[-1.0, 0.5, 0.0], [0.0, -0.5, 0.3], [0.2, 0.0, -0.8]])
    y0 = torch.tensor([[1.0, 0.5, -0.2]], dtype=torch.float64)
    out = integrate_grid(_linear(a), y0, 10, 0.1, method=method, substeps=substeps)
    assert out.shape == (11, 1, 3)
    exact = np.stack([scipy.linalg.expm(a * t) @ y0[0].numpy() for t in np.linspace(0, 1, 11)])
    np.testing.assert_allclose(out[:, 0].numpy(), exact, atol=tol)


def test_fixed_step_solve_uses_grid_and_agrees_with_adaptive():
    a = np.array([[-1.0, 0.8], [-0.8, -0.3]])
    y0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    t = torch.linspace(0, 2, 21, dtype=torch.float64)
    fixed = solve(_linear(a), y0, t, solver="rk4")
    adaptive = solve(_linear(a), y0, t, solver="dopri5", rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fixed.numpy(), adaptive.numpy(), atol=1e-5)
    # a step that does not divide the grid falls back to torchdiffeq and still agrees
    odd = solve(_linear(a), y0, t, solver="rk4", step_size=0.03)
    np.testing.assert_allclose(odd.numpy(), adaptive.numpy(), atol=5e-4)


@pytest.mark.parametrize("n_times", [30, 100, 1000])
def test_float32_bin_grid_runs_the_grid_integrator(monkeypatch, n_times):
    """A uniform grid stored in float32 (binned trajectories) is not mistaken for irregular times: the fixed-step
    solve must not fall back to torchdiffeq (slower, and not capturable in a CUDA graph)."""
    import sparsenode.train._solvers as solvers

    def no_fallback(*args, **kwargs):
        raise AssertionError("fell back to torchdiffeq on a uniform grid")

    monkeypatch.setattr(solvers, "odeint", no_fallback)
    t = torch.linspace(0, 1, n_times, dtype=torch.float32)
    y = solve(_linear(np.array([[-1.0]])), torch.ones(1, 1, dtype=torch.float64), t, solver="rk4")
    np.testing.assert_allclose(y[-1, 0, 0].item(), np.exp(-1.0), rtol=1e-5)


def test_grid_integrator_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown fixed-step method"):
        integrate_grid(lambda t, y: y, torch.ones(1), 2, 0.1, method="dopri5")
    with pytest.raises(ValueError, match="substeps"):
        integrate_grid(lambda t, y: y, torch.ones(1), 2, 0.1, substeps=0)


def _toy_arrays():
    adata = sn.datasets.toy_grn(n_genes=6, n_cells=400, seed=0)
    traj = sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineage", n_bins=16)
    return traj


def _fit_field(method_name, device, traj, **cfg):
    method = get_method(method_name)
    field = make_field(
        method, traj.n_genes, hidden=(16, 16), activation="softplus", n_members=2, decay=True, input_mask=None, seed=0
    ).to(device)
    config = TrainConfig(**{"max_epochs": 30, "solver": "rk4", "patience": None, **cfg})
    with sn._utils.seeded(0, torch.device(device)):
        hist = train(
            field, method, dict(method.lambdas), traj.values, traj.mask, traj.times, config, progress_bar=False
        )
    return field, hist


@pytest.mark.gpu
def test_cuda_graph_training_matches_eager_loop():
    traj = _toy_arrays()
    f_graph, h_graph = _fit_field("node", "cuda", traj, cuda_graphs=True)
    f_eager, h_eager = _fit_field("node", "cuda", traj, cuda_graphs=False)
    assert h_graph.get("cuda_graph") == 1 and "cuda_graph" not in h_eager
    assert len(h_graph["loss"]) == len(h_eager["loss"]) == 30
    np.testing.assert_allclose(h_graph["mse"], h_eager["mse"], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(h_graph["val_mse"], h_eager["val_mse"], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(h_graph["lr"], h_eager["lr"], rtol=1e-5)
    assert h_graph["best_epoch"] == h_eager["best_epoch"]
    for (k, a), b in zip(f_graph.state_dict().items(), f_eager.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4, msg=k)


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["pathreg", "grouplasso", "lassonet_inner"])
def test_cuda_graph_training_learns_and_restores_best(method):
    traj = _toy_arrays()
    _, hist = _fit_field(method, "cuda", traj, max_epochs=60)
    assert hist["cuda_graph"] == 1
    assert np.isfinite(hist["loss"]).all() and hist["mse"][-1] < hist["mse"][0]
    assert 0 <= hist["best_epoch"] < 60
    assert hist["val_mse"][hist["best_epoch"]] == pytest.approx(np.nanmin(hist["val_mse"]), rel=0.05)


@pytest.mark.gpu
def test_cuda_graph_early_stopping_and_nan():
    traj = _toy_arrays()
    _, hist = _fit_field("node", "cuda", traj, max_epochs=400, patience=5, lr=1e-4)
    assert hist["stopped"] in ("early_stopping", "max_epochs")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, hist = _fit_field("node", "cuda", traj, max_epochs=50, lr=1e6)
    if hist["stopped"] == "nan":
        assert any("best weights" in str(w.message) for w in caught)
        assert np.isfinite(hist["loss"]).all()


@pytest.mark.gpu
def test_fit_on_cuda_agrees_with_cpu_for_a_deterministic_method():
    adata = sn.datasets.toy_grn(n_genes=6, n_cells=400, seed=0)
    kw = dict(
        method="node",
        time_key="time",
        lineage_key="lineage",
        hidden=(16, 16),
        n_bins=16,
        max_epochs=20,
        solver="rk4",
        progress_bar=False,
    )
    cpu, gpu = adata.copy(), adata.copy()
    sn.tl.fit_node(cpu, device="cpu", **kw)
    sn.tl.fit_node(gpu, device="cuda", **kw)
    np.testing.assert_allclose(gpu.uns["node"]["history"]["mse"], cpu.uns["node"]["history"]["mse"], rtol=2e-3)
    np.testing.assert_allclose(gpu.uns["node"]["adjacency"], cpu.uns["node"]["adjacency"], rtol=1e-2, atol=1e-4)


@pytest.mark.parametrize("method", ["node", "pathreg", "grouplasso"])
def test_device_side_loop_matches_eager_loop_on_cpu(method):
    """The CUDA-graph loop's epoch body, run without capture, reproduces the eager loop (schedule, model selection,
    history, weights): what the GPU replays is checked here on every CI run."""
    from sparsenode.train import make_derivative_targets
    from sparsenode.train._graphs import train_graphed
    from sparsenode.train._trainer import _segment_mse, make_segments, split_bins

    traj = _toy_arrays()
    objective = "gradient" if method == "pathreg" else "shooting"  # both objectives go through the graphed loop
    config = TrainConfig(max_epochs=25, solver="rk4", patience=None, objective=objective)
    runs = []
    for graphed in (False, True):
        meth = get_method(method)
        field = make_field(
            meth, traj.n_genes, hidden=(8, 8), activation="softplus", n_members=2, decay=True, input_mask=None, seed=0
        )
        lambdas = dict(meth.lambdas)
        with sn._utils.seeded(0):
            if graphed:
                tr, va = split_bins(traj.mask, config.val_fraction, 0)
                cpu = torch.device("cpu")
                if objective == "gradient":
                    st = make_derivative_targets(traj.values, tr, tr, traj.times, config.smoothing, cpu)
                    sv = make_derivative_targets(traj.values, tr, va, traj.times, config.smoothing, cpu)
                else:
                    st = make_segments(traj.values, tr, tr, traj.times, config.segment_bins, cpu)
                    sv = make_segments(traj.values, tr, va, traj.times, config.segment_bins, cpu)
                hist = train_graphed(
                    field, meth, lambdas, st, sv, None, None, config, _segment_mse, progress_bar=False, capture=False
                )
            else:
                hist = train(field, meth, lambdas, traj.values, traj.mask, traj.times, config, progress_bar=False)
        runs.append((field, hist))
    (f_e, h_e), (f_g, h_g) = runs
    for k in ("loss", "mse", "val_mse", "lr", "sparsity"):
        np.testing.assert_allclose(h_g[k], h_e[k], rtol=1e-4, atol=1e-7, err_msg=k)
    assert h_g["best_epoch"] == h_e["best_epoch"]
    for (k, a), b in zip(f_g.state_dict().items(), f_e.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=k)


def test_sparse_binning_matches_dense_in_chunks():
    """Sparse .X is binned chunk by chunk without densifying it; result equals the dense path exactly."""
    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp

    from sparsenode.pp import _trajectories as T

    rng = np.random.default_rng(0)
    x = (rng.poisson(0.7, (900, 40)) - rng.integers(0, 2, (900, 40)) * 0.5).astype(np.float32)  # some negatives
    x[:, 3] = 2.0  # a column without implicit zeros
    x[rng.random((900, 40)) < 0.5] = 0.0
    obs = pd.DataFrame({"t": rng.random(900), "lin": pd.Categorical(rng.choice(["a", "b"], 900))})
    obs.loc[obs.index[:7], "t"] = np.nan  # rows dropped: the sparse path indexes rows
    obs.index = obs.index.astype(str)
    dense = ad.AnnData(x, obs=obs)
    sparse = ad.AnnData(sp.csr_matrix(x), obs=obs)
    genes = list(dense.var_names[::3])
    lo, hi = T._sparse_column_range(sp.csr_matrix(x), chunk_entries=37)
    np.testing.assert_array_equal(lo, x.min(0))
    np.testing.assert_array_equal(hi, x.max(0))
    kw = dict(time_key="t", lineage_key="lin", genes=genes, n_bins=12)
    with pytest.warns(UserWarning, match="dropping 7"):
        a = sn.pp.bin_trajectories(dense, **kw)
    with pytest.warns(UserWarning, match="dropping 7"):
        b = sn.pp.bin_trajectories(sparse, **kw)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert sp.issparse(sparse.X) and sparse.X.dtype == np.float32  # the user's matrix is untouched


def test_fixed_step_solver_on_irregular_cell_times_is_accurate_and_bounded():
    """Cells' pseudotimes have near-duplicate values: rk4 must not step at the smallest gap (millions of steps)."""
    from sparsenode.module import MLPField
    from sparsenode.train import solve

    torch.manual_seed(0)
    field = MLPField(4, hidden=(8,))
    t = torch.sort(torch.cat([torch.rand(60), torch.tensor([0.0, 0.5, 0.5 + 1e-7, 1.0])])).values
    y0 = torch.rand(1, 2, 4)
    field.n_evals = 0
    with torch.no_grad():
        rk4 = solve(field, y0, t, solver="rk4")
        ref = solve(field, y0, t, solver="dopri5", rtol=1e-7, atol=1e-8)
    assert rk4.shape == (64, 1, 2, 4)
    torch.testing.assert_close(rk4, ref, rtol=1e-4, atol=1e-5)
