"""Pseudotime for users who have none: scanpy's diffusion pseudotime or scvelo's latent time."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from anndata import AnnData

logger = logging.getLogger(__name__)

PSEUDOTIME_METHODS = ("dpt", "scvelo")
_DEFAULT_KEYS = {"dpt": "dpt_pseudotime", "scvelo": "latent_time"}


def _root_mask(adata: AnnData, root) -> np.ndarray:
    """Boolean mask of candidate root cells from an index, a cell name, a mask, or an ``(obs column, value)`` pair."""
    n = adata.n_obs
    if isinstance(root, (bool, np.bool_)):
        raise ValueError("root must be a cell index, a cell name, a boolean mask or an (obs column, value) pair")
    if isinstance(root, (int, np.integer)):
        i = int(root)
        if not -n <= i < n:
            raise ValueError(f"root index {i} is out of range for {n} cells")
        mask = np.zeros(n, dtype=bool)
        mask[i] = True
        return mask
    if isinstance(root, str):
        if root not in adata.obs_names:
            raise KeyError(
                f"root {root!r} is not a cell name of adata.obs_names; pass a cell index, a cell name, a boolean "
                "mask, or an (obs column, category) pair such as ('cell_type', 'HSC')"
            )
        return np.asarray(adata.obs_names == root)
    if isinstance(root, tuple) and len(root) == 2 and isinstance(root[0], str):
        col, value = root
        if col not in adata.obs:
            raise KeyError(f"no column {col!r} in adata.obs for root=({col!r}, {value!r})")
        mask = np.asarray(adata.obs[col].astype(str) == str(value))
        if not mask.any():
            raise ValueError(f"no cell has adata.obs[{col!r}] == {value!r}; check the root category")
        return mask
    arr = np.asarray(root.to_numpy() if isinstance(root, pd.Series) else root)
    if arr.dtype == bool and arr.shape == (n,):
        if not arr.any():
            raise ValueError("the root mask selects no cell")
        return arr
    raise ValueError(
        "root must be a cell index, a cell name, a boolean mask over the cells, or an (obs column, category) pair"
    )


def _medoid(coords: np.ndarray, mask: np.ndarray) -> int:
    """Index of the masked cell closest to the mean of the masked cells in ``coords``."""
    idx = np.flatnonzero(mask)
    if idx.size == 1:
        return int(idx[0])
    sub = coords[idx]
    return int(idx[np.argmin(((sub - sub.mean(axis=0)) ** 2).sum(axis=1))])


def _work_copy(adata: AnnData, layers: tuple[str, ...] = ()) -> AnnData:
    """A light AnnData sharing the user's arrays, so intermediate results never land in the user's object."""
    work = AnnData(
        X=adata.X,
        obs=pd.DataFrame(index=adata.obs_names.copy()),
        var=pd.DataFrame(index=adata.var_names.copy()),
    )
    for k in layers:
        work.layers[k] = adata.layers[k]
    for k in adata.obsm.keys():
        work.obsm[k] = adata.obsm[k]
    if "neighbors" in adata.uns and "connectivities" in adata.obsp and "distances" in adata.obsp:
        work.uns["neighbors"] = dict(adata.uns["neighbors"])
        work.obsp["connectivities"] = adata.obsp["connectivities"]
        work.obsp["distances"] = adata.obsp["distances"]
    return work


def pseudotime(
    adata: AnnData,
    *,
    method: str = "dpt",
    root=None,
    key_added: str | None = None,
    n_neighbors: int = 15,
    n_pcs: int | None = 30,
    n_dcs: int = 10,
    copy: bool = False,
) -> AnnData | None:
    """Order cells along a pseudotime when the data have none (diffusion pseudotime or RNA-velocity latent time).

    ``"dpt"``: scanpy's diffusion pseudotime (Haghverdi et al. 2016): a neighbour graph (reused when
    ``adata.obsp`` already holds one, else computed on PCA), a diffusion map, and the diffusion distance from a root
    cell. ``"scvelo"``: scvelo's latent time from the dynamical model of RNA velocity; needs ``spliced`` and
    ``unspliced`` layers (already filtered/normalised as the user prefers). Intermediate results (graph, PCA,
    velocities) are computed on a light copy and not kept; only the pseudotime is written.

    Parameters
    ----------
    adata
        Cells x genes (log-normalised expression in ``X`` for ``"dpt"``).
    method
        ``"dpt"`` or ``"scvelo"``.
    root
        The start of the process: a cell index, a cell name, a boolean mask over the cells, or an
        ``(obs column, category)`` pair such as ``("cell_type", "HSC")``. With a group of cells, the group's medoid in
        diffusion-map (or PCA) space is used. Required for ``"dpt"``; optional for ``"scvelo"`` (else scvelo
        infers root cells from the velocity graph).
    key_added
        Column of ``adata.obs`` to write (default ``"dpt_pseudotime"`` or ``"latent_time"``).
    n_neighbors, n_pcs
        Neighbour graph settings when one has to be computed.
    n_dcs
        Diffusion components used by ``"dpt"``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` (or the copy if ``copy=True``); writes ``adata.obs[key_added]`` (float, in ``[0, 1]``) and
    ``adata.uns[f"{key_added}_root"]`` (the index of the root cell used, ``-1`` when scvelo chose its own roots).

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=5, n_cells=200, seed=0)
    >>> sn.pp.pseudotime(adata, root=int(adata.obs["time"].argmin()), key_added="dpt", n_pcs=None)
    >>> bool(adata.obs["dpt"].between(0, 1).all())
    True
    """
    import scanpy as sc

    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    if method not in PSEUDOTIME_METHODS:
        raise ValueError(f"method must be one of {PSEUDOTIME_METHODS}, not {method!r}")
    key_added = _DEFAULT_KEYS[method] if key_added is None else str(key_added)
    if adata.n_obs < 3:
        raise ValueError(f"pseudotime needs at least 3 cells, got {adata.n_obs}")
    n_neighbors = int(min(n_neighbors, adata.n_obs - 1))
    if n_pcs is not None:
        n_pcs = int(min(n_pcs, adata.n_vars - 1, adata.n_obs - 1))
    mask = None if root is None else _root_mask(adata, root)

    if method == "dpt":
        if mask is None:
            raise ValueError(
                "method='dpt' needs a root: a cell index, a cell name, a boolean mask, or an (obs column, category) "
                "pair naming the cells where the process starts"
            )
        work = _work_copy(adata)
        if "neighbors" not in work.uns:
            sc.pp.neighbors(work, n_neighbors=n_neighbors, n_pcs=n_pcs, use_rep=None if n_pcs else "X")
        sc.tl.diffmap(work, n_comps=max(int(n_dcs), 2) + 1)
        iroot = _medoid(work.obsm["X_diffmap"][:, 1:], mask)
        work.uns["iroot"] = iroot
        sc.tl.dpt(work, n_dcs=int(n_dcs))
        values = work.obs["dpt_pseudotime"].to_numpy(dtype=np.float64)
    else:
        missing = [k for k in ("spliced", "unspliced") if k not in adata.layers]
        if missing:
            raise KeyError(
                f"method='scvelo' needs layers 'spliced' and 'unspliced' (missing: {missing}); read the data with "
                "the velocyto/STARsolo counts, or use method='dpt'"
            )
        import scvelo as scv

        work = _work_copy(adata, layers=("spliced", "unspliced"))
        if "neighbors" not in work.uns:
            sc.pp.pca(work, n_comps=n_pcs) if n_pcs else None
            sc.pp.neighbors(work, n_neighbors=n_neighbors, n_pcs=n_pcs, use_rep=None if n_pcs else "X")
        scv.pp.moments(work, n_neighbors=None, n_pcs=None)
        scv.tl.recover_dynamics(work, show_progress_bar=False, n_jobs=1)
        scv.tl.velocity(work, mode="dynamical")
        scv.tl.velocity_graph(work, show_progress_bar=False, n_jobs=1)
        root_key = None
        iroot = -1
        if mask is not None:
            iroot = _medoid(np.asarray(work.obsm["X_pca"]) if "X_pca" in work.obsm else np.asarray(work.X), mask)
            work.uns["iroot"] = iroot
            root_key = "iroot"
        scv.tl.latent_time(work, root_key=root_key)
        values = work.obs["latent_time"].to_numpy(dtype=np.float64)
    finite = np.isfinite(values)
    if finite.any():
        lo, hi = values[finite].min(), values[finite].max()
        values = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    target = adata.copy() if copy else adata
    target.obs[key_added] = values
    target.uns[f"{key_added}_root"] = int(iroot)
    logger.info("added adata.obs[%r] (%s pseudotime, root cell %d)", key_added, method, iroot)
    return target if copy else None
