"""The method set: every readout mode for every method, h5ad round trips, default strengths."""

import numpy as np
import pandas as pd
import pytest
from anndata import read_h5ad

import sparsenode as sn
from sparsenode.module import METHODS, GroupedMLPField, MLPField, get_method

FAST = dict(max_epochs=4, hidden=(8, 8), n_bins=12, progress_bar=False, time_key="time", lineage_key="lineage")


@pytest.fixture(scope="module")
def _toy():
    return sn.datasets.toy_grn(n_genes=6, n_cells=300, seed=2)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_readout_mode_works_and_survives_h5ad(_toy, tmp_path, method):
    # (fit structure and model rebuild for every method: tests/test_tl.py)
    adata = _toy.copy()
    sn.tl.fit_node(adata, method=method, **FAST)
    adj = adata.uns[method]["adjacency"]
    rel = np.abs(adj) / max(float(np.abs(adj).max()), 1e-12)
    nets = {}
    for mode in ("structure", "jacobian", "combined"):
        key = f"{method}_{mode}"
        sn.tl.infer_grn(adata, key=method, mode=mode, key_added=key)
        w = adata.varp[key]
        assert w.shape == (6, 6) and w.dtype == np.float32 and np.isfinite(w).all()
        assert adata.uns[method]["grn"]["mode"] == mode
        nets[mode] = w
    # structure: the method's adjacency, signed; combined: the Jacobian masked by it
    np.testing.assert_allclose(np.abs(nets["structure"]), adj, rtol=1e-5, atol=1e-7)
    assert np.all(nets["combined"][rel <= 1e-3] == 0)
    keep = rel > 1e-3
    np.testing.assert_allclose(np.abs(nets["combined"][keep]), np.abs(nets["jacobian"][keep]), rtol=1e-5)
    adata.write_h5ad(tmp_path / "fit.h5ad")
    back = read_h5ad(tmp_path / "fit.h5ad")
    for mode in nets:
        np.testing.assert_array_equal(back.varp[f"{method}_{mode}"], nets[mode])
    assert dict(back.uns[method]["metrics"]) == pytest.approx(dict(adata.uns[method]["metrics"]))
    pd.testing.assert_frame_equal(sn.get.grn(back, key=method), sn.get.grn(adata, key=method))


def _field(method: str, n_genes: int, seed: int = 0):
    m = get_method(method)
    if m.field_kind == "grouped":
        return m, GroupedMLPField(n_genes, (8,), seed=seed)
    return m, MLPField(n_genes, (8, 8), gates=m.gates, skip=m.skip, seed=seed)


@pytest.mark.parametrize("method", ["l0", "cnode", "pathreg"])
def test_penalties_do_not_grow_with_the_number_of_genes(method):
    # normalised so one default strength means the same on 10 genes and on 200
    m, small = _field(method, 10)
    _, large = _field(method, 200)
    ps = float(m.penalty(small, m.lambdas).sum().detach())
    pl = float(m.penalty(large, m.lambdas).sum().detach())
    assert 0.2 < pl / ps < 5.0


def test_grouplasso_default_strength_removes_unused_inputs():
    # without any loss gradient, proximal steps at the default strength and grouplasso's default learning rate
    # remove every input within the 1000 steps of a default fit (a strength of 1e-2 removed none in 500 epochs on
    # toy_grn)
    from sparsenode.tl._fit import default_lr

    m, f = _field("grouplasso", 5)
    for _ in range(1000):
        m.prox(f, default_lr("grouplasso", "gradient"), m.lambdas)
    assert float(m.adjacency(f).detach().abs().max()) == 0.0
