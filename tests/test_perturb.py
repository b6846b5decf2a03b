import warnings

import numpy as np
import pandas as pd
import pytest
from anndata import read_h5ad
from scipy.stats import spearmanr

import sparsenode as sn


@pytest.fixture(scope="module")
def _fitted_toy():
    adata = sn.datasets.toy_grn(n_genes=6, n_cells=400, seed=2)
    sn.tl.fit_pathreg(
        adata, time_key="time", lineage_key="lineage", max_epochs=30, hidden=(16, 16), n_bins=15, progress_bar=False
    )
    return adata


@pytest.fixture
def toy(_fitted_toy):
    return _fitted_toy.copy()


def test_knockout_writes_results_and_round_trips(toy, tmp_path):
    sn.tl.simulate_knockout(toy, "g0", key="pathreg", n_steps=20, key_added="ko")
    r = toy.uns["ko"]
    assert r["wildtype"].shape == (2, 20, 6) == r["delta"].shape == r["log_fold_change"].shape
    np.testing.assert_allclose(r["delta"], r["perturbed"] - r["wildtype"], atol=1e-6)
    # the knocked-out gene is held at expression 0 during the whole run
    np.testing.assert_allclose(r["perturbed"][..., 0], 0.0, atol=1e-5)
    assert np.all(np.diff(r["pseudotime"]) > 0)
    eff = toy.obs["ko_effect"]
    assert eff.notna().all() and (eff >= 0).all()
    # every perturbation result survives h5ad: simulations (with and without start_time), screens, per-cell effects
    sn.tl.simulate_perturbation(toy, "g1", mode="overexpression", start_time=3.0, n_steps=10, key_added="oe")
    sn.tl.perturbation_screen(toy, key="pathreg", n_steps=10)
    toy.write_h5ad(tmp_path / "p.h5ad")
    back = read_h5ad(tmp_path / "p.h5ad")
    for name in ("ko", "oe"):
        _assert_same_tree(back.uns[name], toy.uns[name])
        pd.testing.assert_frame_equal(sn.get.perturbation(back, name), sn.get.perturbation(toy, name))
        pd.testing.assert_series_equal(back.obs[f"{name}_effect"], toy.obs[f"{name}_effect"])
    pd.testing.assert_frame_equal(back.uns["pathreg_knockout_screen"], toy.uns["pathreg_knockout_screen"])


def test_wildtype_error_is_stored_and_a_poor_one_warns(toy):
    # from the progenitor state both lineages share, the deterministic model follows neither closely
    with pytest.warns(UserWarning, match=r"does not follow the observed trajectory of lineage\(s\) 'lineage_0'"):
        sn.tl.simulate_knockout(toy, "g0", n_steps=20, key_added="ko")
    r = toy.uns["ko"]
    traj = sn.SparseNODE.from_adata(toy, device="cpu").trajectories
    wt = (r["wildtype"] - traj.offset) / traj.scale  # back to the scaled axis the error is measured on
    for k in range(2):
        bins = np.flatnonzero(traj.mask[k])
        pred = np.stack([np.interp(traj.times[bins], r["times"], wt[k, :, g]) for g in range(6)], axis=1)
        manual = np.sqrt(np.mean(((pred - traj.values[k, bins]) / traj.gene_ranges()) ** 2))
        assert r["wildtype_rmse"][k] == pytest.approx(manual, rel=1e-4)
    assert (r["wildtype_rmse"] > sn.tl._perturb.WILDTYPE_RMSE_WARN).all()
    # after the lineages have separated the simulation follows both: no warning, smaller errors
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sn.tl.simulate_knockout(toy, "g0", n_steps=20, start_time=3.0, key_added="late")
        sn.tl.perturbation_screen(toy, start_time=3.0, n_steps=10)
    assert (toy.uns["late"]["wildtype_rmse"] < r["wildtype_rmse"]).all()
    screen = toy.uns["pathreg_knockout_screen"]
    by_lineage = screen.groupby("lineage")["wildtype_rmse"].agg(["min", "max"])
    assert np.allclose(by_lineage["min"], by_lineage["max"])  # one value per lineage
    assert np.allclose(by_lineage["min"].to_numpy(), toy.uns["late"]["wildtype_rmse"], rtol=0.05)


def _assert_same_tree(a, b):
    assert isinstance(a, dict) == isinstance(b, dict)
    if isinstance(b, dict):
        assert set(a) == set(b)
        for k in b:
            _assert_same_tree(a[k], b[k])
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_tidy_table(toy):
    sn.tl.simulate_perturbation(toy, ["g0", "g1"], mode="overexpression", value=2.0, n_steps=10, key_added="oe")
    df = sn.get.perturbation(toy, "oe")
    assert len(df) == 2 * 10 * 6
    assert set(df["lineage"]) == {"lineage_0", "lineage_1"}
    assert np.allclose(df.loc[df.gene == "g0", "perturbed"], 2.0, atol=1e-5)
    assert list(toy.uns["oe"]["params"]["genes"]) == ["g0", "g1"]


def test_lineage_subset_and_start_time(toy):
    sn.tl.simulate_knockout(toy, "g1", lineages="lineage_1", start_time=3.0, n_steps=10, key_added="ko1")
    assert list(toy.uns["ko1"]["lineages"]) == ["lineage_1"]
    assert toy.uns["ko1"]["pseudotime"][0] >= 2.5
    assert toy.obs.loc[toy.obs["lineage"] == "lineage_0", "ko1_effect"].isna().all()


def test_screen_ranks_every_candidate_in_one_call(toy):
    sn.tl.perturbation_screen(toy, key="pathreg")
    df = toy.uns["pathreg_knockout_screen"]
    assert len(df) == 6 * 2
    assert set(df.columns) >= {"gene", "lineage", "effect", "rank", "top_target"}
    for _, sub in df.groupby("lineage"):
        assert sorted(sub["rank"]) == list(range(1, 7))
        assert np.all(np.diff(sub.sort_values("rank")["effect"].to_numpy()) <= 1e-12)
    # a screen row equals the single-gene simulation of the same gene
    sn.tl.simulate_knockout(toy, "g0", n_steps=50, key_added="single")
    single = toy.uns["single"]["delta"][:, -1]
    row = df[(df.gene == "g0")].set_index("lineage").loc["lineage_0"]
    assert np.isclose(row["max_abs_delta"], np.abs(single[0, 1:]).max(), rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda a: sn.tl.simulate_knockout(a, "nope"), KeyError, "not in adata.var_names"),
        (lambda a: sn.tl.simulate_knockout(a, "g0", key="missing"), KeyError, "no fitted model"),
        (lambda a: sn.tl.simulate_perturbation(a, "g0", mode="overexpression", value=np.inf), ValueError, "finite"),
        (lambda a: sn.tl.simulate_perturbation(a, "g0", mode="double"), ValueError, "knockout"),
        (lambda a: sn.tl.simulate_knockout(a, "g0", lineages="lineage_9"), KeyError, "lineage"),
        (lambda a: sn.tl.simulate_knockout(a, "g0", start_time=1e6), ValueError, "start_time"),
        (lambda a: sn.tl.simulate_knockout(a, "g0", start_time="late"), ValueError, "must be a number"),
        (lambda a: sn.tl.perturbation_screen(a, start_time=np.nan), ValueError, "finite"),
        (lambda a: sn.get.perturbation(a, "pathreg"), KeyError, "simulate_perturbation"),
    ],
)
def test_bad_input(toy, call, exc, match):
    before = set(toy.uns)
    with pytest.raises(exc, match=match):
        call(toy)
    assert set(toy.uns) == before


def test_gene_not_modelled(toy):
    sub = toy.copy()
    sn.tl.fit_pathreg(
        sub,
        time_key="time",
        lineage_key="lineage",
        genes=["g0", "g1", "g2"],
        max_epochs=2,
        n_bins=10,
        progress_bar=False,
        key_added="small",
    )
    with pytest.raises(KeyError, match="not modelled"):
        sn.tl.simulate_knockout(sub, "g4", key="small")


def test_save_load_identical_predictions(toy, tmp_path):
    model = sn.SparseNODE.from_adata(toy, device="cpu")
    model.save(tmp_path / "m")
    loaded = sn.SparseNODE.load(tmp_path / "m", adata=toy, device="cpu")
    np.testing.assert_array_equal(model.predict(), loaded.predict())
    np.testing.assert_array_equal(model.predict(clamp={"g0": 0.0}), loaded.predict(clamp={"g0": 0.0}))
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "m")
    other = toy[:, :4].copy()
    with pytest.raises(ValueError, match="genes differ"):
        sn.SparseNODE.load(tmp_path / "m", adata=other)
    with pytest.raises(FileNotFoundError):
        sn.SparseNODE.load(tmp_path / "nothing")


def test_interrupt_keeps_best_model_and_writes_nothing_partial(monkeypatch):
    from sparsenode.train import _trainer

    adata = sn.datasets.toy_grn(n_genes=5, n_cells=200, seed=0)
    calls = {"n": 0}
    real = _trainer._segment_mse

    def interrupting(field, seg, config, mw):
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt
        return real(field, seg, config, mw)

    monkeypatch.setattr(_trainer, "_segment_mse", interrupting)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        sn.tl.fit_pathreg(
            adata, time_key="time", lineage_key="lineage", max_epochs=50, hidden=(8,), n_bins=10, progress_bar=False
        )
    res = adata.uns["pathreg"]
    assert res["history"]["stopped"] == "interrupted"
    assert len(res["history"]["loss"]) < 50
    for k in ("params", "adjacency", "state_dict", "trajectories", "metrics"):
        assert k in res
    assert all(np.isfinite(v).all() for v in res["state_dict"].values())


@pytest.mark.slow
def test_toy_knockouts_agree_with_true_perturbed_odes():
    adata = sn.datasets.toy_grn(n_genes=10, n_cells=1000, seed=0)
    sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", progress_bar=False)
    pred, true = [], []
    for g in ["g0", "g1", "g2", "g3", "g4", "g5"]:
        truth = sn.datasets.toy_perturbation_truth(adata, [g])
        sn.tl.simulate_knockout(adata, g, key_added="ko")
        keep = np.asarray(adata.var_names) != g
        pred.append(adata.uns["ko"]["delta"][:, -1][:, keep].ravel())
        true.append((truth["perturbed"][:, -1] - truth["wildtype"][:, -1])[:, keep].ravel())
    p, t = np.concatenate(pred), np.concatenate(true)
    big = np.abs(t) > 0.05
    assert (np.sign(p[big]) == np.sign(t[big])).mean() >= 0.8
    assert spearmanr(p[big], t[big])[0] >= 0.7


def test_ensemble_simulation_is_the_median_so_a_diverging_member_cannot_move_it():
    import torch

    model = sn.SparseNODE(["a", "b", "c"], method="node", hidden=(4,), n_members=3, seed=0)
    x0, t = np.full((2, 3), 0.5), np.linspace(0.0, 1.0, 6)
    calm = model.simulate(x0, t, members=True)
    with torch.no_grad():  # member 2 gets a huge constant drive: its trajectories run away
        model.field.biases[-1][2] += 1e4
    runaway = model.simulate(x0, t, members=True)
    assert np.abs(runaway[2, :, -1]).min() > 1e3
    np.testing.assert_allclose(runaway[:2], calm[:2], atol=1e-4)  # shared adaptive steps differ slightly
    out = model.simulate(x0, t)
    np.testing.assert_allclose(out, np.median(runaway, axis=0), rtol=1e-6)
    assert np.abs(out).max() < 10  # the mean would be ~1e3 away
