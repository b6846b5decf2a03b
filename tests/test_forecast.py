"""Forecasting trials: frame binning, tl.forecast / forecast_baseline, OOD helpers, pl.forecast, mocap35."""

import io

import anndata
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes

import sparsenode as sn
from sparsenode import _keys as K

N_FRAMES = 40
DT = 0.1


def _oscillator(n_trials: int = 3, n_frames: int = N_FRAMES) -> anndata.AnnData:
    """Damped 2-D oscillator trials (different phases) plus a constant channel, sampled every DT like frames."""
    t = np.arange(n_frames) * DT
    xs, obs = [], []
    for i in range(n_trials):
        phase = 0.7 * i
        decay = np.exp(-0.1 * t)
        x = np.stack([decay * np.sin(2 * t + phase), decay * np.cos(2 * t + phase), np.full_like(t, 3.0)], axis=1)
        xs.append(x)
        obs.append(pd.DataFrame({"trial": f"t{i}", "time": t, "frame": np.arange(n_frames)}))
    obs = pd.concat(obs, ignore_index=True)
    obs.index = [f"{r.trial}:{r.frame}" for r in obs.itertuples()]
    obs["trial"] = obs["trial"].astype("category")
    return anndata.AnnData(np.concatenate(xs), obs=obs, var=pd.DataFrame(index=["x", "y", "const"]))


@pytest.fixture(scope="module")
def _fitted():
    adata = _oscillator()
    sn.tl.fit_node(
        adata,
        method="node",
        time_key="time",
        lineage_key="trial",
        n_bins=None,
        hidden=(8,),
        max_epochs=4,
        segment_bins=None,
        device="cpu",
        progress_bar=False,
    )
    return adata


@pytest.fixture
def fitted(_fitted):
    return _fitted.copy()


# -- n_bins=None: one bin per frame ------------------------------------------------------------------------------------
def test_grid_bins_one_per_frame():
    adata = _oscillator()
    traj = sn.pp.bin_trajectories(adata, time_key="time", lineage_key="trial", n_bins=None, scaling="none")
    assert traj.values.shape == (3, N_FRAMES, 3)
    assert traj.mask.all()
    np.testing.assert_allclose(traj.times, np.linspace(0, 1, N_FRAMES), atol=1e-6)
    np.testing.assert_allclose(traj.values[1], adata.X[N_FRAMES : 2 * N_FRAMES], rtol=1e-6)


def test_grid_bins_dropped_frames_are_masked():
    adata = _oscillator()
    irregular = sn.pp.drop_frames(adata, 0.5, seed=0)
    traj = sn.pp.bin_trajectories(irregular, time_key="time", lineage_key="trial", n_bins=None)
    assert traj.n_bins == N_FRAMES  # the grid keeps its step: gaps become empty bins
    kept = irregular.obs[irregular.obs["trial"] == "t0"]["frame"].to_numpy()
    np.testing.assert_array_equal(np.flatnonzero(traj.mask[0]), np.sort(kept))


def test_grid_bins_reject_irregular_times_and_constant_channels_scale():
    adata = _oscillator(n_trials=1)
    adata.obs["time"] = np.sqrt(np.arange(N_FRAMES, dtype=float))
    with pytest.raises(ValueError, match="regular grid"):
        sn.pp.bin_trajectories(adata, time_key="time", n_bins=None)
    traj = sn.pp.bin_trajectories(_oscillator(), time_key="time", lineage_key="trial", n_bins=None)
    assert np.isfinite(traj.values).all()
    np.testing.assert_array_equal(traj.values[..., 2], 0.0)  # constant channel: scale 1, no division by zero


def test_fit_node_with_frames_stores_grid(fitted):
    p = fitted.uns["node"][K.PARAMS]
    assert int(p["n_bins"]) == N_FRAMES and bool(p["time_grid"])


# -- tl.forecast ---------------------------------------------------------------------------------------------------------
def test_forecast_matches_simulate_and_writes(fitted):
    sn.tl.forecast(fitted, key="node", trials=["t1", "t2"], n_observed=5, device="cpu")
    key = "node_forecast"
    res = fitted.uns[key]
    assert list(res["trials"]) == ["t1", "t2"]
    np.testing.assert_array_equal(res["n_forecast"], [N_FRAMES - 5] * 2)
    role = fitted.obs[K.forecast_role_key(key)].astype(str)
    rows_t1 = np.flatnonzero(fitted.obs["trial"] == "t1")
    assert (role.iloc[rows_t1[:5]] == "observed").all() and (role.iloc[rows_t1[5:]] == "forecast").all()
    assert (role[fitted.obs["trial"] == "t0"] == "unused").all()
    layer = fitted.layers[key]
    assert np.isnan(layer[rows_t1[:5]]).all() and np.isfinite(layer[rows_t1[5:]]).all()
    # the same numbers by hand: scale the last observed frame, integrate with the model, unscale
    model = sn.SparseNODE.from_adata(fitted, key="node", device="cpu")
    traj = model.trajectories
    x0 = (fitted.X[rows_t1[4], :2] - traj.offset[:2]) / traj.scale[:2]
    x0 = np.append(x0, 0.0)
    rel = np.arange(N_FRAMES - 4) / (N_FRAMES - 1)
    clamp_mask = np.array([[0, 0, 1]], dtype=np.float32)
    sim = model.simulate(x0[None], rel, clamp_mask=clamp_mask, clamp_values=x0[None].astype(np.float32))[0, 1:]
    np.testing.assert_allclose(layer[rows_t1[5:]], sim * traj.scale + traj.offset, rtol=1e-4, atol=1e-4)
    # MSE over both trials' forecast frames and all channels, in data units
    fc = np.flatnonzero(role == "forecast")
    np.testing.assert_allclose(res["mse"], np.mean((layer[fc] - fitted.X[fc]) ** 2), rtol=1e-5)


def test_forecast_holds_constant_channels(fitted):
    sn.tl.forecast(fitted, key="node", n_observed=3, device="cpu")
    res = fitted.uns["node_forecast"]
    assert list(res["constant_channels"]) == ["const"]
    fc = fitted.obs["node_forecast_role"] == "forecast"
    np.testing.assert_allclose(fitted.layers["node_forecast"][fc.to_numpy(), 2], 3.0, rtol=1e-6)
    sn.tl.forecast(fitted, key="node", n_observed=3, hold_constant=False, device="cpu", key_added="free")
    assert np.isfinite(fitted.uns["free"]["mse"]) and len(fitted.uns["free"]["constant_channels"]) == 0


def test_forecast_irregular_frames(fitted):
    irregular = sn.pp.drop_frames(fitted, 0.4, seed=1, keep_first=3)
    irregular.uns["node"] = fitted.uns["node"]
    sn.tl.forecast(irregular, key="node", trials="t0", n_observed=3, device="cpu")
    sn.tl.forecast(fitted, key="node", trials="t0", n_observed=3, device="cpu")
    # the forecast at a kept frame does not depend on which other frames were dropped
    kept = irregular.obs_names[irregular.obs["node_forecast_role"] == "forecast"]
    np.testing.assert_allclose(
        irregular[kept].layers["node_forecast"], fitted[kept].layers["node_forecast"], rtol=1e-3, atol=1e-4
    )


def test_forecast_copy_and_h5ad_round_trip(fitted, tmp_path):
    before = set(fitted.uns), set(fitted.layers), set(fitted.obs.columns)
    out = sn.tl.forecast(fitted, key="node", n_observed=4, device="cpu", copy=True)
    assert (set(fitted.uns), set(fitted.layers), set(fitted.obs.columns)) == before
    out.write_h5ad(tmp_path / "f.h5ad")
    back = anndata.read_h5ad(tmp_path / "f.h5ad")
    np.testing.assert_allclose(back.layers["node_forecast"], out.layers["node_forecast"], equal_nan=True)
    assert float(back.uns["node_forecast"]["mse"]) == pytest.approx(float(out.uns["node_forecast"]["mse"]))
    assert int(back.uns["node_forecast"]["params"]["n_observed"]) == 4
    ax = sn.pl.forecast(back, key="node_forecast", show=False)  # plots read what was stored
    assert isinstance(ax, Axes)
    plt.close("all")


def test_forecast_bad_inputs(fitted):
    with pytest.raises(KeyError, match="not in adata.obs"):
        sn.tl.forecast(fitted, key="node", trials=["nope"])
    with pytest.raises(KeyError, match="no fitted model"):
        sn.tl.forecast(fitted, key="pathreg")
    with pytest.raises(ValueError, match="leaves nothing to forecast"):
        sn.tl.forecast(fitted, key="node", n_observed=N_FRAMES)
    with pytest.raises(ValueError, match="at least 1"):
        sn.tl.forecast(fitted, key="node", n_observed=0)
    with pytest.raises(ValueError, match="at least 2"):
        sn.tl.forecast_baseline(fitted, method="constant_velocity", n_observed=1)
    with pytest.raises(ValueError, match="unknown baseline"):
        sn.tl.forecast_baseline(fitted, method="oracle")
    with pytest.raises(KeyError, match="no column"):
        sn.tl.forecast(fitted, key="node", trial_key="subject")
    assert "node_forecast" not in fitted.uns and "node_forecast" not in fitted.layers  # nothing partial written


# -- baselines -----------------------------------------------------------------------------------------------------------
def test_baselines_are_exact_where_they_should_be():
    t = np.array([0.0, 0.1, 0.2, 0.4, 0.7, 1.0])  # irregular times
    x = np.stack([3 * t - 1, np.full_like(t, 2.0)], axis=1)
    adata = anndata.AnnData(x, obs=pd.DataFrame({"trial": "a", "time": t}, index=[str(i) for i in range(6)]))
    sn.tl.forecast_baseline(adata, method="constant_velocity", n_observed=2)
    assert adata.uns["constant_velocity_forecast"]["mse"] == pytest.approx(0.0, abs=1e-20)
    sn.tl.forecast_baseline(adata, method="constant_position", n_observed=2)
    pred = adata.layers["constant_position_forecast"][2:]
    np.testing.assert_allclose(pred, np.tile(x[1], (4, 1)))
    assert adata.uns["constant_position_forecast"]["mse"] == pytest.approx(np.mean((x[2:, 0] - x[1, 0]) ** 2) / 2)


# -- out-of-distribution helpers -----------------------------------------------------------------------------------------
def test_add_noise_is_seeded_and_leaves_input_untouched():
    adata = _oscillator()
    x_before = adata.X.copy()
    a = sn.pp.add_noise(adata, 0.2, seed=3)
    b = sn.pp.add_noise(adata, 0.2, seed=3)
    c = sn.pp.add_noise(adata, 0.2, seed=4)
    np.testing.assert_array_equal(adata.X, x_before)
    assert "clean" not in adata.layers and K.OOD not in adata.uns
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.allclose(a.X, c.X)
    np.testing.assert_array_equal(a.layers["clean"], x_before)
    np.testing.assert_array_equal(a.X[:, 2], 3.0)  # relative noise leaves a constant channel constant
    resid = (a.X - x_before)[:, :2] / x_before[:, :2].std(axis=0)
    assert resid.std() == pytest.approx(0.2, rel=0.15)
    assert a.uns[K.OOD]["setting"] == "noise"
    with pytest.raises(ValueError, match="sigma"):
        sn.pp.add_noise(adata, -1.0)


def test_drop_frames_is_seeded_keeps_start_and_leaves_input_untouched():
    adata = _oscillator()
    n_before, obs_before = adata.n_obs, adata.obs.copy()
    a = sn.pp.drop_frames(adata, 0.5, seed=0, keep_first=3)
    b = sn.pp.drop_frames(adata, 0.5, seed=0, keep_first=3)
    c = sn.pp.drop_frames(adata, 0.5, seed=1, keep_first=3)
    assert adata.n_obs == n_before
    pd.testing.assert_frame_equal(adata.obs, obs_before)
    assert list(a.obs_names) == list(b.obs_names) and list(a.obs_names) != list(c.obs_names)
    for trial in ("t0", "t1", "t2"):
        frames = a.obs.loc[a.obs["trial"] == trial, "frame"].to_numpy()
        assert set(range(3)) <= set(frames)
        assert len(frames) == N_FRAMES - round(0.5 * (N_FRAMES - 3))
    with pytest.raises(ValueError, match="fraction"):
        sn.pp.drop_frames(adata, 1.0)
    with pytest.raises(KeyError, match="no column"):
        sn.pp.drop_frames(adata, 0.1, trial_key="subject")


def test_hold_out_trials():
    adata = _oscillator()
    kept, held = sn.pp.hold_out_trials(adata, "t2")
    assert set(kept.obs["trial"].astype(str)) == {"t0", "t1"} and set(held.obs["trial"].astype(str)) == {"t2"}
    assert kept.n_obs + held.n_obs == adata.n_obs
    with pytest.raises(KeyError, match="not in adata.obs"):
        sn.pp.hold_out_trials(adata, ["t9"])
    with pytest.raises(ValueError, match="no frame"):
        sn.pp.hold_out_trials(adata, ["t0", "t1", "t2"])


# -- pl.forecast ---------------------------------------------------------------------------------------------------------
def _pixel_std(fig) -> float:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    buf.seek(0)
    return float(plt.imread(buf).std())


def test_pl_forecast_renders(fitted):
    sn.tl.forecast(fitted, key="node", n_observed=5, device="cpu")
    ax = sn.pl.forecast(fitted, key="node_forecast", channels=["x", "y"], trial="t1", show=False)
    assert isinstance(ax, Axes)
    assert _pixel_std(ax.figure) > 0.05
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"truth", "observed", "forecast", "x", "y"} <= set(labels)
    assert "t1" in ax.get_title()
    plt.close("all")
    _, ax2 = plt.subplots()
    assert sn.pl.forecast(fitted, key="node_forecast", ax=ax2, show=False) is ax2
    plt.close("all")
    with pytest.raises(KeyError, match="no forecast"):
        sn.pl.forecast(fitted, key="missing", show=False)
    with pytest.raises(KeyError, match="not found"):
        sn.pl.forecast(fitted, key="node_forecast", channels=["zz"], show=False)


# -- the real benchmark data ---------------------------------------------------------------------------------------------
def test_mocap35_forecast_runs(shared_data):
    path = shared_data / "mocap" / "mocap35.mat"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    data = sn.datasets.mocap35(path)
    train = data[data.obs["trial"].isin(["train_00", "train_01", "train_02"])].copy()
    test = data[data.obs["split"] == "test"].copy()
    sn.tl.fit_node(
        train,
        method="pathreg",
        time_key="time",
        lineage_key="trial",
        n_bins=None,
        hidden=(16,),
        max_epochs=3,
        segment_bins=None,
        device="cpu",
        progress_bar=False,
    )
    test.uns["pathreg"] = train.uns["pathreg"]
    sn.tl.forecast(test, key="pathreg", n_observed=3, device="cpu")
    res = test.uns["pathreg_forecast"]
    assert len(res["trials"]) == 4 and np.isfinite(res["mse"])
    np.testing.assert_array_equal(res["n_forecast"], [297] * 4)
    assert len(res["constant_channels"]) == 4  # channels 24, 25, 31, 32 never move in this file
    sn.tl.forecast_baseline(test, method="constant_position", n_observed=3)
    assert test.uns["constant_position_forecast"]["mse"] == pytest.approx(61.33, abs=0.01)
