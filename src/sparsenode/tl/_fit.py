"""Fitting sparse neural ODEs on AnnData: ``fit_node`` (any method) and ``fit_pathreg``."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys as K
from .._settings import settings
from ..model import SparseNODE
from ..model._model import DEFAULT_HIDDEN, _none_to_str, check_lambda_prior
from ..module import METHODS
from ..pp._genes import _regulator_names
from ..pp._trajectories import bin_trajectories
from ..train import TrainConfig
from ._heldout import spurious_feature_sparsity

logger = logging.getLogger(__name__)

#: ``fit_node``'s default number of epochs per objective (a hybrid fit: 600 gradient-matching + 200 shooting epochs)
DEFAULT_EPOCHS = {"gradient": 1000, "shooting": 500, "hybrid": 800}


def default_activation(method: str, objective: str) -> str:
    """``fit_node``'s non-linearity when none is given: ``"silu"`` for PathReg by gradient matching, else softplus.

    SiLU was measured against softplus for PathReg fitted by gradient matching (``docs/accuracy.md``: BEELINE best
    peer beaten on 6/10 data sets instead of 4/10; known truth higher on average over initialisations); the other
    methods and objectives were not measured and keep softplus.

    Examples
    --------
    >>> from sparsenode.tl._fit import default_activation
    >>> default_activation("pathreg", "gradient"), default_activation("pathreg", "shooting")
    ('silu', 'softplus')
    """
    return "silu" if (method, objective) == ("pathreg", "gradient") else "softplus"


def default_lr(method: str, objective: str) -> float:
    """``fit_node``'s learning rate when none is given: 3e-2 for grouplasso by gradient matching, else 1e-2.

    Measured on toy_grn (10 genes) and krumsiek11, seeds 0-4 (``benchmarks/README.md``, grouplasso defaults): at
    1e-2 the one-MLP-per-gene field had not converged in 1000 steps (validation error 1.3-2.9x node's even at
    ``lambda_group=0.3``); at 3e-2 it fits as well as node (0.45-1.14x) and ranks edges better. The default strength
    is now 0.1 (validation error 0.82x node's at 3e-2, median over 20 seeds). Other methods and objectives were not
    measured and keep 1e-2.

    Examples
    --------
    >>> from sparsenode.tl._fit import default_lr
    >>> default_lr("grouplasso", "gradient"), default_lr("pathreg", "gradient")
    (0.03, 0.01)
    """
    return 3e-2 if (method, objective) == ("grouplasso", "gradient") else 1e-2


#: ensemble size of a default fit by gradient matching on at most ``ENSEMBLE_MAX_GENES`` genes
DEFAULT_MEMBERS = 16
ENSEMBLE_MAX_GENES = 100


def default_members(objective: str, n_genes: int, bootstrap: bool = False) -> int:
    """``fit_node``'s ensemble size when none is given: 16 members by gradient matching on up to 100 genes, else 1.

    Single fits by gradient matching are an initialisation lottery on small networks (toy_grn, 10 genes, one data
    set: AUPRC ratio 0.79-3.30 over eight initialisations); the members' mean ranks edges better and steadier
    (``docs/accuracy.md``: krumsiek11 2.27 -> 2.37, toy_grn 10 genes 2.36 -> 2.75, 50 genes 5.10 -> 5.38, seeds
    0-4) and costs about twice a single fit there, because all members train in one batched evaluation. Larger
    systems and fits that solve ODEs (shooting, hybrid) keep one member, where members cost nearly linearly. With
    ``bootstrap=True`` at least 8 members are used.

    Examples
    --------
    >>> from sparsenode.tl._fit import default_members
    >>> default_members("gradient", 11), default_members("gradient", 529), default_members("shooting", 11)
    (16, 1, 1)
    """
    n = DEFAULT_MEMBERS if objective == "gradient" and int(n_genes) <= ENSEMBLE_MAX_GENES else 1
    return max(n, 8) if bootstrap else n


def _regulator_list(prior, regulators) -> list[str] | None:
    if prior is None and regulators is None:
        return None
    return sorted(_regulator_names(prior, regulators))


#: Default strength of the soft prior penalty (``prior_mode="penalty"`` or ``"both"``).
DEFAULT_LAMBDA_PRIOR = 0.1
PRIOR_MODES = ("mask", "penalty", "both")


def _prior_settings(prior, regulators, prior_mode: str, lambda_prior) -> tuple[bool, float]:
    """Check the prior arguments: ``(use the hard source mask, lambda of the soft penalty)``."""
    if prior_mode not in PRIOR_MODES:
        raise ValueError(f"prior_mode must be one of {PRIOR_MODES}, not {prior_mode!r}")
    if prior_mode == "mask":
        if lambda_prior is not None:
            raise ValueError(
                "lambda_prior sets the soft prior penalty, which prior_mode='mask' does not use; pass "
                "prior_mode='penalty' (or 'both') with it, or drop lambda_prior"
            )
        return True, 0.0
    if prior is None and regulators is None:
        raise ValueError(
            f"prior_mode={prior_mode!r} penalises edges outside a prior, but none was given: pass prior= (a "
            "source/target DataFrame, e.g. sn.datasets.base_grn()) or regulators= (a gene list)"
        )
    if prior is not None and (not isinstance(prior, pd.DataFrame) or not {"source", "target"} <= set(prior.columns)):
        raise ValueError("prior must be a DataFrame with 'source' and 'target' columns, e.g. sn.datasets.base_grn()")
    lam = check_lambda_prior(DEFAULT_LAMBDA_PRIOR if lambda_prior is None else lambda_prior)
    return prior_mode == "both", lam


def _prior_edges(prior, regulators, var_names) -> pd.DataFrame:
    """The prior's edges plus, for a ``regulators`` list, every edge out of each regulator."""
    parts = []
    if prior is not None:
        parts.append(pd.DataFrame({"source": prior["source"].astype(str), "target": prior["target"].astype(str)}))
    if regulators is not None:
        regs = [str(r) for r in ([regulators] if isinstance(regulators, str) else regulators)]
        genes = [str(g) for g in var_names]
        parts.append(pd.DataFrame({"source": np.repeat(regs, len(genes)), "target": np.tile(genes, len(regs))}))
    return pd.concat(parts, ignore_index=True)


def _history_arrays(history: dict) -> dict:
    out = {}
    for k, v in history.items():
        out[k] = np.asarray(v, dtype=np.float32) if isinstance(v, list) else v
    return out


def fit_node(
    adata: AnnData,
    *,
    method: str = "pathreg",
    time_key: str = "dpt_pseudotime",
    lineage_key: str | None = None,
    genes=None,
    layer: str | None = None,
    n_bins: int | None = 30,
    scaling: str = "minmax",
    hidden=DEFAULT_HIDDEN,
    activation: str | None = None,
    lambdas: dict | None = None,
    gates: str | None = None,
    decay: bool = True,
    regulators=None,
    prior: pd.DataFrame | None = None,
    prior_mode: str = "mask",
    lambda_prior: float | None = None,
    n_members: int | None = None,
    bootstrap: bool = False,
    max_epochs: int | None = None,
    lr: float | None = None,
    objective: str = "gradient",
    smoothing: float = 1.5,
    warmstart_fraction: float = 0.75,
    segment_bins: int | None = 10,
    solver: str = "dopri5",
    rtol: float = 1e-3,
    atol: float = 1e-4,
    val_fraction: float = 0.1,
    patience: int | None = 200,
    device: str = "auto",
    seed: int = 0,
    progress_bar: bool | None = None,
    key_added: str | None = None,
    copy: bool = False,
    checkpoint_dir=None,
    resume: bool = False,
) -> AnnData | None:
    """Fit a (sparse) neural ODE to the pseudotime trajectories of ``adata``.

    Cells are ordered by ``adata.obs[time_key]``, split by lineage, averaged into pseudotime bins and scaled per gene
    (:func:`sparsenode.pp.bin_trajectories`); all lineages share one vector field ``dx/dt = f(x)``, fitted by
    multiple shooting (segments of ``segment_bins`` bins start at observed bins), with the method's penalty.

    Parameters
    ----------
    adata
        Cells x genes.
    method
        ``"node"`` (no penalty), ``"l0"``, ``"cnode"``, ``"grouplasso"``, ``"lassonet_inner"``,
        ``"lassonet_outer"`` or ``"pathreg"``.
    time_key
        Pseudotime column of ``adata.obs``.
    lineage_key
        Lineage column of ``adata.obs`` (categorical) or membership matrix in ``adata.obsm``; ``None``: one lineage.
    genes
        Genes to model (default: all ``adata.var_names``).
    layer
        Layer to use instead of ``adata.X``.
    n_bins
        Pseudotime bins per lineage, or ``None`` for one bin per time point of regularly sampled data (frames; no
        averaging, see :func:`sparsenode.pp.bin_trajectories`).
    scaling
        Per-gene scaling: ``"minmax"`` (as in the paper), ``"zscore"`` or ``"none"``.
    hidden
        Hidden layer sizes of the vector field.
    activation
        Non-linearity (``"softplus"``, ``"tanh"``, ``"relu"``, ``"elu"``, ``"silu"``, ``"sigmoid"``). Default:
        ``"silu"`` for ``method="pathreg"`` with ``objective="gradient"`` (chosen on known truth and BEELINE, see
        ``docs/accuracy.md``), ``"softplus"`` otherwise.
    lambdas
        Regularisation strengths overriding the method defaults, e.g. ``{"lambda_path": 0.1}`` for PathReg.
    gates
        Gate type for ``pathreg``/``l0``: ``"weight"`` (default) or ``"unit"`` (paper code's global input gates).
        With the default ensemble and readout the two rank toy_grn edges about alike (AUPRC ratio 3.17 / 3.25 over
        40 paired seeds with 10 genes, per-unit ahead on 25; 6.41 / 6.42 with 50 genes; per-unit also ahead at
        ``lambda_path`` 0.1 / 0.3 on 10 genes, and only it cuts whole inputs there); per-weight gates rank pairs
        better by their own structural adjacency (``benchmarks/README.md``).
    decay
        Learn a per-gene linear decay beside the network.
    regulators, prior
        Prior knowledge of the network: a gene list of regulators, and/or a prior network (DataFrame with ``source``
        and ``target`` columns, e.g. :func:`sparsenode.datasets.base_grn`). How it is used is ``prior_mode``.
    prior_mode
        ``"mask"`` (default): only the prior's ``source`` genes (and ``regulators``) may act as inputs, a hard mask on
        the first layer; it acts on sources only, since one network computes every output. ``"penalty"``: no mask;
        ``lambda_prior`` times the mean over gene pairs of the method's input-output dependency on the pairs the prior
        does not list is added to the loss (edge-level, every method; see :func:`sparsenode.module.prior_dependency`:
        the gated path product ``|W_{L+1}| ... |W_1|`` for MLP methods, plus ``|S|`` for LassoNet, the group norms
        for grouplasso). A ``regulators`` list counts as every edge out of those genes. ``"both"``: mask and penalty.
    lambda_prior
        Strength of the soft penalty (default 0.1 with ``"penalty"``/``"both"``; not accepted with ``"mask"``).
    n_members
        Ensemble members fitted together in one batched solve (different initialisations); the network is the
        members' mean, simulations and knockouts their median. Default (``None``): 16 for gradient matching on at most
        100 genes, where the ensemble ranks edges clearly better than one fit at about twice its cost, and 1
        otherwise (:func:`default_members`).
    bootstrap
        Needs ``n_members >= 2`` (with ``n_members=None`` at least 8 are used): every member also sees its own
        bootstrap resample of the cells (each bin weighted by how often its cells were drawn), still in one batched
        fit. Every ensemble (bootstrap or not) gets edge confidence from :func:`infer_grn`: each edge's
        stability-selection ``frequency`` and ``sign_agreement``.
    max_epochs
        Optimiser steps (default: 1000 for gradient matching, 500 for shooting, 800 for hybrid).
    objective
        ``"gradient"`` (default: match the field to the slopes of the smoothed trajectories; no ODE solves),
        ``"shooting"`` (multiple shooting over ``segment_bins``-bin segments) or ``"hybrid"`` (gradient matching
        for ``warmstart_fraction`` of the epochs, then shooting refinement of the same weights; model selection by
        the shooting validation error). Gradient matching was chosen on the BEELINE data sets: with the default
        readout it ranked edges as well or better than shooting, at a fraction of the cost (see the changelog).
        Hybrid fits simulate the trajectories much better than gradient matching at about twice its cost, but
        rank edges less well (measurements in ``benchmarks/README.md``).
    smoothing
        Width in bins of the smoother whose slopes gradient matching fits.
    warmstart_fraction
        ``objective="hybrid"``: share of ``max_epochs`` spent on gradient matching (see
        :class:`sparsenode.train.TrainConfig`).
    lr
        Adam learning rate (default: 3e-2 for ``method="grouplasso"`` with ``objective="gradient"``, measured, see
        :func:`default_lr`; 1e-2 otherwise).
    segment_bins, solver, rtol, atol, val_fraction, patience
        Optimisation settings (see :class:`sparsenode.train.TrainConfig`).
    device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    seed
        Random seed; CPU fits with the same seed are repeatable.
    progress_bar
        Show a progress bar (default: ``sn.settings.progress_bar``).
    key_added
        Key in ``adata.uns`` (default: the method name).
    copy
        Return a modified copy instead of writing into ``adata``.
    checkpoint_dir
        Folder where a training checkpoint (weights, optimiser, schedule, history, random state) is written every
        100 epochs, e.g. for long fits on a cluster.
    resume
        Continue from the checkpoint in ``checkpoint_dir`` if there is one (same genes and settings); the result
        equals that of an uninterrupted fit.

    Returns
    -------
    ``None`` (or the copy if ``copy=True``); writes ``adata.uns[key_added]`` with:

    - ``params``: method, architecture, regularisation strengths, training and binning settings;
    - ``var_names``: modelled genes;
    - ``adjacency``: float32 genes x genes structural input-output adjacency, rows = source, columns = target;
    - ``state_dict``: the model weights as float32 arrays;
    - ``history``: per-epoch ``loss``, ``mse``, ``penalty``, ``val_mse``, ``sparsity``, ``lr``, plus ``best_epoch``,
      ``stopped``, ``n_evals``, ``seconds``;
    - ``trajectories``: the binned trajectories the model was fitted to;
    - ``metrics``: ``train_mse`` (single shooting from each lineage's first bin), ``val_mse`` (held-out bins, at
      the epoch whose weights were kept), ``feature_sparsity``,
      ``weight_sparsity`` and, with regulators or a prior, ``spurious_feature_sparsity``; with
      ``prior_mode="penalty"``/``"both"`` also ``off_prior_share`` (share of the adjacency's total weight on pairs
      the prior does not list).

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=5, n_cells=300, seed=0)
    >>> sn.tl.fit_node(adata, method="cnode", time_key="time", lineage_key="lineage", max_epochs=5,
    ...                progress_bar=False)
    >>> sorted(adata.uns["cnode"])[:3]
    ['adjacency', 'history', 'metrics']

    A hybrid fit: 6 epochs of gradient matching, then 2 of multiple shooting.

    >>> sn.tl.fit_node(adata, time_key="time", lineage_key="lineage", objective="hybrid", max_epochs=8,
    ...                progress_bar=False)
    >>> int(adata.uns["pathreg"]["history"]["switch_epoch"])
    6
    """
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    key_added = method if key_added is None else str(key_added)
    progress_bar = settings.progress_bar if progress_bar is None else progress_bar
    if bootstrap and n_members is not None and int(n_members) < 2:
        raise ValueError(
            f"bootstrap=True resamples cells per ensemble member and needs n_members >= 2, got {n_members}; "
            "pass e.g. n_members=8"
        )
    if max_epochs is None:
        max_epochs = DEFAULT_EPOCHS.get(objective, 500)
    if activation is None:
        activation = default_activation(method, objective)
    if lr is None:
        lr = default_lr(method, objective)
    config = TrainConfig(
        max_epochs=max_epochs,
        objective=objective,
        smoothing=smoothing,
        warmstart_fraction=warmstart_fraction,
        lr=lr,
        segment_bins=segment_bins,
        solver=solver,
        rtol=rtol,
        atol=atol,
        val_fraction=val_fraction,
        patience=patience,
    )
    config.validate()
    use_mask, lam_prior = _prior_settings(prior, regulators, prior_mode, lambda_prior)
    regs = _regulator_list(prior, regulators)
    traj = bin_trajectories(
        adata, time_key=time_key, lineage_key=lineage_key, genes=genes, layer=layer, n_bins=n_bins, scaling=scaling
    )
    if n_members is None:
        n_members = default_members(objective, len(traj.var_names), bootstrap)
    model = SparseNODE(
        traj.var_names,
        method=method,
        hidden=hidden,
        activation=activation,
        lambdas=lambdas,
        gates=gates,
        decay=decay,
        regulators=regs if use_mask else None,
        prior_edges=None if prior_mode == "mask" else _prior_edges(prior, regulators, traj.var_names),
        lambda_prior=lam_prior,
        n_members=n_members,
        seed=seed,
        device=device,
    )
    member_weights = bootstrap_weights(traj.counts, n_members, seed) if bootstrap else None
    model.fit(
        traj,
        config,
        progress_bar=progress_bar,
        member_weights=member_weights,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
    )
    result = model_to_uns(model, regulators=regs)
    result[K.PARAMS].update(
        _none_to_str(
            {
                "time_key": time_key,
                "lineage_key": lineage_key,
                "layer": layer,
                "n_bins": int(traj.n_bins),
                "time_grid": n_bins is None,
                "scaling": scaling,
                "key_added": key_added,
                "bootstrap": bool(bootstrap),
                "prior_mode": prior_mode if regs is not None else "none",
            }
        )
    )
    # everything is computed: now write (nothing partial is ever left in adata)
    target = adata.copy() if copy else adata
    target.uns[key_added] = result
    logger.info(
        "added adata.uns[%r] (params, var_names, adjacency, state_dict, history, trajectories, metrics)", key_added
    )
    return target if copy else None


def bootstrap_weights(counts: np.ndarray, n_members: int, seed: int) -> np.ndarray:
    """Bin weights ``(members, lineages, bins)`` of bootstrap resamples of the cells.

    Each member draws as many cells as there are, with replacement; a bin's weight is the number of its cells drawn
    divided by its number of cells (1 on average, 0 for empty bins).
    """
    counts = np.asarray(counts, dtype=np.float64)
    n = int(counts.sum())
    if n == 0:
        raise ValueError("no cells in any bin; nothing to resample")
    rng = np.random.default_rng(seed + 7919)
    draws = rng.multinomial(n, (counts / n).ravel(), size=int(n_members)).reshape((n_members, *counts.shape))
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(counts[None] > 0, draws / counts[None], 0.0)
    return w.astype(np.float32)


def model_to_uns(model: SparseNODE, regulators=None) -> dict:
    """Everything ``tl.fit_*`` stores about a fitted model, as an h5ad-safe dict.

    ``regulators`` (default: the model's masked regulators) are the genes whose rows do not count as spurious.
    """
    adj = model.adjacency().astype(np.float32)
    val, best = model.history.get("val_mse", []), int(model.history.get("best_epoch", -1))
    best_val = float(val[best]) if 0 <= best < len(val) else float("nan")
    metrics = {
        "train_mse": float(model.mse()),
        "val_mse": float(model.history.get("best_val_mse", best_val)),  # of the restored (best) weights
        "feature_sparsity": float(model.feature_sparsity()),
        "weight_sparsity": float(model.weight_sparsity()),
    }
    regulators = model.regulators if regulators is None else regulators
    if regulators is not None:
        spurious = spurious_feature_sparsity(adj, model.var_names, regulators)
        if np.isfinite(spurious):
            metrics["spurious_feature_sparsity"] = spurious
    off = model.off_prior()
    if off is not None:
        metrics["off_prior_share"] = off_prior_share(adj, off)
    return {
        K.PARAMS: model.config(),
        K.VAR_NAMES: np.asarray(model.var_names, dtype=str),
        K.ADJACENCY: adj,
        K.STATE_DICT: model.state_arrays(),
        K.HISTORY: _history_arrays(model.history),
        K.TRAJECTORIES: model.trajectories.to_dict(),
        K.METRICS: metrics,
    }


def off_prior_share(adjacency: np.ndarray, off_prior: np.ndarray) -> float:
    """Share of the adjacency's total absolute weight on pairs outside the prior (``off_prior`` 1), in ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsenode.tl._fit import off_prior_share
    >>> off_prior_share(np.array([[0.0, 3.0], [1.0, 0.0]]), np.array([[1, 0], [1, 1]]))
    0.25
    """
    a = np.abs(np.asarray(adjacency, dtype=np.float64))
    total = a.sum()
    return float((a * np.asarray(off_prior)).sum() / total) if total > 0 else float("nan")


def fit_pathreg(
    adata: AnnData,
    *,
    time_key: str = "dpt_pseudotime",
    lineage_key: str | None = None,
    genes=None,
    layer: str | None = None,
    lambda_path: float = 3e-3,
    lambda_weight: float = 0.0,
    gates: str = "weight",
    max_epochs: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress_bar: bool | None = None,
    key_added: str = K.PATHREG,
    copy: bool = False,
    **kwargs,
) -> AnnData | None:
    """Fit PathReg: a neural ODE whose input-output paths are sparsified through L0 gates on every weight.

    The penalty is ``lambda_path * ||G_{L+1} ... G_1||_{1,1}`` on the gates' probabilities of being non-zero
    (normalised by the number of possible paths and entries) plus, optionally, ``lambda_weight`` times the C-NODE
    term ``||(|W_{L+1}| ... |W_1|)||_{1,1}`` (mean). Equivalent to ``fit_node(adata, method="pathreg", ...)``.

    Parameters
    ----------
    adata
        Cells x genes with a pseudotime in ``adata.obs[time_key]``.
    time_key, lineage_key, genes, layer
        Which cells, genes and values to use (see :func:`fit_node`).
    lambda_path
        Strength of the path penalty.
    lambda_weight
        Strength of the optional C-NODE term.
    gates
        ``"weight"`` (one gate per weight: edge-level selection) or ``"unit"`` (the paper code's per-unit gates).
    max_epochs, device, seed, progress_bar, key_added, copy
        See :func:`fit_node`.
    **kwargs
        Any other argument of :func:`fit_node` (``n_bins``, ``hidden``, ``lr``, ``solver``, ...).

    Returns
    -------
    ``None`` or the copy; writes ``adata.uns[key_added]`` as listed in :func:`fit_node`.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.krumsiek11()
    >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=5, progress_bar=False)
    >>> adata.uns["pathreg"]["adjacency"].shape
    (11, 11)
    """
    if "method" in kwargs:
        raise ValueError("fit_pathreg always fits method='pathreg'; use sn.tl.fit_node(method=...) for the others")
    return fit_node(
        adata,
        method="pathreg",
        time_key=time_key,
        lineage_key=lineage_key,
        genes=genes,
        layer=layer,
        lambdas={"lambda_path": lambda_path, "lambda_weight": lambda_weight},
        gates=gates,
        max_epochs=max_epochs,
        device=device,
        seed=seed,
        progress_bar=progress_bar,
        key_added=key_added,
        copy=copy,
        **kwargs,
    )
