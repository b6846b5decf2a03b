"""Choose the genes to model: highly variable genes plus the regulators a prior network names."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from anndata import AnnData

logger = logging.getLogger(__name__)


def _regulator_names(prior, regulators) -> set[str]:
    regs: set[str] = set()
    if regulators is not None:
        regs |= {str(r) for r in ([regulators] if isinstance(regulators, str) else regulators)}
    if prior is not None:
        if not isinstance(prior, pd.DataFrame) or "source" not in prior.columns:
            raise ValueError(
                "prior must be a DataFrame with a 'source' column (and 'target'), e.g. sn.datasets.base_grn()"
            )
        regs |= {str(s) for s in pd.unique(prior["source"].astype(str))}
    return regs


def select_genes(
    adata: AnnData,
    *,
    n_top_genes: int = 500,
    prior: pd.DataFrame | None = None,
    regulators=None,
    flavor: str = "seurat",
    layer: str | None = None,
    key_added: str = "selected",
    copy: bool = False,
) -> AnnData | None:
    """Mark the genes to model: the ``n_top_genes`` most variable genes plus every regulator present in the data.

    This is how the PathReg paper chose its 529 hematopoiesis genes (highly variable genes and transcription
    factors). Regulators come from ``regulators`` (a gene list) and/or the ``source`` column of ``prior`` (e.g.
    :func:`sparsenode.datasets.base_grn`); those absent from ``adata.var_names`` are ignored. Pass the selected genes
    to :func:`sparsenode.tl.fit_node` as ``genes=adata.var_names[adata.var["selected"]]`` together with the same
    ``prior`` to restrict the regulators.

    Parameters
    ----------
    adata
        Cells x genes; log-normalised values for the ``"seurat"`` and ``"cell_ranger"`` flavours.
    n_top_genes
        Number of highly variable genes (:func:`scanpy.pp.highly_variable_genes`); ``0`` keeps regulators only.
    prior
        Source/target network whose sources count as regulators.
    regulators
        Extra regulator names.
    flavor
        Flavour of :func:`scanpy.pp.highly_variable_genes`.
    layer
        Layer to use instead of ``adata.X``.
    key_added
        Boolean column of ``adata.var`` to write.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` (or the copy if ``copy=True``); writes ``adata.var[key_added]`` (selected) and
    ``adata.var[f"{key_added}_regulator"]`` (selected as a regulator), both boolean.

    Examples
    --------
    >>> import numpy as np, pandas as pd, anndata as ad, sparsenode as sn
    >>> rng = np.random.default_rng(0)
    >>> adata = ad.AnnData(np.log1p(rng.poisson(2.0, (100, 30)).astype(np.float32)))
    >>> adata.var_names = [f"g{i}" for i in range(30)]
    >>> prior = pd.DataFrame({"source": ["g0", "TF_absent"], "target": ["g1", "g2"]})
    >>> sn.pp.select_genes(adata, n_top_genes=5, prior=prior)
    >>> int(adata.var["selected"].sum()) >= 5, bool(adata.var.loc["g0", "selected"])
    (True, True)
    """
    import scanpy as sc

    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    n_top_genes = int(n_top_genes)
    if n_top_genes < 0:
        raise ValueError(f"n_top_genes must be >= 0, got {n_top_genes}")
    if layer is not None and layer not in adata.layers:
        raise KeyError(f"no layer {layer!r} in adata.layers; pass layer=None to use adata.X")
    regs = _regulator_names(prior, regulators)
    if n_top_genes == 0 and not regs:
        raise ValueError("nothing to select: n_top_genes=0 and no prior or regulators given")
    hvg = np.zeros(adata.n_vars, dtype=bool)
    if n_top_genes > 0:
        if n_top_genes >= adata.n_vars:
            hvg[:] = True
        else:
            table = sc.pp.highly_variable_genes(
                adata, n_top_genes=n_top_genes, flavor=flavor, layer=layer, inplace=False
            )
            hvg = np.asarray(table["highly_variable"], dtype=bool)
    is_reg = np.asarray(pd.Index(adata.var_names.astype(str)).isin(list(regs)), dtype=bool)
    if regs and not is_reg.any():
        logger.warning(
            "none of the %d regulators is in adata.var_names; check the gene naming (symbols/ids)", len(regs)
        )
    target = adata.copy() if copy else adata
    target.var[key_added] = hvg | is_reg
    target.var[f"{key_added}_regulator"] = is_reg
    logger.info(
        "added adata.var[%r]: %d genes (%d highly variable, %d regulators)",
        key_added,
        int((hvg | is_reg).sum()),
        int(hvg.sum()),
        int(is_reg.sum()),
    )
    return target if copy else None
