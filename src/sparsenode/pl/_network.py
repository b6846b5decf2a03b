"""Plots of the inferred signed network: a directed graph and an adjacency heat map."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd
import seaborn as sns
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from .. import _keys as K
from ..get import grn as _grn_table
from ._utils import ACTIVATION, DIVERGING, GRN_HINT, REPRESSION, as_list, check_names, finish, str_list, symmetric_limit

__all__ = ["adjacency", "regulatory_graph"]

LAYOUTS = ("spring", "circular", "hierarchical")


# -- reading ----------------------------------------------------------------------------------------------------------
def _varp_key(adata: AnnData, key: str) -> str:
    varp_key = K.grn_key(key)
    stored = adata.uns.get(key)
    if isinstance(stored, dict) and isinstance(stored.get("grn"), dict):
        varp_key = str(stored["grn"].get("varp_key", varp_key))
    if varp_key not in adata.varp:
        hint = (
            GRN_HINT.format(key=key)
            if key in adata.uns
            else (f"no fit under adata.uns[{key!r}]; run sn.tl.fit_pathreg(adata, ...) and sn.tl.infer_grn(adata)")
        )
        raise KeyError(f"no network adata.varp[{varp_key!r}]; {hint}")
    return varp_key


def _network_frame(adata: AnnData, key: str, genes) -> pd.DataFrame:
    """Return the signed network as a genes x genes DataFrame (rows = source), modelled genes or ``genes`` only."""
    varp_key = _varp_key(adata, key)
    w = adata.varp[varp_key]
    w = np.asarray(w.todense() if hasattr(w, "todense") else w, dtype=float)
    names = [str(g) for g in adata.var_names]
    full = pd.DataFrame(w, index=names, columns=names)
    if genes is not None:
        sel = as_list(genes)
        check_names(sel, names, "gene(s) in adata.var_names")
    elif isinstance(adata.uns.get(key), dict) and K.VAR_NAMES in adata.uns[key]:
        sel = str_list(adata.uns[key][K.VAR_NAMES])
    else:
        sel = [g for i, g in enumerate(names) if np.any(w[i] != 0) or np.any(w[:, i] != 0)]
    return full.loc[sel, sel]


def _default_regulators(adata: AnnData, key: str) -> list[str] | None:
    stored = adata.uns.get(key)
    if not isinstance(stored, dict) or K.PARAMS not in stored:
        return None
    regs = stored[K.PARAMS].get("regulators", "none")
    if isinstance(regs, str) and regs == "none":
        return None
    return str_list(regs)


# -- layouts ----------------------------------------------------------------------------------------------------------
def _acyclic_order(graph: nx.DiGraph) -> list:
    """Node order with few backward edges (Eades, Lin & Smyth's greedy heuristic for a small feedback arc set)."""
    g = graph.copy()
    g.remove_edges_from(nx.selfloop_edges(g))
    left: list = []
    right: list = []
    while g.number_of_nodes():
        changed = True
        while changed:
            changed = False
            sinks = [v for v in g.nodes if g.out_degree(v) == 0]
            if sinks:
                right.extend(sorted(sinks, key=str))
                g.remove_nodes_from(sinks)
                changed = True
            sources = [v for v in g.nodes if g.in_degree(v) == 0]
            if sources:
                left.extend(sorted(sources, key=str))
                g.remove_nodes_from(sources)
                changed = True
        if g.number_of_nodes():
            best = max(g.nodes, key=lambda v: (g.out_degree(v) - g.in_degree(v), -len(str(v)), str(v)))
            left.append(best)
            g.remove_node(best)
    return left + right[::-1]


def _layers(graph: nx.DiGraph) -> dict:
    """Layer of each node: the longest path from a source after the backward edges of :func:`_acyclic_order`."""
    order = _acyclic_order(graph)
    pos = {v: i for i, v in enumerate(order)}
    dag = nx.DiGraph()
    dag.add_nodes_from(graph.nodes)
    dag.add_edges_from((u, v) for u, v in graph.edges if pos[u] < pos[v])
    layer = {}
    for v in nx.topological_sort(dag):
        preds = list(dag.predecessors(v))
        layer[v] = 1 + max(layer[u] for u in preds) if preds else 0
    return layer


def _hierarchical_layout(graph: nx.DiGraph, max_per_row: int) -> dict:
    """Top-down layered layout: cycles broken, longest-path layers, barycentre ordering, wide layers staggered."""
    layer = _layers(graph)
    n_layers = max(layer.values()) + 1
    rows: list[list] = [[] for _ in range(n_layers)]
    for v in sorted(graph.nodes, key=lambda v: (-graph.out_degree(v), str(v))):
        rows[layer[v]].append(v)
    und = graph.to_undirected()
    # barycentre sweeps: place each node at the mean position of its neighbours in the other layers
    for sweep in range(8):
        order = range(1, n_layers) if sweep % 2 == 0 else range(n_layers - 2, -1, -1)
        xpos = {v: (i + 0.5) / len(r) for r in rows for i, v in enumerate(r)}
        for li in order:
            bary = {}
            for i, v in enumerate(rows[li]):
                nbrs = [xpos[u] for u in und.neighbors(v) if layer[u] != li]
                bary[v] = float(np.mean(nbrs)) if nbrs else (i + 0.5) / len(rows[li])
            rows[li].sort(key=lambda v, b=bary: b[v])
    pos = {}
    y = 0.0
    for r in rows:
        n_sub = int(np.ceil(len(r) / max_per_row))
        width = min(len(r), max_per_row)
        for i, v in enumerate(r):
            # neighbours in a wide layer alternate between sub-rows, so their labels do not touch
            x = (i + 0.5) / len(r) * 2 - 1 if len(r) > 1 else 0.0
            x *= min(1.0, 0.25 + width / max_per_row)
            pos[v] = np.array([x, y - 0.45 * (i % n_sub)])
        y -= 0.45 * (n_sub - 1) + 1.0
    return pos


def _spring_packed(graph: nx.DiGraph, seed: int) -> dict:
    """Force-directed layout of each connected component, components packed in rows, largest first.

    A single spring layout of a disconnected graph flings small components to the corners and squeezes the large
    one into the middle; here each component gets an area proportional to its number of genes.
    """
    und = graph.to_undirected()
    comps = sorted(nx.connected_components(und), key=lambda c: (-len(c), sorted(map(str, c))))
    boxes = []
    for comp in comps:
        sub = und.subgraph(comp)
        m = len(comp)
        if m == 1:
            local = {next(iter(comp)): np.zeros(2)}
        else:
            local = nx.spring_layout(sub, k=1.6 / np.sqrt(m), iterations=300, seed=seed, weight=None)
        xy = np.array([local[v] for v in comp], dtype=float)
        xy -= xy.min(axis=0)
        span = float(xy.max()) if xy.size and xy.max() > 0 else 1.0
        side = np.sqrt(m)  # area proportional to size
        boxes.append((list(comp), xy / span * side, side))
    total = sum(b[2] ** 2 for b in boxes)
    width = max(np.sqrt(total) * 1.15, boxes[0][2])
    pos: dict = {}
    x = y = row_h = 0.0
    gap = 0.8
    for comp, xy, side in boxes:
        if x > 0 and x + side > width:
            x, y, row_h = 0.0, y - row_h - gap, 0.0
        for v, p in zip(comp, xy, strict=True):
            pos[v] = np.array([x + p[0], y - side + p[1]])
        x += side + gap
        row_h = max(row_h, side)
    return pos


def _layout(graph: nx.DiGraph, layout: str, seed: int) -> dict:
    n = graph.number_of_nodes()
    if layout == "spring":
        pos = _spring_packed(graph, seed)
    elif layout == "circular":
        # around the circle in layer order, so most edges run one way and feedback stands out
        layer = _layers(graph)
        nodes = sorted(graph.nodes, key=lambda v: (layer[v], -graph.out_degree(v), str(v)))
        pos = nx.circular_layout(nodes)
    else:
        pos = _hierarchical_layout(graph, max_per_row=max(6, int(np.ceil(np.sqrt(n) * 1.6))))
    xy = np.array([pos[v] for v in graph.nodes], dtype=float)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    if layout == "hierarchical":  # fill the box: layers are rows, their spacing need not match the columns'
        span = np.where(hi - lo > 0, hi - lo, 1.0)
    else:  # keep the aspect ratio, the longer side spans [-1, 1]
        span = np.full(2, max(float((hi - lo).max()), 1e-12))
    centre = (lo + hi) / 2
    return {v: (np.asarray(pos[v], dtype=float) - centre) / span * 2 for v in graph.nodes}


# -- labels -----------------------------------------------------------------------------------------------------------
_CANDIDATES = np.deg2rad([90, 45, 135, 0, 180, -45, -135, -90])  # preference order on ties: above, then sides


def _free_direction(pos: dict, v, graph: nx.DiGraph, aspect: float = 1.0) -> float:
    """Direction (radians) from node ``v`` farthest from its incident edges, preferring above and the sides.

    ``aspect`` is the ratio of the y to the x scale on screen, so that angles are measured as drawn.
    """
    nbrs = set(graph.predecessors(v)) | set(graph.successors(v))
    nbrs.discard(v)
    if not nbrs:
        return float(_CANDIDATES[0])
    d = np.array([pos[u] - pos[v] for u in nbrs], dtype=float)
    edge_angles = np.arctan2(d[:, 1] * aspect, d[:, 0])
    gaps = [float(np.min(np.abs(np.angle(np.exp(1j * (c - edge_angles)))))) for c in _CANDIDATES]
    # the first candidate whose clearance is within a few degrees of the best one
    best = max(gaps)
    for c, g in zip(_CANDIDATES, gaps, strict=True):
        if g >= best - np.deg2rad(5):
            return float(c)
    return float(_CANDIDATES[0])


def _spread_labels(ax: Axes, texts: list, n_iter: int = 120) -> None:
    """Nudge overlapping annotation labels apart (in offset points) until they no longer overlap, or give up."""
    if len(texts) < 2:
        return
    fig = ax.figure
    try:
        renderer = fig.canvas.get_renderer()
    except AttributeError:  # backends without a renderer before drawing
        return
    px_to_pt = 72.0 / fig.dpi
    for _ in range(n_iter):
        boxes = np.array([t.get_window_extent(renderer).expanded(1.04, 1.1).extents for t in texts])
        moved = False
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                a, b = boxes[i], boxes[j]
                ox = min(a[2], b[2]) - max(a[0], b[0])
                oy = min(a[3], b[3]) - max(a[1], b[1])
                if ox <= 0 or oy <= 0:
                    continue
                moved = True
                # push apart along the axis that needs the smaller move, half each
                if oy * 1.5 < ox:
                    d = np.array([0.0, (oy / 2 + 0.5) * (1 if (a[1] + a[3]) >= (b[1] + b[3]) else -1)])
                else:
                    d = np.array([(ox / 2 + 0.5) * (1 if (a[0] + a[2]) >= (b[0] + b[2]) else -1), 0.0])
                for k, sgn in ((i, 1.0), (j, -1.0)):
                    x, y = texts[k].xyann
                    texts[k].xyann = (x + sgn * d[0] * px_to_pt, y + sgn * d[1] * px_to_pt)
                    boxes[k] += sgn * np.array([d[0], d[1], d[0], d[1]])
        if not moved:
            break


# -- plots ------------------------------------------------------------------------------------------------------------
def regulatory_graph(
    adata: AnnData,
    *,
    key: str = K.PATHREG,
    top_k: int | None = 50,
    genes: Sequence[str] | None = None,
    regulators: Sequence[str] | None = None,
    layout: str = "spring",
    max_labels: int = 30,
    seed: int = 0,
    confidence: bool | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
) -> Axes | None:
    """Draw the inferred signed network as a directed graph.

    Reads the network written by :func:`sparsenode.tl.infer_grn` (through :func:`sparsenode.get.grn`; self-loops
    are left out). Activating edges end in an arrow head and are drawn in red, repressing edges end in a bar (⊣) and
    are drawn in blue; edge width grows with ``|weight|``, node size with the out-degree in the drawn graph.
    Regulators are diamonds with a dark outline, other genes circles. When more than ``max_labels`` genes are drawn,
    only the ``max_labels`` genes with the highest degree are labelled; labels are nudged apart so they do not overlap.

    Parameters
    ----------
    adata
        AnnData after :func:`sparsenode.tl.infer_grn`.
    key
        Key of the fit (the network is ``adata.varp[f"{key}_grn"]``).
    top_k
        Draw the ``top_k`` strongest edges (``None``: all non-zero edges).
    genes
        Only edges between these genes.
    regulators
        Genes to mark as regulators; default: the regulators the fit was restricted to, or else every gene with an
        outgoing edge in the drawn graph.
    layout
        ``"spring"`` (force-directed), ``"circular"`` (genes around a circle, ordered from sources to sinks) or
        ``"hierarchical"`` (top-down layers: cycles are broken by a small feedback arc set and each gene sits one
        layer below its deepest regulator; feedback edges then point upwards).
    max_labels
        Label at most this many genes (the best connected ones).
    seed
        Seed of the spring layout.
    confidence
        Draw edges that fewer than half of the ensemble members select (``frequency < 0.5``, see
        :func:`sparsenode.tl.infer_grn`) dashed. Default: when the network has a ``frequency`` (an ensemble fit,
        e.g. any default fit on up to 100 genes); ``True`` without one raises an error.
    ax
        Axes to draw into; default: a new figure.
    show
        ``False`` returns the Axes; ``True`` calls :func:`matplotlib.pyplot.show`; ``None`` shows under an
        interactive backend only.

    Returns
    -------
    Axes or None
        The Axes when ``show=False``. Edges are :class:`~matplotlib.patches.FancyArrowPatch` objects in
        ``ax.patches`` whose ``gid`` is ``"activation"`` or ``"repression"`` (with ``confidence``, edges below half
        of the members get the suffix ``"-uncertain"``).

    Raises
    ------
    KeyError
        When there is no network (run :func:`sparsenode.tl.infer_grn`) or a gene is unknown.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=8, n_cells=200, seed=0)
    >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=3, hidden=(8,), n_bins=10,
    ...                   progress_bar=False)
    >>> sn.tl.infer_grn(adata)
    >>> ax = sn.pl.regulatory_graph(adata, top_k=15, layout="hierarchical", show=False)
    >>> sorted({p.get_gid().split("-")[0] for p in ax.patches if p.get_gid()})  # dashed: "-uncertain"
    ['activation', 'repression']
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    if top_k is not None and int(top_k) < 1:
        raise ValueError(f"top_k must be a positive number of edges or None, got {top_k}")
    edges = _grn_table(adata, key)
    has_freq = K.FREQUENCY in edges.columns
    if confidence and not has_freq:
        raise ValueError(
            f"confidence=True needs the edge frequencies of an ensemble, and the network of fit {key!r} has none; "
            "refit with n_members >= 2 (the default on up to 100 genes) and rerun sn.tl.infer_grn"
        )
    dashed = has_freq if confidence is None else bool(confidence)
    if genes is not None:
        sel = as_list(genes)
        check_names(sel, [str(g) for g in adata.var_names], "gene(s) in adata.var_names")
        edges = edges[edges["source"].isin(sel) & edges["target"].isin(sel)]
    if top_k is not None:
        edges = edges.head(int(top_k))
    if edges.empty:
        raise ValueError(
            f"the network of fit {key!r} has no edges to draw (with genes={genes!r}); "
            "refit with a weaker penalty or pass more genes"
        )

    graph = nx.DiGraph()
    freq = edges[K.FREQUENCY] if has_freq else np.ones(len(edges))
    for s, t, w, f in zip(edges["source"], edges["target"], edges["weight"], freq, strict=True):
        graph.add_edge(str(s), str(t), weight=float(w), uncertain=dashed and float(f) < 0.5)
    nodes = list(graph.nodes)
    n = len(nodes)
    pos = _layout(graph, layout, seed)

    regs = as_list(regulators) if regulators is not None else _default_regulators(adata, key)
    if regs is None:
        regs = [v for v in nodes if graph.out_degree(v) > 0]
    is_reg = {v: v in set(regs) for v in nodes}

    if ax is None:
        side = 6.5 if n <= 25 else (8.0 if n <= 60 else 10.0)
        _, ax = plt.subplots(figsize=(side, side * (1.08 if layout == "hierarchical" else 1.0)))
    out_deg = np.array([graph.out_degree(v) for v in nodes], dtype=float)
    s_min = 110.0 if n <= 30 else (70.0 if n <= 60 else 45.0)
    sizes = s_min * (1.0 + 3.0 * out_deg / max(out_deg.max(), 1.0))
    size_of = dict(zip(nodes, sizes, strict=True))

    # edges: weakest first, so the strong ones lie on top
    w_max = max(float(edges["weight"].abs().max()), 1e-12)
    rad = 0.15 if layout != "circular" else 0.08
    for s, t, w in sorted(graph.edges(data="weight"), key=lambda e: abs(e[2])):
        uncertain = graph.edges[s, t]["uncertain"]
        rel = abs(w) / w_max
        lw = 0.5 + 2.5 * rel
        act = w > 0
        style = "-|>,head_length=0.6,head_width=0.3" if act else "-[,widthB=0.7,lengthB=0.0"
        patch = FancyArrowPatch(
            pos[s],
            pos[t],
            arrowstyle=style,
            connectionstyle=f"arc3,rad={rad}",
            mutation_scale=8 + 4 * rel,
            linewidth=lw,
            color=ACTIVATION if act else REPRESSION,
            alpha=0.45 + 0.45 * rel,
            shrinkA=np.sqrt(size_of[s]) / 2 + 1,
            shrinkB=np.sqrt(size_of[t]) / 2 + 2,
            linestyle="--" if uncertain else "-",
            zorder=1,
        )
        patch.set_gid(("activation" if act else "repression") + ("-uncertain" if uncertain else ""))
        ax.add_patch(patch)

    # nodes
    for flag, marker, face, edge, lw in (
        (False, "o", "#f2f2f2", "#636363", 0.9),
        (True, "D", "#d9d9d9", "#252525", 1.8),
    ):
        group = [v for v in nodes if is_reg[v] == flag]
        if group:
            xy = np.array([pos[v] for v in group])
            ax.scatter(
                xy[:, 0],
                xy[:, 1],
                s=[size_of[v] * (0.8 if flag else 1.0) for v in group],
                marker=marker,
                facecolor=face,
                edgecolor=edge,
                linewidth=lw,
                zorder=2,
            )

    # labels: the best connected genes when crowded, above their node in a light box
    degree = {v: graph.degree(v) for v in nodes}
    labelled = sorted(nodes, key=lambda v: (-degree[v], str(v)))[: max(int(max_labels), 0)]
    fontsize = 9 if n <= 25 else (8 if n <= 60 else 7)
    texts = []
    width, height = ax.get_window_extent().size
    xy = np.array([pos[v] for v in nodes])
    span = np.maximum(xy.max(axis=0) - xy.min(axis=0), 1e-9)
    aspect = (height / span[1]) / (width / span[0]) if layout == "hierarchical" else 1.0
    for v in labelled:
        r = np.sqrt(size_of[v]) / 2 + 2
        if layout == "circular":  # outside the ring, pointing away from the centre
            angle = float(np.arctan2(pos[v][1], pos[v][0]))
        else:  # in the widest gap between the node's edges, so labels do not hide arrow heads
            angle = _free_direction(pos, v, graph, aspect)
        offset = (r * np.cos(angle), r * np.sin(angle))
        ha = "left" if np.cos(angle) > 0.3 else ("right" if np.cos(angle) < -0.3 else "center")
        va = "bottom" if np.sin(angle) > 0.3 else ("top" if np.sin(angle) < -0.3 else "center")
        texts.append(
            ax.annotate(
                v,
                xy=pos[v],
                xytext=offset,
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=fontsize,
                zorder=3,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.75},
            )
        )

    xy = np.array([pos[v] for v in nodes])
    lo, hi = xy.min(axis=0) - 0.1, xy.max(axis=0) + np.array([0.1, 0.14])
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal" if layout != "hierarchical" else "auto")
    ax.set_axis_off()
    _spread_labels(ax, texts)

    handles = [
        Line2D([], [], color=ACTIVATION, lw=2, marker=">", markersize=6, label="activation (→)"),
        Line2D([], [], color=REPRESSION, lw=2, marker="|", markersize=8, markeredgewidth=2, label="repression (⊣)"),
        Line2D(
            [],
            [],
            ls="",
            marker="D",
            markersize=7,
            markerfacecolor="#d9d9d9",
            markeredgecolor="#252525",
            markeredgewidth=1.8,
            label="regulator",
        ),
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            markersize=7,
            markerfacecolor="#f2f2f2",
            markeredgecolor="#636363",
            label="target",
        ),
    ]
    if dashed:
        handles.append(Line2D([], [], color="#636363", lw=1.5, ls="--", label="frequency < 0.5"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, frameon=False, fontsize=8)
    shown = f", {len(labelled)} of {n} genes labelled" if len(labelled) < n else ""
    ax.set_title(
        f"{key}: {graph.number_of_edges()} strongest edges{shown}\nedge width ∝ |weight|, node size ∝ out-degree",
        fontsize=10,
    )
    return finish(ax, show)


def adjacency(
    adata: AnnData,
    *,
    key: str = K.PATHREG,
    cluster: bool = True,
    genes: Sequence[str] | None = None,
    cmap: str = DIVERGING,
    ax: Axes | None = None,
    show: bool | None = None,
):
    """Heat map of the signed network, regulators (sources) as rows and targets as columns.

    Reads ``adata.varp[f"{key}_grn"]`` written by :func:`sparsenode.tl.infer_grn` (self-loops included) on the
    modelled genes. The colour scale is diverging and centred on zero: red activates, blue represses.

    Parameters
    ----------
    adata
        AnnData after :func:`sparsenode.tl.infer_grn`.
    key
        Key of the fit.
    cluster
        Order rows and columns by hierarchical clustering (:func:`seaborn.clustermap`, with dendrograms). A
        clustermap makes its own figure, so ``ax`` must be ``None`` then.
    genes
        Genes to show (rows and columns); default: the modelled genes.
    cmap
        Diverging colormap.
    ax
        Axes to draw into when ``cluster=False``.
    show
        ``False`` returns the plot; ``True`` calls :func:`matplotlib.pyplot.show`; ``None`` shows under an
        interactive backend only.

    Returns
    -------
    Axes, :class:`seaborn.matrix.ClusterGrid` or None
        With ``show=False``: the heat map's Axes when ``cluster=False``; the ClusterGrid when ``cluster=True``
        (``grid.figure`` is the figure, ``grid.ax_heatmap`` the heat map, ``grid.dendrogram_row.reordered_ind``
        the row order).

    Raises
    ------
    KeyError
        When there is no network (run :func:`sparsenode.tl.infer_grn`) or a gene is unknown.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=8, n_cells=200, seed=0)
    >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=3, hidden=(8,), n_bins=10,
    ...                   progress_bar=False)
    >>> sn.tl.infer_grn(adata)
    >>> grid = sn.pl.adjacency(adata, show=False)
    >>> grid.ax_heatmap.get_ylabel()
    'regulator (source)'
    >>> ax = sn.pl.adjacency(adata, cluster=False, show=False)
    """
    frame = _network_frame(adata, key, genes)
    if frame.empty:
        raise ValueError(f"no genes to show for fit {key!r}")
    vmax = symmetric_limit(frame.to_numpy())
    n = frame.shape[0]
    ticks = True if n <= 60 else "auto"
    kw = {
        "cmap": cmap,
        "center": 0.0,
        "vmin": -vmax,
        "vmax": vmax,
        "xticklabels": ticks,
        "yticklabels": ticks,
        "linewidths": 0.3 if n <= 30 else 0.0,
        "linecolor": "#f0f0f0",
    }
    title = f"{key}: signed network (source → target)"
    if cluster:
        if ax is not None:
            raise ValueError("a clustermap draws its own figure; pass ax=None, or cluster=False to draw into ax")
        side = min(4.0 + 0.28 * n, 16.0)
        can = n >= 2
        grid = sns.clustermap(
            frame,
            row_cluster=can,
            col_cluster=can,
            method="average",
            metric="euclidean",
            figsize=(side + 1.2, side),
            dendrogram_ratio=0.12,
            cbar_pos=(0.02, 0.83, 0.03, 0.14),
            cbar_kws={"label": "weight"},
            **kw,
        )
        grid.ax_heatmap.set_ylabel("regulator (source)")
        grid.ax_heatmap.set_xlabel("target")
        grid.ax_heatmap.tick_params(labelsize=8 if n <= 40 else 6)
        grid.figure.suptitle(title, y=1.01)
        return finish(grid, show)
    if ax is None:
        side = min(3.5 + 0.25 * n, 14.0)
        _, ax = plt.subplots(figsize=(side + 1.2, side))
    sns.heatmap(frame, ax=ax, square=True, cbar_kws={"label": "weight", "shrink": 0.6}, **kw)
    ax.set_ylabel("regulator (source)")
    ax.set_xlabel("target")
    ax.tick_params(labelsize=8 if n <= 40 else 6)
    ax.set_title(title)
    return finish(ax, show)
