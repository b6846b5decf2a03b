"""Hematopoiesis analysis: loader, base GRN, download path, pseudotime, gene selection, held-out MSE, regulators."""

import hashlib
import shutil

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import sparsenode as sn
from sparsenode.datasets import _hematopoiesis as hema

GENES = ["GATA1", "KLF1", "SPI1", "CEBPA", "HBB"]


def _write_trajectory(folder, prefix, code, rng, n_cells=40, genes=GENES, time_column="dpt_pseudotime"):
    cells = pd.DataFrame(rng.gamma(2.0, 1.0, (n_cells, len(genes))), columns=genes)
    cells.insert(0, time_column, rng.random(n_cells))
    cells.to_csv(folder / f"{prefix}_{code}_norm.csv", sep="\t", index=False)
    return cells


def _write_grn(folder):
    text = "TF.human,GATA1,KLF1,SPI1,HBB\nGATA1,0.0,1.0,0.0,1.0\nSPI1,1.0,0.0,0.0,0.0\n"
    import gzip

    with gzip.open(folder / hema.BASE_GRN_FILE, "wt") as fh:
        fh.write(text)


@pytest.fixture
def toy_folder(tmp_path):
    """Files of the PathReg layout for batches s1d2 and s2d4 (no erythroid file for s2d4, as in the real data)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "hema"
    folder.mkdir()
    for prefix in ("eryth", "mono", "B"):
        _write_trajectory(folder, prefix, 12, rng)
    for prefix in ("mono", "B"):
        _write_trajectory(folder, prefix, 24, rng)
    _write_grn(folder)
    return folder


# ---------------------------------------------------------------------------------------------------------- loader


def test_loader_toy_files_layout_trim_and_scaling(toy_folder):
    adata = sn.datasets.hematopoiesis(toy_folder, batches=["s1d2", "s2d4"])
    # 5 trajectories (erythroid/s2d4 absent), 40 - 10 - 20 cells each
    assert adata.shape == (5 * 10, len(GENES))
    assert list(adata.var_names) == GENES
    assert list(adata.obs["lineage"].cat.categories) == ["erythroid", "monocyte", "B"]
    assert list(adata.obs["batch"].cat.categories) == ["s1d2", "s2d4"]
    counts = adata.obs.groupby(["batch", "lineage"], observed=True).size()
    assert ("s2d4", "erythroid") not in counts.index and counts.eq(10).all()
    for _, sub in adata.obs.groupby(["batch", "lineage"], observed=True):
        t = sub["time"].to_numpy()
        assert t.min() == 0.0 and t.max() == 1.0 and np.all(np.diff(t) >= 0)
    x = np.asarray(adata.X)
    assert x.min() >= 0.0 and x.max() <= 1.0
    # the trim drops the 10 earliest and 20 latest cells of the file
    raw = pd.read_csv(toy_folder / "eryth_12_norm.csv", sep="\t").sort_values("dpt_pseudotime")
    kept = raw.iloc[10:20]
    ery = adata[(adata.obs["batch"] == "s1d2") & (adata.obs["lineage"] == "erythroid")]
    np.testing.assert_allclose(ery.obs["dpt_pseudotime"], kept["dpt_pseudotime"])
    np.testing.assert_allclose(ery.layers["normalised"], kept[GENES].to_numpy(), rtol=1e-6)


def test_loader_unscaled_aliases_and_h5ad_roundtrip(toy_folder, tmp_path):
    adata = sn.datasets.hematopoiesis(toy_folder, batches="s1d2", lineages=["eryth", "mono"], scale=False, trim=(0, 0))
    assert list(adata.obs["lineage"].cat.categories) == ["erythroid", "monocyte"]
    assert adata.n_obs == 80
    np.testing.assert_allclose(adata.obs["time"], adata.obs["dpt_pseudotime"])
    np.testing.assert_allclose(np.asarray(adata.X), adata.layers["normalised"])
    adata.write_h5ad(tmp_path / "hema.h5ad")
    back = ad.read_h5ad(tmp_path / "hema.h5ad")
    pd.testing.assert_frame_equal(back.obs, adata.obs)


def test_loader_env_var(toy_folder, monkeypatch):
    monkeypatch.setenv(hema.ENV_VAR, str(toy_folder))
    assert sn.datasets.hematopoiesis(batches="s2d4").n_obs == 20
    assert len(sn.datasets.base_grn()) == 3


def test_loader_errors(toy_folder, tmp_path):
    with pytest.raises(ValueError, match="unknown batch"):
        sn.datasets.hematopoiesis(toy_folder, batches="s9d9")
    with pytest.raises(ValueError, match="unknown lineage"):
        sn.datasets.hematopoiesis(toy_folder, lineages="T")
    with pytest.raises(ValueError, match="no trajectory"):
        sn.datasets.hematopoiesis(toy_folder, batches="s2d4", lineages="erythroid")
    with pytest.raises(FileNotFoundError, match="eryth_11_norm.csv"):
        sn.datasets.hematopoiesis(toy_folder, batches="s1d1")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        sn.datasets.hematopoiesis(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="trim"):
        sn.datasets.hematopoiesis(toy_folder, batches="s1d2", trim=(-1, 0))
    with pytest.raises(ValueError, match="fewer than 2 cells"):
        sn.datasets.hematopoiesis(toy_folder, batches="s1d2", trim=(20, 20))
    rng = np.random.default_rng(1)
    _write_trajectory(toy_folder, "B", 36, rng, time_column="latent_time")
    with pytest.raises(ValueError, match="dpt_pseudotime"):
        sn.datasets.hematopoiesis(toy_folder, batches="s3d6", lineages="B")
    _write_trajectory(toy_folder, "mono", 36, rng, genes=GENES[::-1])
    _write_trajectory(toy_folder, "B", 36, rng)
    with pytest.raises(ValueError, match="different genes"):
        sn.datasets.hematopoiesis(toy_folder, batches="s3d6", lineages=["mono", "B"])


def test_base_grn_toy(toy_folder):
    prior = sn.datasets.base_grn(toy_folder)
    assert list(prior.columns) == ["source", "target"]
    assert isinstance(prior["source"].dtype, pd.CategoricalDtype)
    edges = set(zip(prior["source"].astype(str), prior["target"].astype(str), strict=True))
    assert edges == {("GATA1", "KLF1"), ("GATA1", "HBB"), ("SPI1", "GATA1")}


def test_base_grn_other_layout_falls_back_to_pandas(tmp_path):
    import gzip

    with gzip.open(tmp_path / hema.BASE_GRN_FILE, "wt") as fh:
        fh.write("TF.human,A,B\nT1,1,0\nT2,0,1\n")  # integers, not the compact 0.0/1.0 layout
    prior = sn.datasets.base_grn(tmp_path)
    assert set(zip(prior["source"].astype(str), prior["target"].astype(str), strict=True)) == {("T1", "A"), ("T2", "B")}


# -------------------------------------------------------------------------------------------------- download path


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_into_cache_with_checksums(toy_folder, tmp_path, monkeypatch):
    """path=None downloads each file once from its pinned URL into $SPARSENODE_CACHE_DIR and checks its sha256."""
    cache = tmp_path / "cache"
    monkeypatch.delenv(hema.ENV_VAR, raising=False)
    monkeypatch.setenv(hema.CACHE_ENV_VAR, str(cache))
    for f in toy_folder.iterdir():
        monkeypatch.setitem(hema.REGISTRY, f.name, _sha256(f))
    calls = []

    def local_copy(url, output_file, pooch_obj):  # stands in for the HTTP download
        calls.append(url)
        shutil.copyfile(toy_folder / url.rsplit("/", 1)[-1], output_file)

    monkeypatch.setattr(hema, "_DOWNLOADER", local_copy)
    adata = sn.datasets.hematopoiesis(batches="s1d2")
    assert adata.n_obs == 30 and (cache / "mono_12_norm.csv").is_file()
    assert sorted(u.rsplit("/", 1)[-1] for u in calls) == ["B_12_norm.csv", "eryth_12_norm.csv", "mono_12_norm.csv"]
    assert all(u.startswith(hema.BASE_URL + "trajectories/") for u in calls)
    assert hema.SOURCE_COMMIT in calls[0]
    prior = sn.datasets.base_grn()
    assert len(prior) == 3 and calls[-1] == hema.BASE_URL + "TFs_Targets/" + hema.BASE_GRN_FILE
    n = len(calls)
    sn.datasets.hematopoiesis(batches="s1d2")  # cached: no second download
    assert len(calls) == n


def test_download_rejects_a_file_with_the_wrong_checksum(toy_folder, tmp_path, monkeypatch):
    monkeypatch.delenv(hema.ENV_VAR, raising=False)
    monkeypatch.setenv(hema.CACHE_ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.setitem(hema.REGISTRY, "B_24_norm.csv", "0" * 64)
    monkeypatch.setattr(
        hema, "_DOWNLOADER", lambda url, out, p: shutil.copyfile(toy_folder / url.rsplit("/", 1)[-1], out)
    )
    with pytest.raises(ValueError, match="(?i)hash"):
        sn.datasets.hematopoiesis(batches="s2d4", lineages="B")


# ------------------------------------------------------------------------------------------------------ real files


def test_real_files_s1d2(shared_data):
    folder = shared_data / "hematopoiesis"
    if not folder.is_dir():
        pytest.skip(f"no hematopoiesis folder in {shared_data}")
    adata = sn.datasets.hematopoiesis(folder, batches="s1d2")
    assert adata.n_vars == 529
    assert list(adata.obs["lineage"].cat.categories) == ["erythroid", "monocyte", "B"]
    assert adata.obs.groupby("lineage", observed=True).size().to_dict() == {"erythroid": 280, "monocyte": 824, "B": 168}
    assert {"GATA1", "KLF1", "TAL1", "GYPA", "ALAS2"} <= set(adata.var_names)
    assert float(adata.obs["time"].min()) == 0.0 and float(adata.obs["time"].max()) == 1.0
    test = sn.datasets.hematopoiesis(folder, batches=["s2d4"])
    assert list(test.obs["lineage"].cat.categories) == ["monocyte", "B"]  # no erythroid file for s2d4
    assert adata.obs_names.is_unique and test.obs_names.is_unique


@pytest.mark.slow  # parses a 13,388-column matrix (~30 s)
def test_real_base_grn(shared_data):
    folder = shared_data / "hematopoiesis"
    if not folder.is_dir():
        pytest.skip(f"no hematopoiesis folder in {shared_data}")
    adata = sn.datasets.hematopoiesis(folder, batches="s1d2")
    prior = sn.datasets.base_grn(folder)
    assert len(prior) == 3_845_934 and prior["source"].nunique() <= 762
    tfs = set(prior["source"].astype(str))
    assert len(tfs & set(adata.var_names)) == 113
    assert {"TAL1", "NFE2", "GFI1B"} <= set(prior.loc[prior["source"] == "GATA1", "target"].astype(str))


# ---------------------------------------------------------------------------------------- pseudotime, gene choice


@pytest.fixture(scope="module")
def toy():
    return sn.datasets.toy_grn(n_genes=6, n_cells=300, seed=0)


@pytest.mark.slow  # scanpy's neighbour graph compiles with numba on first use (minutes on a loaded 2-core machine)
def test_pseudotime_dpt_orders_cells_and_roundtrips(toy, tmp_path):
    adata = toy.copy()
    keys_before = (set(adata.obsm), set(adata.obsp), set(adata.uns))
    early = np.asarray(adata.obs["time"] <= adata.obs["time"].quantile(0.05))
    sn.pp.pseudotime(adata, root=early, n_pcs=None, key_added="dpt")
    # the medoid of the earliest cells starts the process: pseudotime rises with the simulated time
    rho = pd.Series(adata.obs["dpt"].to_numpy()).corr(pd.Series(adata.obs["time"].to_numpy()), method="spearman")
    assert rho > 0.5
    assert early[adata.uns["dpt_root"]]
    assert adata.obs["dpt"].between(0, 1).all() and adata.uns["dpt_root"] >= 0
    # nothing else (graph, diffusion map) lands in the user's object
    assert (set(adata.obsm), set(adata.obsp), set(adata.uns) - {"dpt_root"}) == keys_before
    adata.write_h5ad(tmp_path / "pt.h5ad")
    back = ad.read_h5ad(tmp_path / "pt.h5ad")
    np.testing.assert_allclose(back.obs["dpt"], adata.obs["dpt"])
    copy = sn.pp.pseudotime(toy, root=0, n_pcs=None, copy=True)
    assert "dpt_pseudotime" in copy.obs and "dpt_pseudotime" not in toy.obs


def test_pseudotime_errors(toy):
    adata = toy.copy()
    with pytest.raises(ValueError, match="needs a root"):
        sn.pp.pseudotime(adata)
    with pytest.raises(ValueError, match="method"):
        sn.pp.pseudotime(adata, method="palantir", root=0)
    with pytest.raises(KeyError, match="not a cell name"):
        sn.pp.pseudotime(adata, root="no_such_cell")
    with pytest.raises(ValueError, match="out of range"):
        sn.pp.pseudotime(adata, root=10_000)
    with pytest.raises(ValueError, match="no cell has"):
        sn.pp.pseudotime(adata, root=("lineage", "nope"))
    with pytest.raises(KeyError, match="spliced"):
        sn.pp.pseudotime(adata, method="scvelo")
    assert "dpt_pseudotime" not in adata.obs and "latent_time" not in adata.obs


def test_select_genes_hvg_plus_regulators_and_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    adata = ad.AnnData(np.log1p(rng.poisson(2.0, (120, 40)).astype(np.float32)))
    adata.var_names = [f"g{i}" for i in range(40)]
    prior = pd.DataFrame({"source": ["g3", "g7", "absent_tf"], "target": ["g1", "g2", "g3"]})
    sn.pp.select_genes(adata, n_top_genes=5, prior=prior, regulators=["g9"])
    sel = adata.var["selected"]
    assert sel.dtype == bool and sel[["g3", "g7", "g9"]].all()
    assert adata.var["selected_regulator"].sum() == 3
    assert 5 <= sel.sum() <= 8
    adata.write_h5ad(tmp_path / "sel.h5ad")
    back = ad.read_h5ad(tmp_path / "sel.h5ad")
    pd.testing.assert_series_equal(back.var["selected"], adata.var["selected"])
    only = sn.pp.select_genes(adata, n_top_genes=0, regulators=["g1"], key_added="regs", copy=True)
    assert only.var["regs"].sum() == 1 and "regs" not in adata.var


def test_select_genes_errors():
    adata = ad.AnnData(np.ones((10, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="nothing to select"):
        sn.pp.select_genes(adata, n_top_genes=0)
    with pytest.raises(ValueError, match="n_top_genes"):
        sn.pp.select_genes(adata, n_top_genes=-1)
    with pytest.raises(ValueError, match="source"):
        sn.pp.select_genes(adata, prior=pd.DataFrame({"tf": ["a"]}))
    with pytest.raises(KeyError, match="layer"):
        sn.pp.select_genes(adata, layer="counts")
    assert "selected" not in adata.var


# -------------------------------------------------------------------------------- held-out MSE, regulators


@pytest.fixture(scope="module")
def fitted():
    adata = sn.datasets.toy_grn(n_genes=5, n_cells=300, seed=0)
    for method, solver in (("node", "dopri5"), ("pathreg", "rk4")):
        sn.tl.fit_node(
            adata,
            method=method,
            time_key="time",
            lineage_key="lineage",
            n_bins=10,
            hidden=(8,),
            max_epochs=20,
            solver=solver,
            progress_bar=False,
            key_added=method,
        )
    return adata


def test_evaluate_heldout_table_and_batch_split(fitted):
    test = sn.datasets.toy_grn(n_genes=5, n_cells=300, seed=1)
    test.obs["batch"] = pd.Categorical(np.where(np.arange(test.n_obs) % 2 == 0, "d1", "d2"))
    table = sn.tl.evaluate_heldout(fitted, test, key="node")
    assert list(table.columns) == ["batch", "lineage", "n_cells", "mse"]
    assert set(table["batch"]) == {"d1", "d2"} and len(table) == 4
    assert table["n_cells"].sum() == test.n_obs
    assert np.isfinite(table["mse"]).all() and (table["mse"] > 0).all()
    own = sn.tl.evaluate_heldout(fitted, {"own": fitted}, key="node", batch_key=None, start_cells=5)
    assert own["batch"].unique().tolist() == ["own"] and own["n_cells"].sum() == fitted.n_obs


def test_evaluate_heldout_fixed_step_solver_matches_adaptive(fitted):
    """An rk4 fit simulated at cells' irregular times (spacing down to 1e-7) matches dopri5 there, in bounded time."""
    model = sn.SparseNODE.from_adata(fitted, key="pathreg")
    assert model.train_config.solver == "rk4"
    times = np.sort(np.random.default_rng(0).random(500))
    times = np.concatenate([[0.0], times, times[-1:] + 1e-7])  # spacing down to 1e-7: no step of that size is taken
    x0 = np.full((1, fitted.n_vars), 0.5)
    fast = model.simulate(x0, times)[0]
    model.train_config.solver = "dopri5"
    model.train_config.rtol, model.train_config.atol = 1e-6, 1e-8
    exact = model.simulate(x0, times)[0]
    assert fast.shape == exact.shape == (times.size, fitted.n_vars)
    np.testing.assert_allclose(fast, exact, atol=1e-3)


def test_evaluate_heldout_errors(fitted):
    test = sn.datasets.toy_grn(n_genes=5, n_cells=100, seed=1)
    with pytest.raises(ValueError, match="scaling"):
        sn.tl.evaluate_heldout(fitted, test, key="node", scaling="zscore")
    with pytest.raises(ValueError, match="start_cells"):
        sn.tl.evaluate_heldout(fitted, test, key="node", start_cells=0)
    with pytest.raises(KeyError, match="pseudo"):
        sn.tl.evaluate_heldout(fitted, test, key="node", time_key="pseudo")
    with pytest.raises(KeyError, match="lacks 1 modelled gene"):
        sn.tl.evaluate_heldout(fitted, test[:, test.var_names[1:]].copy(), key="node")
    with pytest.raises(TypeError, match="AnnData with a fit"):
        sn.tl.evaluate_heldout(np.zeros(3), test)


def test_spurious_feature_sparsity_counts_non_regulator_rows():
    adj = np.array([[1.0, 0.9, 0.0], [0.0, 0.0, 0.5], [0.0, 1e-5, 0.0]])
    # rows of the non-TFs "b" and "c": 5 of 6 entries are (relatively) zero
    assert sn.tl.spurious_feature_sparsity(adj, ["a", "b", "c"], {"a"}) == pytest.approx(5 / 6)
    assert np.isnan(sn.tl.spurious_feature_sparsity(adj, ["a", "b", "c"], ["a", "b", "c"]))
    with pytest.raises(ValueError, match="shape"):
        sn.tl.spurious_feature_sparsity(adj[:2], ["a", "b", "c"], ["a"])


def test_lineage_regulators_ranking_prior_and_filter(fitted):
    table = sn.tl.lineage_regulators(fitted, key="node", n_top=3)
    assert table.groupby("lineage").size().tolist() == [3, 3]
    for _, sub in table.groupby("lineage"):
        assert sub["rank"].tolist() == [1, 2, 3]
        assert (np.diff(sub["out_strength"].to_numpy()) <= 0).all()
    prior = pd.DataFrame({"source": ["g0", "g0", "g1"], "target": ["g1", "g2", "g0"]})
    table = sn.tl.lineage_regulators(fitted, key="node", regulators=["g0", "g1"], n_top=5, prior=prior, n_targets=2)
    assert set(table["regulator"]) == {"g0", "g1"}
    assert table["prior_precision"].between(0, 1).all()
    base = table.drop_duplicates("regulator").set_index("regulator")["prior_base_rate"]
    assert base["g0"] == pytest.approx(2 / 4) and base["g1"] == pytest.approx(1 / 4)
    with pytest.raises(ValueError, match="none of the regulators"):
        sn.tl.lineage_regulators(fitted, key="node", regulators=["GATA1"])
    with pytest.raises(ValueError, match="source"):
        sn.tl.lineage_regulators(fitted, key="node", prior=pd.DataFrame({"tf": ["g0"]}))


@pytest.mark.slow
def test_heldout_protocol_on_real_files(shared_data):
    """The paper's protocol in miniature on the real files: train on s1d2, forecast s2d4 (no erythroid file)."""
    folder = shared_data / "hematopoiesis"
    if not folder.is_dir():
        pytest.skip(f"no hematopoiesis folder in {shared_data}")
    train = sn.datasets.hematopoiesis(folder, batches="s1d2")
    test = sn.datasets.hematopoiesis(folder, batches="s2d4")
    sn.tl.fit_node(
        train,
        method="node",
        time_key="time",
        lineage_key="lineage",
        n_bins=10,
        hidden=(8,),
        max_epochs=2,
        solver="rk4",
        progress_bar=False,
        key_added="node",
    )
    table = sn.tl.evaluate_heldout(train, test, key="node")
    assert table[["batch", "lineage"]].values.tolist() == [["s2d4", "monocyte"], ["s2d4", "B"]]
    assert np.isfinite(table["mse"]).all()
