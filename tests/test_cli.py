import matplotlib.image as mpimg
import pytest

import sparsenode as sn
from sparsenode.bm import read_results
from sparsenode.cli import load_config, main

CONFIG = """\
datasets:
  - krumsiek11
  - {kind: toy_grn, n_genes: 5, n_cells: 200, seed: 0}
methods: [pearson, lagged_correlation, cnode]
seeds: [0, 1]
output_dir: out
n_threads: 1
fit_options: {max_epochs: 2, device: cpu}
method_options: {lagged_correlation: {lag: 2}}
"""


@pytest.fixture
def ran(tmp_path, capsys):
    cfg = tmp_path / "bm.yaml"
    cfg.write_text(CONFIG)
    assert main(["benchmark", str(cfg), "-q"]) == 0
    assert "12 cells (0 failed)" in capsys.readouterr().out
    return tmp_path / "out"


def test_benchmark_command(ran):
    table = read_results(ran)  # output_dir is relative to the config file
    assert set(table["method"]) == {"pearson", "lagged_correlation", "cnode"}
    assert table[["dataset", "method", "seed"]].drop_duplicates().shape[0] == 2 * 3 * 2
    assert (table["error"] == "").all()
    # method_options reach the method (lag 2, not the default 1)
    adata = sn.datasets.krumsiek11()
    expected = sn.bm.score(sn.bm.lagged_correlation_grn(adata, lag=2), adata.uns["true_network"])["auprc"]
    got = table.query("method == 'lagged_correlation' and dataset == 'krumsiek11' and metric == 'auprc'")["value"]
    assert got.tolist() == pytest.approx([expected, expected])


def test_report_command(ran, tmp_path):
    assert main(["report", str(ran), "-o", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## Median AUPRC ratio" in md and "## Median EPR" in md and "## Median AUROC" in md
    assert "| cnode |" in md and "krumsiek11" in md
    for name in ("box_auprc_ratio.png", "box_epr.png", "heatmap_auprc_ratio.png", "heatmap_epr.png"):
        img = mpimg.imread(tmp_path / "rep" / name)
        assert img.shape[0] > 100 and img.shape[1] > 100
        assert f"]({name})" in md


def test_report_beside_peers(shared_data, tmp_path):
    cfg = tmp_path / "bm.yaml"
    inputs = shared_data / "beeline" / "inputs" / "Synthetic"
    cfg.write_text(
        f"datasets: ['{inputs}/dyn-BF/*_2000_[01]', '{inputs}/dyn-LI/dyn-LI_2000_0']\n"
        "methods: [pearson, cnode]\npeers: all\noutput_dir: out\nfit_options: {max_epochs: 2, device: cpu}\n"
    )
    assert main(["benchmark", str(cfg), "-q"]) == 0
    assert main(["report", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "report" / "report.md").read_text()
    assert md.count("| peer:") >= 3 * 12  # the 12 peers in each median table
    assert "against the best peer" in md and "| dyn-BF | cnode (" in md


def test_load_config(tmp_path):
    cfg = tmp_path / "sub" / "bm.yaml"
    cfg.parent.mkdir()
    cfg.write_text(
        "datasets: [krumsiek11, ../data, {kind: beeline, path: x/y}]\nmethods: pathreg\npeers: [PIDC]\nseeds: 3\noutput_dir: res\n"
    )
    out = load_config(cfg)
    assert out["datasets"][0] == "krumsiek11"
    assert out["datasets"][1] == str(cfg.parent / "../data")
    assert out["datasets"][2]["path"] == str(cfg.parent / "x/y")
    assert out["methods"] == ["pathreg", "peer:PIDC"]
    assert out["seeds"] == [3]
    assert out["output_dir"] == str(cfg.parent / "res")


def test_bad_config(tmp_path, capsys):
    cfg = tmp_path / "bm.yaml"
    cfg.write_text("datasets: [krumsiek11]\nmethods: [pearson]\noutput_dir: out\nepochs: 3\n")
    assert main(["benchmark", str(cfg)]) == 2
    assert "unknown key(s) ['epochs']" in capsys.readouterr().err
    assert main(["benchmark", str(tmp_path / "missing.yaml")]) == 2
    with pytest.raises(SystemExit):
        main(["frobnicate"])
