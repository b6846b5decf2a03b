"""Reading a signed gene regulatory network out of a fitted model."""

from __future__ import annotations

import logging

import numpy as np
import torch
from anndata import AnnData
from scipy.stats import rankdata

from .. import _keys as K
from ..model import SparseNODE
from ..train import smooth_trajectories

logger = logging.getLogger(__name__)

MODES = (
    "flux_lagens",
    "flux_lagens_structure",
    "flux_lagcorr",
    "flux_corr",
    "flux",
    "combined",
    "jacobian",
    "structure",
)
LAG = 1  # default lag in bins of mode="flux_lagcorr"
ENSEMBLE_LAG = 2  # default largest lag in bins of mode="flux_lagens" (it uses lags 1..ENSEMBLE_LAG)
FLUX_WEIGHT = 2.0  # weight of the flux rank in mode="flux_lagens"; each lagged-correlation rank and the lead weigh 1
#: an edge is explained by a two-step path when below (1 - INDIRECT_TOLERANCE) x the weaker edge of the path
INDIRECT_TOLERANCE = 0.1
#: ``infer_grn``'s default ``indirect`` factor per mode (1: no damping)
DEFAULT_INDIRECT = {"flux_lagens": 0.5, "flux_lagens_structure": 0.5}
#: modes whose network ``infer_grn`` normalises per target by default (``per_target=None``)
PER_TARGET_MODES = ("flux_lagens",)
#: weight of the per-target rank against the global rank's 1 in :func:`normalize_per_target`
TARGET_WEIGHT = 1.0
MIN_PAIRS = 4  # a lineage enters the per-lineage lagged correlation with at least this many pairs of bins


def _jacobian_and_flux(model: SparseNODE, states: str, flux: bool) -> dict[str, np.ndarray]:
    """Per member ``(members, source, target)``: mean and mean absolute Jacobian along the trajectory and, with
    ``flux``, the mean of ``|J[target, source] * dx_source/dt|`` (one pass over the field for all three).

    The rates ``dx/dt`` are the slopes of the smoothed data (``states="data"``) or the field's own (``"fitted"``).
    """
    x = model._states(states)
    rates = None
    if flux and states == "data":
        traj = model._require_trajectories()
        bw = float(getattr(model.train_config, "smoothing", 1.5))
        _, slope = smooth_trajectories(traj.values, traj.mask, traj.times, bw)
        rates = model._tensor(slope[traj.mask])
    elif flux:
        field = model.field
        field.eval()
        field.prepare(sample=False)
        try:
            with torch.no_grad():
                rates = field(torch.zeros((), device=x.device), x.unsqueeze(0).expand(model.n_members, -1, -1))
        finally:
            field.release()
    return model.jacobian_stats(x, rates)


def _zscore(a: np.ndarray) -> np.ndarray:
    sd = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0)  # constant genes correlate with nothing


def _abs_corr(src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
    """``|corr(src[:, i], tgt[:, j])|`` over the rows."""
    return np.abs(_zscore(src).T @ _zscore(tgt)) / max(src.shape[0], 1)


def _bin_correlation(model: SparseNODE, lag: int = 0, per_lineage: bool = False) -> np.ndarray:
    """``|corr(x_source(b), x_target(b + lag))|`` over the observed bins, ``[source, target]``.

    Pooled over lineages, or (``per_lineage=True``) computed within each lineage and averaged, weighted by the
    lineage's number of bin pairs (lineages with fewer than ``MIN_PAIRS`` pairs are left out).
    """
    traj = model._require_trajectories()
    v, m = traj.values.astype(np.float64), traj.mask
    if lag > 0:
        both = m[:, :-lag] & m[:, lag:]
        src_all, tgt_all = v[:, :-lag], v[:, lag:]
    else:
        both, src_all, tgt_all = m, v, v
    if per_lineage:
        d = v.shape[-1]
        total, n_pairs = np.zeros((d, d)), 0
        for li in range(v.shape[0]):
            n = int(both[li].sum())
            if n >= MIN_PAIRS:
                total += n * _abs_corr(src_all[li][both[li]], tgt_all[li][both[li]])
                n_pairs += n
        corr = total / max(n_pairs, 1)
    else:
        corr = _abs_corr(src_all[both], tgt_all[both])
    if lag == 0:
        corr = 0.5 * (corr + corr.T)  # exactly symmetric: a pair's two directions tie
    return np.round(corr, 12)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties sharing their mean rank (``scipy.stats.rankdata``'s default), about twice as
    fast on millions of entries: average ranks do not need a stable sort. Non-finite input goes to scipy.
    """
    if x.size == 0 or not np.isfinite(x).all():
        return rankdata(x)
    order = np.argsort(x)
    xs = x[order]
    new = np.empty(xs.size, dtype=bool)
    new[0] = True
    np.not_equal(xs[1:], xs[:-1], out=new[1:])
    group = np.cumsum(new) - 1  # tie group of each sorted entry
    bounds = np.flatnonzero(np.r_[new, True])  # first sorted position of each group, then the end
    out = np.empty(x.size, dtype=np.float64)
    out[order] = (0.5 * (bounds[:-1] + bounds[1:] + 1))[group]  # mean of the 1-based positions of the group
    return out


def _ranks(a: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Normalised ranks in ``(0, 1]`` of the off-diagonal entries (ties share their mean rank); 0 on the diagonal."""
    out = np.zeros(a.shape, dtype=np.float64)
    out[off] = _average_ranks(a[off]) / max(int(off.sum()), 1)
    return out


def _lagged_ensemble(model: SparseNODE, max_lag: int) -> tuple[np.ndarray, int]:
    """Sum and number of the normalised ranks of the lagged evidence that the source leads the target.

    The parts: the lagged |correlation| for lags ``1..max_lag``, pooled over lineages and within lineages, and the
    lead ``|corr(source(b), target(b + 1))| - |corr(target(b), source(b + 1))|`` (pooled).
    """
    off = ~np.eye(model.n_genes, dtype=bool)
    parts = [_ranks(_bin_correlation(model, lag, per), off) for lag in range(1, max_lag + 1) for per in (False, True)]
    lag1 = _bin_correlation(model, 1)
    parts.append(_ranks(lag1 - lag1.T, off))
    return np.sum(parts, axis=0), len(parts)


def _rank_with_correlation(flux: np.ndarray, corr_rank: np.ndarray, flux_weight: float = 1.0) -> np.ndarray:
    """Per member: weighted mean of the flux's normalised rank (weight ``flux_weight``) and ``corr_rank`` (weight 1)."""
    off = ~np.eye(corr_rank.shape[0], dtype=bool)
    out = np.zeros_like(flux, dtype=np.float64)
    for m in range(flux.shape[0]):  # members are few; ranks are per member
        out[m] = (flux_weight * _ranks(flux[m], off) + corr_rank) / (flux_weight + 1.0)
    return out


#: from this many genes on, the host's indirect-edge test runs a compiled scan (numba) instead of NumPy's cubic search
SCAN_MIN_GENES = 400
_scan_kernel = None


def _explained_by_scan(a: np.ndarray, keep: np.float32) -> np.ndarray:
    """``a[i, k] < keep * max_j min(a[i, j], a[j, k])`` for every pair, by a scan that stops early (numba).

    For each source ``i`` the intermediates ``j`` are visited by decreasing ``a[i, j]``; the scan of a pair stops at
    the first ``j`` that explains it, or as soon as ``keep * a[i, j]`` no longer exceeds ``a[i, k]`` (no later
    ``j`` can). The same float32 comparisons as the cubic search, so the same answer (tests compare them); at 2,000
    genes 0.5 s against 11 s on one CPU core. Compiled once per process on first use (a few seconds).
    """
    global _scan_kernel
    if _scan_kernel is None:
        import numba

        @numba.njit(cache=True)
        def scan(a, keep):
            n = a.shape[0]
            out = np.zeros((n, n), dtype=np.bool_)
            for i in range(n):
                row = a[i]
                order = np.argsort(-row)
                for k in range(n):
                    if k == i:
                        continue
                    aik = row[k]
                    for jj in range(n):
                        j = order[jj]
                        aij = row[j]
                        if not aik < keep * aij:
                            break
                        m = aij if aij < a[j, k] else a[j, k]
                        if aik < keep * m:
                            out[i, k] = True
                            break
            return out

        _scan_kernel = scan
    return _scan_kernel(np.ascontiguousarray(a, dtype=np.float32), np.float32(keep))


def _strongest_two_step_path(a: np.ndarray, device: torch.device | str | None) -> np.ndarray:
    """``max_j min(a[i, j], a[j, k])`` for a non-negative ``a`` with zero diagonal, in blocks of intermediates ``j``.

    NumPy on the host (``device=None``), torch on ``device`` otherwise (on a GPU: 2,000 genes in well under a
    second, against about 10 s on one CPU core).
    """
    n = a.shape[0]
    block = max(1, int(2**24 // max(n * n, 1)))  # intermediates per step: about 64 MB of float32
    if device is None:
        path = np.zeros_like(a)
        for j0 in range(0, n, block):
            j1 = min(n, j0 + block)
            np.maximum(path, np.minimum(a[:, j0:j1].T[:, :, None], a[j0:j1, None, :]).max(axis=0), out=path)
        return path
    at = torch.as_tensor(a, device=device)
    path_t = torch.zeros_like(at)
    for j0 in range(0, n, block):
        j1 = min(n, j0 + block)
        torch.maximum(path_t, torch.minimum(at[:, j0:j1].T[:, :, None], at[j0:j1, None, :]).amax(dim=0), out=path_t)
    return path_t.cpu().numpy()


def damp_indirect(
    weight: np.ndarray,
    factor: float,
    tolerance: float = INDIRECT_TOLERANCE,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Scale down edges that a stronger two-step path explains (the data-processing inequality of ARACNE, directed).

    An edge ``i -> k`` whose strength is below ``(1 - tolerance)`` times the strength of some path ``i -> j -> k``
    (a path is as strong as its weaker edge) is multiplied by ``factor``; the sign is kept, self-loops neither count
    nor change. Indirect effects (a regulator of a regulator) and co-regulation leave such weaker shortcuts in any
    score built from correlations or sensitivities along the data.

    Parameters
    ----------
    weight
        ``(genes, genes)`` signed edge strengths ``[source, target]``.
    factor
        Multiplier in ``[0, 1]`` for explained edges (``1``: unchanged, ``0``: removed).
    tolerance
        Relative margin by which an edge must fall below the path to count as explained.
    device
        Compute the two-step paths with torch on this device (e.g. the fitted model's GPU) instead of on the host;
        the result is the same. On the host, up to ``SCAN_MIN_GENES`` genes NumPy searches every path (cost grows as
        genes cubed), from there on a compiled scan that stops early gives the same answer (2,000 genes: 0.5 s).

    Returns
    -------
    The damped ``(genes, genes)`` array (a new array).

    Examples
    --------
    A chain a -> b -> c with a weaker shortcut a -> c: the shortcut is halved, the chain is kept.

    >>> import numpy as np
    >>> from sparsenode.tl._grn import damp_indirect
    >>> w = np.array([[0.0, 0.9, 0.4], [0.0, 0.0, -0.8], [0.0, 0.0, 0.0]])
    >>> damp_indirect(w, 0.5).round(2).tolist()
    [[0.0, 0.9, 0.2], [0.0, 0.0, -0.8], [0.0, 0.0, 0.0]]
    """
    factor = _check_indirect(factor)
    w = np.asarray(weight)
    if factor == 1.0 or w.shape[0] < 3:
        return w.copy()
    a = np.abs(w).astype(np.float32)
    np.fill_diagonal(a, 0.0)
    keep = np.float32(1.0 - float(tolerance))
    if device is None and a.shape[0] >= SCAN_MIN_GENES:
        explained = _explained_by_scan(a, keep)
    else:
        path = _strongest_two_step_path(a, device)  # i -> j -> k, j != i, k (the zero diagonal takes care of that)
        explained = a < keep * path
    np.fill_diagonal(explained, False)
    return np.where(explained, w * factor, w)


def normalize_per_target(weight: np.ndarray, target_weight: float = TARGET_WEIGHT) -> np.ndarray:
    """Rank every edge both globally and against the other candidate regulators of its target.

    The new strength of an edge ``i -> k`` is the weighted mean of two normalised ranks (in ``(0, 1]``, over the
    non-zero off-diagonal edges): its rank by ``|weight|`` among all edges (weight 1), and its rank by the target's
    z-score ``max(0, (|w_ik| - mean_k) / sd_k)`` (weight ``target_weight``), where ``mean_k`` and ``sd_k`` are taken
    over the non-zero scores of target ``k``'s candidate regulators (ties of the clipped z-score are ordered by the
    global rank). A regulatory network gives every gene a few regulators, but targets differ in how strongly all
    of their candidate scores run (a gene that is well fitted, or correlated with everything upstream, scores high
    with every source); the z-score says how far a source stands out among its target's candidates, so that a weak
    target's true regulator can outrank a strong target's spurious one. This is the target half of CLR's
    background correction (Faith et al. 2007), blended with the global ranking. Zeros (pruned edges) stay zero,
    signs are kept, self-loops neither count nor change.

    Parameters
    ----------
    weight
        ``(genes, genes)`` signed edge strengths ``[source, target]``.
    target_weight
        Weight (>= 0) of the per-target rank against the global rank's 1 (0 keeps the global order).

    Returns
    -------
    A new float64 ``(genes, genes)`` array; off the diagonal its entries lie in ``[-1, 1]``.

    Examples
    --------
    Target ``b``'s two candidates score alike (0.8, 0.7), target ``c``'s regulator ``b`` stands out among weak
    ones (0.5 against 0.2): ``b -> c`` now ranks above ``c -> b``.

    >>> import numpy as np
    >>> from sparsenode.tl._grn import normalize_per_target
    >>> w = np.array([[0.0, 0.8, 0.2], [0.1, 0.0, -0.5], [0.3, 0.7, 0.0]])
    >>> normalize_per_target(w).round(2).tolist()
    [[0.0, 1.0, 0.33], [0.17, 0.0, -0.75], [0.58, 0.67, 0.0]]
    """
    if not (np.isfinite(target_weight) and target_weight >= 0):
        raise ValueError(f"target_weight must be a finite number >= 0, got {target_weight}")
    w = np.asarray(weight, dtype=np.float64)
    a = np.abs(w)
    scored = ~np.eye(w.shape[0], dtype=bool) & (a > 0)
    out = w.copy()
    n = int(scored.sum())
    if n == 0:
        return out
    glob = np.zeros_like(a)
    glob[scored] = _average_ranks(a[scored]) / n
    cnt = scored.sum(axis=0, keepdims=True)
    vals = np.where(scored, a, 0.0)
    mean = vals.sum(axis=0, keepdims=True) / np.maximum(cnt, 1)
    sd = np.sqrt(np.where(scored, (a - mean) ** 2, 0.0).sum(axis=0, keepdims=True) / np.maximum(cnt, 1))
    z = np.divide(a - mean, sd, out=np.zeros_like(a), where=sd > 0).clip(min=0.0)
    per_target = np.zeros_like(a)
    per_target[scored] = _average_ranks(z[scored] + 1e-6 * glob[scored]) / n
    out[scored] = np.sign(w[scored]) * (glob[scored] + target_weight * per_target[scored]) / (1.0 + target_weight)
    return out


def _resolve_per_target(mode: str, per_target) -> bool:
    """The mode's default (True for flux_lagens, else False) for None, else ``per_target`` as a bool."""
    if per_target is None:
        return mode in PER_TARGET_MODES
    if not isinstance(per_target, bool | np.bool_):
        raise ValueError(f"per_target must be True, False or None (the mode's default), got {per_target!r}")
    return bool(per_target)


def edge_confidence(weights: np.ndarray, mean_jacobian: np.ndarray, top_k: int | None = None) -> dict:
    """Stability selection over ensemble members.

    Parameters
    ----------
    weights
        ``(members, genes, genes)`` edge strengths ``[source, target]`` of each member.
    mean_jacobian
        ``(members, genes, genes)`` mean Jacobian of each member (its sign is the edge's sign).
    top_k
        A member selects its ``top_k`` strongest edges without self-loops (default: as many as there are genes, the
        order of the number of true edges in typical regulatory networks).

    Returns
    -------
    ``frequency`` (fraction of members selecting the edge) and ``sign_agreement`` (fraction of members whose sign
    equals the sign of the ensemble's mean Jacobian), both float32 ``(genes, genes)``; self-loops get 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsenode.tl._grn import edge_confidence
    >>> w = np.zeros((4, 3, 3))
    >>> w[:, 0, 1] = 2.0  # all four members find 0 -> 1
    >>> w[:2, 1, 2] = 1.0  # two of them also find 1 -> 2
    >>> edge_confidence(w, np.ones((4, 3, 3)), top_k=2)["frequency"][[0, 1], [1, 2]]
    array([1. , 0.5], dtype=float32)
    """
    e, d, _ = weights.shape
    k = d if top_k is None else int(top_k)
    off = ~np.eye(d, dtype=bool)
    w = np.abs(weights) * off[None]
    flat = w.reshape(e, -1)
    k = max(1, min(k, d * (d - 1)))
    kth = -np.sort(-flat, axis=1)[:, k - 1 : k]  # (members, 1)
    selected = (flat >= kth) & (flat > 0)
    frequency = selected.reshape(e, d, d).mean(axis=0) * off
    ens_sign = np.sign(mean_jacobian.mean(axis=0))
    agree = (np.sign(mean_jacobian) == ens_sign[None]).mean(axis=0) * off
    return {"frequency": frequency.astype(np.float32), "sign_agreement": agree.astype(np.float32)}


def _resolve_lag(mode: str, lag) -> int:
    if lag is None:
        return ENSEMBLE_LAG if mode in ("flux_lagens", "flux_lagens_structure") else LAG
    if isinstance(lag, bool) or int(lag) != lag or lag < 1:
        raise ValueError(f"lag must be a whole number of bins >= 1, got {lag!r}")
    return int(lag)


def _check_lag(model: SparseNODE, lag: int) -> None:
    m = model._require_trajectories().mask
    n = int((m[:, :-lag] & m[:, lag:]).sum()) if lag < m.shape[1] else 0
    if n < 3:
        raise ValueError(
            f"only {n} pair(s) of observed bins {lag} apart (at least 3 are needed); pass a smaller lag or fit with "
            "more bins (n_bins)"
        )


def _resolve_indirect(mode: str, indirect: float | None) -> float:
    """The damping factor of explained edges: the mode's default (0.5 for flux_lagens, else 1) or ``indirect``."""
    return _check_indirect(DEFAULT_INDIRECT.get(mode, 1.0) if indirect is None else indirect)


def _check_indirect(factor) -> float:
    """``indirect`` as a float in ``[0, 1]``, or a ValueError that says what is wrong."""
    try:
        value = float(factor)
    except (TypeError, ValueError):
        raise ValueError(f"indirect must be a number in [0, 1] or None, got {factor!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"indirect must be in [0, 1] (1 keeps explained edges, 0 removes them), got {factor}")
    return value


def signed_network(
    model: SparseNODE,
    *,
    mode: str = "flux_lagens",
    states: str = "data",
    threshold: float = 1e-3,
    lag: int | None = None,
    indirect: float | None = None,
    per_target: bool | None = None,
) -> dict[str, np.ndarray]:
    """Signed network of a fitted model, ``[source, target]``, and the pieces it is made of.

    ``mode="flux_lagens"`` (default): the weighted mean of normalised ranks (in ``(0, 1]``): the flux's below
    (weight ``FLUX_WEIGHT`` = 2) and, weight 1 each, the lagged absolute correlations of the source ``l`` bins before
    the target for ``l = 1..lag`` (default 2), each pooled over lineages and within lineages, and the lead (lag-1
    correlation of source before target minus that of target before source); masked and signed like the flux.
    ``"flux_lagens_structure"``: the geometric mean of that score and the structural adjacency divided by its largest
    entry, per member.
    ``"flux_lagcorr"``: the mean of the normalised ranks of the flux and of the pooled lagged correlation at one lag
    (default 1). ``"flux_corr"``: the same with the absolute Pearson correlation in the same bins. ``"flux"``:
    the mean over the trajectory of ``|J[target, source] * dx_source/dt|`` (how much of the target's rate of change
    the source's own change drives), masked by the structural adjacency (relative to its largest entry, above
    ``threshold``) and signed by the mean Jacobian. ``"structure"``: the method's structural
    adjacency (PathReg/L0: the gate product ``A_z``) with the sign of the mean Jacobian. ``"jacobian"``: weight =
    sign of the mean Jacobian ``d f_target / d x_source`` along the trajectory times its mean absolute value.
    ``"combined"``: the Jacobian weight where the structural adjacency is non-zero (relative to its largest entry
    above ``threshold``), zero elsewhere. Then, in each member's network, edges explained by a stronger two-step
    path are multiplied by ``indirect`` (:func:`damp_indirect`; default 0.5 for ``"flux_lagens"``, 1 = unchanged for
    the other modes). With an ensemble the weight is the members' mean and the result also holds ``frequency`` and
    ``sign_agreement`` (see :func:`edge_confidence`, from the damped member networks, so that an edge damped as
    indirect also loses selection frequency). Last, with ``per_target`` (default: for ``"flux_lagens"``), every
    edge is ranked among its target's candidate regulators as well as globally (:func:`normalize_per_target`), in
    the network and in each member's selection for the edge confidence.

    Examples
    --------
    >>> import sparsenode as sn
    >>> from sparsenode.tl._grn import signed_network
    >>> adata = sn.datasets.toy_grn(n_genes=4, n_cells=200, seed=0)
    >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=5, n_members=3, progress_bar=False)
    >>> net = signed_network(sn.SparseNODE.from_adata(adata, device="cpu"))
    >>> sorted(net)
    ['abs_jacobian', 'frequency', 'mean_jacobian', 'sign_agreement', 'weight']
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    lag = _resolve_lag(mode, lag)
    factor = _resolve_indirect(mode, indirect)
    per_target = _resolve_per_target(mode, per_target)
    if mode in ("flux_lagens", "flux_lagens_structure", "flux_lagcorr"):
        _check_lag(model, lag)
    stats = _jacobian_and_flux(model, states, flux=mode.startswith("flux"))
    mean_jm, abs_jm, flux_m = stats["mean"], stats["mean_abs"], stats.get("flux")
    adj_m = model.adjacency(members=True)
    sign_m = np.sign(mean_jm)
    off = ~np.eye(model.n_genes, dtype=bool)
    if mode == "structure":
        weight_m = sign_m * adj_m
    elif mode == "flux":
        weight_m = sign_m * flux_m
    elif mode in ("flux_lagens", "flux_lagens_structure"):
        total, n_parts = _lagged_ensemble(model, lag)  # flux weight 2 against n_parts parts of weight 1 each
        score = _rank_with_correlation(flux_m, total / n_parts, FLUX_WEIGHT / n_parts)
        if mode == "flux_lagens_structure":  # geometric mean with each member's adjacency relative to its largest
            rel = np.abs(adj_m) / np.abs(adj_m).max(axis=(1, 2), keepdims=True).clip(min=1e-12)
            score = np.sqrt(score * rel)
        weight_m = sign_m * score
    elif mode in ("flux_corr", "flux_lagcorr"):
        corr = _bin_correlation(model, lag if mode == "flux_lagcorr" else 0)
        weight_m = sign_m * _rank_with_correlation(flux_m, _ranks(corr, off))
    else:
        weight_m = sign_m * abs_jm
    if mode in ("combined", "flux", "flux_corr", "flux_lagcorr", "flux_lagens", "flux_lagens_structure"):
        scale = np.abs(adj_m).max(axis=(1, 2), keepdims=True).clip(min=1e-12)
        weight_m = np.where(np.abs(adj_m) / scale > threshold, weight_m, 0.0)
    # the cubic two-step path search runs on the model's GPU when it has one (NumPy is faster than torch on a CPU)
    device = model.device if model.device.type == "cuda" else None
    out = consensus(weight_m, mean_jm, factor, device=device, per_target=per_target)
    out["mean_jacobian"] = mean_jm.mean(axis=0).astype(np.float32)
    out["abs_jacobian"] = abs_jm.mean(axis=0).astype(np.float32)
    return out


def consensus(
    weight_m: np.ndarray,
    mean_jacobian: np.ndarray,
    indirect: float,
    device: torch.device | str | None = None,
    per_target: bool = False,
) -> dict:
    """The ensemble's network from its members': damp explained edges in each member, then average.

    Parameters
    ----------
    weight_m
        ``(members, genes, genes)`` signed edge strengths ``[source, target]`` of each member.
    mean_jacobian
        ``(members, genes, genes)`` mean Jacobian of each member; the sign of its members' mean signs the result.
    indirect
        Factor of :func:`damp_indirect` (``1``: no damping).
    device
        Device of :func:`damp_indirect`'s path computation (``None``: NumPy on the host).
    per_target
        Rank the mean network per target as well (:func:`normalize_per_target`), and let every member select its
        edges by the same rule (the members' damped networks, each ranked per target), so that an edge the
        ensemble ranks high is also one its members select.

    Returns
    -------
    ``weight`` (float32 ``(genes, genes)``: the members' mean absolute damped strength, signed, then with
    ``per_target`` ranked per target); with more than one member also ``frequency`` and ``sign_agreement`` of
    :func:`edge_confidence`, computed on the damped members (ranked per target with ``per_target``), so that an edge
    removed as indirect is not reported as selected.

    Examples
    --------
    A chain a -> b -> c with a weaker shortcut a -> c in every member: removed (``indirect=0``), the shortcut also
    loses its selection frequency.

    >>> import numpy as np
    >>> from sparsenode.tl._grn import consensus
    >>> w = np.zeros((2, 3, 3))
    >>> w[:, 0, 1], w[:, 1, 2], w[:, 0, 2] = 0.9, 0.8, 0.4
    >>> out = consensus(w, np.ones_like(w), 0.0)
    >>> float(out["weight"][0, 2]), float(out["frequency"][0, 2]), float(out["frequency"][0, 1])
    (0.0, 0.0, 1.0)
    """
    damped = np.stack([damp_indirect(w, indirect, device=device) for w in weight_m])
    mean_j = mean_jacobian.mean(axis=0)
    weight = (np.sign(mean_j) * np.abs(damped).mean(axis=0)).astype(np.float32)
    if per_target:  # ranks of the float32 network: the same as normalize_per_target of per_target=False's result
        weight = normalize_per_target(weight).astype(np.float32)
    out = {"weight": weight}
    if damped.shape[0] > 1:
        selected_by = np.stack([normalize_per_target(w) for w in damped]) if per_target else damped
        out.update(edge_confidence(selected_by, mean_jacobian))
    return out


def infer_grn(
    adata: AnnData,
    *,
    key: str = K.PATHREG,
    mode: str = "flux_lagens",
    states: str = "data",
    threshold: float = 1e-3,
    lag: int | None = None,
    indirect: float | None = None,
    per_target: bool | None = None,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Infer the signed gene regulatory network of a fitted model and store it in ``adata``.

    The sign of every edge comes from the vector field's Jacobian ``J[target, source] = d f_target / d x_source``
    averaged along the trajectory. Its strength is, by ``mode``:

    - ``"flux_lagens"`` (default): a weighted mean of normalised ranks in ``(0, 1]``: the rank of the edge's flux
      (below, weight 2) and, weight 1 each, the ranks of the time-lagged absolute correlation of the source in one
      bin with the target ``l`` bins later for ``l = 1..lag`` (default ``lag=2``), once pooled over lineages and once
      within each lineage (averaged over lineages), plus the rank of the *lead*
      ``|corr(source(b), target(b + 1))| - |corr(target(b), source(b + 1))|`` (pooled); zero where the method pruned
      the edge. The flux says how much the source drives the target in the fitted dynamics, the lagged correlations
      that the data's source leads its target; together they rank edges more robustly than either alone. The
      ensemble's network is then ranked per target as well (``per_target``, below);
    - ``"flux_lagens_structure"``: the geometric mean of the ``"flux_lagens"`` score and the structural adjacency
      (below) divided by its largest entry, per member: edges need both the fitted dynamics and the data's lags
      (``"flux_lagens"``) and the method's own selection (the adjacency). Made for group lasso, whose group norms
      rank edges on their own (benchmarks/README.md, grouplasso readout; default 16-member fits, seeds 0-4, mean
      AUPRC ratio with ``"flux_lagens"`` / ``"structure"`` / this mode: toy_grn (10 genes) 2.28 / 2.47 / 2.68,
      krumsiek11 2.32 / 2.35 / 2.58, against node's 2.37 / 2.43 with ``"flux_lagens"``). It ranks worse than
      ``"flux_lagens"`` on the 10 BEELINE data sets (grouplasso, replicates 0-4: median ratio lower on all 10, 0.75x
      on average) and on node fits (toy_grn 2.18, krumsiek11 1.89);
    - ``"flux_lagcorr"``: the mean of the ranks of the flux and of the pooled lagged correlation at one lag
      (default ``lag=1``), the previous default;
    - ``"flux_corr"``: as ``"flux_lagcorr"`` with the absolute Pearson correlation over the same bins (undirected);
    - ``"flux"``: the mean over the observed bins of ``|J[target, source] * dx_source/dt|`` (slopes of
      the smoothed trajectory), i.e. how much of the target's change the source's change drives, zero where the
      method pruned the edge;
    - ``"structure"``: the method's structural input-output adjacency (PathReg and L0: the test-time
      gate product ``A_z``; C-NODE/node: ``|W_{L+1}|...|W_1|``; group lasso: group norms; LassoNet: ``|S|`` plus
      first-layer norms), zero where the method pruned the edge;
    - ``"jacobian"``: the mean absolute Jacobian along the trajectory, unmasked;
    - ``"combined"``: the mean absolute Jacobian, masked by the structural adjacency.

    ``"flux_lagens"`` is the default because it ranked true edges best in our measurements (docs/accuracy.md): with
    single softplus fits on the 10 BEELINE data sets (replicates 0-4) its median AUPRC ratio beat the absolute Pearson
    correlation / the lagged correlation / ridge regression of derivatives / the best of 12 published peers on 9 / 8
    / 10 / 4 data sets (``"flux_lagcorr"``: 8 / 6 / 10 / 3, ``"flux"``: 5 / 4 / 8 / 1). With today's default fit (a
    16-member ensemble), the indirect-edge step and the per-target step below: 9 / 8 / 10 / 8, and a mean ratio over
    5 seeds of 2.40 / 3.11 / 6.22 on krumsiek11 / toy_grn (10 genes) / toy_grn (50 genes).

    With an ensemble (a default fit on up to 100 genes, or ``n_members > 1``), the network is the members' mean
    and each edge also gets a stability-selection ``frequency`` (fraction of members that rank it among their
    ``n_genes`` strongest edges) and a ``sign_agreement`` (fraction of members that agree with the ensemble's
    sign). Both are taken after the indirect-edge step, which runs in each member's network, and with
    ``per_target`` each member ranks its edges per target too, as the ensemble's network does.

    Parameters
    ----------
    adata
        AnnData holding a fit in ``adata.uns[key]`` (from :func:`fit_pathreg` or :func:`fit_node`).
    key
        Key of the fit.
    mode
        ``"flux_lagens"``, ``"flux_lagens_structure"``, ``"flux_lagcorr"``, ``"flux_corr"``, ``"flux"``,
        ``"combined"``, ``"jacobian"`` or ``"structure"``.
    states
        Average the Jacobian over the observed bins (``"data"``) or over the model's own trajectories (``"fitted"``).
    threshold
        Relative threshold under which a structural adjacency entry counts as zero.
    lag
        Bins between the source and the target in the lagged correlation: the largest lag of ``"flux_lagens"`` and
        ``"flux_lagens_structure"`` (default 2), the one lag of ``"flux_lagcorr"`` (default 1); ignored by the other
        modes.
    indirect
        Factor in ``[0, 1]`` for edges that a stronger two-step path ``source -> j -> target`` explains (weaker than
        0.9 times the path's weaker edge; :func:`damp_indirect`, the data-processing inequality of ARACNE): ``1``
        keeps them, ``0`` removes them. Default: 0.5 with ``"flux_lagens"`` and ``"flux_lagens_structure"``, 1 with
        the other modes. Measured with the default 16-member fits (docs/accuracy.md): BEELINE best peer beaten on 8 of
        10 data sets instead of 6, krumsiek11 2.38 -> 2.39, toy_grn 10 genes 2.74 -> 2.72, 50 genes 5.37 -> 5.40 (mean
        AUPRC ratio).
    per_target
        Rank every edge both among all edges and among the candidate regulators of its target (by how far it
        stands out from them, a clipped z-score), and average the two ranks (:func:`normalize_per_target`), so that
        a gene's few regulators rise even when all of that gene's scores run low; with an ensemble every member also
        selects its edges for the ``frequency`` by this ranking. Default (``None``): on with
        ``"flux_lagens"``, off with the other modes. Measured with the default 16-member fits
        (docs/accuracy.md, "Ranking edges per target"): mean AUPRC ratio over seeds 0-4 krumsiek11 2.38 -> 2.40,
        toy_grn 10 genes 2.72 -> 3.11, 50 genes 5.42 -> 6.22; BEELINE (10 data sets, replicates 0-4) higher on 7 of
        10, geometric mean of the ratio to the best published peer 1.010 -> 1.053.
    key_added
        ``adata.varp`` key (default ``f"{key}_grn"``).
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy; writes

    - ``adata.varp[key_added]``: float32 n_vars x n_vars signed network, rows = source (regulator), columns =
      target; zero for genes that were not modelled. Self-loops are kept here; :func:`sparsenode.get.grn` leaves
      them out by default.
    - ``adata.uns[key]["grn"]``: ``mode``, ``states``, ``lag`` (the lag used), ``indirect`` and ``per_target`` (the
      values used), ``varp_key`` and the modelled genes'
      ``mean_jacobian`` and ``abs_jacobian`` ([source, target]); with an ensemble also ``frequency`` and
      ``sign_agreement`` (float32, modelled genes x modelled genes, [source, target]).

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.krumsiek11()
    >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=5, progress_bar=False)
    >>> sn.tl.infer_grn(adata, key="pathreg")
    >>> adata.varp["pathreg_grn"].shape
    (11, 11)
    """
    factor = _resolve_indirect(mode, indirect) if mode in MODES else 1.0  # bad modes are reported below
    per_target = _resolve_per_target(mode, per_target)
    model = SparseNODE.from_adata(adata, key=key, device="cpu")
    lag = _resolve_lag(mode, lag)
    net = signed_network(
        model, mode=mode, states=states, threshold=threshold, lag=lag, indirect=factor, per_target=per_target
    )
    varp_key = K.grn_key(key) if key_added is None else str(key_added)
    full = np.zeros((adata.n_vars, adata.n_vars), dtype=np.float32)
    idx = adata.var_names.get_indexer(model.var_names)
    if (idx < 0).any():
        raise ValueError(
            f"the genes of fit {key!r} are not all in adata.var_names; was the AnnData subset after fitting?"
        )
    full[np.ix_(idx, idx)] = net["weight"]
    target = adata.copy() if copy else adata
    target.varp[varp_key] = full
    info = {
        "mode": mode,
        "states": states,
        "lag": lag,
        "indirect": factor,
        "per_target": per_target,
        "varp_key": varp_key,
        "mean_jacobian": net["mean_jacobian"],
        "abs_jacobian": net["abs_jacobian"],
    }
    for k in (K.FREQUENCY, K.SIGN_AGREEMENT):
        if k in net:
            info[k] = net[k]
    target.uns[key]["grn"] = info
    logger.info("added adata.varp[%r] (signed network, rows = source) and adata.uns[%r]['grn']", varp_key, key)
    return target if copy else None
