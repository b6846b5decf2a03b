"""Regularisation paths: fit a method along a grid of strengths, warm-started, and recommend one."""

from __future__ import annotations

import logging

import numpy as np
from anndata import AnnData

from .._settings import settings
from ..model import SparseNODE
from ..model._model import DEFAULT_HIDDEN
from ..module import get_method
from ..pp._trajectories import bin_trajectories
from ..train import TrainConfig
from ._fit import default_activation, default_lr, default_members

logger = logging.getLogger(__name__)

#: the strength a path varies for each method
PATH_LAMBDA = {
    "pathreg": "lambda_path",
    "l0": "lambda_l0",
    "cnode": "lambda_weight",
    "grouplasso": "lambda_group",
    "lassonet_inner": "lambda_skip",
    "lassonet_outer": "lambda_skip",
}


def regularization_path(
    adata: AnnData,
    *,
    method: str = "pathreg",
    lambdas=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
    validation: float = 0.2,
    tolerance: float = 0.1,
    time_key: str = "dpt_pseudotime",
    lineage_key: str | None = None,
    genes=None,
    layer: str | None = None,
    n_bins: int = 30,
    hidden=DEFAULT_HIDDEN,
    epochs_per_lambda: int = 200,
    lr: float | None = None,
    segment_bins: int | None = 10,
    objective: str = "gradient",
    n_members: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress_bar: bool | None = None,
    key_added: str = "regularization_path",
    copy: bool = False,
) -> AnnData | None:
    """Fit ``method`` along increasing regularisation strengths (warm-started) and recommend one.

    Each strength continues training from the previous fit, so the path costs about ``len(lambdas)`` short fits.
    The same held-out bins (``validation``) score every strength. The recommended strength is the largest whose
    validation MSE is within ``tolerance`` (relative) of the best validation MSE on the path: the sparsest model
    that fits about as well as any.

    Parameters
    ----------
    adata
        Cells x genes with a pseudotime.
    method
        Any method with a regularisation strength (not ``"node"``).
    lambdas
        Strengths to visit (sorted increasingly before fitting).
    validation
        Fraction of bins held out.
    tolerance
        Relative validation-MSE slack of the recommendation.
    time_key, lineage_key, genes, layer, n_bins, hidden, lr, segment_bins, objective, device, seed, progress_bar
        As in :func:`sparsenode.tl.fit_node` (same default objective, so that the recommended strength applies to a
        default fit).
    epochs_per_lambda
        Optimiser steps per strength.
    n_members
        Ensemble size, as in :func:`~sparsenode.tl.fit_node` (default: 16 by gradient matching on at most 100 genes,
        else 1), so that the path describes the kind of fit a default ``fit_node`` makes. The members train in one
        batched evaluation; MSEs and sparsities are reported for the ensemble as :func:`~sparsenode.tl.fit_node`
        reports them (sparsities over every member's adjacency).
    key_added
        Key in ``adata.uns``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy; writes ``adata.uns[key_added]`` with ``method``, ``lambda_name``, ``n_members``,
    ``lambdas``, ``train_mse``, ``val_mse``, ``feature_sparsity``, ``weight_sparsity`` (one entry per strength) and
    ``recommended`` (a strength).

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=5, n_cells=300, seed=0)
    >>> sn.tl.regularization_path(adata, time_key="time", lineage_key="lineage", lambdas=[1e-3, 1e-2],
    ...                           epochs_per_lambda=5, progress_bar=False)
    >>> adata.uns["regularization_path"]["lambdas"].tolist()
    [0.001, 0.01]
    """
    get_method(method)
    if method not in PATH_LAMBDA:
        raise ValueError(
            f"method {method!r} has no regularisation strength to vary; choose one of {sorted(PATH_LAMBDA)}"
        )
    lams = np.sort(np.asarray(list(lambdas), dtype=np.float64))
    if lams.size == 0 or not np.all(np.isfinite(lams)) or np.any(lams < 0):
        raise ValueError("lambdas must be a non-empty list of finite non-negative numbers")
    if not 0.0 < validation < 0.9:
        raise ValueError(f"validation must be in (0, 0.9), got {validation}")
    progress_bar = settings.progress_bar if progress_bar is None else progress_bar
    name = PATH_LAMBDA[method]
    traj = bin_trajectories(adata, time_key=time_key, lineage_key=lineage_key, genes=genes, layer=layer, n_bins=n_bins)
    activation = default_activation(method, objective)  # the non-linearity fit_node would use
    lr = default_lr(method, objective) if lr is None else lr  # and its learning rate
    if n_members is None:
        n_members = default_members(objective, traj.n_genes)
    model = SparseNODE(  # validates n_members
        traj.var_names,
        method=method,
        hidden=hidden,
        activation=activation,
        n_members=int(n_members),
        seed=seed,
        device=device,
    )
    config = TrainConfig(
        max_epochs=epochs_per_lambda,
        lr=lr,
        val_fraction=validation,
        segment_bins=segment_bins,
        objective=objective,
        patience=None,
    )
    config.validate()
    rows = {k: [] for k in ("train_mse", "val_mse", "feature_sparsity", "weight_sparsity")}
    for lam in lams:
        model.lambdas[name] = float(lam)
        model.fit(traj, config, progress_bar=progress_bar)
        hist = model.history
        best = int(hist["best_epoch"])
        rows["train_mse"].append(float(hist["mse"][best]))
        rows["val_mse"].append(float(hist.get("best_val_mse", hist["val_mse"][best])))  # of the kept weights
        rows["feature_sparsity"].append(model.feature_sparsity())
        rows["weight_sparsity"].append(model.weight_sparsity())
        logger.info(
            "%s=%g: val MSE %.4g, feature sparsity %.2f", name, lam, rows["val_mse"][-1], rows["feature_sparsity"][-1]
        )
    val = np.asarray(rows["val_mse"])
    ok = val <= val.min() * (1.0 + tolerance)
    recommended = float(lams[np.flatnonzero(ok).max()])
    result = {
        "method": method,
        "lambda_name": name,
        "n_members": int(n_members),
        "lambdas": lams,
        "recommended": recommended,
        **{k: np.asarray(v, dtype=np.float64) for k, v in rows.items()},
    }
    target = adata.copy() if copy else adata
    target.uns[key_added] = result
    logger.info("added adata.uns[%r]; recommended %s=%g", key_added, name, recommended)
    return target if copy else None
