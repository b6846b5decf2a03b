import io
import itertools

import anndata
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

import sparsenode as sn
from sparsenode.pl._utils import ACTIVATION, REPRESSION

KNOCKED = "g0"


# -- fixtures ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def _fitted():
    adata = sn.datasets.toy_grn(n_genes=8, n_cells=240, seed=0)
    sn.tl.fit_pathreg(
        adata,
        time_key="time",
        lineage_key="lineage",
        max_epochs=3,
        hidden=(8,),
        n_bins=10,
        progress_bar=False,
        device="cpu",
    )
    sn.tl.infer_grn(adata)
    return adata


@pytest.fixture
def fitted(_fitted):
    return _fitted.copy()


@pytest.fixture
def signed(fitted):
    """The fitted AnnData with a hand-made network holding both activation and repression."""
    n = fitted.n_vars
    w = np.zeros((n, n), dtype=np.float32)
    w[0, 2], w[0, 3], w[1, 4], w[2, 5], w[3, 6], w[4, 7], w[1, 0] = 0.9, -0.7, 0.5, -0.4, 0.3, -0.2, -0.6
    fitted.varp["pathreg_grn"] = w
    fitted.uns["pathreg"]["grn"]["frequency"] = np.ones((n, n), dtype=np.float32)  # every member agrees
    return fitted


def _perturbation_result(var_names, lineages=("lineage_0", "lineage_1"), n_t=12):
    rng = np.random.default_rng(0)
    n_l, n_g = len(lineages), len(var_names)
    t = np.linspace(0, 1, n_t, dtype=np.float32)
    wt = (rng.uniform(0.2, 1.0, (n_l, 1, n_g)) * (0.2 + t[None, :, None])).astype(np.float32)
    ko = wt.copy()
    ko[:, :, 0] = 0.0  # the knocked-out gene: largest change, must not be ranked
    effect = np.linspace(0.5, 0.0, n_g - 1, dtype=np.float32)  # g1 most affected, then g2, ...
    ko[:, :, 1:] -= effect[None, None, :] * t[None, :, None]
    return {
        "params": {"fit_key": "pathreg", "mode": "knockout", "genes": np.array([KNOCKED])},
        "times": t,
        "pseudotime": (10 * t).astype(np.float32),
        "lineages": np.asarray(lineages),
        "var_names": np.asarray(var_names),
        "wildtype": wt,
        "perturbed": ko,
        "delta": ko - wt,
        "log_fold_change": np.log2((np.clip(ko, 0, None) + 0.1) / (wt + 0.1)),
    }


@pytest.fixture
def perturbed(fitted):
    fitted.uns["perturbation"] = _perturbation_result(list(fitted.var_names))
    effect = np.linspace(-1.0, 1.0, fitted.n_obs)
    effect[:10] = np.nan  # cells not in the model
    fitted.obs["perturbation_effect"] = effect
    fitted.obsm["X_umap"] = np.random.default_rng(1).normal(size=(fitted.n_obs, 2)).astype(np.float32)
    return fitted


@pytest.fixture
def path(fitted):
    lam = np.array([0.3, 0.001, 0.01, 0.1, 1.0])  # unsorted on purpose
    fitted.uns["regularization_path"] = {
        "lambdas": lam,
        "train_mse": 0.01 + lam / 10,
        "val_mse": 0.02 + (np.log10(lam) + 1.5) ** 2 / 100,
        "feature_sparsity": np.clip(lam, 0, 1),
        "weight_sparsity": np.clip(lam * 1.2, 0, 1),
        "recommended": 0.01,
        "method": "pathreg",
    }
    return fitted


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _rendered(obj) -> np.ndarray:
    fig = getattr(obj, "figure", obj)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    buf.seek(0)
    img = plt.imread(buf)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50
    assert img[..., :3].std() > 0.02, "the plot looks blank"
    return img


def _arrows(ax):
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch)]


# -- regulatory_graph -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["spring", "circular", "hierarchical"])
def test_regulatory_graph_signs_in_two_colours(signed, layout):
    ax = sn.pl.regulatory_graph(signed, layout=layout, show=False)
    assert isinstance(ax, Axes)
    _rendered(ax)
    arrows = _arrows(ax)
    assert len(arrows) == 7
    colours: dict[str, set] = {}
    for p in arrows:
        colours.setdefault(p.get_gid(), set()).add(to_hex(p.get_edgecolor()))
    assert set(colours) == {"activation", "repression"}
    assert colours["activation"] == {ACTIVATION.lower()}
    assert colours["repression"] == {REPRESSION.lower()}
    assert colours["activation"] != colours["repression"]
    # heads differ too: arrow for activation, bar for repression
    styles = {p.get_gid(): type(p.get_arrowstyle()).__name__ for p in arrows}
    assert styles["activation"] != styles["repression"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("activation" in t for t in legend) and any("repression" in t for t in legend)
    labels = {t.get_text() for t in ax.texts}
    assert {"g0", "g1", "g7"} <= labels


def test_regulatory_graph_dashes_edges_few_members_select(signed):
    signed.uns["pathreg"]["grn"]["frequency"][0, 2] = 0.25  # g0 -> g2: a quarter of the members
    ax = sn.pl.regulatory_graph(signed, show=False)  # an ensemble: dashed by default
    gids = {p.get_gid(): p for p in _arrows(ax)}
    assert "activation-uncertain" in gids and gids["activation-uncertain"].get_linestyle() == "--"
    assert sum(p.get_linestyle() == "--" for p in _arrows(ax)) == 1
    assert any("frequency" in t.get_text() for t in ax.get_legend().get_texts())
    ax = sn.pl.regulatory_graph(signed, confidence=False, show=False)
    assert not any(p.get_linestyle() == "--" for p in _arrows(ax))
    del signed.uns["pathreg"]["grn"]["frequency"]  # a single model: nothing to show
    with pytest.raises(ValueError, match="n_members"):
        sn.pl.regulatory_graph(signed, confidence=True, show=False)
    assert not any(p.get_linestyle() == "--" for p in _arrows(sn.pl.regulatory_graph(signed, show=False)))


def test_regulatory_graph_width_follows_weight_and_top_k(signed):
    ax = sn.pl.regulatory_graph(signed, top_k=3, show=False)
    arrows = _arrows(ax)
    assert len(arrows) == 3
    widths = sorted(p.get_linewidth() for p in arrows)
    assert widths[0] < widths[-1]


def test_regulatory_graph_genes_and_regulators(signed):
    ax = sn.pl.regulatory_graph(signed, genes=["g0", "g2", "g3", "g5"], regulators=["g0"], show=False)
    assert len(_arrows(ax)) == 3  # g0->g2, g0->g3, g2->g5
    assert {t.get_text() for t in ax.texts} == {"g0", "g2", "g3", "g5"}
    with pytest.raises(KeyError, match="nope"):
        sn.pl.regulatory_graph(signed, genes=["g0", "nope"], show=False)


def test_regulatory_graph_crowded_network_stays_readable(fitted):
    rng = np.random.default_rng(0)
    n = 100
    adata = sn.datasets.toy_grn(n_genes=n, n_cells=100, seed=0)
    w = np.zeros((n, n), dtype=np.float32)
    for s, t in zip(rng.integers(0, 15, 120), rng.integers(0, n, 120), strict=True):
        if s != t:
            w[s, t] = rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 1.0)
    adata.varp["pathreg_grn"] = w
    ax = sn.pl.regulatory_graph(adata, top_k=80, max_labels=30, show=False)
    _rendered(ax)
    assert len(_arrows(ax)) == 80
    assert 0 < len(ax.texts) <= 30
    renderer = ax.figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    overlapping = sum(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    assert overlapping <= 2, f"{overlapping} label pairs overlap"


def test_regulatory_graph_errors(fitted):
    with pytest.raises(KeyError, match="infer_grn"):
        sn.pl.regulatory_graph(sn.datasets.toy_grn(n_genes=4, n_cells=50), show=False)
    with pytest.raises(ValueError, match="layout"):
        sn.pl.regulatory_graph(fitted, layout="dot", show=False)


def test_regulatory_graph_into_given_axes(signed):
    _fig, ax = plt.subplots()
    out = sn.pl.regulatory_graph(signed, ax=ax, show=False)
    assert out is ax


# -- adjacency --------------------------------------------------------------------------------------------------------
def test_adjacency_clustermap(signed):
    grid = sn.pl.adjacency(signed, show=False)
    _rendered(grid.figure)
    assert grid.ax_heatmap.get_ylabel() == "regulator (source)"
    assert grid.ax_heatmap.get_xlabel() == "target"
    mesh = grid.ax_heatmap.collections[0]
    assert mesh.norm.vmin == pytest.approx(-mesh.norm.vmax)
    assert np.asarray(mesh.get_array()).size == signed.n_vars**2
    with pytest.raises(ValueError, match="cluster=False"):
        sn.pl.adjacency(signed, ax=plt.subplots()[1], show=False)


def test_adjacency_heatmap_order_and_genes(signed):
    ax = sn.pl.adjacency(signed, cluster=False, genes=["g0", "g2", "g3"], show=False)
    _rendered(ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["g0", "g2", "g3"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["g0", "g2", "g3"]
    values = np.asarray(ax.collections[0].get_array()).reshape(3, 3)
    assert values[0, 1] == pytest.approx(0.9) and values[0, 2] == pytest.approx(-0.7)  # rows are sources
    with pytest.raises(KeyError, match="infer_grn"):
        sn.pl.adjacency(sn.datasets.toy_grn(n_genes=4, n_cells=50), show=False)


# -- fits -------------------------------------------------------------------------------------------------------------
def test_trajectory_fit(fitted):
    fig = sn.pl.trajectory_fit(fitted, show=False)
    assert isinstance(fig, Figure)
    _rendered(fig)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 6  # default: the 6 most variable of 8 genes
    for ax in axes:
        assert len(ax.lines) == 2 and len(ax.collections) == 2  # one fitted line and one set of bins per lineage
        assert ax.get_xlabel() == "pseudotime"
        lo, hi = ax.lines[0].get_xdata().min(), ax.lines[0].get_xdata().max()
        assert hi > 1.5  # the original time axis (toy: 0 ... 10), not [0, 1]
        assert lo >= 0
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "lineage_0" in labels and "fitted ODE" in labels


def test_trajectory_fit_genes_lineages_and_round_trip(fitted, tmp_path):
    fitted.write_h5ad(tmp_path / "a.h5ad")
    adata = anndata.read_h5ad(tmp_path / "a.h5ad")
    fig = sn.pl.trajectory_fit(adata, genes=["g3"], lineages=["lineage_1"], scaled=True, show=False)
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    assert ax.get_title() == "g3" and len(ax.lines) == 1
    with pytest.raises(KeyError, match="nope"):
        sn.pl.trajectory_fit(fitted, genes=["nope"], show=False)
    with pytest.raises(KeyError, match="fit_pathreg"):
        sn.pl.trajectory_fit(fitted, key="missing", show=False)


def test_trajectory_fit_from_a_later_start(fitted):
    traj = sn.SparseNODE.from_adata(fitted, device="cpu").trajectories
    fig = sn.pl.trajectory_fit(fitted, genes=["g0"], start_time=5.0, show=False)
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    t0, t1 = (float(t) for t in traj.time_range)
    starts = traj.start_bins(5.0)
    for line, s, li in zip(ax.lines, starts, range(traj.n_lineages), strict=True):
        x, y = line.get_xdata(), line.get_ydata()
        assert x[0] == pytest.approx(t0 + float(traj.times[s]) * (t1 - t0)) and x[0] > 4.0  # starts at the bin
        observed = traj.values[li, s, 0] * traj.scale[0] + traj.offset[0]
        assert y[0] == pytest.approx(observed, rel=1e-5, abs=1e-6)  # from the observed state there
    assert "from pseudotime 5" in fig._suptitle.get_text()
    for bad, msg in ((1e9, "no data at or after"), ("late", "must be a number")):
        with pytest.raises(ValueError, match=msg):
            sn.pl.trajectory_fit(fitted, start_time=bad, show=False)


def test_trajectory_fit_start_time_needs_data_only_in_the_lineages_shown():
    adata = sn.datasets.toy_grn(n_genes=5, n_cells=240, seed=0)
    short = (adata.obs["lineage"] == "lineage_1").to_numpy() & (adata.obs["time"].to_numpy() > 5.0)
    adata = adata[~short].copy()  # lineage_1 observed up to pseudotime 5 only
    sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=2, hidden=(8,), n_bins=10,
                      progress_bar=False, device="cpu")  # fmt: skip
    with pytest.raises(ValueError, match="'lineage_1' has no data at or after"):
        sn.pl.trajectory_fit(adata, start_time=7.0, show=False)
    fig = sn.pl.trajectory_fit(adata, genes=["g2"], lineages=["lineage_0"], start_time=7.0, show=False)
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    assert len(ax.lines) == 1 and ax.lines[0].get_xdata()[0] > 6.5
    model = sn.SparseNODE.from_adata(adata, device="cpu")
    one = model.predict(start_time=7.0, lineages=["lineage_0"])
    both = model.predict(start_time=3.0)
    assert one.shape == (1, *both.shape[1:])
    assert np.allclose(model.predict(start_time=3.0, lineages="lineage_1")[0], both[1], atol=1e-5)
    with pytest.raises(KeyError, match="'nope'"):
        model.predict(lineages=["nope"])


def test_training_history(fitted):
    fig = sn.pl.training_history(fitted, show=False)
    _rendered(fig)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "MSE", "penalty", "feature sparsity"]
    mse_ax = fig.axes[1]
    assert {t.get_text() for t in mse_ax.get_legend().get_texts()} >= {"training", "validation"}
    best = int(fitted.uns["pathreg"]["history"]["best_epoch"]) + 1
    assert any(line.get_xdata()[0] == best for line in mse_ax.lines if line.get_linestyle() == ":")
    with pytest.raises(KeyError, match="fit_pathreg"):
        sn.pl.training_history(sn.datasets.toy_grn(n_genes=4, n_cells=50), show=False)


def test_regularization_path(path):
    fig = sn.pl.regularization_path(path, show=False)
    _rendered(fig)
    ax_mse, ax_sp = fig.axes
    assert ax_sp.get_xscale() == "log"
    x = ax_mse.lines[0].get_xdata()
    assert np.all(np.diff(x) > 0)  # sorted by lambda
    assert any("recommended" in t.get_text() for t in ax_mse.get_legend().get_texts())
    assert {t.get_text() for t in ax_sp.get_legend().get_texts()} >= {"feature sparsity", "weight sparsity"}
    assert "pathreg" in ax_mse.get_title()


def test_regularization_path_with_zero_and_errors(path):
    path.uns["regularization_path"]["lambdas"] = np.array([0.3, 0.0, 0.01, 0.1, 1.0])
    fig = sn.pl.regularization_path(path, show=False)
    _rendered(fig)
    assert fig.axes[1].get_xscale() == "symlog"
    with pytest.raises(KeyError, match="regularization_path"):
        sn.pl.regularization_path(path, key="missing", show=False)


# -- perturbations ----------------------------------------------------------------------------------------------------
def test_perturbation_lines(perturbed):
    fig = sn.pl.perturbation(perturbed, top_k=3, show=False)
    assert isinstance(fig, Figure)
    _rendered(fig)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["g1", "g2", "g3"]  # the knocked-out g0 is left out
    for ax in axes:
        styles = [line.get_linestyle() for line in ax.lines]
        assert styles.count("-") == 2 and styles.count("--") == 2
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"wild type", "perturbed", "lineage_0"} <= set(labels)
    assert "knockout" in fig.get_suptitle() and KNOCKED in fig.get_suptitle()


def test_perturbation_single_panel_into_ax(perturbed):
    _fig, ax = plt.subplots()
    out = sn.pl.perturbation(perturbed, genes=[KNOCKED], lineages=["lineage_1"], ax=ax, show=False)
    assert out is ax and len(ax.lines) == 2
    assert ax.get_legend() is not None
    with pytest.raises(ValueError, match="single panel"):
        sn.pl.perturbation(perturbed, ax=ax, show=False)


def test_perturbation_heatmap(perturbed):
    fig = sn.pl.perturbation(perturbed, kind="heatmap", top_k=None, show=False)
    _rendered(fig)
    heat = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in heat] == ["lineage_0", "lineage_1"]
    mesh = heat[0].collections[0]
    assert mesh.norm.vcenter == 0 and mesh.norm.vmin == pytest.approx(-mesh.norm.vmax)
    genes = [t.get_text() for t in heat[0].get_yticklabels()]
    assert KNOCKED not in genes and len(genes) == perturbed.n_vars - 1
    cbar = [ax for ax in fig.axes if not ax.get_title()]
    assert cbar and "perturbed" in cbar[0].get_ylabel()
    ax = sn.pl.perturbation(perturbed, kind="heatmap", lineages=["lineage_0"], show=False)
    assert isinstance(ax, Axes)


def test_perturbation_errors(perturbed):
    with pytest.raises(KeyError, match="perturb"):
        sn.pl.perturbation(perturbed, key="nothing", show=False)
    with pytest.raises(KeyError, match="lineage_9"):
        sn.pl.perturbation(perturbed, lineages=["lineage_9"], show=False)
    with pytest.raises(ValueError, match="kind"):
        sn.pl.perturbation(perturbed, kind="bars", show=False)


def test_perturbation_embedding(perturbed):
    ax = sn.pl.perturbation_embedding(perturbed, show=False)
    assert isinstance(ax, Axes)
    _rendered(ax)
    assert "knockout" in ax.get_title()
    with pytest.raises(KeyError, match="umap"):
        sn.pl.perturbation_embedding(perturbed, basis="tsne", show=False)
    with pytest.raises(KeyError, match="perturb"):
        sn.pl.perturbation_embedding(perturbed, key="nothing", show=False)


# -- conventions ------------------------------------------------------------------------------------------------------
def test_show_convention(signed, monkeypatch):
    calls = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: calls.append(1))
    assert sn.pl.regulatory_graph(signed, show=None) is None
    assert calls == []  # Agg is not interactive
    assert sn.pl.training_history(signed, show=True) is None
    assert calls == [1]


def test_plots_do_not_write(perturbed, path):
    perturbed.uns["regularization_path"] = path.uns["regularization_path"]
    before = (set(perturbed.uns), set(perturbed.obs), set(perturbed.varp), set(perturbed.obsm))
    sn.pl.regulatory_graph(perturbed, show=False)
    sn.pl.adjacency(perturbed, show=False)
    sn.pl.trajectory_fit(perturbed, show=False)
    sn.pl.training_history(perturbed, show=False)
    sn.pl.regularization_path(perturbed, show=False)
    sn.pl.perturbation(perturbed, show=False)
    sn.pl.perturbation_embedding(perturbed, show=False)
    after = (set(perturbed.uns), set(perturbed.obs), set(perturbed.varp), set(perturbed.obsm))
    assert before == after


def test_public_api():
    assert set(sn.pl.__all__) == {
        "adjacency",
        "perturbation",
        "perturbation_embedding",
        "regularization_path",
        "regulatory_graph",
        "skeleton",
        "forecast",
        "trajectory_fit",
        "training_history",
    }


def test_plots_read_what_the_tools_write(fitted):
    sn.tl.simulate_knockout(fitted, ["g0"], key="pathreg", n_steps=15, key_added="perturbation")
    fitted.obsm["X_umap"] = np.random.default_rng(2).normal(size=(fitted.n_obs, 2)).astype(np.float32)
    fig = sn.pl.perturbation(fitted, top_k=2, show=False)
    assert "g0" not in [ax.get_title() for ax in fig.axes]
    _rendered(sn.pl.perturbation(fitted, kind="heatmap", show=False))
    _rendered(sn.pl.perturbation_embedding(fitted, show=False))
    sn.tl.regularization_path(
        fitted,
        time_key="time",
        lineage_key="lineage",
        lambdas=[1e-3, 1e-2],
        hidden=(8,),
        n_bins=10,
        epochs_per_lambda=2,
        device="cpu",
        progress_bar=False,
    )
    fig = sn.pl.regularization_path(fitted, show=False)
    _rendered(fig)
    assert "lambda_path" in fig.axes[1].get_xlabel()
