import importlib.util
import os
import sys

import numpy as np
import pandas as pd
import pytest

import sparsenode as sn
from sparsenode.bm import COLUMNS, benchmark, read_results, resolve_datasets

TOY = {"kind": "toy_grn", "n_genes": 5, "n_cells": 200, "seed": 0}
FIT = {"max_epochs": 2, "device": "cpu"}


def _cell_files(out):
    return sorted((out / "cells").glob("*.csv"))


@pytest.fixture
def tiny(tmp_path):
    out = tmp_path / "run"
    table = benchmark(
        datasets=["krumsiek11", TOY],
        methods=["pearson", "ridge_derivative", "pathreg"],
        seeds=[0],
        output_dir=out,
        fit_options=FIT,
        n_threads=1,
    )
    return out, table


def test_tidy_table_and_files(tiny):
    out, table = tiny
    assert list(table.columns) == COLUMNS
    cells = table[["dataset", "method", "seed"]].drop_duplicates()
    assert len(cells) == 2 * 3
    assert (table["error"] == "").all()
    assert len(_cell_files(out)) == 6
    # every cell scores the GRN against the truth
    scored = table.query("metric == 'auprc_ratio'")
    assert len(scored) == 6 and np.isfinite(scored["value"]).all()
    assert (table["runtime_s"] > 0).all() and (table["peak_memory_mb"] > 0).all()
    # sparsenode fits add their own metrics; on the toy system (known ODE) also knock-out accuracy
    fit = table.query("method == 'pathreg' and dataset.str.startswith('toy')").set_index("metric")["value"]
    assert {"feature_sparsity", "train_mse", "perturbation_sign_agreement", "perturbation_spearman"} <= set(fit.index)
    assert fit["epochs"] == 2
    assert set(table.query("method == 'pearson'")["metric"]) >= {"auroc", "auprc", "auprc_ratio", "epr"}


def test_csv_round_trip(tiny):
    out, table = tiny
    back = read_results(out)
    pd.testing.assert_frame_equal(back, table)
    # the cells folder alone gives the same rows
    (out / "results.csv").unlink()
    cells = read_results(out).sort_values(["dataset", "method", "metric"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(cells, table.sort_values(["dataset", "method", "metric"]).reset_index(drop=True))


def test_resume_does_not_recompute(tmp_path):
    calls = []

    def counted(adata, *, seed):
        calls.append(seed)
        return sn.bm.pearson_grn(adata)

    kwargs = dict(
        datasets="krumsiek11", methods=["counted"], seeds=[0, 1], output_dir=tmp_path, registry={"counted": counted}
    )
    first = benchmark(**kwargs)
    assert calls == [0, 1]
    files = _cell_files(tmp_path)
    mtimes = [f.stat().st_mtime_ns for f in files]
    second = benchmark(**kwargs)
    assert calls == [0, 1]  # nothing ran again
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    pd.testing.assert_frame_equal(first, second)
    # a grown grid runs only the new cell; resume=False runs all
    benchmark(**{**kwargs, "seeds": [0, 1, 2]})
    assert calls == [0, 1, 2]
    benchmark(**{**kwargs, "resume": False})
    assert calls == [0, 1, 2, 0, 1]


def test_second_grid_into_same_folder_keeps_first_in_results(tmp_path):
    kwargs = dict(datasets="krumsiek11", seeds=[0], output_dir=tmp_path)
    first = benchmark(methods=["pearson"], **kwargs)
    second = benchmark(methods=["ridge_derivative"], **kwargs)
    assert set(second["method"]) == {"ridge_derivative"}  # the call returns its own grid
    both = read_results(tmp_path)  # results.csv: this grid first, then the earlier one
    assert list(both["method"].unique()) == ["ridge_derivative", "pearson"]
    cols = ["dataset", "method", "seed", "metric", "value"]
    pd.testing.assert_frame_equal(both.query("method == 'pearson'")[cols].reset_index(drop=True), first[cols])


def test_resume_recomputes_unreadable_cell(tmp_path):
    calls = []

    def counted(adata, *, seed):
        calls.append(seed)
        return sn.bm.pearson_grn(adata)

    kwargs = dict(
        datasets="krumsiek11", methods=["counted"], seeds=[0, 1], output_dir=tmp_path, registry={"counted": counted}
    )
    first = benchmark(**kwargs)
    broken, kept = _cell_files(tmp_path)
    broken.write_text("dataset,group\nkrumsiek11")  # e.g. a file cut short by hand: not a results table
    (tmp_path / "cells" / "krumsiek11__counted__seed1.csv.tmp").write_text("half a ta")  # a killed write
    mtime = kept.stat().st_mtime_ns
    second = benchmark(**kwargs)
    assert calls == [0, 1, 0]  # only the unreadable cell ran again
    assert kept.stat().st_mtime_ns == mtime
    cols = ["dataset", "method", "seed", "metric", "value", "error"]
    pd.testing.assert_frame_equal(first[cols], second[cols])
    assert len(_cell_files(tmp_path)) == 2 and len(read_results(tmp_path)) == len(first)


def test_failing_cell_is_recorded_and_retried(tmp_path):
    state = {"fail": True}

    def flaky(adata):
        if state["fail"]:
            raise RuntimeError("solver blew up")
        return sn.bm.pearson_grn(adata)

    kwargs = dict(datasets="krumsiek11", methods=["flaky", "pearson"], output_dir=tmp_path, registry={"flaky": flaky})
    table = benchmark(**kwargs)
    bad = table[table["method"] == "flaky"]
    assert len(bad) == 1 and bad["metric"].iloc[0] == "error" and np.isnan(bad["value"].iloc[0])
    assert bad["error"].iloc[0] == "RuntimeError: solver blew up"
    assert (table.loc[table["method"] == "pearson", "error"] == "").all()  # the grid went on
    assert read_results(tmp_path).query("method == 'flaky'")["error"].iloc[0] == "RuntimeError: solver blew up"
    state["fail"] = False  # a failed cell is not "finished": resume retries it
    table = benchmark(**kwargs)
    assert (table["error"] == "").all()


def test_method_gets_context_and_options(tmp_path):
    seen = {}

    def custom(adata, *, time_key, lineage_key, seed, scale=1.0):
        seen.update(time_key=time_key, lineage_key=lineage_key, seed=seed, scale=scale)
        edges = sn.bm.pearson_grn(adata)
        return edges, {"my_metric": 3}

    table = benchmark(
        datasets="krumsiek11",
        methods=["custom"],
        seeds=[7],
        output_dir=tmp_path,
        registry={"custom": custom},
        method_options={"custom": {"scale": 2.0}},
    )
    assert seen == {"time_key": "time", "lineage_key": "lineage", "seed": 7, "scale": 2.0}
    assert table.set_index("metric").loc["my_metric", "value"] == 3.0


def test_bad_input(tmp_path):
    with pytest.raises(KeyError, match="unknown method"):
        benchmark(datasets="krumsiek11", methods=["nope"], output_dir=tmp_path)
    with pytest.raises(ValueError, match="backend"):
        benchmark(datasets="krumsiek11", methods=["pearson"], output_dir=tmp_path, backend="spark")
    with pytest.raises(FileNotFoundError, match="BEELINE folder"):
        resolve_datasets(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="unique"):
        resolve_datasets(["krumsiek11", "krumsiek11"])


def test_peers_skipped_without_published_predictions(tmp_path):
    table = benchmark(datasets="krumsiek11", methods=["pearson", "peer:GENIE3"], output_dir=tmp_path)
    assert set(table["method"]) == {"pearson"}


def test_beeline_layout_and_peers(shared_data, tmp_path):
    inputs = shared_data / "beeline" / "inputs"
    specs = resolve_datasets(str(inputs))
    assert len(specs) == 50
    assert {s.group for s in specs} == set("dyn-LI dyn-CY dyn-LL dyn-BF dyn-TF dyn-BFC mCAD VSC HSC GSD".split())
    assert all(s.peers_dir for s in specs)
    (one,) = resolve_datasets(str(inputs / "Synthetic" / "dyn-BF" / "dyn-BF_2000_1"))
    assert one.name == "dyn-BF_2000_1" and one.group == "dyn-BF"
    assert len(resolve_datasets(str(inputs / "Simulated" / "*" / "*_2000_[01]"))) == 8
    table = benchmark(
        datasets=[str(inputs / "Synthetic" / "dyn-BF")], methods=["peer:GENIE3", "peer:PIDC"], output_dir=tmp_path
    )
    published = pd.read_csv(
        shared_data / "beeline" / "outputs" / "Synthetic" / "dyn-BF" / "dyn-BF-AUPRC.csv", index_col=0
    )
    ours = table.query("metric == 'auprc'").pivot(index="method", columns="dataset", values="value")
    for algo in ("GENIE3", "PIDC"):
        for ds in published.columns:
            assert ours.loc[f"peer:{algo}", ds] == pytest.approx(published.loc[algo, ds], abs=1e-6)
    # an algorithm without a published file fails its cells with a message naming the available ones
    bad = benchmark(datasets=[one], methods=["peer:MAGIC"], output_dir=tmp_path / "bad")
    assert "GENIE3" in bad["error"].iloc[0]


def test_ray_backend_without_ray_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(ImportError, match=r"sparsenode\[ray\]"):
        benchmark(datasets="krumsiek11", methods=["pearson"], output_dir=tmp_path, backend="ray")
    # the local backend never needs ray
    assert (benchmark(datasets="krumsiek11", methods=["pearson"], output_dir=tmp_path)["error"] == "").all()


def _ray_available():
    return importlib.util.find_spec("ray") is not None


@pytest.mark.slow
@pytest.mark.skipif(not _ray_available(), reason="ray is not installed (pip install 'sparsenode[ray]')")
def test_ray_backend_matches_local(tmp_path):
    import ray

    kwargs = dict(
        datasets=["krumsiek11", TOY],
        methods=["pearson", "lagged_correlation", "pathreg"],
        seeds=[0],
        fit_options=FIT,
        n_threads=1,
    )
    local = benchmark(output_dir=tmp_path / "local", **kwargs)
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    remote = benchmark(output_dir=tmp_path / "ray", backend="ray", ray_init={"num_cpus": 2}, **kwargs)
    assert not ray.is_initialized()  # the local Ray instance it started is shut down
    cols = ["dataset", "group", "method", "seed", "metric", "value", "error"]
    pd.testing.assert_frame_equal(local[cols], remote[cols])
    pd.testing.assert_frame_equal(read_results(tmp_path / "ray")[cols], local[cols])
