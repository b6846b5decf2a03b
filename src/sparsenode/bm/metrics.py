"""Benchmark metrics: GRN recovery as BEELINE scores it, sparsity, forecasting and perturbation accuracy.

GRN recovery follows BEELINE (Pratapa et al. 2020, ``BLEval``) so that scores are comparable with its published
tables:

* the universe is every ordered pair of distinct genes (self-loops excluded) over ``genes`` or, by default, the
  union of the genes named in the truth and the prediction;
* a pair the prediction does not list gets weight 0; pairs are ranked by ``|weight|``; a pair listed several times
  (e.g. once per lineage) keeps its largest ``|weight|``;
* AUROC is the trapezoidal area under the ROC curve with tied scores forming one step (scikit-learn's
  ``roc_curve`` + ``auc``); AUPRC is the trapezoidal area under the precision-recall curve whose points are the
  distinct score thresholds plus ``(recall 0, precision 1)`` (scikit-learn's ``precision_recall_curve`` + ``auc``,
  which is what BEELINE's ``computeScores`` reports). Both are implemented here in numpy;
* early precision is the precision among the top-``k`` predicted edges, ``k`` the number of true edges: weights are
  rounded to 6 decimals, the cut-off is the larger of the ``k``-th largest ``|weight|`` and the smallest non-zero
  ``|weight|``, and every predicted edge at or above the cut-off is kept (ties at the cut-off are all included);
* ratios divide by the density of the true network, ``n_true_edges / (n_genes * (n_genes - 1))``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

__all__ = [
    "METRICS",
    "auprc",
    "auprc_ratio",
    "auroc",
    "average_precision",
    "early_precision",
    "epr",
    "feature_sparsity",
    "forecast_mse",
    "perturbation_accuracy",
    "score",
    "signed_early_precision",
    "spurious_feature_sparsity",
]

_SIGN_WORDS = {"+": 1, "-": -1, "activation": 1, "inhibition": -1, "repression": -1}
EP_DECIMALS = 6  # BEELINE rounds edge weights to 6 decimals before choosing the top-k edges


# --------------------------------------------------------------------------------------------------------------------
# edge tables
# --------------------------------------------------------------------------------------------------------------------
def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    if isinstance(x, pd.DataFrame | pd.Series):
        x = x.to_numpy()
    return np.asarray(x, dtype=np.float64)


def _parse_sign(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col):
        return np.sign(np.nan_to_num(col.to_numpy(dtype=np.float64))).astype(np.int64)
    return np.asarray([_SIGN_WORDS.get(str(v).strip().lower(), 0) for v in col], dtype=np.int64)


def _first_col(df: pd.DataFrame, names: Iterable[str]) -> str | None:
    for n in names:
        if n in df.columns:
            return n
    return None


def _edge_table(obj, what: str, truth: bool = False) -> tuple[pd.DataFrame, bool]:
    """Normalise an edge list or adjacency to columns source, target, weight, sign; say whether signs are given."""
    from anndata import AnnData

    if isinstance(obj, AnnData):
        if "true_network" not in obj.uns:
            raise KeyError(f"{what}: the AnnData has no uns['true_network']; read it with sn.io.read_beeline")
        obj = obj.uns["true_network"]
    if not isinstance(obj, pd.DataFrame):
        raise TypeError(
            f"{what} must be a DataFrame of edges (source, target[, weight][, sign]) or a square gene x gene "
            f"DataFrame, not {type(obj).__name__}"
        )
    src = _first_col(obj, ("source", "Gene1"))
    tgt = _first_col(obj, ("target", "Gene2"))
    if src is None or tgt is None:
        square = obj.shape[0] == obj.shape[1] and set(map(str, obj.index)) == set(map(str, obj.columns))
        if not square:
            raise ValueError(
                f"{what} needs columns 'source' and 'target' (or BEELINE's 'Gene1', 'Gene2'), or must be a square "
                f"gene x gene adjacency with matching index and columns (rows = source); got columns "
                f"{list(obj.columns)[:8]}"
            )
        mat = obj.copy()
        mat.index = mat.index.astype(str)
        mat.columns = mat.columns.astype(str)
        mat = mat.loc[:, list(mat.index)]
        vals = mat.to_numpy(dtype=np.float64)
        rows, cols = np.nonzero(np.isfinite(vals))
        w = vals[rows, cols]
        genes = np.asarray(mat.index, dtype=object)
        out = pd.DataFrame({"source": genes[rows], "target": genes[cols], "weight": w})
        out["sign"] = np.sign(w).astype(np.int64)
        return out, True
    wcol = _first_col(obj, ("weight", "EdgeWeight"))
    scol = _first_col(obj, ("sign", "Type"))
    out = pd.DataFrame(
        {
            "source": obj[src].astype(str).to_numpy(),
            "target": obj[tgt].astype(str).to_numpy(),
        }
    )
    out["weight"] = pd.to_numeric(obj[wcol], errors="coerce").to_numpy(dtype=np.float64) if wcol else 1.0
    if wcol and out["weight"].isna().any():
        raise ValueError(f"{what} has missing or non-numeric weights in column {wcol!r}")
    if scol is not None:
        out["sign"] = _parse_sign(obj[scol])
        has_sign = True
    elif truth:  # a truth without signs: every sign unknown
        out["sign"] = 0
        has_sign = False
    else:
        out["sign"] = np.sign(out["weight"].to_numpy()).astype(np.int64)
        has_sign = bool(wcol) and bool((out["weight"] < 0).any())
    return out, has_sign


class _Pairs:
    """Truth and prediction laid out on the n x n grid of a gene universe."""

    def __init__(self, prediction, truth, genes=None, self_loops: bool = False):
        pred, pred_signed = _edge_table(prediction, "prediction")
        true, true_signed = _edge_table(truth, "truth", truth=True)
        if genes is None:
            universe = pd.Index(
                pd.unique(
                    np.concatenate(
                        [true[["source", "target"]].to_numpy().ravel(), pred[["source", "target"]].to_numpy().ravel()]
                    )
                )
            )
        else:
            universe = pd.Index([str(g) for g in genes])
            if not universe.is_unique:
                raise ValueError("genes contains duplicates; pass each gene once")
            outside = ~(true["source"].isin(universe) & true["target"].isin(universe))
            if outside.any():
                warnings.warn(
                    f"{int(outside.sum())} true edge(s) involve genes outside `genes` and are ignored", stacklevel=4
                )
        n = len(universe)
        if n < 2:
            raise ValueError(f"the gene universe has {n} gene(s); at least 2 are needed to score a network")
        self.genes = universe
        self.self_loops = self_loops
        self.n = n

        ts = universe.get_indexer(true["source"])
        tt = universe.get_indexer(true["target"])
        ok = (ts >= 0) & (tt >= 0) & (self_loops | (ts != tt))
        truth_mat = np.zeros((n, n), dtype=bool)
        truth_mat[ts[ok], tt[ok]] = True
        tsign = np.zeros((n, n), dtype=np.int64)
        # an edge listed with conflicting signs gets sign 0 (unknown)
        tdf = pd.DataFrame({"s": ts[ok], "t": tt[ok], "g": true["sign"].to_numpy()[ok]})
        if len(tdf):
            g = tdf.groupby(["s", "t"])["g"].agg(["min", "max"]).reset_index()
            agree = (g["min"] == g["max"]).to_numpy()
            tsign[g["s"].to_numpy(), g["t"].to_numpy()] = np.where(agree, g["min"].to_numpy(), 0)

        ps = universe.get_indexer(pred["source"])
        pt = universe.get_indexer(pred["target"])
        keep = (ps >= 0) & (pt >= 0) & (self_loops | (ps != pt))
        p = pd.DataFrame(
            {
                "s": ps[keep],
                "t": pt[keep],
                "w": np.abs(pred["weight"].to_numpy()[keep]),
                "g": pred["sign"].to_numpy()[keep],
            }
        )
        # duplicates (several lineages): keep the largest |weight|, first listed among equals
        p = p.sort_values("w", ascending=False, kind="mergesort").drop_duplicates(["s", "t"], keep="first")
        weight = np.zeros((n, n))
        psign = np.zeros((n, n), dtype=np.int64)
        weight[p["s"].to_numpy(), p["t"].to_numpy()] = p["w"].to_numpy()
        psign[p["s"].to_numpy(), p["t"].to_numpy()] = p["g"].to_numpy()
        listed = np.zeros((n, n), dtype=bool)
        listed[p["s"].to_numpy(), p["t"].to_numpy()] = True

        mask = np.ones((n, n), dtype=bool) if self_loops else ~np.eye(n, dtype=bool)
        self.y = truth_mat[mask]
        self.score = weight[mask]
        self.listed = listed[mask]
        self.pred_sign = psign[mask]
        self.true_sign = tsign[mask]
        self.signed = bool(true_signed and (tsign != 0).any() and pred_signed)

    @property
    def n_true(self) -> int:
        return int(self.y.sum())

    @property
    def density(self) -> float:
        return self.n_true / self.y.size


def _counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct score, highest score first."""
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    ends = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    tps = np.cumsum(y, dtype=np.float64)[ends]
    fps = (ends + 1) - tps
    return tps, fps


def _roc_area(y: np.ndarray, s: np.ndarray) -> float:
    n_pos = y.sum()
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        warnings.warn("AUROC is undefined when all pairs are true or none is; returning NaN", stacklevel=4)
        return float("nan")
    tps, fps = _counts(y, s)
    tpr = np.r_[0.0, tps / n_pos]
    fpr = np.r_[0.0, fps / n_neg]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def _pr_area(y: np.ndarray, s: np.ndarray) -> float:
    n_pos = y.sum()
    if n_pos == 0:
        warnings.warn("AUPRC is undefined without true edges; returning NaN", stacklevel=4)
        return float("nan")
    tps, fps = _counts(y, s)
    last = int(np.searchsorted(tps, tps[-1]))  # the curve stops where full recall is first reached
    tps, fps = tps[: last + 1], fps[: last + 1]
    precision = np.r_[1.0, tps / (tps + fps)]
    recall = np.r_[0.0, tps / n_pos]
    return float(np.sum(np.diff(recall) * (precision[1:] + precision[:-1]) / 2.0))


def _ap(y: np.ndarray, s: np.ndarray) -> float:
    n_pos = y.sum()
    if n_pos == 0:
        warnings.warn("average precision is undefined without true edges; returning NaN", stacklevel=4)
        return float("nan")
    tps, fps = _counts(y, s)
    recall = np.r_[0.0, tps / n_pos]
    return float(np.sum(np.diff(recall) * tps / (tps + fps)))


def _top_k(pairs: _Pairs, decimals: int | None) -> np.ndarray:
    """Return the indices of the predicted edges BEELINE keeps as the top k (k = number of true edges)."""
    idx = np.flatnonzero(pairs.listed)
    if idx.size == 0 or pairs.n_true == 0:
        return idx[:0]
    w = pairs.score[idx]
    if decimals is not None:
        w = np.round(w, decimals)
    nonzero = w[w > 0]
    if nonzero.size == 0:
        return idx[:0]
    k = min(idx.size, pairs.n_true)
    kth = np.sort(w)[::-1][k - 1]
    cut = max(kth, nonzero.min())
    return idx[w >= cut]


# --------------------------------------------------------------------------------------------------------------------
# GRN recovery
# --------------------------------------------------------------------------------------------------------------------
def auroc(prediction, truth, *, genes=None, self_loops: bool = False) -> float:
    """Area under the ROC curve of a predicted network, as BEELINE computes it.

    Parameters
    ----------
    prediction
        Edge DataFrame with ``source``, ``target``, ``weight`` (BEELINE's ``Gene1``, ``Gene2``, ``EdgeWeight`` work
        too), or a square gene x gene adjacency DataFrame (rows = source). Ranked by ``|weight|``.
    truth
        True edges: DataFrame with ``source``, ``target`` (or ``Gene1``, ``Gene2``), or an AnnData from
        :func:`sparsenode.io.read_beeline`.
    genes
        Gene universe (default: union of the genes in truth and prediction).
    self_loops
        Include self-loops in the universe (BEELINE: no).

    Returns
    -------
    The AUROC (trapezoidal, ties form one step), NaN if undefined.

    Examples
    --------
    >>> import pandas as pd
    >>> from sparsenode.bm import metrics
    >>> truth = pd.DataFrame({"source": ["a"], "target": ["b"]})
    >>> pred = pd.DataFrame({"source": ["a", "b"], "target": ["b", "a"], "weight": [0.9, 0.1]})
    >>> metrics.auroc(pred, truth, genes=["a", "b"])
    1.0
    """
    p = _Pairs(prediction, truth, genes, self_loops)
    return _roc_area(p.y, p.score)


def auprc(prediction, truth, *, genes=None, self_loops: bool = False) -> float:
    """Area under the precision-recall curve, as BEELINE computes it.

    Trapezoidal area over the points (recall, precision) at each distinct ``|weight|`` threshold, starting at
    ``(0, 1)``: exactly scikit-learn's ``auc(recall, precision)`` on ``precision_recall_curve``, which reproduces
    BEELINE's published AUPRC tables. Parameters as in :func:`auroc`.

    Parameters
    ----------
    prediction
        Predicted edges or adjacency (see :func:`auroc`).
    truth
        True edges (see :func:`auroc`).
    genes
        Gene universe.
    self_loops
        Include self-loops.

    Returns
    -------
    The AUPRC, NaN if there are no true edges.

    Examples
    --------
    >>> import pandas as pd
    >>> from sparsenode.bm import metrics
    >>> truth = pd.DataFrame({"source": ["a"], "target": ["b"]})
    >>> pred = pd.DataFrame({"source": ["a"], "target": ["b"], "weight": [0.5]})
    >>> metrics.auprc(pred, truth, genes=["a", "b", "c"])
    1.0
    """
    p = _Pairs(prediction, truth, genes, self_loops)
    return _pr_area(p.y, p.score)


def auprc_ratio(prediction, truth, *, genes=None, self_loops: bool = False) -> float:
    """AUPRC divided by the density of the true network (a random predictor scores about 1).

    Parameters
    ----------
    prediction
        Predicted edges or adjacency (see :func:`auroc`).
    truth
        True edges (see :func:`auroc`).
    genes
        Gene universe.
    self_loops
        Include self-loops.

    Returns
    -------
    ``auprc / density``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sparsenode.bm import metrics
    >>> truth = pd.DataFrame({"source": ["a"], "target": ["b"]})
    >>> pred = pd.DataFrame({"source": ["a"], "target": ["b"], "weight": [0.5]})
    >>> metrics.auprc_ratio(pred, truth, genes=["a", "b"])  # density 1/2
    2.0
    """
    p = _Pairs(prediction, truth, genes, self_loops)
    return _pr_area(p.y, p.score) / p.density if p.n_true else float("nan")


def average_precision(prediction, truth, *, genes=None, self_loops: bool = False) -> float:
    """Step-wise average precision: the mean precision at each recall step, tied pairs taken as one step.

    Unlike BEELINE's AUPRC (a trapezoid that starts at recall 0, precision 1), average precision does not reward
    ties: a network whose weights are all equal (e.g. pruned to nothing) scores the density of the true network,
    and pairs tied at zero after pruning get the precision of the whole tie. ``score`` reports both; compare
    sparse methods on ``ap_ratio`` as well as on ``auprc_ratio``.

    Parameters
    ----------
    prediction
        Predicted edges or adjacency (see :func:`auroc`).
    truth
        True edges (see :func:`auroc`).
    genes
        Gene universe.
    self_loops
        Include self-loops.

    Returns
    -------
    The average precision, NaN without true edges.

    Examples
    --------
    >>> import pandas as pd
    >>> from sparsenode.bm import metrics
    >>> truth = pd.DataFrame({"source": ["a"], "target": ["b"]})
    >>> empty = pd.DataFrame({"source": ["a"], "target": ["b"], "weight": [0.0]})
    >>> metrics.average_precision(empty, truth, genes=["a", "b", "c"])  # = density 1/6; BEELINE AUPRC gives 0.58
    0.16666666666666666
    """
    p = _Pairs(prediction, truth, genes, self_loops)
    return _ap(p.y, p.score)


def early_precision(
    prediction, truth, *, genes=None, self_loops: bool = False, decimals: int | None = EP_DECIMALS
) -> float:
    """Precision among the top-k predicted edges, k = number of true edges (BEELINE's early precision).

    Only edges the prediction lists are candidates. ``|weight|`` is rounded to ``decimals`` (BEELINE: 6); the
    cut-off is the larger of the k-th largest weight and the smallest non-zero weight, and every edge at or above it
    is kept, so edges tied at the cut-off are all counted and the selection may exceed k. Zero-weight edges never
    count. Returns 0 when nothing is selected.

    Parameters
    ----------
    prediction
        Predicted edges or adjacency (see :func:`auroc`).
    truth
        True edges (see :func:`auroc`).
    genes
        Gene universe.
    self_loops
        Include self-loops.
    decimals
        Rounding of ``|weight|`` before the cut (None: no rounding; use it for models with weights below 1e-6).

    Returns
    -------
    Fraction of the selected edges that are true.

    Examples
    --------
    >>> import pandas as pd
    >>> from sparsenode.bm import metrics
    >>> truth = pd.DataFrame({"source": ["a", "b"], "target": ["b", "c"]})
    >>> pred = pd.DataFrame({"source": ["a", "c", "b"], "target": ["b", "a", "c"], "weight": [0.9, 0.8, 0.1]})
    >>> metrics.early_precision(pred, truth)
    0.5
    """
    p = _Pairs(prediction, truth, genes, self_loops)
    top = _top_k(p, decimals)
    return float(p.y[top].mean()) if top.size else 0.0


def epr(prediction, truth, *, genes=None, self_loops: bool = False, decimals: int | None = EP_DECIMALS) -> float:
    """Early precision ratio: :func:`early_precision` divided by the density of the true network.

    Parameters
    ----------
    prediction
        Predicted edges or adjacency (see :func:`auroc`).
    truth
        True edges (see :func:`auroc`).
    genes
        Gene universe.
    self_loops
        Include self-loops.
    decimals
        Rounding of ``|weight|`` (see :func:`early_precision`).

    Returns
    -------
    ``early_precision / density``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sparsenode.bm import metrics
    >>> truth = pd.DataFrame({"source": ["a"], "target": ["b"]})
    >>> pred = pd.DataFrame({"source": ["a"], "target": ["b"], "weight": [1.0]})
    >>> metrics.epr(pred, truth, genes=["a", "b", "c"])  # density 1/6
    6.0
    """
    p = _Pairs(prediction, truth, genes, self_loops)
    if not p.n_true:
        return float("nan")
    top = _top_k(p, decimals)
    return (float(p.y[top].mean()) if top.size else 0.0) / p.density


def signed_early_precision(
    prediction, truth, *, genes=None, self_loops: bool = False, decimals: int | None = EP_DECIMALS
) -> float:
    """Early precision where a selected edge is a hit only if it is true and its predicted sign is right.

    The top-k selection is the one of :func:`early_precision`. The predicted sign comes from a ``sign`` column of
    the prediction, else from the sign of ``weight``; the true sign from the truth's ``sign`` (or BEELINE ``Type``
    ``+``/``-``) column. A true edge of unknown sign (0, or listed with both signs) counts as a hit whatever the
    predicted sign.

    Parameters
    ----------
    prediction
        Predicted edges with ``sign`` or signed ``weight``, or a signed adjacency.
    truth
        True edges with ``sign`` (+1/-1) or ``Type`` (``+``/``-``).
    genes
        Gene universe.
    self_loops
        Include self-loops.
    decimals
        Rounding of ``|weight|`` (see :func:`early_precision`).

    Returns
    -------
    Fraction of the selected edges that are true and correctly signed.

    Examples
    --------
    >>> import pandas as pd
    >>> from sparsenode.bm import metrics
    >>> truth = pd.DataFrame({"source": ["a", "b"], "target": ["b", "c"], "sign": [1, -1]})
    >>> pred = pd.DataFrame({"source": ["a", "b"], "target": ["b", "c"], "weight": [0.9, 0.8]})
    >>> metrics.signed_early_precision(pred, truth)  # b -> c predicted as activation
    0.5
    """
    p = _Pairs(prediction, truth, genes, self_loops)
    top = _top_k(p, decimals)
    if not top.size:
        return 0.0
    ok = p.y[top] & ((p.true_sign[top] == 0) | (p.pred_sign[top] == p.true_sign[top]))
    return float(ok.mean())


def score(prediction, truth, *, genes=None, self_loops: bool = False) -> dict:
    """All GRN-recovery metrics of one prediction against one true network.

    Parameters
    ----------
    prediction
        Edge DataFrame (``source``, ``target``, ``weight``[, ``sign``]; BEELINE column names work too) or a square
        gene x gene adjacency DataFrame (rows = source).
    truth
        True edges (``source``, ``target``[, ``sign``]) or an AnnData from :func:`sparsenode.io.read_beeline`.
    genes
        Gene universe (default: union of the genes in truth and prediction, as BEELINE does when they coincide).
    self_loops
        Include self-loops (BEELINE: no).

    Returns
    -------
    Dict with ``auroc``, ``auprc``, ``auprc_ratio`` (BEELINE's), ``ap`` and ``ap_ratio`` (average precision, which
    does not reward tied weights; see :func:`~sparsenode.bm.metrics.average_precision`), ``early_precision``,
    ``epr``, ``density``, ``n_true_edges``, ``n_genes``, and ``signed_early_precision`` / ``signed_epr`` when both
    truth and prediction carry signs.

    Examples
    --------
    >>> import pandas as pd
    >>> import sparsenode as sn
    >>> truth = pd.DataFrame({"source": ["a", "b"], "target": ["b", "c"], "sign": [1, -1]})
    >>> pred = pd.DataFrame({"source": ["a", "b", "c"], "target": ["b", "c", "a"], "weight": [0.9, -0.7, 0.1]})
    >>> res = sn.bm.score(pred, truth)
    >>> res["auprc"], res["n_true_edges"], res["signed_early_precision"]
    (1.0, 2, 1.0)
    """
    p = _Pairs(prediction, truth, genes, self_loops)
    density = p.density
    top = _top_k(p, EP_DECIMALS)
    ep = float(p.y[top].mean()) if top.size else 0.0
    pr = _pr_area(p.y, p.score)
    ap = _ap(p.y, p.score)
    out = {
        "auroc": _roc_area(p.y, p.score),
        "auprc": pr,
        "auprc_ratio": pr / density if density > 0 else float("nan"),
        "ap": ap,
        "ap_ratio": ap / density if density > 0 else float("nan"),
        "early_precision": ep,
        "epr": ep / density if density > 0 else float("nan"),
        "density": float(density),
        "n_true_edges": p.n_true,
        "n_genes": p.n,
    }
    if p.signed:
        ok = p.y[top] & ((p.true_sign[top] == 0) | (p.pred_sign[top] == p.true_sign[top]))
        sep = float(ok.mean()) if top.size else 0.0
        out["signed_early_precision"] = sep
        out["signed_epr"] = sep / density if density > 0 else float("nan")
    return out


# --------------------------------------------------------------------------------------------------------------------
# sparsity, forecasting, perturbations
# --------------------------------------------------------------------------------------------------------------------
def _square(adjacency) -> np.ndarray:
    a = _to_numpy(adjacency)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be a square d x d matrix, got shape {a.shape}")
    return a


def feature_sparsity(adjacency, threshold: float = 1e-3) -> float:
    """Fraction of zero entries of a d x d input-to-output matrix (``|entry| <= threshold``).

    The threshold is absolute, so that a peer's or baseline's network can be scored as given.
    ``SparseNODE.feature_sparsity`` and ``uns[key]["metrics"]["feature_sparsity"]`` of a fit use the same threshold
    relative to the largest entry of the model's adjacency instead (scale-free across methods); pass
    ``adjacency / abs(adjacency).max()`` here to compare with them.

    Parameters
    ----------
    adjacency
        Square matrix (numpy, pandas or torch); rows are inputs (sources), columns outputs (targets).
    threshold
        Entries with absolute value at most this count as zero.

    Returns
    -------
    Fraction in ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsenode.bm import metrics
    >>> metrics.feature_sparsity(np.array([[0.0, 0.5], [1e-5, 2.0]]))
    0.5
    """
    a = _square(adjacency)
    return float(np.mean(np.abs(a) <= threshold))


def spurious_feature_sparsity(adjacency, var_names, regulators, threshold: float = 1e-3) -> float:
    """Feature sparsity restricted to input rows whose gene is not a known regulator (higher is better).

    Parameters
    ----------
    adjacency
        Square d x d matrix, rows = sources (inputs).
    var_names
        The d gene names, in row order.
    regulators
        Genes allowed to regulate (e.g. the transcription factors of a prior GRN).
    threshold
        Entries with absolute value at most this count as zero.

    Returns
    -------
    Fraction of zero entries in the rows of non-regulators; NaN (with a warning) if every gene is a regulator.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsenode.bm import metrics
    >>> adj = np.array([[0.0, 0.9], [0.0, 0.0]])
    >>> metrics.spurious_feature_sparsity(adj, ["tf", "g"], regulators=["tf"])
    1.0
    """
    a = _square(adjacency)
    names = [str(v) for v in var_names]
    if len(names) != a.shape[0]:
        raise ValueError(f"var_names has {len(names)} names but the adjacency has {a.shape[0]} rows")
    regs = {str(r) for r in ([regulators] if isinstance(regulators, str) else regulators)}
    rows = np.asarray([n not in regs for n in names])
    if not rows.any():
        warnings.warn("every gene is a regulator; spurious-feature sparsity is undefined (NaN)", stacklevel=2)
        return float("nan")
    return float(np.mean(np.abs(a[rows]) <= threshold))


def forecast_mse(pred, true) -> float:
    """Mean squared error of a forecast trajectory, over the entries where ``true`` is finite.

    Parameters
    ----------
    pred
        Predicted values (numpy, pandas or torch), any shape.
    true
        Observed values of the same shape; NaN marks missing observations, which are skipped.

    Returns
    -------
    The MSE.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsenode.bm import metrics
    >>> metrics.forecast_mse(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, np.nan]))
    0.0
    """
    p, t = _to_numpy(pred), _to_numpy(true)
    if p.shape != t.shape:
        raise ValueError(f"pred has shape {p.shape} but true has shape {t.shape}; they must match")
    ok = np.isfinite(t)
    if not ok.any():
        raise ValueError("true has no finite value to compare with")
    if not np.isfinite(p[ok]).all():
        warnings.warn("pred has NaN or infinite values where true is observed; the MSE is not finite", stacklevel=2)
    return float(np.mean((p[ok] - t[ok]) ** 2))


def perturbation_accuracy(pred_effects, true_effects, noise: float = 0.0) -> dict:
    """Agreement of predicted and observed perturbation effects.

    Parameters
    ----------
    pred_effects
        Predicted effects (e.g. change of each gene's expression after a knock-out), any shape.
    true_effects
        Observed effects, same shape; pandas objects are aligned on their labels first.
    noise
        Entries with ``|true| <= noise`` are treated as no effect and left out of the sign agreement: a number, or
        an array broadcasting to the effects' shape (e.g. one noise level per gene).

    Returns
    -------
    Dict with ``sign_agreement`` (fraction of entries with ``|true| > noise`` whose predicted sign matches),
    ``spearman`` (rank correlation over all finite entries) and ``n_effects`` (entries in the sign agreement).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsenode.bm import metrics
    >>> res = metrics.perturbation_accuracy(np.array([0.5, -1.0, 0.2]), np.array([1.0, -2.0, 0.01]), noise=0.1)
    >>> res["sign_agreement"], res["spearman"]
    (1.0, 1.0)
    """
    if isinstance(pred_effects, pd.Series | pd.DataFrame) and isinstance(true_effects, pd.Series | pd.DataFrame):
        pred_effects, true_effects = pred_effects.align(true_effects, join="inner")
    p, t = _to_numpy(pred_effects), _to_numpy(true_effects)
    if p.shape != t.shape:
        raise ValueError(f"pred_effects has shape {p.shape} but true_effects has shape {t.shape}; they must match")
    try:
        noise = np.broadcast_to(np.asarray(noise, dtype=np.float64), p.shape).ravel()
    except ValueError as err:
        raise ValueError(f"noise must be a number or broadcast to the effects' shape {p.shape}") from err
    p, t = p.ravel(), t.ravel()
    finite = np.isfinite(p) & np.isfinite(t)
    strong = finite & (np.abs(t) > noise)
    sign = float(np.mean(np.sign(p[strong]) == np.sign(t[strong]))) if strong.any() else float("nan")
    if finite.sum() >= 2 and np.ptp(p[finite]) > 0 and np.ptp(t[finite]) > 0:
        rho = float(spearmanr(p[finite], t[finite]).statistic)
    else:
        rho = float("nan")
    return {"sign_agreement": sign, "spearman": rho, "n_effects": int(strong.sum())}


METRICS: dict[str, Callable] = {
    "auroc": auroc,
    "auprc": auprc,
    "auprc_ratio": auprc_ratio,
    "average_precision": average_precision,
    "early_precision": early_precision,
    "epr": epr,
    "signed_early_precision": signed_early_precision,
    "feature_sparsity": feature_sparsity,
    "spurious_feature_sparsity": spurious_feature_sparsity,
    "forecast_mse": forecast_mse,
    "perturbation_accuracy": perturbation_accuracy,
}
