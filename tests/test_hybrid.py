"""The hybrid objective: gradient matching as a warm start, then shooting refinement of the same weights."""

import math

import anndata as ad
import numpy as np
import pytest
import torch

import sparsenode as sn
from sparsenode.module import get_method, make_field
from sparsenode.train import TrainConfig, make_segments, objective, split_bins, train


@pytest.fixture(scope="module")
def traj():
    adata = sn.datasets.toy_grn(n_genes=5, n_cells=300, seed=0)
    return sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineage", n_bins=12)


def _fit(traj, seed=0, **cfg):
    model = sn.SparseNODE(traj.var_names, method="pathreg", hidden=(8, 8), device="cpu", seed=seed)
    return model.fit(traj, TrainConfig(**({"patience": None} | cfg)), progress_bar=False)


def _shooting_val_mse(model, traj, config):
    """Validation error of the model's current weights, computed the way a shooting fit measures it."""
    tr, va = split_bins(traj.mask, config.val_fraction, model.seed)
    first_only = config.segment_bins is None  # single shooting: one segment per lineage, from its first bin
    seg = make_segments(traj.values, tr, va, traj.times, config.segment_bins, torch.device("cpu"), first_only)
    model.field.prepare(sample=False)
    with torch.no_grad():
        err = float(objective(model.field, seg, config).mean())
    model.field.release()
    return err


def test_hybrid_switches_objective_at_the_warmstart_epoch(traj):
    model = _fit(traj, max_epochs=10, objective="hybrid", warmstart_fraction=0.6, segment_bins=4)
    h = model.history
    assert h["switch_epoch"] == 6 and len(h["loss"]) == 10 and h["stopped"] == "max_epochs"
    # each phase has its own cosine schedule: the learning rate restarts at lr on the switch
    assert h["lr"][0] == pytest.approx(1e-2) and h["lr"][6] == pytest.approx(1e-2) and h["lr"][5] < 5e-3
    # the first six epochs solved no ODE (gradient matching: two field evaluations per epoch), the rest did
    gradient_only = _fit(traj, max_epochs=6, objective="gradient")
    assert gradient_only.history["n_evals"] == 12 < h["n_evals"]
    # val_mse of the kept weights is their shooting validation error, not a gradient-matching one
    assert h["best_val_mse"] == pytest.approx(_shooting_val_mse(model, traj, model.train_config), rel=1e-5)
    assert h["best_val_mse"] <= h["warmstart_val_mse"]  # the warm start competes with the refinement epochs


def test_hybrid_refinement_simulates_better_than_its_warm_start(traj, monkeypatch):
    from sparsenode.train import _trainer

    warm_states = []

    def record(field, *args):
        best = real(field, *args)
        warm_states.append({k: v.clone() for k, v in field.state_dict().items()})
        return best

    real = _trainer._switch_to_shooting
    monkeypatch.setattr(_trainer, "_switch_to_shooting", record)
    hybrid = _fit(traj, max_epochs=250, objective="hybrid", warmstart_fraction=0.6, segment_bins=None)
    assert hybrid.history["switch_epoch"] == 150 and len(warm_states) == 1
    warm = sn.SparseNODE(traj.var_names, method="pathreg", hidden=(8, 8), device="cpu", seed=0)
    warm.field.load_state_dict(warm_states[0])
    warm.trajectories = traj
    assert hybrid.history["warmstart_val_mse"] == pytest.approx(
        _shooting_val_mse(warm, traj, hybrid.train_config), rel=1e-5
    )
    # simulated from each lineage's first bin, the refined weights fit the data better than the warm start's
    assert hybrid.mse() < 0.8 * warm.mse()
    assert hybrid.history["best_val_mse"] < hybrid.history["warmstart_val_mse"]


def test_hybrid_keeps_the_warm_start_when_the_refinement_diverges(traj, monkeypatch):
    from sparsenode.train import Segments, _trainer

    real = _trainer._segment_mse

    def diverging(field, data, config, weights):  # every shooting training step gives a NaN loss
        err = real(field, data, config, weights)
        return err * math.nan if isinstance(data, Segments) and field.training else err

    monkeypatch.setattr(_trainer, "_segment_mse", diverging)
    with pytest.warns(RuntimeWarning, match="loss became nan"):
        model = _fit(traj, max_epochs=12, objective="hybrid", warmstart_fraction=0.5)
    h = model.history
    assert h["stopped"] == "nan" and len(h["loss"]) == 6 and h["best_epoch"] < h["switch_epoch"] == 6
    assert h["best_val_mse"] == pytest.approx(h["warmstart_val_mse"])
    assert h["best_val_mse"] == pytest.approx(_shooting_val_mse(model, traj, model.train_config), rel=1e-5)


def test_patience_counts_refinement_epochs_only(traj):
    model = _fit(traj, max_epochs=40, objective="hybrid", warmstart_fraction=0.5, patience=3, refine_lr_factor=50.0)
    h = model.history
    assert h["switch_epoch"] == 20
    assert len(h["loss"]) >= 23  # the warm start always runs its whole budget, then at least `patience` epochs
    if h["stopped"] == "early_stopping":
        assert len(h["loss"]) - 1 - max(h["best_epoch"], 19) == 3


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"warmstart_fraction": 0.0}, "warmstart_fraction"),
        ({"warmstart_fraction": 1.0}, "warmstart_fraction"),
        ({"warmstart_fraction": math.nan}, "warmstart_fraction"),
        ({"refine_lr_factor": 0.0}, "refine_lr_factor"),
        ({"max_epochs": 1}, "max_epochs >= 2"),
    ],
)
def test_bad_hybrid_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**({"objective": "hybrid"} | kw)).validate()


def test_hybrid_fit_survives_h5ad_and_from_adata(tmp_path):
    adata = sn.datasets.toy_grn(n_genes=4, n_cells=200, seed=1)
    sn.tl.fit_node(
        adata, method="pathreg", time_key="time", lineage_key="lineage", objective="hybrid", max_epochs=8,
        n_bins=10, hidden=(8,), device="cpu", progress_bar=False,
    )  # fmt: skip
    uns = adata.uns["pathreg"]
    assert uns["params"]["train"]["objective"] == "hybrid" and int(uns["history"]["switch_epoch"]) == 6
    assert uns["metrics"]["val_mse"] == pytest.approx(uns["history"]["best_val_mse"])
    adata.write_h5ad(tmp_path / "fit.h5ad")
    back = ad.read_h5ad(tmp_path / "fit.h5ad")
    for k in ("switch_epoch", "warmstart_val_mse", "best_val_mse"):
        assert float(back.uns["pathreg"]["history"][k]) == pytest.approx(float(uns["history"][k]))
    model = sn.SparseNODE.from_adata(back, "pathreg", device="cpu")
    assert model.train_config.objective == "hybrid" and model.train_config.warmstart_fraction == pytest.approx(0.75)
    np.testing.assert_allclose(model.predict(), sn.SparseNODE.from_adata(adata, "pathreg", device="cpu").predict())


def test_graphed_hybrid_loop_matches_the_eager_one_on_cpu(traj, monkeypatch):
    """The CUDA path of a hybrid fit (two device-side loops), run without capture: same switch and model selection."""
    from functools import partial

    from sparsenode.train import _trainer
    from sparsenode.train._graphs import train_graphed

    config = TrainConfig(max_epochs=12, objective="hybrid", warmstart_fraction=0.5, solver="rk4", patience=None)
    runs = []
    for graphed in (False, True):
        meth = get_method("node")
        field = make_field(
            meth, 5, hidden=(8,), activation="softplus", n_members=1, decay=True, input_mask=None, seed=0
        )
        with monkeypatch.context() as m:
            if graphed:
                m.setattr(_trainer, "graphs_available", lambda *a: True)
                m.setattr(_trainer, "train_graphed", partial(train_graphed, capture=False))
            with sn._utils.seeded(0):
                hist = train(field, meth, {}, traj.values, traj.mask, traj.times, config, progress_bar=False)
        runs.append((field, hist))
    (f_e, h_e), (f_g, h_g) = runs
    assert h_g["switch_epoch"] == h_e["switch_epoch"] == 6
    for k in ("loss", "val_mse", "lr"):
        np.testing.assert_allclose(h_g[k], h_e[k], rtol=1e-4, atol=1e-7, err_msg=k)
    assert h_g["best_epoch"] == h_e["best_epoch"]
    assert h_g["best_val_mse"] == pytest.approx(h_e["best_val_mse"], rel=1e-4)
    assert h_g["warmstart_val_mse"] == pytest.approx(h_e["warmstart_val_mse"], rel=1e-4)
    for (k, a), b in zip(f_g.state_dict().items(), f_e.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=k)


def test_resuming_a_hybrid_checkpoint_with_another_split_is_refused(traj, tmp_path):
    cfg = {"max_epochs": 6, "objective": "hybrid", "warmstart_fraction": 0.5, "checkpoint_every": 2, "patience": None}
    model = sn.SparseNODE(traj.var_names, method="pathreg", hidden=(8, 8), device="cpu", seed=0)
    model.fit(traj, TrainConfig(**cfg), progress_bar=False, checkpoint_dir=tmp_path)
    other = TrainConfig(**(cfg | {"warmstart_fraction": 0.6}))
    with pytest.raises(ValueError, match="train_settings"):
        model.fit(traj, other, progress_bar=False, checkpoint_dir=tmp_path, resume=True)
