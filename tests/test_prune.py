"""sn.tl.prune: prune-and-refit keeps pruned units at zero, writes a normal fit entry, survives h5ad."""

import anndata as ad
import numpy as np
import pytest
import torch

import sparsenode as sn
from sparsenode.module import METHODS, GroupedMLPField, MLPField, apply_masks, get_method, prune_masks

FIT = {"time_key": "time", "lineage_key": "lineage", "hidden": (8, 8), "max_epochs": 30, "device": "cpu"}
CASES = [(m, None) for m in METHODS] + [("pathreg", "unit")]


def _fit(adata, method, gates=None, **kw):
    sn.tl.fit_node(adata, method=method, gates=gates, **{**FIT, **kw})


@pytest.mark.parametrize(("method", "gates"), CASES)
def test_prune_writes_a_fit_that_rebuilds_exactly_and_survives_h5ad(_toy, tmp_path, method, gates):
    adata = _toy.copy()
    _fit(adata, method, gates)
    sn.tl.prune(adata, method, threshold=0.5, refit_epochs=10)
    out = adata.uns[f"{method}_pruned"]
    assert set(adata.uns[method]) <= set(out)
    assert out["params"]["prune"]["threshold"] == 0.5
    assert out["history"]["refit_start"] == len(adata.uns[method]["history"]["loss"])
    assert len(out["history"]["loss"]) > out["history"]["refit_start"]
    assert out["metrics"]["val_mse_before_prune"] == adata.uns[method]["metrics"]["val_mse"]

    path = tmp_path / "pruned.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    model = sn.SparseNODE.from_adata(back, key=f"{method}_pruned", device="cpu")
    np.testing.assert_allclose(model.adjacency(), out["adjacency"], rtol=1e-6, atol=1e-7)
    assert model.feature_sparsity() == pytest.approx(out["metrics"]["feature_sparsity"])
    assert model.mse() == pytest.approx(out["metrics"]["train_mse"], rel=1e-5)
    sn.tl.infer_grn(back, key=f"{method}_pruned")  # readouts work on a pruned fit


def test_pruned_groups_stay_zero_through_the_refit(toy):
    _fit(toy, "grouplasso", max_epochs=60)
    stored = sn.SparseNODE.from_adata(toy, key="grouplasso", device="cpu")
    masks = prune_masks(stored.field, stored.method, 0.5)
    sn.tl.prune(toy, "grouplasso", threshold=0.5, refit_epochs=20)
    # masks are (members, output, hidden, input); each member of the (default) ensemble keeps its own zeros
    model = sn.SparseNODE.from_adata(toy, key="grouplasso_pruned", device="cpu")
    adj = model.adjacency(members=True)  # (members, source, target)
    pruned = (~masks["first"].any(dim=2)).numpy().transpose(0, 2, 1)
    assert pruned.any()
    assert np.all(adj[pruned] == 0)
    assert toy.uns["grouplasso_pruned"]["metrics"]["feature_sparsity"] >= pruned.mean() - 1e-6


def test_pruned_gates_are_exactly_zero_or_one_and_closed_ones_stay_closed(toy):
    _fit(toy, "pathreg")
    toy.uns["pathreg"]["state_dict"]["log_alpha__0"][0, :3] = -10.0  # three first-layer units closed by the fit
    sn.tl.prune(toy, "pathreg", threshold=0.2, refit_epochs=20)
    model = sn.SparseNODE.from_adata(toy, key="pathreg_pruned", device="cpu")
    gates = model.field.gate_values(sample=False)
    values = torch.cat([z.detach().flatten() for z in gates]).unique().tolist()
    assert values == [0.0, 1.0]
    assert not gates[0][0, :3].any()
    for z, w in zip(gates, model.field.weights, strict=True):
        assert torch.all(w[z == 0] == 0)
    assert toy.uns["pathreg_pruned"]["metrics"]["weight_sparsity"] > 0


@pytest.mark.parametrize("method", ["cnode", "lassonet_inner"])
def test_pruned_pairs_have_no_effect_after_refit_and_after_save_load(toy, tmp_path, method):
    _fit(toy, method)
    sn.tl.prune(toy, method, threshold=0.9, refit_epochs=10)
    adj = toy.uns[f"{method}_pruned"]["adjacency"]
    assert toy.uns[f"{method}_pruned"]["metrics"]["feature_sparsity"] > 0
    model = sn.SparseNODE.from_adata(toy, key=f"{method}_pruned", device="cpu")
    model.save(tmp_path / "m")
    for m in (model, sn.SparseNODE.load(tmp_path / "m", device="cpu")):
        _, mean_abs = m.jacobian()  # [source, target]
        np.fill_diagonal(mean_abs, 0.0)  # the decay term -k_i x_i is not part of the network
        assert np.all(mean_abs[adj == 0] == 0)
        assert np.any(mean_abs[adj > 0] > 0)


def test_the_largest_threshold_within_tolerance_is_kept(toy):
    _fit(toy, "node")
    sn.tl.prune(toy, "node", threshold=[0.0, 0.95], tolerance=1e6, refit_epochs=5, key_added="loose")
    sn.tl.prune(toy, "node", threshold=[0.0, 0.95], tolerance=0.0, refit_epochs=5, key_added="strict")
    loose, strict = toy.uns["loose"]["params"]["prune"], toy.uns["strict"]["params"]["prune"]
    assert loose["threshold"] == 0.95
    assert strict["threshold"] == loose["thresholds"][np.argmin(loose["val_mse"])]
    assert toy.uns["loose"]["metrics"]["feature_sparsity"] == loose["feature_sparsity"][1]


def test_threshold_zero_prunes_nothing_on_node(toy):
    _fit(toy, "node")
    sn.tl.prune(toy, "node", threshold=0.0, refit_epochs=5, key_added="node")  # replaces the fit in place
    assert toy.uns["node"]["metrics"]["weight_sparsity"] == 0.0
    assert toy.uns["node"]["params"]["prune"]["source_key"] == "node"
    assert "edge_mask" not in toy.uns["node"]["state_dict"]  # no genes-fold masked passes for nothing


def test_prune_masks_follow_each_method_structure():
    lasso = MLPField(4, hidden=(6,), skip="inner")
    with torch.no_grad():
        lasso.weights[0][0, :, 2] = 0.0  # input 2 leaves the network part
        lasso.skip.fill_(1.0)
    masks = prune_masks(lasso, get_method("lassonet_inner"), 0.0)
    assert not masks["weights.0"][0, :, 2].any() and masks["weights.0"][0, :, 1].all()
    assert set(masks) == {"weights.0", "skip"}  # features and skip entries; every pair kept, deeper layers alone
    grouped = GroupedMLPField(3, hidden=(4,))
    apply_masks(grouped, {"first": torch.zeros_like(grouped.first, dtype=torch.bool)})
    assert float(grouped.group_norms().detach().abs().max()) == 0.0


def test_prune_errors_say_what_to_do(toy):
    with pytest.raises(KeyError, match="fit_node"):
        sn.tl.prune(toy, "pathreg")
    _fit(toy, "l0", max_epochs=3)
    for bad in (1.0, [0.1, -0.1], "bogus", []):
        with pytest.raises(ValueError, match="threshold"):
            sn.tl.prune(toy, "l0", threshold=bad)
    with pytest.raises(ValueError, match="tolerance"):
        sn.tl.prune(toy, "l0", tolerance=-1)
    with pytest.raises(ValueError, match="edge mask"):
        MLPField(3, hidden=(4,)).set_edge_mask(torch.ones(3, 3))
    with pytest.raises(ValueError, match="refit_epochs"):
        sn.tl.prune(toy, "l0", refit_epochs=0)
    with pytest.raises(KeyError, match="no parameter"):
        apply_masks(MLPField(3, hidden=(4,)), {"first": torch.ones(1)})
    assert "l0_pruned" not in toy.uns  # nothing partial written on errors


def test_an_ensemble_is_pruned_per_member(toy):
    _fit(toy, "cnode", n_members=2)
    sn.tl.prune(toy, "cnode", threshold=0.9, refit_epochs=5)
    model = sn.SparseNODE.from_adata(toy, key="cnode_pruned", device="cpu")
    members = model.adjacency(members=True)
    assert members.shape[0] == 2
    assert model.field.edge_mask.shape == (2, 6, 6)
    for e in range(2):  # each member keeps its own pairs; what it dropped is exactly zero
        dropped = model.field.edge_mask[e].numpy().T == 0
        assert dropped.any() and np.all(members[e][dropped] == 0)
