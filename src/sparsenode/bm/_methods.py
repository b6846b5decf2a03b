"""Method registry of the benchmark: the seven sparsenode methods and the reference baselines.

A method is a callable ``fn(adata, **kwargs)`` returning an edge DataFrame (``source``, ``target``, ``weight``
[, ``sign``]) or a tuple ``(edges, extra_metrics)`` where ``extra_metrics`` maps metric names to numbers. The runner
passes ``time_key``, ``lineage_key`` and ``seed`` when the callable accepts them, plus the method's options. Peers'
published predictions are not in the registry: the runner reads them for names ``"peer:<ALGORITHM>"``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from anndata import AnnData

from ..datasets import toy_perturbation_truth
from ..datasets._toy import LINEAGE_X0_KEY, ODE_KEY
from ..get import grn
from ..module import METHODS as _NODE_METHODS
from ..tl import fit_node, infer_grn, simulate_perturbation
from ._baselines import BASELINES
from .metrics import perturbation_accuracy

__all__ = ["METHODS", "PEER_PREFIX", "SPARSENODE_METHODS", "method_kind", "sparsenode_method"]

PEER_PREFIX = "peer:"
SPARSENODE_METHODS: tuple[str, ...] = tuple(_NODE_METHODS)
_KO_KEY = "bm_knockout"


def _knockout_accuracy(adata: AnnData, key: str, genes: list[str]) -> dict:
    """Predicted vs true effect of knock-outs at the end of every lineage (toy systems with a known ODE)."""
    preds, trues = [], []
    for gene in genes:
        simulate_perturbation(adata, gene, key=key, key_added=_KO_KEY)
        res = adata.uns.pop(_KO_KEY)
        truth = toy_perturbation_truth(adata, gene)
        lin_pred = [str(x) for x in np.asarray(res["lineages"])]
        lin_true = [str(x) for x in truth["lineages"]]
        var_pred = [str(x) for x in np.asarray(res["var_names"])]
        var_true = [str(x) for x in truth["var_names"]]
        gi = [var_true.index(v) for v in var_pred]
        keep = np.array([v != gene for v in var_pred])
        for i, lin in enumerate(lin_pred):
            if lin not in lin_true:
                continue
            j = lin_true.index(lin)
            true_delta = (truth["perturbed"][j, -1] - truth["wildtype"][j, -1])[gi]
            preds.append(np.asarray(res["delta"])[i, -1][keep])
            trues.append(true_delta[keep])
    if not preds:
        return {}
    p, t = np.concatenate(preds), np.concatenate(trues)
    acc = perturbation_accuracy(p, t, noise=0.05 * float(np.abs(t).max()))
    return {"perturbation_sign_agreement": acc["sign_agreement"], "perturbation_spearman": acc["spearman"]}


def sparsenode_method(name: str) -> Callable:
    """Benchmark callable for one sparsenode method: fit, read out the signed network, report extra metrics.

    Parameters
    ----------
    name
        One of the seven methods of :func:`sparsenode.tl.fit_node`.

    Returns
    -------
    ``fn(adata, *, time_key, lineage_key, seed, grn_mode=None, knockouts="auto", **fit_kwargs)`` returning
    ``(edges, extra)``: the edges of :func:`sparsenode.get.grn` (read out by :func:`sparsenode.tl.infer_grn` with
    ``mode=grn_mode``; ``None``, the default, uses ``infer_grn``'s own default, so a benchmark scores the network a
    user gets with default settings) and the fit's ``train_mse``, ``feature_sparsity``,
    ``weight_sparsity`` and ``epochs``. On toy systems with a known ODE (:func:`sparsenode.datasets.toy_grn`) it also
    knocks out ``knockouts`` (``"auto"``: the first two genes; ``None``: none) and reports
    ``perturbation_sign_agreement`` and ``perturbation_spearman`` of the predicted against the true change of every
    other gene at the end of each lineage.

    Examples
    --------
    >>> import sparsenode as sn
    >>> fit = sn.bm.sparsenode_method("cnode")
    >>> adata = sn.datasets.toy_grn(n_genes=4, n_cells=100, seed=0)
    >>> edges, extra = fit(adata, time_key="time", lineage_key="lineage", seed=0, max_epochs=2, knockouts=None)
    >>> list(edges.columns[:3]), "feature_sparsity" in extra
    (['source', 'target', 'weight'], True)
    """
    if name not in SPARSENODE_METHODS:
        raise ValueError(f"unknown sparsenode method {name!r}; choose one of {list(SPARSENODE_METHODS)}")

    def fit(
        adata: AnnData,
        *,
        time_key: str = "time",
        lineage_key: str | None = "lineage",
        seed: int = 0,
        grn_mode: str | None = None,
        knockouts="auto",
        **fit_kwargs,
    ):
        fit_kwargs.setdefault("progress_bar", False)
        fit_node(
            adata, method=name, time_key=time_key, lineage_key=lineage_key, seed=seed, key_added=name, **fit_kwargs
        )
        infer_grn(adata, key=name, **({} if grn_mode is None else {"mode": grn_mode}))
        edges = grn(adata, name)
        extra = {k: float(v) for k, v in adata.uns[name]["metrics"].items()}
        extra["epochs"] = float(len(np.asarray(adata.uns[name]["history"]["loss"])))
        if knockouts is not None and ODE_KEY in adata.uns and LINEAGE_X0_KEY in adata.uns:
            genes = list(adata.var_names[:2]) if knockouts == "auto" else [str(g) for g in np.atleast_1d(knockouts)]
            extra.update(_knockout_accuracy(adata, name, genes))
        return edges, extra

    fit.__name__ = f"fit_{name}"
    fit.__doc__ = f"Fit sparsenode method {name!r} and return its signed network and extra metrics."
    return fit


METHODS: dict[str, Callable] = {name: sparsenode_method(name) for name in SPARSENODE_METHODS}
METHODS.update(BASELINES)


def method_kind(name: str) -> str:
    """Kind of a method named in a results table: one of sparsenode's, a baseline, a published peer, or other.

    Parameters
    ----------
    name
        Method name of a results table (``method`` column).

    Returns
    -------
    ``"sparsenode"``, ``"baseline"``, ``"peer"`` (names ``"peer:<ALGORITHM>"``) or ``"other"`` (e.g. a method
    added through the ``registry`` of :func:`sparsenode.bm.benchmark`).

    Examples
    --------
    >>> from sparsenode.bm import method_kind
    >>> [method_kind(m) for m in ["pathreg", "pearson", "peer:GENIE3", "mine"]]
    ['sparsenode', 'baseline', 'peer', 'other']
    """
    if name.startswith(PEER_PREFIX):
        return "peer"
    if name in SPARSENODE_METHODS:
        return "sparsenode"
    if name in BASELINES:
        return "baseline"
    return "other"


def _as_edges(out) -> tuple[pd.DataFrame | None, dict]:
    """Split a method's return value into an edge table and extra metrics."""
    extra: dict = {}
    if isinstance(out, tuple):
        if len(out) != 2 or not isinstance(out[1], dict):
            raise TypeError("a method returns an edge DataFrame or a tuple (edges, dict of extra metrics)")
        out, extra = out
    if out is not None and not isinstance(out, pd.DataFrame):
        raise TypeError(f"a method returns an edge DataFrame (source, target, weight), not {type(out).__name__}")
    return out, {str(k): float(v) for k, v in extra.items()}
