import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from anndata import AnnData, read_h5ad

import sparsenode as sn

FAST = dict(max_epochs=4, hidden=(8, 8), n_bins=12, progress_bar=False)


def _fit(adata, **kw):
    sn.tl.fit_pathreg(adata, **{"time_key": "time", "lineage_key": "lineage", **FAST, **kw})


def test_fit_writes_documented_fields(toy):
    _fit(toy)
    res = toy.uns["pathreg"]
    for k in ("params", "var_names", "adjacency", "state_dict", "history", "trajectories", "metrics"):
        assert k in res
    assert res["adjacency"].dtype == np.float32 and res["adjacency"].shape == (6, 6)
    assert list(res["var_names"]) == list(toy.var_names)
    assert res["params"]["method"] == "pathreg" and res["params"]["time_key"] == "time"
    assert len(res["history"]["loss"]) == 4
    assert 0.0 <= res["metrics"]["feature_sparsity"] <= 1.0


def test_h5ad_round_trip_keeps_every_key(toy, tmp_path):
    _fit(toy)
    sn.tl.infer_grn(toy, key="pathreg")
    path = tmp_path / "fit.h5ad"
    toy.write_h5ad(path)
    back = read_h5ad(path)

    def keys(d, prefix=""):
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict):
                out |= keys(v, prefix + k + "/")
        return out

    assert keys(back.uns["pathreg"]) == keys(toy.uns["pathreg"])
    np.testing.assert_array_equal(back.varp["pathreg_grn"], toy.varp["pathreg_grn"])
    # the model rebuilt from the file predicts exactly what the original does
    a = sn.SparseNODE.from_adata(toy, device="cpu").predict()
    b = sn.SparseNODE.from_adata(back, device="cpu").predict()
    np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(sn.get.grn(back), sn.get.grn(toy))


def test_infer_grn_signed_network_and_get(toy):
    _fit(toy)
    sn.tl.infer_grn(toy, key="pathreg", mode="jacobian")
    w = toy.varp["pathreg_grn"]
    assert w.shape == (toy.n_vars, toy.n_vars)
    edges = sn.get.grn(toy)
    assert list(edges.columns[:4]) == ["source", "target", "weight", "sign"]
    assert (edges["source"] != edges["target"]).all()
    assert np.all(np.diff(edges["weight"].abs().to_numpy()) <= 1e-12)
    assert set(edges["sign"]) <= {-1, 1}
    # rows are sources: the weight of a->b is varp[a, b]
    r = edges.iloc[0]
    i, j = toy.var_names.get_loc(r.source), toy.var_names.get_loc(r.target)
    assert np.isclose(w[i, j], r.weight)
    with pytest.raises(ValueError, match="mode"):
        sn.tl.infer_grn(toy, key="pathreg", mode="bogus")


def test_copy_true_leaves_input_untouched(toy):
    before = toy.copy()
    out = sn.tl.fit_pathreg(toy, time_key="time", lineage_key="lineage", copy=True, **FAST)
    assert "pathreg" in out.uns and "pathreg" not in toy.uns
    assert set(toy.uns) == set(before.uns)
    g = sn.tl.infer_grn(out, key="pathreg", copy=True)
    assert "pathreg_grn" in g.varp and "pathreg_grn" not in out.varp


def test_repeatable_with_seed_and_global_rng_untouched(toy):
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a, b = toy.copy(), toy.copy()
    _fit(a, seed=3)
    _fit(b, seed=3)
    np.testing.assert_array_equal(a.uns["pathreg"]["adjacency"], b.uns["pathreg"]["adjacency"])
    for k in a.uns["pathreg"]["state_dict"]:
        np.testing.assert_array_equal(a.uns["pathreg"]["state_dict"][k], b.uns["pathreg"]["state_dict"][k])
    assert torch.equal(torch.random.get_rng_state(), state)


def test_sparse_and_dense_input_give_the_same_fit(toy):
    s = toy.copy()
    s.X = sp.csr_matrix(s.X)
    _fit(toy)
    _fit(s)
    np.testing.assert_allclose(
        s.uns["pathreg"]["trajectories"]["values"], toy.uns["pathreg"]["trajectories"]["values"], atol=1e-6
    )
    np.testing.assert_allclose(s.uns["pathreg"]["adjacency"], toy.uns["pathreg"]["adjacency"], atol=1e-5)


def test_genes_and_layer(toy):
    toy.layers["counts"] = toy.X * 2
    _fit(toy, genes=["g0", "g1", "g2"], layer="counts")
    assert list(toy.uns["pathreg"]["var_names"]) == ["g0", "g1", "g2"]
    sn.tl.infer_grn(toy)
    w = toy.varp["pathreg_grn"]
    assert np.all(w[3:] == 0) and np.all(w[:, 3:] == 0)


def test_constant_gene_gives_no_nan(toy):
    toy.X[:, 2] = 1.5
    _fit(toy)
    assert np.isfinite(toy.uns["pathreg"]["adjacency"]).all()
    assert np.isfinite(toy.uns["pathreg"]["trajectories"]["values"]).all()


# ---- bad input -------------------------------------------------------------------------------------------------
def test_missing_time_key_lists_columns_and_suggests_dpt(toy):
    with pytest.raises(KeyError, match=r"dpt_pseudotime.*available: 'time', 'lineage'.*sc\.tl\.dpt"):
        sn.tl.fit_pathreg(toy, lineage_key="lineage", **FAST)


def test_nan_time_is_dropped_with_warning_and_all_nan_is_an_error(toy):
    toy.obs.loc[toy.obs_names[:5], "time"] = np.nan
    toy.obs.loc[toy.obs_names[5], "time"] = np.inf
    with pytest.warns(UserWarning, match="dropping 6 cell"):
        _fit(toy)
    assert "pathreg" in toy.uns
    bad = toy.copy()
    bad.obs["time"] = np.nan
    with pytest.raises(ValueError, match="no finite values"):
        _fit(bad)


def test_unknown_genes(toy):
    with pytest.raises(KeyError, match="not in adata.var_names.*'nope'"):
        _fit(toy, genes=["g0", "nope"])


def test_missing_layer(toy):
    with pytest.raises(KeyError, match="no layer 'spliced'"):
        _fit(toy, layer="spliced")


def test_lineage_with_too_few_cells(toy):
    lin = toy.obs["lineage"].astype(str).to_numpy().copy()
    lin[:2] = "tiny"
    toy.obs["lineage"] = pd.Categorical(lin)
    with pytest.raises(ValueError, match="lineage 'tiny' has 2 cell.*lower n_bins"):
        _fit(toy)


def test_missing_lineage_key(toy):
    with pytest.raises(KeyError, match="no lineage column 'fate'"):
        sn.tl.fit_pathreg(toy, time_key="time", lineage_key="fate", **FAST)


def test_nan_expression(toy):
    toy.X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        _fit(toy)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_cuda_without_cuda(toy):
    with pytest.raises(ValueError, match="CUDA is not available.*device='cpu'"):
        _fit(toy, device="cuda")


def test_failure_leaves_adata_unchanged(toy, monkeypatch):
    before_uns, before_obs = set(toy.uns), toy.obs.copy()

    def boom(*args, **kwargs):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(sn.SparseNODE, "fit", boom)
    with pytest.raises(RuntimeError, match="exploded"):
        _fit(toy)
    assert set(toy.uns) == before_uns
    pd.testing.assert_frame_equal(toy.obs, before_obs)


def test_nan_loss_stops_with_warning_and_keeps_best(toy, monkeypatch):
    from sparsenode.train import _trainer

    calls = {"n": 0}
    real = _trainer._segment_mse

    def flaky(field, seg, config, mw):
        out = real(field, seg, config, mw)
        calls["n"] += 1
        return out * float("nan") if calls["n"] > 4 and field.training else out

    monkeypatch.setattr(_trainer, "_segment_mse", flaky)
    with pytest.warns(RuntimeWarning, match="loss became nan"):
        _fit(toy, max_epochs=10)
    hist = toy.uns["pathreg"]["history"]
    assert hist["stopped"] == "nan"
    assert all(np.isfinite(v).all() for v in toy.uns["pathreg"]["state_dict"].values())


def test_no_fit_errors_say_what_to_run(toy):
    with pytest.raises(KeyError, match="fit_pathreg"):
        sn.tl.infer_grn(toy, key="pathreg")
    with pytest.raises(KeyError, match="infer_grn|fit_pathreg"):
        sn.get.grn(toy, key="pathreg")
    with pytest.raises(ValueError, match="unknown method"):
        sn.tl.fit_node(toy, method="magic", time_key="time")


def test_bad_training_settings(toy):
    with pytest.raises(ValueError, match="max_epochs"):
        _fit(toy, max_epochs=0)
    with pytest.raises(ValueError, match="unknown solver"):
        _fit(toy, solver="rk45")
    with pytest.raises(ValueError, match="takes no regularisation"):
        sn.tl.fit_node(toy, method="node", time_key="time", lambdas={"lambda_path": 1.0}, **FAST)


def test_non_anndata_input():
    with pytest.raises(TypeError, match="AnnData"):
        sn.tl.fit_pathreg(np.zeros((3, 3)), time_key="time")


def test_single_lineage_and_obsm_membership(toy):
    _fit(toy, lineage_key=None)
    assert list(toy.uns["pathreg"]["trajectories"]["lineages"]) == ["all"]
    memb = pd.get_dummies(toy.obs["lineage"]).astype(bool)
    memb.index = toy.obs_names
    toy.obsm["fates"] = memb
    _fit(toy, lineage_key="fates", key_added="pr2")
    assert toy.uns["pr2"]["trajectories"]["values"].shape[0] == 2


@pytest.mark.parametrize(
    "training",
    [{"objective": "shooting", "segment_bins": 4}, {"objective": "gradient", "smoothing": 0.0, "max_epochs": 500}],
    ids=["shooting", "gradient"],
)
def test_linear_ode_sparse_matrix_is_recovered(training):
    """dx/dt = A x with a known sparse A: the fitted field's Jacobian recovers A's off-diagonal support and signs.

    Both objectives; gradient matching on these noise-free trajectories uses finite differences (``smoothing=0``),
    a smoother would flatten the slopes of the fast-decaying genes.
    """
    rng = np.random.default_rng(0)
    a = -np.eye(4) * 0.8
    a[0, 1], a[2, 0], a[3, 2] = 1.2, -1.0, 0.9  # A[target, source]
    from scipy.linalg import expm

    t = np.linspace(0, 3, 200)
    cells, times, lins = [], [], []
    for li in range(6):
        x0 = rng.uniform(0.2, 1.5, 4)
        for ti in t:
            cells.append(expm(a * ti) @ x0)
            times.append(ti)
            lins.append(f"l{li}")
    adata = AnnData(np.asarray(cells, dtype=np.float32), obs=pd.DataFrame({"time": times, "lineage": lins}))
    adata.obs["lineage"] = adata.obs["lineage"].astype("category")
    adata.var_names = ["x0", "x1", "x2", "x3"]
    sn.tl.fit_node(
        adata,
        method="node",
        time_key="time",
        lineage_key="lineage",
        n_bins=20,
        hidden=(16,),
        activation="tanh",
        scaling="none",
        lr=2e-2,
        progress_bar=False,
        seed=0,
        **{"max_epochs": 250, **training},
    )
    sn.tl.infer_grn(adata, key="node", mode="jacobian")
    mean_j = adata.uns["node"]["grn"]["mean_jacobian"]  # [source, target], per unit of normalised time
    est = mean_j.T / 3.0  # back to A[target, source] on the original time axis
    off = ~np.eye(4, dtype=bool)
    true_edges = (a != 0) & off
    top = np.argsort(-np.abs(est[off]))[: true_edges.sum()]
    assert set(top) == set(np.flatnonzero(true_edges[off])), est
    assert np.all(np.sign(est[true_edges]) == np.sign(a[true_edges]))
    np.testing.assert_allclose(est[true_edges], a[true_edges], atol=0.3)


@pytest.mark.gpu
def test_gpu_fit_agrees_with_cpu(toy):
    cpu, gpu = toy.copy(), toy.copy()
    _fit(cpu, device="cpu", max_epochs=3)
    _fit(gpu, device="cuda", max_epochs=3)
    np.testing.assert_allclose(
        gpu.uns["pathreg"]["trajectories"]["values"], cpu.uns["pathreg"]["trajectories"]["values"]
    )
    m = sn.SparseNODE.from_adata(gpu, device="cuda")
    assert next(m.field.parameters()).is_cuda
    assert np.isfinite(gpu.uns["pathreg"]["adjacency"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sn.tl.infer_grn(gpu)
    assert np.isfinite(gpu.varp["pathreg_grn"]).all()


def test_regularization_path_records_and_recommends(toy):
    sn.tl.regularization_path(
        toy,
        time_key="time",
        lineage_key="lineage",
        lambdas=[1e-2, 1e-4, 1e-1],
        epochs_per_lambda=3,
        hidden=(8, 8),
        n_bins=12,
        progress_bar=False,
    )
    r = toy.uns["regularization_path"]
    assert r["lambdas"].tolist() == [1e-4, 1e-2, 1e-1]
    for k in ("train_mse", "val_mse", "feature_sparsity", "weight_sparsity"):
        assert r[k].shape == (3,) and np.isfinite(r[k]).all()
    assert r["recommended"] in r["lambdas"]
    best = r["val_mse"].min()
    assert r["val_mse"][r["lambdas"].tolist().index(r["recommended"])] <= best * 1.1 + 1e-12
    assert r["n_members"] == sn.tl._fit.default_members("gradient", toy.n_vars) == 16  # the ensemble fit_node fits
    with pytest.raises(ValueError, match="no regularisation strength"):
        sn.tl.regularization_path(toy, method="node", time_key="time")


def test_regularization_path_members_and_round_trip(toy, tmp_path):
    kw = dict(time_key="time", lineage_key="lineage", lambdas=[1e-3, 1e-1], epochs_per_lambda=2, hidden=(8,))
    sn.tl.regularization_path(toy, n_members=1, n_bins=12, progress_bar=False, **kw)
    assert toy.uns["regularization_path"]["n_members"] == 1
    toy.write_h5ad(tmp_path / "path.h5ad")
    back = read_h5ad(tmp_path / "path.h5ad").uns["regularization_path"]
    assert int(back["n_members"]) == 1 and back["recommended"] in back["lambdas"]
    with pytest.raises(ValueError, match="n_members must be >= 1"):
        sn.tl.regularization_path(toy, n_members=0, progress_bar=False, **kw)


@pytest.mark.parametrize("method", ["node", "l0", "cnode", "grouplasso", "lassonet_inner", "lassonet_outer", "pathreg"])
def test_every_method_fits_writes_the_same_structure_and_round_trips(toy, tmp_path, method):
    sn.tl.fit_node(toy, method=method, time_key="time", lineage_key="lineage", **FAST)
    res = toy.uns[method]
    assert set(res) >= {"params", "var_names", "adjacency", "state_dict", "history", "trajectories", "metrics"}
    assert res["adjacency"].shape == (6, 6) and np.isfinite(res["adjacency"]).all()
    sn.tl.infer_grn(toy, key=method)
    toy.write_h5ad(tmp_path / "m.h5ad")
    back = read_h5ad(tmp_path / "m.h5ad")
    np.testing.assert_array_equal(
        sn.SparseNODE.from_adata(back, key=method, device="cpu").predict(),
        sn.SparseNODE.from_adata(toy, key=method, device="cpu").predict(),
    )


def test_krumsiek11_fits_with_every_method_shape():
    adata = sn.datasets.krumsiek11()
    sn.tl.fit_node(adata, method="grouplasso", time_key="time", lineage_key="lineage", **FAST)
    assert adata.uns["grouplasso"]["trajectories"]["values"].shape == (4, 12, 11)


def test_reported_val_mse_belongs_to_the_kept_weights():
    """metrics['val_mse'] is the validation error of the restored (best) epoch, not the minimum over all epochs."""
    adata = sn.datasets.toy_grn(n_genes=4, n_cells=200, seed=0)
    sn.tl.fit_node(adata, method="pathreg", time_key="time", lineage_key="lineage", max_epochs=30, progress_bar=False)
    hist = adata.uns["pathreg"]["history"]
    best = int(hist["best_epoch"])
    assert 0 <= best < len(hist["val_mse"])
    assert adata.uns["pathreg"]["metrics"]["val_mse"] == pytest.approx(float(hist["val_mse"][best]))
