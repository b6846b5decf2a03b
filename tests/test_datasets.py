import time

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import sparsenode as sn
from sparsenode.datasets import _krumsiek11
from sparsenode.datasets._toy import HillODE, toy_perturbation_truth


@pytest.fixture(scope="module")
def toy():
    return sn.datasets.toy_grn(n_genes=10, n_cells=400, seed=3)


def _toggle() -> HillODE:
    return HillODE(
        ["a", "b", "c"],
        source=[0, 1, 0, 1],
        target=[1, 0, 2, 2],
        weight=[-1.0, -1.0, 0.8, -1.0],
        K=[0.5, 0.5, 0.4, 0.3],
        n=[4, 4, 2, 3],
        v=[1.0, 1.0, 1.5],
        k=[1.0, 1.0, 0.7],
        b=[0.1, 0.1, 0.05],
    )


# ---------------------------------------------------------------- HillODE
def test_hill_rhs_matches_formula():
    ode = _toggle()
    x = np.array([0.7, 0.2, 0.4])
    hp = lambda s, K, n: s**n / (K**n + s**n)
    hm = lambda s, K, n: K**n / (K**n + s**n)
    expected = np.array(
        [
            1.0 * hm(0.2, 0.5, 4) - 0.7,
            1.0 * hm(0.7, 0.5, 4) - 0.2,
            1.5 * (0.05 + 0.8 * hp(0.7, 0.4, 2)) / (0.05 + 0.8) * hm(0.2, 0.3, 3) - 0.7 * 0.4,
        ]
    )
    np.testing.assert_allclose(ode.rhs(x), expected, rtol=1e-12)


def test_hill_rhs_batched_and_unregulated():
    ode = _toggle()
    X = np.random.default_rng(0).uniform(0, 1, (5, 3))
    np.testing.assert_allclose(ode.rhs(X), np.stack([ode.rhs(x) for x in X]))
    const = HillODE(["a"], source=[], target=[], weight=[], K=[], n=[], v=[2.0], k=[0.5])
    np.testing.assert_allclose(const.rhs(np.array([[1.0], [4.0]])), [[1.5], [0.0]])


def test_hill_invalid_inputs():
    with pytest.raises(ValueError, match="non-zero"):
        HillODE(["a", "b"], source=[0], target=[1], weight=[0.0], K=[1.0], n=[2], v=[1, 1], k=[1, 1])
    with pytest.raises(ValueError, match="edge indices"):
        HillODE(["a", "b"], source=[2], target=[1], weight=[1.0], K=[1.0], n=[2], v=[1, 1], k=[1, 1])
    with pytest.raises(KeyError, match="unknown gene"):
        _toggle().simulate([0.5, 0.5, 0.5], [0, 1], clamp={"zz": 0.0})


def test_simulate_shapes_and_clamp():
    ode = _toggle()
    t = np.linspace(0, 10, 21)
    x = ode.simulate([0.55, 0.45, 0.3], t)
    assert x.shape == (21, 3)
    np.testing.assert_allclose(x[0], [0.55, 0.45, 0.3])
    assert x[-1, 0] > 0.9 and x[-1, 1] < 0.1  # toggle switch resolves towards a

    ko = ode.simulate([0.55, 0.45, 0.3], t, clamp={"a": 0.0})
    np.testing.assert_array_equal(ko[:, 0], 0.0)
    assert ko[-1, 1] > 0.9  # without a, b wins
    over = ode.simulate([0.55, 0.45, 0.3], t, clamp={1: 2.0})
    np.testing.assert_array_equal(over[:, 1], 2.0)

    batch = ode.simulate(np.array([[0.55, 0.45, 0.3], [0.45, 0.55, 0.3]]), t)
    assert batch.shape == (2, 21, 3)
    np.testing.assert_allclose(batch[0], x, atol=1e-5)


def test_network_and_dict_roundtrip(tmp_path):
    ode = _toggle()
    net = ode.network()
    assert list(net.columns) == ["source", "target", "sign", "weight"]
    assert net["sign"].tolist() == [-1, -1, 1, -1]
    assert ode.adjacency()[0, 2] == 1
    a = ad.AnnData(np.zeros((2, 3), dtype=np.float32))
    a.uns["ode"] = ode.to_dict()
    a.write_h5ad(tmp_path / "ode.h5ad")
    back = HillODE.from_dict(ad.read_h5ad(tmp_path / "ode.h5ad").uns["ode"])
    assert back.var_names == ode.var_names
    X = np.random.default_rng(1).uniform(0, 2, (7, 3))
    np.testing.assert_array_equal(back.rhs(X), ode.rhs(X))


# ---------------------------------------------------------------- toy_grn
def test_toy_grn_structure(toy):
    assert toy.shape == (400, 10)
    assert toy.X.dtype == np.float32
    assert list(toy.var_names) == [f"g{i}" for i in range(10)]
    assert toy.obs_names.is_unique
    assert toy.obs["lineage"].cat.categories.tolist() == ["lineage_0", "lineage_1"]
    assert toy.obs["lineage"].value_counts().tolist() == [200, 200]
    assert toy.obs["time"].between(0, 10).all()
    assert (toy.X >= 0).all()
    net = toy.uns["true_network"]
    assert list(net.columns) == ["source", "target", "sign", "weight"]
    assert set(net["sign"]) <= {-1, 1}
    pairs = set(zip(net["source"], net["target"], strict=True))
    assert {("g0", "g1"), ("g1", "g0")} <= pairs
    assert (net.set_index(["source", "target"]).loc[[("g0", "g1"), ("g1", "g0")], "sign"] == -1).all()
    targets = net.loc[~net["target"].isin(["g0", "g1"]), "target"].value_counts()
    assert len(targets) == 8 and targets.between(1, 2).all()
    assert toy.uns["lineage_x0"].shape == (2, 10)
    assert toy.uns["params"]["seed"] == 3


def test_toy_grn_all_genes_reachable_from_switch(toy):
    net = toy.uns["true_network"]
    reached, frontier = {"g0", "g1"}, {"g0", "g1"}
    while frontier:
        frontier = set(net.loc[net["source"].isin(frontier), "target"]) - reached
        reached |= frontier
    assert reached == set(toy.var_names)


def test_toy_grn_determinism():
    a = sn.datasets.toy_grn(n_genes=8, n_cells=100, seed=7)
    b = sn.datasets.toy_grn(n_genes=8, n_cells=100, seed=7)
    c = sn.datasets.toy_grn(n_genes=8, n_cells=100, seed=8)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.obs["time"], b.obs["time"])
    pd.testing.assert_frame_equal(a.uns["true_network"], b.uns["true_network"])
    assert not np.array_equal(a.X, c.X)


def test_toy_grn_h5ad_roundtrip(toy, tmp_path):
    path = tmp_path / "toy.h5ad"
    toy.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.X, toy.X)
    net, net_back = toy.uns["true_network"], back.uns["true_network"]
    assert net_back[["source", "target"]].astype(str).values.tolist() == net[["source", "target"]].values.tolist()
    np.testing.assert_array_equal(net_back["sign"], net["sign"])
    np.testing.assert_allclose(net_back["weight"], net["weight"])
    np.testing.assert_array_equal(back.uns["lineage_x0"], toy.uns["lineage_x0"])
    assert back.uns["params"]["n_genes"] == 10
    ode, ode_back = HillODE.from_dict(toy.uns["ode"]), HillODE.from_dict(back.uns["ode"])
    X = np.random.default_rng(0).uniform(0, 2, (16, 10))
    np.testing.assert_array_equal(ode_back.rhs(X), ode.rhs(X))
    pd.testing.assert_frame_equal(ode_back.network(), ode.network())


def test_toy_grn_lineages_diverge_and_genes_vary(toy):
    truth = toy_perturbation_truth(toy, "g0")
    wt = truth["wildtype"]
    end = wt[:, -1, :]
    assert end[0, 0] > 0.8 and end[0, 1] < 0.2  # lineage 0 ends in the g0 fate
    assert end[1, 1] > 0.8 and end[1, 0] < 0.2  # lineage 1 in the g1 fate
    assert (np.abs(end[0] - end[1]) > 0.1).sum() >= 5
    assert ((wt.max(axis=(0, 1)) - wt.min(axis=(0, 1))) > 0.1).sum() >= 8


def test_toy_grn_more_lineages_and_odd_counts():
    a = sn.datasets.toy_grn(n_genes=6, n_cells=101, n_lineages=3, edges_per_gene=3, seed=0)
    assert a.n_obs == 101
    assert a.obs["lineage"].value_counts().sort_index().tolist() == [34, 34, 33]
    assert a.uns["lineage_x0"].shape == (3, 6)
    with pytest.raises(ValueError, match="n_genes"):
        sn.datasets.toy_grn(n_genes=2)


def test_toy_grn_is_fast():
    start = time.perf_counter()
    sn.datasets.toy_grn(n_genes=10, n_cells=1000, seed=11)
    assert time.perf_counter() - start < 1.0


def test_toy_perturbation_truth(toy):
    truth = toy_perturbation_truth(toy, "g0", mode="knockout")
    assert truth["times"].shape == (50,)
    assert truth["wildtype"].shape == truth["perturbed"].shape == (2, 50, 10)
    assert truth["lineages"].tolist() == ["lineage_0", "lineage_1"]
    assert truth["var_names"].tolist() == list(toy.var_names)
    np.testing.assert_array_equal(truth["perturbed"][..., 0], 0.0)
    # without g0 the switch falls to g1 in both lineages
    assert (truth["perturbed"][:, -1, 1] > 0.8).all()

    over = toy_perturbation_truth(toy, ["g2", "g3"], mode="overexpression", t=np.linspace(0, 5, 11))
    assert over["perturbed"].shape == (2, 11, 10)
    np.testing.assert_allclose(over["values"], 2 * over["wildtype"][..., [2, 3]].max(axis=(0, 1)))
    np.testing.assert_allclose(over["perturbed"][..., 2], over["values"][0])
    np.testing.assert_allclose(over["wildtype"], toy_perturbation_truth(toy, "g5", t=over["times"])["wildtype"])
    with pytest.raises(ValueError, match="mode"):
        toy_perturbation_truth(toy, "g0", mode="silence")
    with pytest.raises(KeyError, match="not in the system"):
        toy_perturbation_truth(toy, "nope")


# ---------------------------------------------------------------- krumsiek11
@pytest.fixture(scope="module")
def krumsiek():
    return sn.datasets.krumsiek11()


def test_krumsiek11_cells(krumsiek):
    a = krumsiek
    assert a.shape == (640, 11)
    assert a.obs_names.is_unique
    assert a.obs["lineage"].cat.categories.tolist() == ["Mo", "Ery", "Mk", "Neu"]
    assert a.obs["lineage"].value_counts().tolist() == [160] * 4
    for i, fate in enumerate(["Mo", "Ery", "Mk", "Neu"]):
        block = a.obs.iloc[160 * i : 160 * (i + 1)]
        assert (block["lineage"] == fate).all()
        np.testing.assert_array_equal(block["time"].to_numpy(), np.arange(160, dtype=float))
        assert (block["cell_type"].iloc[:80] == "progenitor").all()
        assert (block["cell_type"].iloc[80:] == fate).all()
    assert isinstance(a.uns["iroot"], int)
    assert "highlights" not in a.uns


def test_krumsiek11_network(krumsiek):
    net = krumsiek.uns["true_network"]
    assert list(net.columns) == ["source", "target", "sign", "weight"]
    assert len(net) == 30
    assert (net["source"] == net["target"]).sum() == 4
    signs = {(s, t): g for s, t, g in zip(net["source"], net["target"], net["sign"], strict=True)}
    assert signs[("Gata1", "Fog1")] == 1
    assert signs[("Pu.1", "Gata1")] == -1
    assert signs[("Gata1", "Pu.1")] == -1
    assert signs[("Cebpa", "Gfi1")] == 1
    assert signs[("EgrNab", "Gfi1")] == -1
    assert signs[("Gata2", "Gata1")] == 1
    assert (np.sign(net["weight"]) == net["sign"]).all()
    assert set(net["source"]) | set(net["target"]) <= set(krumsiek.var_names)


def test_krumsiek11_h5ad_roundtrip(krumsiek, tmp_path):
    krumsiek.write_h5ad(tmp_path / "k.h5ad")
    back = ad.read_h5ad(tmp_path / "k.h5ad")
    assert len(back.uns["true_network"]) == 30
    assert back.obs["lineage"].cat.categories.tolist() == ["Mo", "Ery", "Mk", "Neu"]


def test_krumsiek11_missing_model_file(monkeypatch, tmp_path):
    monkeypatch.setattr(_krumsiek11, "_model_file", lambda: tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError, match="krumsiek11 model file"):
        sn.datasets.krumsiek11()


def test_read_coupling_list_errors(tmp_path):
    bad = tmp_path / "model.txt"
    bad.write_text("a = b\n")
    with pytest.raises(ValueError, match="coupling list"):
        _krumsiek11.read_coupling_list(bad)
    bad.write_text("# coupling list:\na b\n")
    with pytest.raises(ValueError, match="TARGET SOURCE WEIGHT"):
        _krumsiek11.read_coupling_list(bad)
