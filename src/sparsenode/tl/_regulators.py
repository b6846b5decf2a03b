"""The regulators driving each lineage: out-strength of the signed network along that lineage."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys as K
from ..model import SparseNODE


def lineage_regulators(
    adata: AnnData | SparseNODE,
    *,
    key: str = K.PATHREG,
    regulators=None,
    n_top: int = 10,
    states: str = "data",
    threshold: float = 1e-3,
    prior: pd.DataFrame | None = None,
    n_targets: int = 20,
) -> pd.DataFrame:
    """Rank the regulators of each lineage by their out-strength in the signed network along that lineage.

    For each lineage the Jacobian ``d f_target / d x_source`` is averaged over that lineage's bins only
    (:meth:`SparseNODE.jacobian` with ``lineage=``), masked by the method's structural adjacency (entries above
    ``threshold`` relative to its largest), self-loops removed; a gene's out-strength is the sum of the absolute
    masked mean Jacobian over its targets. With ``prior``, the ``n_targets`` strongest targets of each ranked
    regulator are compared with its targets in the prior (``prior_precision``) beside the share of modelled genes
    the prior lists as its targets (``prior_base_rate``): a sanity check, the prior is not ground truth.

    Parameters
    ----------
    adata
        AnnData holding a fit in ``adata.uns[key]``, or a fitted :class:`~sparsenode.SparseNODE`.
    key
        Key of the fit.
    regulators
        Only rank these genes (e.g. the prior's TFs); default: every modelled gene.
    n_top
        Regulators reported per lineage.
    states
        Jacobian over the observed bins (``"data"``) or the model's trajectories (``"fitted"``).
    threshold
        Relative threshold of the structural mask.
    prior
        Source/target DataFrame for the precision check.
    n_targets
        Targets per regulator compared with the prior.

    Returns
    -------
    DataFrame with ``lineage``, ``rank``, ``regulator``, ``out_strength``, ``n_activated``, ``n_repressed`` (targets
    with a positive / negative masked mean Jacobian) and, with ``prior``, ``prior_precision`` and
    ``prior_base_rate``.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=5, n_cells=300, seed=0)
    >>> sn.tl.fit_node(adata, method="node", time_key="time", lineage_key="lineage", max_epochs=3, progress_bar=False)
    >>> table = sn.tl.lineage_regulators(adata, key="node", n_top=2)
    >>> table.groupby("lineage").size().tolist()
    [2, 2]
    """
    model = adata if isinstance(adata, SparseNODE) else SparseNODE.from_adata(adata, key=key, device="cpu")
    traj = model._require_trajectories()
    names = np.asarray(model.var_names)
    if regulators is None:
        cand = np.arange(len(names))
    else:
        regs = {str(r) for r in ([regulators] if isinstance(regulators, str) else regulators)}
        cand = np.flatnonzero(np.isin(names, list(regs)))
        if cand.size == 0:
            raise ValueError("none of the regulators is among the modelled genes; check the names")
    adj = np.abs(model.adjacency())
    keep = adj / max(float(adj.max()), 1e-12) > threshold
    np.fill_diagonal(keep, False)
    prior_sets = None
    if prior is not None:
        if not isinstance(prior, pd.DataFrame) or not {"source", "target"} <= set(prior.columns):
            raise ValueError("prior must be a DataFrame with 'source' and 'target' columns")
        sub = prior[prior["source"].astype(str).isin(set(names[cand]))]
        prior_sets = sub.groupby(sub["source"].astype(str), observed=True)["target"].agg(lambda s: set(s.astype(str)))
    rows = []
    for li, lin in enumerate(traj.lineages):
        mean_j, _ = model.jacobian(states=states, lineage=li)
        w = np.where(keep, mean_j, 0.0)
        strength = np.abs(w).sum(axis=1)
        order = cand[np.argsort(-strength[cand], kind="stable")][: int(n_top)]
        for rank, i in enumerate(order, start=1):
            row = {
                "lineage": lin,
                "rank": rank,
                "regulator": str(names[i]),
                "out_strength": float(strength[i]),
                "n_activated": int((w[i] > 0).sum()),
                "n_repressed": int((w[i] < 0).sum()),
            }
            if prior_sets is not None:
                targets = prior_sets.get(str(names[i]), set())
                top = np.argsort(-np.abs(w[i]))[: int(n_targets)]
                top = [j for j in top if w[i, j] != 0]
                row["prior_precision"] = float(np.mean([names[j] in targets for j in top])) if top else float("nan")
                others = [g for g in names if g != names[i]]
                row["prior_base_rate"] = float(np.mean([g in targets for g in others]))
            rows.append(row)
    return pd.DataFrame(rows)
