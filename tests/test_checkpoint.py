import numpy as np
import pytest
import torch

import sparsenode as sn
from sparsenode.train import _checkpoint


@pytest.fixture(scope="module")
def _traj():
    adata = sn.datasets.toy_grn(n_genes=5, n_cells=300, seed=0)
    return sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineage", n_bins=12)


@pytest.fixture
def traj(_traj):
    return _traj


def _model(traj, **kw):
    kw = {"method": "pathreg", "hidden": (8, 8), "device": "cpu", "seed": 3} | kw
    return sn.SparseNODE(traj.var_names, **kw)


CONFIG = {"max_epochs": 20, "checkpoint_every": 5, "patience": None, "segment_bins": 4}


def _interrupt_after(monkeypatch, last_epoch):
    """Make the fit stop (as on Ctrl-C) right after the checkpoint of ``last_epoch`` was written."""
    real = _checkpoint.Checkpointer.save

    def save_then_stop(self, epoch, best, history):
        real(self, epoch, best, history)
        if epoch == last_epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(_checkpoint.Checkpointer, "save", save_then_stop)


HYBRID = {"objective": "hybrid", "warmstart_fraction": 0.5}  # gradient matching for 10 epochs, then shooting


@pytest.mark.parametrize(
    ("extra", "last_epoch"),
    [({}, 9), (HYBRID, 9), (HYBRID, 14)],
    ids=["shooting", "hybrid-resume-at-switch", "hybrid-resume-after-switch"],
)
def test_resume_gives_the_same_fit_as_an_uninterrupted_run(traj, tmp_path, monkeypatch, extra, last_epoch):
    cfg = sn.train.TrainConfig(**(CONFIG | extra))
    straight = _model(traj).fit(traj, cfg, progress_bar=False)

    with monkeypatch.context() as m:
        _interrupt_after(m, last_epoch)
        with pytest.warns(RuntimeWarning, match="interrupted"):
            first = _model(traj).fit(traj, cfg, progress_bar=False, checkpoint_dir=tmp_path)
    assert first.history["stopped"] == "interrupted" and len(first.history["loss"]) == last_epoch + 1
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["checkpoint.pt"]  # nothing temporary left behind
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # plain tensors and numbers only
    assert ck["epoch"] == last_epoch

    # the global RNG is consumed in between: resuming must not depend on it
    torch.rand(100)
    resumed = _model(traj).fit(traj, cfg, progress_bar=False, checkpoint_dir=tmp_path, resume=True)
    for (k, a), b in zip(straight.field.state_dict().items(), resumed.field.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)  # bitwise on CPU
    for k in ("loss", "mse", "val_mse", "lr", "sparsity"):
        np.testing.assert_allclose(straight.history[k], resumed.history[k], rtol=0, atol=1e-6, err_msg=k)
    assert resumed.history["best_epoch"] == straight.history["best_epoch"]
    assert resumed.history["stopped"] == "max_epochs" and len(resumed.history["loss"]) == 20
    for k in ("switch_epoch", "warmstart_val_mse", "best_val_mse"):  # hybrid bookkeeping survives the checkpoint
        assert (k in resumed.history) == (k in straight.history), k
        if k in straight.history:
            assert resumed.history[k] == pytest.approx(straight.history[k], rel=0, abs=1e-7), k
    np.testing.assert_allclose(straight.predict(), resumed.predict(), atol=1e-6)


def test_resume_without_checkpoint_starts_a_new_fit_and_writes_one(traj, tmp_path):
    cfg = sn.train.TrainConfig(**(CONFIG | {"max_epochs": 6}))
    plain = _model(traj).fit(traj, cfg, progress_bar=False)
    fresh = _model(traj).fit(traj, cfg, progress_bar=False, checkpoint_dir=tmp_path / "new", resume=True)
    assert (tmp_path / "new" / "checkpoint.pt").is_file()
    np.testing.assert_array_equal(plain.predict(), fresh.predict())
    # resuming a finished fit runs no further epoch and returns the same model
    again = _model(traj).fit(traj, cfg, progress_bar=False, checkpoint_dir=tmp_path / "new", resume=True)
    np.testing.assert_array_equal(fresh.predict(), again.predict())


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"hidden": (4, 8)}, "other genes or another architecture"),
        ({"method": "l0"}, "different model"),
        ({"seed": 4}, "different model"),
    ],
)
def test_checkpoint_of_another_fit_is_refused(traj, tmp_path, change, match):
    cfg = sn.train.TrainConfig(**(CONFIG | {"max_epochs": 5}))
    _model(traj).fit(traj, cfg, progress_bar=False, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=match):
        _model(traj, **change).fit(traj, cfg, progress_bar=False, checkpoint_dir=tmp_path, resume=True)


def test_checkpoint_of_other_genes_or_settings_is_refused(traj, tmp_path):
    cfg = sn.train.TrainConfig(**(CONFIG | {"max_epochs": 5}))
    _model(traj).fit(traj, cfg, progress_bar=False, checkpoint_dir=tmp_path)
    renamed = sn.pp.Trajectories.from_dict(traj.to_dict(), [f"x{g}" for g in traj.var_names])
    with pytest.raises(ValueError, match="var_names"):
        _model(renamed).fit(renamed, cfg, progress_bar=False, checkpoint_dir=tmp_path, resume=True)
    other = sn.train.TrainConfig(**(CONFIG | {"max_epochs": 5, "lr": 0.1}))
    with pytest.raises(ValueError, match="train_settings"):
        _model(traj).fit(traj, other, progress_bar=False, checkpoint_dir=tmp_path, resume=True)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read"):
        _model(traj).fit(traj, cfg, progress_bar=False, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        _model(traj).fit(traj, cfg, progress_bar=False, resume=True)


def test_fit_node_checkpoints_and_resumes(tmp_path):
    adata = sn.datasets.toy_grn(n_genes=4, n_cells=200, seed=1)
    kw = {"time_key": "time", "lineage_key": "lineage", "hidden": (8,), "n_bins": 10, "progress_bar": False}
    sn.tl.fit_node(adata, method="node", max_epochs=3, checkpoint_dir=tmp_path, key_added="a", **kw)
    assert (tmp_path / "checkpoint.pt").is_file()
    assert adata.uns["a"]["params"]["train"]["checkpoint_dir"] == str(tmp_path)
    sn.tl.fit_node(adata, method="node", max_epochs=3, checkpoint_dir=tmp_path, resume=True, key_added="b", **kw)
    for k, v in adata.uns["a"]["state_dict"].items():
        np.testing.assert_array_equal(v, adata.uns["b"]["state_dict"][k])
    model = sn.SparseNODE.from_adata(adata, key="a", device="cpu")
    assert model.train_config.checkpoint_dir == str(tmp_path)
    sn.tl.fit_node(adata, method="node", max_epochs=2, key_added="c", **kw)
    assert sn.SparseNODE.from_adata(adata, key="c", device="cpu").train_config.checkpoint_dir is None


def test_interrupt_mid_epoch_keeps_best_weights_and_a_usable_checkpoint(traj, tmp_path, monkeypatch):
    from sparsenode.train import _trainer

    cfg = sn.train.TrainConfig(**(CONFIG | {"max_epochs": 12, "checkpoint_every": 1}))
    straight = _model(traj).fit(traj, cfg, progress_bar=False)

    # Ctrl-C inside the forward pass of epoch 8, after the checkpoint of epoch 7 was written
    real_step, real_mse = _checkpoint.Checkpointer.step, _trainer._segment_mse
    state = {"armed": False}

    def step(self, epoch, best, history):
        real_step(self, epoch, best, history)
        state["armed"] = epoch == 7

    def mse(*args):
        if state["armed"]:
            raise KeyboardInterrupt
        return real_mse(*args)

    with monkeypatch.context() as m:
        m.setattr(_checkpoint.Checkpointer, "step", step)
        m.setattr(_trainer, "_segment_mse", mse)
        with pytest.warns(RuntimeWarning, match="interrupted"):
            cut = _model(traj).fit(traj, cfg, progress_bar=False, checkpoint_dir=tmp_path)
    assert cut.history["stopped"] == "interrupted" and len(cut.history["loss"]) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ck["epoch"] == 7 and ck["best_epoch"] == cut.history["best_epoch"]
    # the interrupted model holds the best weights so far, not those of the half-finished epoch
    for k, v in cut.field.state_dict().items():
        torch.testing.assert_close(v, ck["best_state"][k], rtol=0, atol=0, msg=k)
    resumed = _model(traj).fit(traj, cfg, progress_bar=False, checkpoint_dir=tmp_path, resume=True)
    np.testing.assert_array_equal(straight.predict(), resumed.predict())
