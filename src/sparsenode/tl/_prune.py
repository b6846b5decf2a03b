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


def prune(
    adata: AnnData,
    key: str = K.PATHREG,
    *,
    threshold: float = 0.05,
    refit_epochs: int | None = None,
    device: str = "auto",
    progress_bar: bool | None = None,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Hard-zero a fit's weak structural units, then refit the surviving weights without the penalty.

    The standard two-stage procedure of sparse regression (select, then refit): the penalised fit of
    :func:`sparsenode.tl.fit_node` chooses a structure, but its penalty also shrinks the weights that stay and its
    near-zero units still carry input-output paths. Pruning removes every unit whose score is at most ``threshold``
    times the largest of its kind, and a short unpenalised refit (same objective, validation bins and seed as the
    fit) recovers the fit of what is left while pruned units stay exactly zero. Which units are pruned follows the
    method:

    - ``grouplasso``: groups (input ``k`` of output ``i``), by norm;
    - ``lassonet_*``: inputs (first-layer columns, by norm) and single skip entries;
    - ``pathreg``, ``l0``: single weights by ``|w| z`` (``z`` the test-time gate) per layer; gates are then fixed
      at exactly 1 (kept) or 0 (pruned);
    - ``cnode``, ``node``: single weights by ``|w|`` per layer (magnitude pruning).

    Parameters
    ----------
    adata
        AnnData holding a fit in ``adata.uns[key]``.
    key
        Key of the fit (``key_added`` of :func:`~sparsenode.tl.fit_node`).
    threshold
        Relative threshold in ``[0, 1)``; ``0`` prunes only units that are already zero (closed gates, groups the
        proximal step removed) and then refits. The default 0.05 was chosen on toy_grn and krumsiek11
        (``benchmarks/methods.py --prune``).
    refit_epochs
        Optimiser steps of the refit (default: half of the fit's ``max_epochs``), with the fit's learning rate,
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
    addition ``params["prune"]`` holds ``threshold``, ``refit_epochs`` and ``source_key``; ``history`` continues the
    fit's per-epoch arrays with the refit's (``history["refit_start"]`` is the first refit epoch); ``metrics``
    adds ``val_mse_before_prune``, ``feature_sparsity_before_prune`` and ``weight_sparsity_before_prune``.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=5, n_cells=300, seed=0)
    >>> sn.tl.fit_node(adata, method="grouplasso", time_key="time", lineage_key="lineage", max_epochs=20,
    ...                progress_bar=False)
    >>> sn.tl.prune(adata, "grouplasso", threshold=0.3, refit_epochs=10, progress_bar=False)
    >>> m = adata.uns["grouplasso_pruned"]["metrics"]
    >>> m["feature_sparsity"] >= m["feature_sparsity_before_prune"]
    True
    """
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    if not 0.0 <= float(threshold) < 1.0:
        raise ValueError(f"threshold must be in [0, 1) (relative to the largest unit), got {threshold}")
    if refit_epochs is not None and int(refit_epochs) < 1:
        raise ValueError(f"refit_epochs must be >= 1 or None, got {refit_epochs}")
    model = SparseNODE.from_adata(adata, key=key, device=device)
    if model.trajectories is None:
        raise KeyError(
            f"adata.uns[{key!r}] stores no trajectories to refit on; refit it with sn.tl.fit_node(...) first"
        )
    stored = adata.uns[key]
    params = _copy.deepcopy(dict(stored[K.PARAMS]))
    before = dict(stored.get(K.METRICS, {}))
    progress_bar = settings.progress_bar if progress_bar is None else progress_bar
    key_added = f"{key}_pruned" if key_added is None else str(key_added)
    fit_epochs = int(model.train_config.max_epochs)
    n_refit = max(fit_epochs // 2, 1) if refit_epochs is None else int(refit_epochs)
    config = dataclasses.replace(model.train_config, max_epochs=n_refit, checkpoint_dir=None)

    masks = prune_masks(model.field, model.method, float(threshold))
    apply_masks(model.field, masks)
    weights = None
    if bool(params.get("bootstrap", False)):
        weights = bootstrap_weights(model.trajectories.counts, model.n_members, model.seed)
    method, history = model.method, dict(model.history)
    gates = [p for n, p in model.field.named_parameters() if n.startswith("log_alpha")]
    for p in gates:  # the structure is fixed: only the surviving weights are refitted
        p.requires_grad_(False)
    try:
        model.method = refit_method(method, masks)
        model.fit(model.trajectories, config, progress_bar=progress_bar, member_weights=weights)
    finally:
        model.method = method
        for p in gates:
            p.requires_grad_(True)
    model.train_config = dataclasses.replace(config, max_epochs=fit_epochs)
    model.history = _joined_history(history, model.history)
    result = model_to_uns(model)
    params[K.PRUNE] = {"threshold": float(threshold), "refit_epochs": n_refit, "source_key": str(key)}
    params["key_added"] = key_added
    result[K.PARAMS] = params
    for name in ("val_mse", "feature_sparsity", "weight_sparsity"):
        if name in before:
            result[K.METRICS][f"{name}_before_prune"] = float(before[name])
    target = adata.copy() if copy else adata
    target.uns[key_added] = result
    m = result[K.METRICS]
    logger.info(
        "added adata.uns[%r]: feature sparsity %.2f -> %.2f, validation MSE %.4g -> %.4g",
        key_added,
        before.get("feature_sparsity", float("nan")),
        m["feature_sparsity"],
        before.get("val_mse", float("nan")),
        m["val_mse"],
    )
    return target if copy else None
