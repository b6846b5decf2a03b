"""Prune-and-refit: the second stage of a two-stage sparse fit."""

from __future__ import annotations

import copy as _copy
import dataclasses
import logging

import numpy as np
from anndata import AnnData

from .. import _keys as K
from .._settings import settings
from ..model import SparseNODE
from ..module import apply_masks, prune_masks, refit_method
from ._fit import bootstrap_weights, model_to_uns

logger = logging.getLogger(__name__)

_PER_EPOCH = ("loss", "mse", "penalty", "val_mse", "sparsity", "lr")

#: thresholds tried by ``sn.tl.prune(threshold="auto")`` (0 is the unpruned reference refit)
AUTO_THRESHOLDS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)


def _joined_history(before: dict, after: dict) -> dict:
    n0 = len(np.asarray(before.get("loss", [])))
    out = {}
    for k in _PER_EPOCH:
        out[k] = np.concatenate([np.asarray(before.get(k, np.zeros(n0)), dtype=np.float32), np.asarray(after[k])])
    out["best_epoch"] = n0 + int(after["best_epoch"])
    out["stopped"] = str(after["stopped"])
    out["n_evals"] = int(np.asarray(before.get("n_evals", 0))) + int(after["n_evals"])
    out["seconds"] = float(np.asarray(before.get("seconds", 0.0))) + float(after["seconds"])
    out[K.REFIT_START] = n0
    return out


def _thresholds(threshold) -> np.ndarray:
    if isinstance(threshold, str):
        if threshold != "auto":
            raise ValueError(f"threshold must be a number in [0, 1), a list of them or 'auto', not {threshold!r}")
        return np.asarray(AUTO_THRESHOLDS)
    try:
        grid = np.atleast_1d(np.asarray(threshold, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number in [0, 1), a list of them or 'auto', not {threshold!r}") from None
    if grid.size == 0 or grid.ndim != 1 or not np.all((grid >= 0) & (grid < 1)):
        raise ValueError(f"threshold must be in [0, 1) (relative to the largest unit), got {threshold!r}")
    return np.unique(grid)


def _prune_and_refit(adata, key, threshold, refit_epochs, device, progress_bar, bootstrap):
    """Rebuild fit ``key``, prune at ``threshold``, refit; the model's history is the refit's alone."""
    model = SparseNODE.from_adata(adata, key=key, device=device)
    fit_epochs = int(model.train_config.max_epochs)
    n_refit = max(fit_epochs // 2, 1) if refit_epochs is None else int(refit_epochs)
    config = dataclasses.replace(model.train_config, max_epochs=n_refit, checkpoint_dir=None)
    masks = prune_masks(model.field, model.method, float(threshold))
    apply_masks(model.field, masks)
    weights = bootstrap_weights(model.trajectories.counts, model.n_members, model.seed) if bootstrap else None
    method, history = model.method, dict(model.history)
    try:  # the structure is fixed: the step re-applies the masks, so only surviving weights change
        model.method = refit_method(method, masks)
        model.fit(model.trajectories, config, progress_bar=progress_bar, member_weights=weights)
    finally:
        model.method = method
    model.train_config = dataclasses.replace(config, max_epochs=fit_epochs)
    refit = model.history
    model.history = _joined_history(history, refit)
    val = np.asarray(refit["val_mse"])
    return model, float(val[int(refit["best_epoch"])]), n_refit


def prune(
    adata: AnnData,
    key: str = K.PATHREG,
    *,
    threshold="auto",
    tolerance: float = 0.1,
    refit_epochs: int | None = None,
    device: str = "auto",
    progress_bar: bool | None = None,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Hard-zero a fit's weak structural units, then refit the surviving weights without the penalty.

    The standard two-stage procedure of sparse regression (select, then refit): the penalised fit of
    :func:`sparsenode.tl.fit_node` ranks the structure, but its penalty also shrinks the weights that stay, and
    its weak input-output pairs are rarely exactly zero. Pruning removes every unit whose score is at most
    ``threshold`` times the largest of its kind; a short unpenalised refit (same objective, held-out bins and seed
    as the fit) recovers the fit of what is left while pruned units stay exactly zero. The units follow the method:

    - input-output pairs, by the method's structural adjacency (every method; in the shared-MLP methods a pair is
      removed by the field's edge mask, :meth:`sparsenode.module.MLPField.set_edge_mask`);
    - ``grouplasso``: its groups are the pairs;
    - ``lassonet_*``: also whole inputs (first-layer columns, by norm) and single skip entries;
    - ``pathreg``, ``l0``: gates are fixed at exactly 1 (open) or 0 (closed); single weights are not pruned.

    With several thresholds (``"auto"`` or a list), each is applied to the fit and refitted, and the largest whose
    validation MSE is within ``tolerance`` (relative) of the best on the grid is kept: the sparsest pruning that
    fits the held-out bins about as well as no pruning (the rule of :func:`~sparsenode.tl.regularization_path`).
    The held-out bins are the fit's, so the reported ``val_mse`` took part in this choice.

    Parameters
    ----------
    adata
        AnnData holding a fit in ``adata.uns[key]``.
    key
        Key of the fit (``key_added`` of :func:`~sparsenode.tl.fit_node`).
    threshold
        Relative threshold in ``[0, 1)``, a list of them, or ``"auto"`` (``AUTO_THRESHOLDS``: 0, 0.05, 0.1, 0.2 to
        0.7 in steps of 0.1, then 0.75 to 0.9 in steps of 0.05; structural adjacencies of the shared-MLP methods
        are flat, their weakest pairs often above 0.6 of the largest). ``0`` prunes only units that are already
        zero and refits: the reference of the tolerance.
    tolerance
        Relative validation-MSE slack when choosing among several thresholds.
    refit_epochs
        Optimiser steps of each refit (default: half of the fit's ``max_epochs``), with the fit's learning rate,
        schedule shape and early stopping on the same held-out bins.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    progress_bar
        Show a progress bar (default: ``sn.settings.progress_bar``).
    key_added
        Key of the pruned fit (default: ``f"{key}_pruned"``; pass ``key`` to replace the fit).
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy; writes ``adata.uns[key_added]`` with the structure :func:`~sparsenode.tl.fit_node`
    writes (``params``, ``var_names``, ``adjacency``, ``state_dict``, ``history``, ``trajectories``, ``metrics``),
    so that :meth:`sparsenode.SparseNODE.from_adata` and :func:`sparsenode.tl.infer_grn` use it like any fit. In
    addition ``params["prune"]`` holds ``threshold`` (the one kept), ``thresholds``, ``val_mse`` and
    ``feature_sparsity`` (per threshold tried), ``tolerance``, ``refit_epochs`` and ``source_key``; ``history``
    continues the fit's per-epoch arrays with the kept refit's (``history["refit_start"]`` is its first epoch);
    ``metrics`` adds ``val_mse_before_prune``, ``feature_sparsity_before_prune`` and
    ``weight_sparsity_before_prune``.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=5, n_cells=300, seed=0)
    >>> sn.tl.fit_node(adata, method="grouplasso", time_key="time", lineage_key="lineage", max_epochs=20,
    ...                progress_bar=False)
    >>> sn.tl.prune(adata, "grouplasso", threshold=[0.0, 0.3], refit_epochs=10, progress_bar=False)
    >>> pruned = adata.uns["grouplasso_pruned"]
    >>> float(pruned["params"]["prune"]["threshold"]) in (0.0, 0.3)
    True
    >>> pruned["metrics"]["feature_sparsity"] >= pruned["metrics"]["feature_sparsity_before_prune"]
    True
    """
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    grid = _thresholds(threshold)
    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance}")
    if refit_epochs is not None and int(refit_epochs) < 1:
        raise ValueError(f"refit_epochs must be >= 1 or None, got {refit_epochs}")
    if key not in adata.uns or K.TRAJECTORIES not in adata.uns[key]:
        SparseNODE.from_adata(adata, key=key, device=device)  # raises the informative KeyError for a missing fit
        raise KeyError(
            f"adata.uns[{key!r}] stores no trajectories to refit on; refit it with sn.tl.fit_node(...) first"
        )
    stored = adata.uns[key]
    params = _copy.deepcopy(dict(stored[K.PARAMS]))
    before = dict(stored.get(K.METRICS, {}))
    progress_bar = settings.progress_bar if progress_bar is None else progress_bar
    key_added = f"{key}_pruned" if key_added is None else str(key_added)
    bootstrap = bool(params.get("bootstrap", False))

    fits, vals, sparsities = [], [], []
    for thr in grid:
        model, val, n_refit = _prune_and_refit(adata, key, thr, refit_epochs, device, progress_bar, bootstrap)
        fits.append(model)
        vals.append(val)
        sparsities.append(model.feature_sparsity())
        logger.info("threshold %g: validation MSE %.4g, feature sparsity %.2f", thr, val, sparsities[-1])
    vals_a = np.asarray(vals)
    ok = np.isfinite(vals_a) & (vals_a <= np.nanmin(vals_a) * (1.0 + tolerance))
    chosen = int(np.flatnonzero(ok).max()) if ok.any() else 0
    model = fits[chosen]

    result = model_to_uns(model)
    params[K.PRUNE] = {
        "threshold": float(grid[chosen]),
        "thresholds": grid.astype(np.float64),
        "val_mse": vals_a.astype(np.float64),
        "feature_sparsity": np.asarray(sparsities, dtype=np.float64),
        "tolerance": float(tolerance),
        "refit_epochs": int(n_refit),
        "source_key": str(key),
    }
    params["key_added"] = key_added
    result[K.PARAMS] = params
    for name in ("val_mse", "feature_sparsity", "weight_sparsity"):
        if name in before:
            result[K.METRICS][f"{name}_before_prune"] = float(before[name])
    target = adata.copy() if copy else adata
    target.uns[key_added] = result
    m = result[K.METRICS]
    logger.info(
        "added adata.uns[%r] (threshold %g): feature sparsity %.2f -> %.2f, validation MSE %.4g -> %.4g",
        key_added,
        grid[chosen],
        before.get("feature_sparsity", float("nan")),
        m["feature_sparsity"],
        before.get("val_mse", float("nan")),
        m["val_mse"],
    )
    return target if copy else None
