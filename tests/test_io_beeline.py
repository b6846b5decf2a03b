import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import sparsenode as sn

EXPR = ",c1,c2,c3,c4\ng1,1.0,2.0,3.0,4.0\ng2,0.5,0.0,1.5,2.5\ng3,0,0,1,1\n"
# c1 is a shared progenitor (in both lineages), c3 is only in the second lineage
PT_INDEXED = ",PseudoTime1,PseudoTime2\nc1,0.0,0.1\nc2,0.5,\nc3,,0.7\nc4,1.0,NA\n"
# BEELINE's Simulated sets write the header without a leading field for the cell column
PT_BARE = "PseudoTime1,PseudoTime2\nc1,0.0,0.1\nc2,0.5,NA\nc3,NA,0.7\nc4,1.0,NA\n"
NET = "Gene1,Gene2,Type\ng1,g2,+\ng2,g3,-\ng1,g2,+\ng3,g3,+\n"


def _write(folder, expr=EXPR, pt=PT_INDEXED, net=NET):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ExpressionData.csv").write_text(expr)
    if pt is not None:
        (folder / "PseudoTime.csv").write_text(pt)
    if net is not None:
        (folder / "refNetwork.csv").write_text(net)
    return folder


@pytest.mark.parametrize("pt", [PT_INDEXED, PT_BARE])
def test_read_tiny_folder(tmp_path, pt):
    folder = _write(tmp_path / "tiny_2000_0", pt=pt)
    adata = sn.io.read_beeline(folder)
    assert adata.shape == (4, 3)
    assert adata.X.dtype == np.float32
    assert list(adata.obs_names) == ["c1", "c2", "c3", "c4"]
    assert list(adata.var_names) == ["g1", "g2", "g3"]
    np.testing.assert_allclose(adata.X[:, 1], [0.5, 0.0, 1.5, 2.5])
    np.testing.assert_allclose(adata.obs["time"].to_numpy(), [0.0, 0.5, 0.7, 1.0])
    assert isinstance(adata.obs["lineage"].dtype, pd.CategoricalDtype)
    assert adata.obs["lineage"].tolist() == ["PseudoTime1", "PseudoTime1", "PseudoTime2", "PseudoTime1"]
    lin = adata.obsm["lineages"]
    assert isinstance(lin, pd.DataFrame)
    assert list(lin.columns) == ["PseudoTime1", "PseudoTime2"]
    assert lin.dtypes.eq(bool).all()
    assert lin.loc["c1"].tolist() == [True, True]
    assert lin.loc["c3"].tolist() == [False, True]
    net = adata.uns["true_network"]
    assert list(net.columns) == ["source", "target", "sign"]
    assert net[["source", "target"]].apply(tuple, axis=1).tolist() == [("g1", "g2"), ("g2", "g3"), ("g3", "g3")]
    assert net["sign"].tolist() == [1, -1, 1]
    assert net["sign"].dtype == np.int64
    assert adata.uns["dataset"] == "tiny_2000_0"
    # a path to ExpressionData.csv itself works too
    assert sn.io.read_beeline(folder / "ExpressionData.csv").shape == (4, 3)


def test_unknown_and_conflicting_signs(tmp_path):
    net = "Gene1,Gene2,Type\ng1,g2,?\ng2,g3,+\ng2,g3,-\n"
    adata = sn.io.read_beeline(_write(tmp_path / "d", net=net))
    assert adata.uns["true_network"]["sign"].tolist() == [0, 0]
    no_type = sn.io.read_beeline(_write(tmp_path / "e", net="Gene1,Gene2\ng1,g2\n"))
    assert no_type.uns["true_network"]["sign"].tolist() == [0]


def test_h5ad_round_trip(tmp_path):
    adata = sn.io.read_beeline(_write(tmp_path / "tiny"))
    path = tmp_path / "tiny.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(
        back.uns["true_network"].reset_index(drop=True), adata.uns["true_network"].reset_index(drop=True)
    )
    assert back.uns["true_network"]["sign"].dtype == np.int64
    pd.testing.assert_frame_equal(back.obsm["lineages"], adata.obsm["lineages"])
    pd.testing.assert_frame_equal(back.obs, adata.obs)
    assert back.uns["dataset"] == "tiny"
    np.testing.assert_array_equal(back.X, adata.X)


def test_errors_and_warnings(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ExpressionData\.csv"):
        sn.io.read_beeline(tmp_path / "absent")
    folder = _write(tmp_path / "no_pt", pt=None)
    with pytest.raises(FileNotFoundError, match=r"PseudoTime\.csv.*no_pt"):
        sn.io.read_beeline(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"ExpressionData\.csv, PseudoTime\.csv"):
        sn.io.read_beeline(tmp_path / "empty")
    with pytest.warns(UserWarning, match="gX"):
        sn.io.read_beeline(_write(tmp_path / "extra", net="Gene1,Gene2,Type\ng1,gX,+\n"))
    with pytest.warns(UserWarning, match="refNetwork"):
        adata = sn.io.read_beeline(_write(tmp_path / "nonet", net=None))
    assert "true_network" not in adata.uns
    with pytest.warns(UserWarning, match="no row"):
        adata = sn.io.read_beeline(_write(tmp_path / "fewpt", pt=",PseudoTime\nc1,0\nc2,1\n"))
    assert adata.obs["time"].isna().sum() == 2


def test_read_ranked_edges(tmp_path):
    tab = tmp_path / "tab.csv"
    tab.write_text("Gene1\tGene2\tEdgeWeight\ng1\tg2\t0.5\ng2\tg1\t-1e-3\n")
    comma = tmp_path / "comma.csv"
    comma.write_text("Gene1,Gene2,EdgeWeight\ng1,g2,0.5\ng2,g1,-1e-3\n")
    for f in (tab, comma):
        df = sn.io.read_ranked_edges(f)
        assert list(df.columns) == ["source", "target", "weight"]
        assert df["weight"].dtype == np.float64
        assert df["weight"].tolist() == [0.5, -1e-3]
        assert df["source"].tolist() == ["g1", "g2"]
    header_only = tmp_path / "header.csv"
    header_only.write_text("Gene1\tGene2\tEdgeWeight\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    for f in (header_only, empty):
        df = sn.io.read_ranked_edges(f)
        assert len(df) == 0 and df["weight"].dtype == np.float64
    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        sn.io.read_ranked_edges(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("Gene1\tGene2\tEdgeWeight\ng1\tg2\thigh\n")
    with pytest.raises(ValueError, match="non-numeric"):
        sn.io.read_ranked_edges(bad)


def test_read_real_folder(shared_data, tmp_path):
    folder = shared_data / "beeline" / "inputs" / "Simulated" / "HSC" / "HSC_2000_0"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adata = sn.io.read_beeline(folder)
    assert adata.shape == (2000, 11)
    assert adata.uns["dataset"] == "HSC_2000_0"
    pt = pd.read_csv(folder / "PseudoTime.csv", index_col=0)
    lin = adata.obsm["lineages"]
    assert list(lin.columns) == list(pt.columns)
    assert lin.sum(axis=1).min() >= 1 and lin.sum(axis=1).max() > 1  # shared progenitors
    first = pt.loc[adata.obs_names].bfill(axis=1).iloc[:, 0]
    np.testing.assert_allclose(adata.obs["time"].to_numpy(), first.to_numpy())
    net = pd.read_csv(folder / "refNetwork.csv")
    assert len(adata.uns["true_network"]) == len(net.drop_duplicates(["Gene1", "Gene2"]))
    assert set(adata.uns["true_network"]["sign"]) == {1, -1}
    expr = pd.read_csv(folder / "ExpressionData.csv", index_col=0)
    np.testing.assert_allclose(adata.X, expr.to_numpy().T.astype(np.float32))
    path = tmp_path / "hsc.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(back.obsm["lineages"], lin)
    assert back.uns["true_network"]["source"].tolist() == adata.uns["true_network"]["source"].tolist()
    # binned trajectories accept the membership matrix
    traj = sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineages", n_bins=10)
    assert traj.values.shape == (4, 10, 11)
