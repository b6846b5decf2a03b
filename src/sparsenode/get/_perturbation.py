"""Perturbation results as tidy tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData


def perturbation(adata: AnnData, key: str) -> pd.DataFrame:
    """A perturbation result as a tidy table: one row per lineage, gene and time point.

    Parameters
    ----------
    adata
        AnnData after :func:`sparsenode.tl.simulate_perturbation`.
    key
        Key of the result in ``adata.uns``.

    Returns
    -------
    DataFrame with columns ``lineage``, ``gene``, ``time`` (original pseudotime axis), ``wildtype``, ``perturbed``,
    ``delta`` and ``log_fold_change``.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.krumsiek11()
    >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=5, progress_bar=False)
    >>> sn.tl.simulate_knockout(adata, "Gata1", key_added="ko")
    >>> sn.get.perturbation(adata, "ko").columns.tolist()
    ['lineage', 'gene', 'time', 'wildtype', 'perturbed', 'delta', 'log_fold_change']
    """
    if key not in adata.uns or not isinstance(adata.uns[key], dict) or "wildtype" not in adata.uns[key]:
        found = [k for k, v in adata.uns.items() if isinstance(v, dict) and "wildtype" in v]
        raise KeyError(
            f"no perturbation result under adata.uns[{key!r}] (found: {found or 'none'}); run "
            "sn.tl.simulate_perturbation(adata, genes, key_added=...) first"
        )
    r = adata.uns[key]
    lin = np.asarray(r["lineages"]).astype(str)
    genes = np.asarray(r["var_names"]).astype(str)
    t = np.asarray(r["pseudotime"])
    n_l, n_t, n_g = np.shape(r["wildtype"])
    idx = np.indices((n_l, n_t, n_g)).reshape(3, -1)
    return pd.DataFrame(
        {
            "lineage": lin[idx[0]],
            "gene": genes[idx[2]],
            "time": t[idx[1]],
            "wildtype": np.asarray(r["wildtype"]).ravel(),
            "perturbed": np.asarray(r["perturbed"]).ravel(),
            "delta": np.asarray(r["delta"]).ravel(),
            "log_fold_change": np.asarray(r["log_fold_change"]).ravel(),
        }
    )
