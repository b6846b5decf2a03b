"""Gradient matching, the flux readout and bootstrap ensembles with edge confidence."""

import numpy as np
import pandas as pd
import pytest
import torch
from anndata import read_h5ad
from scipy.stats import rankdata

import sparsenode as sn
from sparsenode import _keys as K
from sparsenode.model import SparseNODE
from sparsenode.module import jacobian
from sparsenode.tl._fit import bootstrap_weights
from sparsenode.tl._grn import consensus, damp_indirect, edge_confidence, normalize_per_target, signed_network
from sparsenode.train import DerivativeTargets, TrainConfig, make_derivative_targets, objective, smooth_trajectories

FAST = dict(max_epochs=6, hidden=(8, 8), n_bins=12, progress_bar=False, device="cpu")


def _fit(adata, **kw):
    sn.tl.fit_pathreg(adata, **{"time_key": "time", "lineage_key": "lineage", **FAST, **kw})


# -- smoothing and the gradient-matching objective ---------------------------------------------------------------------
def test_smoother_recovers_level_and_slope_of_a_line_and_fills_only_requested_bins():
    t = np.linspace(0.0, 1.0, 15)
    values = np.stack([2.0 * t + 1.0, -3.0 * t], axis=1)[None]  # (1 lineage, 15 bins, 2 genes)
    fit = np.ones((1, 15), dtype=bool)
    at = np.zeros((1, 15), dtype=bool)
    at[0, [0, 7, 14]] = True
    for bw in (1.5, 0.0):  # local-linear smoothing and finite differences are both exact on a line
        level, slope = smooth_trajectories(values, fit, t, bw, at_mask=at)
        np.testing.assert_allclose(level[0, at[0]], values[0, at[0]], atol=1e-5)
        np.testing.assert_allclose(slope[0, at[0]], np.tile([2.0, -3.0], (3, 1)), atol=1e-4)
        assert not level[0, ~at[0]].any() and not slope[0, ~at[0]].any()


def test_gradient_objective_is_zero_for_the_true_field_and_positive_otherwise():
    # a linear ODE dx/dt = -x sampled exactly: the smoothed slope at x is close to -x
    t = np.linspace(0.0, 2.0, 40)
    x0 = np.array([1.0, 2.0, 0.5])
    values = (np.exp(-t)[:, None] * x0[None])[None].astype(np.float32)
    mask = np.ones((1, 40), dtype=bool)
    tg = make_derivative_targets(values, mask, mask, t, 0.0, torch.device("cpu"))
    assert isinstance(tg, DerivativeTargets) and tg.x.shape == tg.dx.shape == (40, 3)

    class Linear(torch.nn.Module):
        n_members = 2

        def __init__(self, rate):
            super().__init__()
            self.rate = torch.tensor(rate).reshape(2, 1, 1)

        def forward(self, t, y):
            return -self.rate * y

    err = objective(Linear([1.0, 3.0]), tg, TrainConfig())
    assert err.shape == (2,)
    assert float(err[0]) < 1e-3 < float(err[1])
    # member weights: a member that only sees the first half of the bins is scored on those only
    w = torch.zeros(2, 40)
    w[:, :20] = 1.0
    err_w = objective(Linear([1.0, 3.0]), tg, TrainConfig(), member_weights=w)
    assert err_w.shape == (2,) and float(err_w[1]) != pytest.approx(float(err[1]))


def test_gradient_matching_is_the_default_and_solves_no_ode(toy):
    _fit(toy)
    params = toy.uns["pathreg"]["params"]
    assert params["train"]["objective"] == "gradient"
    hist = toy.uns["pathreg"]["history"]
    # one batched field evaluation for the training step and one for validation per epoch, no solver steps
    assert int(hist["n_evals"]) == 2 * len(hist["loss"])
    toy2 = toy.copy()
    _fit(toy2, objective="shooting", max_epochs=2)
    assert toy2.uns["pathreg"]["params"]["train"]["objective"] == "shooting"
    assert int(toy2.uns["pathreg"]["history"]["n_evals"]) > 2 * 2


def test_pathreg_by_gradient_matching_defaults_to_silu_and_other_fits_keep_softplus(toy):
    _fit(toy)
    assert toy.uns["pathreg"]["params"]["activation"] == "silu"
    model = SparseNODE.from_adata(toy, device="cpu")  # the stored fit rebuilds the same field
    assert model.activation == "silu" and model.field.activation == "silu"
    net = model.adjacency()
    np.testing.assert_allclose(net, toy.uns["pathreg"]["adjacency"], rtol=1e-5, atol=1e-7)
    _fit(toy, objective="shooting", max_epochs=1)
    assert toy.uns["pathreg"]["params"]["activation"] == "softplus"
    _fit(toy, activation="softplus")  # an explicit choice wins
    assert toy.uns["pathreg"]["params"]["activation"] == "softplus"
    sn.tl.fit_node(toy, method="cnode", time_key="time", lineage_key="lineage", **FAST)
    assert toy.uns["cnode"]["params"]["activation"] == "softplus"


def test_bad_objective_and_smoothing(toy):
    with pytest.raises(ValueError, match="objective"):
        _fit(toy, objective="bogus")
    with pytest.raises(ValueError, match="smoothing"):
        _fit(toy, smoothing=-1.0)
    assert "pathreg" not in toy.uns


# -- the flux readout ---------------------------------------------------------------------------------------------------
def test_flux_is_the_mean_of_jacobian_times_source_slope(toy):
    _fit(toy)
    model = SparseNODE.from_adata(toy, device="cpu")
    traj = model.trajectories
    _, slope = smooth_trajectories(traj.values, traj.mask, traj.times, model.train_config.smoothing)
    assert model.n_members == 16  # the default ensemble on a small system; its network is the members' mean
    x = torch.as_tensor(traj.values[traj.mask]).unsqueeze(0).expand(model.n_members, -1, -1)
    model.field.prepare(sample=False)
    jac = jacobian(model.field, x).numpy()  # (members, bins, target, source)
    model.field.release()
    expected = np.abs(jac * slope[traj.mask][None, :, None, :]).mean(axis=(0, 1)).T  # [source, target]
    net = signed_network(model, mode="flux", threshold=0.0)
    np.testing.assert_allclose(np.abs(net["weight"]), expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(np.sign(net["weight"]), np.sign(net["mean_jacobian"]))


def test_flux_lagens_is_the_default_readout_and_a_constant_gene_drives_nothing(toy):
    toy.X = np.asarray(toy.X).copy()
    toy.X[:, 0] = 0.7  # constant: no change to pass on, although the field may depend on it
    _fit(toy)
    sn.tl.infer_grn(toy)
    assert toy.uns["pathreg"]["grn"]["mode"] == "flux_lagens"
    assert toy.uns["pathreg"]["grn"]["lag"] == 2
    w = np.abs(toy.varp["pathreg_grn"])
    off = ~np.eye(6, dtype=bool)
    # no flux and no correlation: only the lead can lift its edges, which stay in the lower half
    assert w[0, 1:].max() < np.median(w[off])
    sn.tl.infer_grn(toy, mode="flux_lagcorr")
    assert toy.uns["pathreg"]["grn"]["lag"] == 1
    w = np.abs(toy.varp["pathreg_grn"])
    assert w[0, 1:].max() <= w[1:][off[1:]].min() + 1e-6  # nothing lifts them: they rank last
    sn.tl.infer_grn(toy, mode="flux")
    assert not toy.varp["pathreg_grn"][0].any()
    sn.tl.infer_grn(toy, mode="jacobian")
    assert toy.varp["pathreg_grn"][0, 1:].any()


def _abs_lagged_corr(src, tgt):
    return np.round(np.abs(np.corrcoef(src.T, tgt.T)[: src.shape[1], src.shape[1] :]), 12)


def test_flux_lagens_weighs_flux_ranks_against_pooled_within_lineage_and_lead_ranks(toy):
    from scipy.stats import rankdata

    _fit(toy, n_members=1)  # the rank arithmetic of one model
    model = SparseNODE.from_adata(toy, device="cpu")
    flux = np.abs(signed_network(model, mode="flux", threshold=0.0)["weight"])
    v, m = model.trajectories.values.astype(np.float64), model.trajectories.mask
    assert v.shape[0] >= 2  # several lineages, so pooled and within-lineage correlations differ
    off = ~np.eye(6, dtype=bool)

    def rank(a):
        return rankdata(a[off]) / off.sum()

    parts = []
    for lag in (1, 2):
        both = m[:, :-lag] & m[:, lag:]
        parts.append(rank(_abs_lagged_corr(v[:, :-lag][both], v[:, lag:][both])))
        within, n_pairs = 0.0, 0
        for li in range(v.shape[0]):
            b = both[li]
            within = within + b.sum() * _abs_lagged_corr(v[li, :-lag][b], v[li, lag:][b])
            n_pairs += b.sum()
        parts.append(rank(np.round(within / n_pairs, 12)))
    both = m[:, :-1] & m[:, 1:]
    lag1 = _abs_lagged_corr(v[:, :-1][both], v[:, 1:][both])
    parts.append(rank(lag1 - lag1.T))  # the lead: the source predicts the target better than the reverse
    expected = (2.0 * rank(flux) + np.sum(parts, axis=0)) / 7.0
    # the default mode without the indirect-edge and per-target steps
    raw = signed_network(model, threshold=0.0, indirect=1.0, per_target=False)
    np.testing.assert_allclose(np.abs(raw["weight"][off]), expected, rtol=1e-5)
    np.testing.assert_array_equal(np.sign(raw["weight"][off]), np.sign(raw["mean_jacobian"][off]))
    assert not np.diag(raw["weight"]).any()
    full = np.zeros((6, 6))
    full[off] = expected
    # edges a stronger two-step path explains are halved (the default), then every edge is ranked per target too
    net = signed_network(model, threshold=0.0, per_target=False)
    np.testing.assert_allclose(np.abs(net["weight"]), damp_indirect(full, 0.5), rtol=1e-5, atol=1e-7)
    assert (np.abs(net["weight"][off]) < expected - 1e-6).any()
    default = signed_network(model, threshold=0.0)
    np.testing.assert_allclose(default["weight"], normalize_per_target(net["weight"]), rtol=1e-5, atol=1e-7)
    # lag=1: one lag, pooled and within lineages, plus the lead
    net1 = signed_network(model, threshold=0.0, lag=1, indirect=1.0, per_target=False)
    expected1 = (2.0 * rank(flux) + parts[0] + parts[1] + parts[4]) / 5.0
    np.testing.assert_allclose(np.abs(net1["weight"][off]), expected1, rtol=1e-5)
    with pytest.raises(ValueError, match="pair"):
        sn.tl.infer_grn(toy, lag=12)  # as many bins as the fit has: no pair of bins that far apart
    assert "grn" not in toy.uns["pathreg"]


def test_flux_corr_averages_the_ranks_of_flux_and_correlation(toy):
    from scipy.stats import rankdata

    _fit(toy, n_members=1)
    model = SparseNODE.from_adata(toy, device="cpu")
    flux = np.abs(signed_network(model, mode="flux", threshold=0.0)["weight"])
    x = model.trajectories.values[model.trajectories.mask]
    corr = np.round(np.abs(np.corrcoef(x.T)), 12)
    off = ~np.eye(6, dtype=bool)
    expected = 0.5 * (rankdata(flux[off]) + rankdata(corr[off])) / off.sum()
    net = signed_network(model, mode="flux_corr", threshold=0.0)
    np.testing.assert_allclose(np.abs(net["weight"][off]), expected, rtol=1e-5)
    assert not np.diag(net["weight"]).any()
    sn.tl.infer_grn(toy, mode="flux_corr")
    assert toy.uns["pathreg"]["grn"]["mode"] == "flux_corr"
    # flux_lagcorr: the correlation of the source one bin before the target (directed)
    v, m = model.trajectories.values, model.trajectories.mask
    both = m[:, :-1] & m[:, 1:]
    src, tgt = v[:, :-1][both], v[:, 1:][both]
    lagged = np.round(np.abs(np.corrcoef(src.T, tgt.T)[:6, 6:]), 12)
    expected = 0.5 * (rankdata(flux[off]) + rankdata(lagged[off])) / off.sum()
    net = signed_network(model, mode="flux_lagcorr", threshold=0.0, lag=1)
    np.testing.assert_allclose(np.abs(net["weight"][off]), expected, rtol=1e-5)
    sn.tl.infer_grn(toy, mode="flux_lagcorr", lag=3)
    assert toy.uns["pathreg"]["grn"]["lag"] == 3
    for bad in (0, 1.5, True):
        for mode in ("flux_lagens", "flux_lagcorr"):
            with pytest.raises(ValueError, match="lag"):
                sn.tl.infer_grn(toy, mode=mode, lag=bad)


# -- ensembles and edge confidence --------------------------------------------------------------------------------------
def test_bootstrap_weights_resample_cells():
    counts = np.array([[10, 0, 30], [5, 5, 0]])
    w = bootstrap_weights(counts, 50, seed=0)
    assert w.shape == (50, 2, 3) and w.dtype == np.float32
    assert not w[:, counts == 0].any()
    # every member draws as many cells as there are
    np.testing.assert_allclose((w * counts[None]).sum(axis=(1, 2)), counts.sum(), rtol=1e-5)
    assert abs(float((w * counts).sum(axis=0)[counts > 0].sum() / (50 * counts.sum())) - 1.0) < 1e-5
    assert not np.allclose(w[0], w[1])
    with pytest.raises(ValueError, match="no cells"):
        bootstrap_weights(np.zeros((1, 3)), 4, seed=0)


def test_damp_indirect_halves_only_shortcuts_of_stronger_paths():
    w = np.zeros((4, 4))
    w[0, 1], w[1, 2], w[0, 2] = 0.9, -0.8, 0.5  # a -> b -| c, and a weaker shortcut a -> c
    w[2, 3], w[1, 3] = 0.3, 0.95  # c -> d is weaker than b -> d, but no path explains it (b -> c -> d is weaker)
    w[3, 3] = 5.0  # self-loops neither count as a path nor change
    out = damp_indirect(w, 0.5)
    assert out[0, 2] == pytest.approx(0.25)
    np.testing.assert_array_equal(np.delete(out.ravel(), 2), np.delete(w.ravel(), 2))
    w[0, 2] = 0.75  # within the 10 % tolerance of the path (0.8): kept
    assert damp_indirect(w, 0.0)[0, 2] == 0.75
    w[0, 2] = -0.5  # the sign survives
    assert damp_indirect(w, 0.5)[0, 2] == pytest.approx(-0.25)
    np.testing.assert_array_equal(damp_indirect(w, 1.0), w)
    with pytest.raises(ValueError, match="indirect"):
        damp_indirect(w, 1.5)


def test_damp_indirect_on_a_torch_device_equals_numpy():
    """The path search on a torch device (a fitted model's GPU) damps exactly the edges NumPy damps; here on the CPU,
    in blocks of intermediates."""
    rng = np.random.default_rng(3)
    for n in (5, 300):  # 300 genes: two blocks of intermediates
        w = rng.normal(size=(n, n)) * (rng.random((n, n)) < 0.3)
        np.testing.assert_array_equal(damp_indirect(w, 0.5, device="cpu"), damp_indirect(w, 0.5))


def test_average_ranks_equal_scipy_rankdata():
    from scipy.stats import rankdata

    from sparsenode.tl._grn import _average_ranks

    rng = np.random.default_rng(6)
    for x in (rng.random(1000), np.round(rng.normal(size=5000), 1), np.zeros(7), np.array([2.0]), np.array([])):
        np.testing.assert_array_equal(_average_ranks(x), rankdata(x))
    with_nan = np.array([0.3, np.nan, 0.1])
    np.testing.assert_array_equal(_average_ranks(with_nan), rankdata(with_nan))


@pytest.mark.parametrize("kind", ["normal", "ties", "uniform"])
def test_compiled_scan_for_many_genes_equals_the_cubic_search(kind):
    """From SCAN_MIN_GENES genes on, the host tests edges with an early-stopping scan; it must flag exactly the edges
    the cubic path search flags, ties and zeros included."""
    from sparsenode.tl import _grn

    rng = np.random.default_rng(5)
    n = _grn.SCAN_MIN_GENES + 20
    w = {
        "normal": rng.normal(size=(n, n)),
        "ties": np.round(rng.normal(size=(n, n)), 1) * (rng.random((n, n)) < 0.5),
        "uniform": rng.random((n, n)),
    }[kind]
    scanned = damp_indirect(w, 0.5)  # the scan (host, many genes)
    searched = damp_indirect(w, 0.5, device="cpu")  # torch's cubic search, same comparisons
    np.testing.assert_array_equal(scanned, searched)
    assert 0.1 < np.mean(scanned != w) < 0.99  # a real mix of damped and kept edges


@pytest.mark.gpu
def test_damp_indirect_on_cuda_equals_numpy():
    w = np.random.default_rng(4).normal(size=(300, 300))
    np.testing.assert_array_equal(damp_indirect(w, 0.5, device="cuda"), damp_indirect(w, 0.5))


def test_infer_grn_records_the_indirect_factor_and_rejects_bad_ones(toy):
    _fit(toy, n_members=2)
    sn.tl.infer_grn(toy)
    assert toy.uns["pathreg"]["grn"]["indirect"] == 0.5
    sn.tl.infer_grn(toy, mode="flux")  # other modes leave explained edges alone by default
    assert toy.uns["pathreg"]["grn"]["indirect"] == 1.0
    before = toy.varp["pathreg_grn"].copy()
    for bad in (-0.1, 2, "half"):
        with pytest.raises(ValueError, match="indirect"):
            sn.tl.infer_grn(toy, indirect=bad)
    np.testing.assert_array_equal(toy.varp["pathreg_grn"], before)  # nothing written by a refused call


def test_edges_removed_as_indirect_are_not_reported_as_selected(toy):
    # members: chain a -> b -> c, shortcut a -> c (among each member's 3 strongest edges before the damping)
    w = np.zeros((4, 3, 3))
    w[:, 0, 1], w[:, 1, 2], w[:, 0, 2], w[:, 2, 0] = 0.9, 0.8, 0.4, 0.1
    w[1, 0, 2] = 0.85  # one member's shortcut is as strong as its path: kept
    out = consensus(w, np.ones_like(w), 0.0)
    assert out[K.FREQUENCY][0, 2] == 0.25 and out["weight"][0, 2] == pytest.approx(0.85 / 4)
    assert out[K.FREQUENCY][0, 1] == out[K.FREQUENCY][1, 2] == 1.0
    half = consensus(w, np.ones_like(w), 0.5)
    assert half["weight"][0, 2] == pytest.approx((3 * 0.2 + 0.85) / 4)
    # through infer_grn: an edge the ensemble network removed has frequency 0
    _fit(toy, n_members=4)
    sn.tl.infer_grn(toy, indirect=0.0)
    removed = (toy.varp["pathreg_grn"] == 0) & ~np.eye(toy.n_vars, dtype=bool)
    assert (toy.uns["pathreg"]["grn"][K.FREQUENCY][removed] == 0).all()


def test_per_target_ranking_lifts_a_regulator_that_stands_out_among_its_target_s_candidates():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 6))
    w[:, 3] *= 0.05  # target 3: every candidate scores low ...
    w[1, 3] = 0.3  # ... but source 1 stands out among them
    w[2, 4] = 0.0  # a pruned edge
    np.fill_diagonal(w, 7.0)  # self-loops neither count nor change
    out = normalize_per_target(w)
    off = ~np.eye(6, dtype=bool)
    assert out[2, 4] == 0.0 and (np.diag(out) == 7.0).all()
    assert (np.sign(out) == np.sign(w)).all() and np.abs(out[off]).max() <= 1.0
    # within each target the order is kept; across targets the standout regulator of the weak target climbs
    for k in range(6):
        rows = off[:, k] & (w[:, k] != 0)
        assert (np.argsort(np.abs(w[rows, k]), kind="stable") == np.argsort(np.abs(out[rows, k]), kind="stable")).all()
    below = (np.abs(w[off]) > abs(w[1, 3])).sum()
    assert (np.abs(out[off]) > abs(out[1, 3])).sum() < below
    # target_weight 0 is the plain global rank
    a = np.abs(w[off & (w != 0)])
    np.testing.assert_allclose(np.abs(normalize_per_target(w, 0.0)[off & (w != 0)]), rankdata(a) / a.size)
    for bad in (-1.0, np.nan):
        with pytest.raises(ValueError, match="target_weight"):
            normalize_per_target(w, bad)


def _frequency_without_per_target(adata):
    out = adata.copy()
    sn.tl.infer_grn(out, per_target=False)
    return out.uns["pathreg"]["grn"][K.FREQUENCY]


def test_members_select_edges_by_the_per_target_ranking_of_the_ensemble():
    rng = np.random.default_rng(3)
    w = rng.uniform(0.05, 1.0, size=(4, 5, 5)) * rng.choice([-1.0, 1.0], size=(4, 5, 5))
    mean_j = np.sign(w)
    out = consensus(w, mean_j, 0.5, per_target=True)
    plain = consensus(w, mean_j, 0.5)
    np.testing.assert_allclose(out["weight"], normalize_per_target(plain["weight"]), rtol=1e-6)
    damped = np.stack([damp_indirect(m, 0.5) for m in w])
    ranked = np.stack([normalize_per_target(m) for m in damped])
    np.testing.assert_array_equal(out[K.FREQUENCY], edge_confidence(ranked, mean_j)[K.FREQUENCY])
    np.testing.assert_array_equal(out[K.SIGN_AGREEMENT], plain[K.SIGN_AGREEMENT])


def test_infer_grn_ranks_per_target_by_default_with_flux_lagens_only(toy, tmp_path):
    _fit(toy, n_members=2)
    sn.tl.infer_grn(toy, per_target=False)
    plain = toy.varp["pathreg_grn"].copy()
    sn.tl.infer_grn(toy)
    info = toy.uns["pathreg"]["grn"]
    assert info["per_target"] is True
    np.testing.assert_allclose(toy.varp["pathreg_grn"], normalize_per_target(plain), atol=1e-6)
    assert not np.array_equal(info[K.FREQUENCY], _frequency_without_per_target(toy))
    sn.tl.infer_grn(toy, mode="flux")
    assert toy.uns["pathreg"]["grn"]["per_target"] is False
    sn.tl.infer_grn(toy, mode="flux", per_target=True)
    before = toy.varp["pathreg_grn"].copy()
    with pytest.raises(ValueError, match="per_target"):
        sn.tl.infer_grn(toy, per_target="yes")
    np.testing.assert_array_equal(toy.varp["pathreg_grn"], before)  # nothing written by a refused call
    toy.write_h5ad(tmp_path / "grn.h5ad")
    back = read_h5ad(tmp_path / "grn.h5ad")
    assert bool(back.uns["pathreg"]["grn"]["per_target"]) is True
    np.testing.assert_array_equal(back.varp["pathreg_grn"], before)


def test_edge_confidence_counts_members_and_signs():
    w = np.zeros((4, 3, 3))
    w[:, 0, 1] = 5.0  # every member selects 0 -> 1
    w[:2, 1, 2] = 3.0  # half of them select 1 -> 2
    w[:, 2, 2] = 9.0  # self-loops never count
    j = np.ones((4, 3, 3))
    j[0, 0, 1] = -1.0  # one member disagrees on the sign of 0 -> 1
    out = edge_confidence(w, j, top_k=2)
    assert out[K.FREQUENCY][0, 1] == 1.0 and out[K.FREQUENCY][1, 2] == 0.5
    assert out[K.FREQUENCY][2, 2] == 0.0 and out[K.SIGN_AGREEMENT][2, 2] == 0.0
    assert out[K.SIGN_AGREEMENT][0, 1] == 0.75 and out[K.SIGN_AGREEMENT][1, 2] == 1.0


def test_ensemble_stores_frequency_and_sign_agreement_shown_by_get_grn(toy, tmp_path):
    _fit(toy, n_members=4, bootstrap=True)
    assert toy.uns["pathreg"]["params"]["bootstrap"]
    sn.tl.infer_grn(toy)
    info = toy.uns["pathreg"]["grn"]
    for k in (K.FREQUENCY, K.SIGN_AGREEMENT):
        arr = info[k]
        assert arr.dtype == np.float32 and arr.shape == (6, 6)
        assert ((arr >= 0) & (arr <= 1)).all() and not np.diag(arr).any()
    # each member selects its n_genes strongest edges (more where edges tie), so the frequencies sum to >= n_genes
    assert 6.0 - 1e-5 <= info[K.FREQUENCY].sum() < 6.0 * 2
    edges = sn.get.grn(toy)
    assert list(edges.columns) == ["source", "target", "weight", "sign", K.FREQUENCY, K.SIGN_AGREEMENT]
    r = edges.iloc[0]
    i, j = toy.var_names.get_loc(r.source), toy.var_names.get_loc(r.target)
    assert r[K.FREQUENCY] == pytest.approx(float(info[K.FREQUENCY][i, j]))
    # h5ad round trip keeps the confidence and what sn.get.grn shows
    path = tmp_path / "ens.h5ad"
    toy.write_h5ad(path)
    back = read_h5ad(path)
    np.testing.assert_array_equal(back.uns["pathreg"]["grn"][K.FREQUENCY], info[K.FREQUENCY])
    pd.testing.assert_frame_equal(sn.get.grn(back), edges)
    # a single model has no confidence columns
    single = toy.copy()
    _fit(single, n_members=1)
    sn.tl.infer_grn(single)
    assert K.FREQUENCY not in single.uns["pathreg"]["grn"]
    assert K.FREQUENCY not in sn.get.grn(single).columns


def test_ensemble_is_one_batched_fit_with_different_members(toy):
    one, four = toy.copy(), toy.copy()
    _fit(one)
    _fit(four, n_members=4, bootstrap=True)
    # as many field evaluations for four members as for one: all members go through each call together
    assert int(four.uns["pathreg"]["history"]["n_evals"]) == int(one.uns["pathreg"]["history"]["n_evals"])
    model = SparseNODE.from_adata(four, device="cpu")
    adj = model.adjacency(members=True)
    assert adj.shape == (4, 6, 6) and not np.allclose(adj[0], adj[1])


def test_bootstrap_needs_several_members(toy):
    with pytest.raises(ValueError, match="n_members"):
        _fit(toy, n_members=1, bootstrap=True)
    assert "pathreg" not in toy.uns


def test_default_ensemble_size_depends_on_objective_and_size(toy):
    _fit(toy)  # gradient matching on 6 genes: the default ensemble
    assert int(toy.uns["pathreg"]["params"]["n_members"]) == 16
    _fit(toy, objective="shooting", max_epochs=2)  # ODE solves cost per member: one
    assert int(toy.uns["pathreg"]["params"]["n_members"]) == 1
    _fit(toy, n_members=3)  # an explicit size wins
    assert int(toy.uns["pathreg"]["params"]["n_members"]) == 3


def test_flux_lagens_structure_is_the_geometric_mean_of_flux_lagens_and_the_relative_adjacency(toy):
    sn.tl.fit_node(toy, method="grouplasso", time_key="time", lineage_key="lineage", n_members=1, **FAST)
    sn.tl.infer_grn(toy, key="grouplasso", mode="flux_lagens_structure")
    info = toy.uns["grouplasso"]["grn"]
    assert info["mode"] == "flux_lagens_structure" and info["lag"] == 2 and info["indirect"] == 0.5
    both_default = toy.varp["grouplasso_grn"].copy()
    sn.tl.infer_grn(toy, key="grouplasso", mode="flux_lagens")
    assert not np.allclose(toy.varp["grouplasso_grn"], both_default)
    # without the indirect step: |weight| = sqrt(flux_lagens score x group norm / largest group norm), same sign
    model = SparseNODE.from_adata(toy, key="grouplasso", device="cpu")
    lagens = signed_network(model, mode="flux_lagens", indirect=1.0, per_target=False)["weight"]
    both = signed_network(model, mode="flux_lagens_structure", indirect=1.0)["weight"]
    adj = np.abs(model.adjacency())
    np.testing.assert_allclose(np.abs(both) ** 2, np.abs(lagens) * adj / adj.max(), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(np.sign(both), np.sign(lagens))
