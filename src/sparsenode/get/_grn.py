"""Extract tables from AnnData."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys as K


def grn(
    adata: AnnData,
    key: str = K.PATHREG,
    *,
    self_loops: bool = False,
    top_k: int | None = None,
    min_abs_weight: float = 0.0,
) -> pd.DataFrame:
    """The signed network of a fit as an edge table, strongest first.

    Parameters
    ----------
    adata
        AnnData after :func:`sparsenode.tl.infer_grn`.
    key
        Key of the fit (the network is read from ``adata.varp[f"{key}_grn"]``).
    self_loops
        Keep ``source == target`` edges.
    top_k
        Keep only the ``top_k`` strongest edges.
    min_abs_weight
        Drop edges with ``|weight|`` at or below this value (zero-weight edges are always dropped).

    Returns
    -------
    DataFrame with columns ``source``, ``target``, ``weight`` (signed), ``sign`` (+1 activation, -1 repression),
    plus ``frequency`` (stability-selection frequency) and ``sign_agreement`` when an ensemble stored them (see
    :func:`sparsenode.tl.infer_grn`); sorted by ``|weight|``.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.krumsiek11()
    >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=5, progress_bar=False)
    >>> sn.tl.infer_grn(adata)
    >>> list(sn.get.grn(adata).columns)[:4]
    ['source', 'target', 'weight', 'sign']
    """
    varp_key = K.grn_key(key)
    if key in adata.uns and isinstance(adata.uns[key], dict) and "grn" in adata.uns[key]:
        varp_key = str(adata.uns[key]["grn"].get("varp_key", varp_key))
    if varp_key not in adata.varp:
        hint = (
            f"run sn.tl.infer_grn(adata, key={key!r}) first"
            if key in adata.uns
            else f"no fit under adata.uns[{key!r}]; run sn.tl.fit_pathreg(adata, ...) and sn.tl.infer_grn(adata)"
        )
        raise KeyError(f"no network adata.varp[{varp_key!r}]; {hint}")
    w = np.asarray(adata.varp[varp_key].todense() if hasattr(adata.varp[varp_key], "todense") else adata.varp[varp_key])
    src, tgt = np.nonzero(np.abs(w) > min_abs_weight)
    keep = (src != tgt) | self_loops
    src, tgt = src[keep], tgt[keep]
    names = np.asarray(adata.var_names, dtype=str)
    df = pd.DataFrame({"source": names[src], "target": names[tgt], "weight": w[src, tgt].astype(float)})
    df["sign"] = np.sign(df["weight"]).astype(int)
    extra = adata.uns.get(key, {}).get("grn", {}) if key in adata.uns else {}
    if K.FREQUENCY in extra and K.SIGN_AGREEMENT in extra:
        var = list(np.asarray(adata.uns[key][K.VAR_NAMES]).astype(str))
        pos = {g: i for i, g in enumerate(var)}
        si = np.array([pos.get(g, -1) for g in df["source"]], dtype=np.int64)
        ti = np.array([pos.get(g, -1) for g in df["target"]], dtype=np.int64)
        ok = (si >= 0) & (ti >= 0)
        for col in (K.FREQUENCY, K.SIGN_AGREEMENT):
            arr = np.asarray(extra[col], dtype=np.float64)
            vals = np.zeros(len(df))
            vals[ok] = arr[si[ok], ti[ok]]
            df[col] = vals
    df = df.reindex(df["weight"].abs().sort_values(ascending=False, kind="stable").index).reset_index(drop=True)
    if top_k is not None:
        df = df.head(int(top_k))
    return df
