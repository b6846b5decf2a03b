"""The prior of fit_node: hard source mask (prior_mode="mask") and soft edge penalty ("penalty", "both")."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

import sparsenode as sn
from sparsenode.module import MLPField, get_method, prior_dependency, with_prior_penalty
from sparsenode.tl._fit import off_prior_share

FIT = {"time_key": "time", "lineage_key": "lineage", "hidden": (16, 16), "progress_bar": False}


def _prior(adata) -> pd.DataFrame:
    return adata.uns["true_network"][["source", "target"]]


def _off(adata, names) -> np.ndarray:
    pos = {g: i for i, g in enumerate(names)}
    off = np.ones((len(names), len(names)))
    for s, t in zip(_prior(adata)["source"], _prior(adata)["target"], strict=True):
        off[pos[s], pos[t]] = 0.0
    return off


@pytest.mark.parametrize(
    ("method", "objective", "epochs", "lam", "members"),
    [
        ("node", "gradient", 200, 1.0, 1),
        ("pathreg", "gradient", 200, 1.0, 1),
        ("grouplasso", "gradient", 200, 1.0, 1),
        ("node", "shooting", 150, 1.0, 2),
    ],
)
def test_penalty_lowers_off_prior_share(toy, method, objective, epochs, lam, members):
    kw = {**FIT, "method": method, "objective": objective, "max_epochs": epochs, "n_members": members}
    sn.tl.fit_node(toy, key_added="free", **kw)
    sn.tl.fit_node(toy, key_added="soft", prior=_prior(toy), prior_mode="penalty", lambda_prior=lam, **kw)
    off = _off(toy, [str(v) for v in toy.uns["soft"]["var_names"]])
    free = off_prior_share(toy.uns["free"]["adjacency"], off)
    soft = off_prior_share(toy.uns["soft"]["adjacency"], off)
    assert soft < free - 0.1, (free, soft)
    assert toy.uns["soft"]["metrics"]["off_prior_share"] == pytest.approx(soft, rel=1e-5)
    assert toy.uns["soft"]["params"]["prior_mode"] == "penalty"
    # the penalty is part of the recorded loss: the fit without prior has none for node / grouplasso
    assert np.asarray(toy.uns["soft"]["history"]["penalty"])[0] > 0


def test_prior_round_trip(toy, tmp_path):
    sn.tl.fit_node(
        toy, method="l0", max_epochs=5, prior=_prior(toy), prior_mode="both", lambda_prior=0.5, key_added="l0", **FIT
    )
    model = sn.SparseNODE.from_adata(toy, key="l0", device="cpu")
    path = tmp_path / "prior.h5ad"
    toy.write_h5ad(path)
    back = sn.SparseNODE.from_adata(ad.read_h5ad(path), key="l0", device="cpu")
    assert back.lambda_prior == model.lambda_prior == 0.5
    assert back.prior_edges == model.prior_edges and len(back.prior_edges) == len(_prior(toy))
    np.testing.assert_array_equal(back.off_prior(), model.off_prior())
    np.testing.assert_array_equal(back.field.input_mask.numpy(), model.field.input_mask.numpy())
    model.save(tmp_path / "model")
    loaded = sn.SparseNODE.load(tmp_path / "model")
    assert loaded.prior_edges == model.prior_edges and loaded.lambda_prior == 0.5
    pen = back.training_method().penalty(back.field, back.lambdas).detach()
    base = back.method.penalty(back.field, back.lambdas).detach()
    assert bool((pen > base).all())  # the prior term is rebuilt, on top of l0's own penalty (one per member)
    again = model.training_method().penalty(model.field, model.lambdas).detach()
    np.testing.assert_allclose(pen.numpy(), again.numpy(), rtol=1e-6)


def test_mask_mode_unchanged_and_regulator_lists(toy):
    regs = ["g0", "g1"]
    sn.tl.fit_node(toy, method="node", max_epochs=3, regulators=regs, key_added="mask", **FIT)
    assert toy.uns["mask"]["params"]["prior_mode"] == "mask"
    adj = toy.uns["mask"]["adjacency"]
    names = [str(v) for v in toy.uns["mask"]["var_names"]]
    other = [i for i, g in enumerate(names) if g not in regs]
    assert np.all(adj[other] == 0) and np.all(adj[[names.index(r) for r in regs]] > 0)
    sn.tl.fit_node(toy, method="node", max_epochs=3, regulators=regs, prior_mode="penalty", key_added="pen", **FIT)
    model = sn.SparseNODE.from_adata(toy, key="pen", device="cpu")
    assert float(model.field.input_mask.min()) == 1.0  # no hard mask
    off = model.off_prior()
    assert np.all(off[other] == 1) and np.all(off[[names.index(r) for r in regs]] == 0)
    assert model.lambda_prior == pytest.approx(sn.tl._fit.DEFAULT_LAMBDA_PRIOR)


def test_prior_penalty_unit():
    field = MLPField(4, hidden=(8,), gates="weight")
    method = get_method("pathreg")
    none_off = with_prior_penalty(method, torch.zeros(4, 4), 1.0)
    with torch.no_grad():
        assert float(none_off.penalty(field, method.lambdas)) == pytest.approx(
            float(method.penalty(field, method.lambdas))
        )
    all_off = with_prior_penalty(method, torch.ones(4, 4), 1.0)
    pen = all_off.penalty(field, method.lambdas).sum()
    pen.backward()
    assert all(la.grad is not None and la.grad.abs().sum() > 0 for la in field.log_alpha)
    dep = prior_dependency(field).detach()
    assert dep.shape == (1, 4, 4) and float(dep.min()) >= 0 and float(dep.max()) <= 1.0
    skip = MLPField(4, hidden=(8,), skip="inner")
    with torch.no_grad():
        skip.skip.fill_(1.0)
    assert torch.all(prior_dependency(skip) >= 1.0)  # the skip is a direct input-output path
    with pytest.raises(ValueError, match="lambda_prior"):
        with_prior_penalty(method, torch.ones(4, 4), -1.0)


def test_prior_errors(toy):
    prior = _prior(toy)
    before = set(toy.uns)
    kw = {**FIT, "method": "node", "max_epochs": 2}
    with pytest.raises(ValueError, match="prior_mode must be one of"):
        sn.tl.fit_node(toy, prior=prior, prior_mode="soft", **kw)
    with pytest.raises(ValueError, match="none was given"):
        sn.tl.fit_node(toy, prior_mode="penalty", **kw)
    with pytest.raises(ValueError, match="does not use"):
        sn.tl.fit_node(toy, prior=prior, lambda_prior=0.1, **kw)
    with pytest.raises(ValueError, match="non-negative"):
        sn.tl.fit_node(toy, prior=prior, prior_mode="penalty", lambda_prior=-1.0, **kw)
    with pytest.raises(ValueError, match="'target'"):
        sn.tl.fit_node(toy, prior=prior[["source"]], prior_mode="penalty", **kw)
    unknown = pd.DataFrame({"source": ["GATA1", "g0"], "target": ["KLF1", "TAL1"]})
    with pytest.raises(ValueError, match="gene naming"):
        sn.tl.fit_node(toy, prior=unknown, prior_mode="penalty", **kw)
    with pytest.raises(ValueError, match="no prior_edges"):
        sn.SparseNODE(["a", "b"], method="node", lambda_prior=0.1)
    assert set(toy.uns) == before  # nothing partial written
