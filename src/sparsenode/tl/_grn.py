"""Reading a signed gene regulatory network out of a fitted model."""

from __future__ import annotations

import logging

import numpy as np
from anndata import AnnData

from .. import _keys as K
from ..model import SparseNODE

logger = logging.getLogger(__name__)

MODES = ("combined", "jacobian", "structure")


def signed_network(
    model: SparseNODE, *, mode: str = "structure", states: str = "data", threshold: float = 1e-3
) -> dict[str, np.ndarray]:
    """Signed network of a fitted model, ``[source, target]``, and the pieces it is made of.

    ``mode="structure"`` (default): the method's structural adjacency (PathReg/L0: the gate product ``A_z``) with
    the sign of the mean Jacobian. ``"jacobian"``: weight = sign of the mean Jacobian ``d f_target / d x_source``
    along the trajectory times its mean absolute value. ``"combined"``: the Jacobian weight where the structural
    adjacency is non-zero (relative to its largest entry above ``threshold``), zero elsewhere.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    mean_j, abs_j = model.jacobian(states=states)
    adj = model.adjacency()
    sign = np.sign(mean_j)
    if mode == "structure":
        weight = sign * adj
    else:
        weight = sign * abs_j
        if mode == "combined":
            rel = np.abs(adj) / max(float(np.abs(adj).max()), 1e-12)
            weight = np.where(rel > threshold, weight, 0.0)
    return {
        "weight": weight.astype(np.float32),
        "mean_jacobian": mean_j.astype(np.float32),
        "abs_jacobian": abs_j.astype(np.float32),
    }


def infer_grn(
    adata: AnnData,
    *,
    key: str = K.PATHREG,
    mode: str = "structure",
    states: str = "data",
    threshold: float = 1e-3,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Infer the signed gene regulatory network of a fitted model and store it in ``adata``.

    The sign of every edge comes from the vector field's Jacobian ``J[target, source] = d f_target / d x_source``
    averaged along the trajectory. Its strength is, by ``mode``:

    - ``"structure"`` (default): the method's structural input-output adjacency (PathReg and L0: the test-time
      gate product ``A_z``; C-NODE/node: ``|W_{L+1}|...|W_1|``; group lasso: group norms; LassoNet: ``|S|`` plus
      first-layer norms), zero where the method pruned the edge;
    - ``"jacobian"``: the mean absolute Jacobian along the trajectory, unmasked;
    - ``"combined"``: the mean absolute Jacobian, masked by the structural adjacency.

    ``"structure"`` is the default because it ranked true edges best for PathReg in our measurements (toy_grn,
    10 genes, seeds 0-3: median AUPRC ratio 2.07 against 1.07 for ``"combined"``; see the changelog).

    Parameters
    ----------
    adata
        AnnData holding a fit in ``adata.uns[key]`` (from :func:`fit_pathreg` or :func:`fit_node`).
    key
        Key of the fit.
    mode
        ``"combined"``, ``"jacobian"`` or ``"structure"``.
    states
        Average the Jacobian over the observed bins (``"data"``) or over the model's own trajectories (``"fitted"``).
    threshold
        Relative threshold under which a structural adjacency entry counts as zero.
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
    - ``adata.uns[key]["grn"]``: ``mode``, ``states``, ``varp_key`` and the modelled genes' ``mean_jacobian`` and
      ``abs_jacobian`` ([source, target]).

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.krumsiek11()
    >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=5, progress_bar=False)
    >>> sn.tl.infer_grn(adata, key="pathreg")
    >>> adata.varp["pathreg_grn"].shape
    (11, 11)
    """
    model = SparseNODE.from_adata(adata, key=key, device="cpu")
    net = signed_network(model, mode=mode, states=states, threshold=threshold)
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
    target.uns[key]["grn"] = {
        "mode": mode,
        "states": states,
        "varp_key": varp_key,
        "mean_jacobian": net["mean_jacobian"],
        "abs_jacobian": net["abs_jacobian"],
    }
    logger.info("added adata.varp[%r] (signed network, rows = source) and adata.uns[%r]['grn']", varp_key, key)
    return target if copy else None
