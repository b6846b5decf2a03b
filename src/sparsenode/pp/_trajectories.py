"""Turn cells ordered along pseudotime into binned, scaled trajectories (one per lineage)."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

logger = logging.getLogger(__name__)

SCALINGS = ("minmax", "zscore", "none")


def check_start_time(start_time) -> float | None:
    """``start_time`` as a finite float (original time axis), ``None`` kept, or a ValueError that says what is wrong.

    Examples
    --------
    >>> from sparsenode.pp._trajectories import check_start_time
    >>> check_start_time(60), check_start_time(None)
    (60.0, None)
    """
    if start_time is None:
        return None
    try:
        value = float(start_time)
    except (TypeError, ValueError):
        raise ValueError(f"start_time must be a number (original time axis) or None, not {start_time!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"start_time must be a finite number, got {start_time}")
    return value


@dataclass
class Trajectories:
    """Binned trajectories of several lineages on one shared time grid.

    Attributes
    ----------
    values
        ``(lineages, bins, genes)`` float32 mean scaled expression per bin (0 where a bin is empty).
    mask
        ``(lineages, bins)`` bool, True where the bin holds at least one cell of the lineage.
    counts
        ``(lineages, bins)`` number of cells per bin.
    times
        ``(bins,)`` bin centres on the normalised time axis ``[0, 1]``.
    lineages
        Lineage names.
    var_names
        Gene names, in the column order of ``values``.
    offset, scale
        Per-gene scaling: ``scaled = (x - offset) / scale``.
    time_range
        ``(t_min, t_max)`` of the original time axis mapped to ``[0, 1]``.
    cell_lineage, cell_bin
        Per cell of the input AnnData: index of its lineage and bin (``-1`` where the cell was not used). A cell in
        several lineages (membership matrix) is reported under the first.

    Examples
    --------
    :func:`sparsenode.pp.bin_trajectories` returns one:

    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=4, n_cells=200)
    >>> traj = sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineage", n_bins=8)
    >>> traj.values.shape, traj.mask.shape  # (lineages, bins, genes), (lineages, bins)
    ((2, 8, 4), (2, 8))
    """

    values: np.ndarray
    mask: np.ndarray
    counts: np.ndarray
    times: np.ndarray
    lineages: list[str]
    var_names: list[str]
    offset: np.ndarray
    scale: np.ndarray
    time_range: tuple[float, float]
    cell_lineage: np.ndarray = field(repr=False)
    cell_bin: np.ndarray = field(repr=False)

    @property
    def n_lineages(self) -> int:
        """Number of lineages."""
        return self.values.shape[0]

    @property
    def n_bins(self) -> int:
        """Number of bins of the shared grid."""
        return self.values.shape[1]

    @property
    def n_genes(self) -> int:
        """Number of modelled genes."""
        return self.values.shape[2]

    def lineage_indices(self, lineages=None) -> list[int]:
        """Indices of the named lineages, in the order given (a name or a list of names; ``None``: all).

        Raises a KeyError naming the unknown lineages and the fit's lineages.

        Examples
        --------
        >>> import sparsenode as sn
        >>> adata = sn.datasets.toy_grn(n_genes=4, n_cells=200, seed=0)
        >>> traj = sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineage", n_bins=10)
        >>> traj.lineage_indices(["lineage_1", "lineage_0"]), traj.lineage_indices()
        ([1, 0], [0, 1])
        """
        names = [str(n) for n in self.lineages]
        if lineages is None:
            return list(range(len(names)))
        wanted = [str(lineages)] if isinstance(lineages, str) else [str(n) for n in lineages]
        missing = [w for w in wanted if w not in names]
        if missing or not wanted:
            raise KeyError(f"lineage(s) {missing or wanted} not in the fit; its lineages are {names}")
        return [names.index(w) for w in wanted]

    def gene_ranges(self) -> np.ndarray:
        """Range (max - min) of each gene over the filled bins of every lineage, on the scaled axis ``(genes,)``.

        Constant genes get 1, so that dividing by the range never divides by zero.

        Examples
        --------
        >>> import sparsenode as sn
        >>> adata = sn.datasets.toy_grn(n_genes=4, n_cells=200, seed=0)
        >>> traj = sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineage", n_bins=10)
        >>> traj.gene_ranges().shape
        (4,)
        """
        filled = self.values[self.mask]  # (filled bins, genes)
        if filled.size == 0:
            return np.ones(self.n_genes)
        rng = filled.max(axis=0).astype(np.float64) - filled.min(axis=0)
        return np.where(rng > 1e-12, rng, 1.0)

    def start_bins(self, start_time: float | None = None, lineage_idx=None) -> np.ndarray:
        """Index of each lineage's first non-empty bin, or of its first non-empty bin at or after ``start_time``.

        Parameters
        ----------
        start_time
            A time on the original pseudotime axis (``time_range``), e.g. after the lineages have split; ``None``:
            each lineage's first filled bin. A lineage needs a filled bin at or after it with at least one bin
            after that, else a ValueError says which lineage and which times are possible.
        lineage_idx
            Indices of the lineages to return, in that order (default: all).

        Examples
        --------
        >>> import sparsenode as sn
        >>> adata = sn.datasets.toy_grn(n_genes=4, n_cells=200, seed=0)
        >>> traj = sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineage", n_bins=10)
        >>> traj.start_bins().tolist(), traj.start_bins(start_time=5.0).tolist()
        ([0, 0], [4, 4])
        """
        idx = list(range(self.n_lineages)) if lineage_idx is None else [int(i) for i in lineage_idx]
        value = check_start_time(start_time)
        if value is None:
            return self.mask.argmax(axis=1)[idx]
        t_min, t_max = (float(t) for t in self.time_range)
        tau = (value - t_min) / (t_max - t_min if t_max > t_min else 1.0)
        out = []
        for li in idx:
            ok = np.flatnonzero(self.mask[li] & (self.times >= tau - 0.5 / self.n_bins))
            if ok.size == 0 or ok[0] >= self.n_bins - 1:
                raise ValueError(
                    f"lineage {self.lineages[li]!r} has no data at or after start_time={start_time}; "
                    f"choose a time within [{t_min:g}, {t_max:g}]"
                )
            out.append(ok[0])
        return np.asarray(out, dtype=np.int64)

    def to_dict(self) -> dict:
        """Arrays for ``adata.uns`` (h5ad-safe: no None, no objects)."""
        return {
            "values": self.values.astype(np.float32),
            "mask": self.mask.astype(bool),
            "counts": self.counts.astype(np.int64),
            "times": self.times.astype(np.float32),
            "lineages": np.asarray(self.lineages, dtype=str),
            "offset": self.offset.astype(np.float32),
            "scale": self.scale.astype(np.float32),
            "time_range": np.asarray(self.time_range, dtype=np.float64),
        }

    @classmethod
    def from_dict(cls, d: dict, var_names: list[str]) -> Trajectories:
        """Rebuild from :meth:`to_dict` output (per-cell maps are not stored there)."""
        values = np.asarray(d["values"], dtype=np.float32)
        return cls(
            values=values,
            mask=np.asarray(d["mask"], dtype=bool),
            counts=np.asarray(d["counts"]),
            times=np.asarray(d["times"], dtype=np.float32),
            lineages=[str(x) for x in np.asarray(d["lineages"]).tolist()],
            var_names=list(var_names),
            offset=np.asarray(d["offset"], dtype=np.float32),
            scale=np.asarray(d["scale"], dtype=np.float32),
            time_range=tuple(float(x) for x in np.asarray(d["time_range"])),
            cell_lineage=np.zeros(0, dtype=np.int64),
            cell_bin=np.zeros(0, dtype=np.int64),
        )


def _column_list(adata: AnnData) -> str:
    cols = list(adata.obs.columns)
    return ", ".join(map(repr, cols)) if cols else "(none)"


def _resolve_genes(adata: AnnData, genes) -> np.ndarray:
    if genes is None:
        return np.arange(adata.n_vars)
    genes = [genes] if isinstance(genes, str) else list(genes)
    if len(genes) == 0:
        raise ValueError("genes is empty; pass None to model all genes or a list of names from adata.var_names")
    index = pd.Index(adata.var_names)
    missing = [g for g in genes if g not in index]
    if missing:
        shown = ", ".join(map(repr, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise KeyError(
            f"{len(missing)} gene(s) not in adata.var_names: {shown}; check the spelling or subset to genes present "
            f"(e.g. [g for g in genes if g in adata.var_names])"
        )
    if len(set(genes)) != len(genes):
        raise ValueError("genes contains duplicates; pass each gene once")
    if not index.is_unique:
        raise ValueError("adata.var_names are not unique; call adata.var_names_make_unique() first")
    return index.get_indexer(genes)


def _get_matrix(adata: AnnData, layer: str | None):
    if layer is None:
        return adata.X
    if layer not in adata.layers:
        avail = ", ".join(map(repr, adata.layers.keys())) or "(none)"
        raise KeyError(f"no layer {layer!r} in adata.layers (available: {avail}); pass layer=None to use adata.X")
    return adata.layers[layer]


def _membership(adata: AnnData, lineage_key: str | None, threshold: float) -> tuple[np.ndarray, list[str]]:
    n = adata.n_obs
    if lineage_key is None:
        return np.ones((n, 1), dtype=bool), ["all"]
    if lineage_key in adata.obs:
        col = adata.obs[lineage_key]
        cats = col.astype("category")
        names = [str(c) for c in cats.cat.categories]
        codes = cats.cat.codes.to_numpy()
        if (codes < 0).all():
            raise ValueError(f"adata.obs[{lineage_key!r}] holds no lineage labels (all missing)")
        memb = np.zeros((n, len(names)), dtype=bool)
        ok = codes >= 0
        memb[np.flatnonzero(ok), codes[ok]] = True
        if (~ok).any():
            warnings.warn(
                f"{(~ok).sum()} cell(s) have no lineage in obs[{lineage_key!r}] and are left out", stacklevel=3
            )
        return memb, names
    if lineage_key in adata.obsm:
        m = adata.obsm[lineage_key]
        if isinstance(m, pd.DataFrame):
            names = [str(c) for c in m.columns]
            arr = m.to_numpy()
        else:
            arr = np.asarray(m)
            names = [f"lineage_{i}" for i in range(arr.shape[1])]
        arr = np.nan_to_num(arr.astype(np.float64), nan=0.0)
        return arr >= threshold if arr.dtype != bool else arr, names
    raise KeyError(
        f"no lineage column {lineage_key!r} in adata.obs or adata.obsm (obs columns: {_column_list(adata)}); "
        "pass lineage_key=None to treat all cells as one trajectory"
    )


def _sparse_column_range(x, chunk_entries: int = 1 << 22) -> tuple[np.ndarray, np.ndarray]:
    """Column minimum and maximum of a sparse matrix, densifying a few thousand rows at a time (linear in cells)."""
    n, d = x.shape
    step = max(1, chunk_entries // max(d, 1))
    lo = np.full(d, np.inf)
    hi = np.full(d, -np.inf)
    for start in range(0, n, step):  # chunks of rows: bounded memory, no CSC conversion of the whole matrix
        block = x[start : start + step].toarray()
        lo = np.minimum(lo, block.min(axis=0))
        hi = np.maximum(hi, block.max(axis=0))
    return lo, hi


def _select(x_all, rows: np.ndarray, gene_idx: np.ndarray):
    """Rows and genes of the expression matrix; a sparse matrix stays sparse and is only copied where indexed."""
    full_rows = len(rows) == x_all.shape[0]
    full_genes = len(gene_idx) == x_all.shape[1] and bool((gene_idx == np.arange(x_all.shape[1])).all())
    if not sp.issparse(x_all):
        x = np.asarray(x_all if full_rows else x_all[rows])
        return np.asarray(x if full_genes else x[:, gene_idx], dtype=np.float64)
    x = x_all if x_all.format == "csr" else sp.csr_matrix(x_all)
    if not full_rows:
        x = x[rows]
    if not full_genes:
        x = x[:, gene_idx]
    return x


def _column_stats(x, scaling: str) -> tuple[np.ndarray, np.ndarray]:
    if scaling == "none":
        d = x.shape[1]
        return np.zeros(d), np.ones(d)
    if scaling == "minmax":
        if sp.issparse(x):
            lo, hi = _sparse_column_range(x)
        else:
            lo, hi = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
        rng = hi - lo
    else:
        if sp.issparse(x):
            mean = np.asarray(x.mean(axis=0)).ravel()
            sq = np.asarray(x.multiply(x).mean(axis=0)).ravel()
            rng = np.sqrt(np.maximum(sq - mean**2, 0.0))
        else:
            mean, rng = x.mean(axis=0), x.std(axis=0)
        lo = mean
    rng = np.where(np.isfinite(rng) & (rng > 1e-12), rng, 1.0)  # constant genes: no division by zero
    return np.asarray(lo, dtype=np.float64), np.asarray(rng, dtype=np.float64)


MAX_GRID_BINS = 100_000


def _grid_bins(t: np.ndarray, time_key: str) -> tuple[np.ndarray, int]:
    """Bin index of each time on the regular grid spanned by the distinct times, and the number of grid points."""
    uniq = np.unique(t)
    if uniq.size < 2:
        raise ValueError(f"adata.obs[{time_key!r}] has a single distinct time; n_bins=None needs at least two")
    step = float(np.diff(uniq).min())
    pos = (uniq - uniq[0]) / step
    if np.abs(pos - np.rint(pos)).max() > 1e-3:
        raise ValueError(
            f"the times in adata.obs[{time_key!r}] do not lie on a regular grid (smallest gap {step:g}); "
            "n_bins=None needs regularly sampled times with possible gaps, e.g. frames; pass an integer n_bins"
        )
    n = int(np.rint(pos[-1])) + 1
    if n > MAX_GRID_BINS:
        raise ValueError(
            f"a grid with step {step:g} over the time range needs {n} bins (at most {MAX_GRID_BINS}); "
            "pass an integer n_bins"
        )
    return np.rint((t - uniq[0]) / step).astype(np.int64), n


def bin_trajectories(
    adata: AnnData,
    *,
    time_key: str = "dpt_pseudotime",
    lineage_key: str | None = None,
    genes=None,
    layer: str | None = None,
    n_bins: int | None = 30,
    scaling: str = "minmax",
    lineage_threshold: float = 0.5,
    min_bins: int = 3,
) -> Trajectories:
    """Average cells into pseudotime bins per lineage and scale each gene.

    Pseudotime is min-max normalised to ``[0, 1]`` over all used cells, so all lineages share one time grid of
    ``n_bins`` equal-width bins and a lineage that covers only part of the time axis simply has empty (masked) bins.
    Expression is scaled per gene over all used cells (``"minmax"`` as in the PathReg paper, ``"zscore"`` or
    ``"none"``). Sparse matrices are never densified as a whole: bins are averaged with a sparse indicator product.

    Parameters
    ----------
    adata
        Cells x genes.
    time_key
        Column of ``adata.obs`` with (pseudo)time. Cells with NaN/inf time are dropped with a warning.
    lineage_key
        ``None`` (one trajectory), a categorical column of ``adata.obs``, or a key of ``adata.obsm`` holding a cells x
        lineages membership or fate-probability matrix (a cell belongs to each lineage where the value is at least
        ``lineage_threshold``; cells may be shared, e.g. progenitors).
    genes
        Genes to model (default: all).
    layer
        Layer to read instead of ``adata.X``.
    n_bins
        Number of equal-width pseudotime bins, or ``None`` for one bin per time point of a regular sampling grid
        (e.g. motion-capture frames): the grid step is the smallest gap between distinct times, every time must lie
        on it, and grid points no cell of a lineage has (dropped frames) are empty, masked bins. Bin times are then
        the grid points themselves, ``0`` and ``1`` included.
    scaling
        ``"minmax"``, ``"zscore"`` or ``"none"``.
    lineage_threshold
        Threshold on an ``obsm`` membership matrix.
    min_bins
        A lineage needs at least this many non-empty bins.

    Returns
    -------
    The binned :class:`Trajectories`.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=5, n_cells=300, seed=0)
    >>> traj = sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineage", n_bins=20)
    >>> traj.values.shape
    (2, 20, 5)
    """
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, not {scaling!r}")
    if n_bins is not None:
        if int(n_bins) < 2:
            raise ValueError(f"n_bins must be at least 2 (or None for one bin per sampled time), got {n_bins}")
        n_bins = int(n_bins)
    if time_key not in adata.obs:
        raise KeyError(
            f"no column {time_key!r} in adata.obs (available: {_column_list(adata)}); compute a pseudotime first, "
            f"e.g. sc.tl.dpt(adata) (writes 'dpt_pseudotime') or sn.pp.pseudotime(adata), or pass time_key=..."
        )
    gene_idx = _resolve_genes(adata, genes)
    x_all = _get_matrix(adata, layer)
    t = pd.to_numeric(adata.obs[time_key], errors="coerce").to_numpy(dtype=np.float64)
    finite = np.isfinite(t)
    if not finite.any():
        raise ValueError(f"adata.obs[{time_key!r}] has no finite values; recompute the pseudotime")
    if (~finite).any():
        warnings.warn(
            f"dropping {(~finite).sum()} cell(s) with NaN or infinite {time_key!r}; {finite.sum()} cell(s) remain",
            stacklevel=2,
        )
    memb, names = _membership(adata, lineage_key, lineage_threshold)
    memb = memb & finite[:, None]
    used = memb.any(axis=1)
    if not used.any():
        raise ValueError("no cell has both a finite time and a lineage; check time_key and lineage_key")
    rows = np.flatnonzero(used)
    x = _select(x_all, rows, gene_idx)
    if not sp.issparse(x):
        if not np.isfinite(x).all():
            raise ValueError(
                "expression contains NaN or infinite values; impute or drop them (e.g. np.nan_to_num on the layer, "
                "or remove the affected genes/cells) before fitting"
            )
    else:  # the indicator product below accumulates in float64; no float64 copy of the whole matrix
        if not np.isfinite(x.data).all():
            raise ValueError("expression contains NaN or infinite values; impute or drop them before fitting")
    lo, rng = _column_stats(x, scaling)

    t_used = t[rows]
    t_min, t_max = float(t_used.min()), float(t_used.max())
    span = t_max - t_min if t_max > t_min else 1.0
    tau = (t_used - t_min) / span
    if n_bins is None:
        bins, n_bins = _grid_bins(t_used, time_key)
        times = np.arange(n_bins) / (n_bins - 1)
    else:
        bins = np.minimum((tau * n_bins).astype(np.int64), n_bins - 1)
        times = (np.arange(n_bins) + 0.5) / n_bins

    n_lin = memb.shape[1]
    d = len(gene_idx)
    values = np.zeros((n_lin, n_bins, d), dtype=np.float64)
    counts = np.zeros((n_lin, n_bins), dtype=np.int64)
    memb_used = memb[rows]
    for li in range(n_lin):  # one sparse product per lineage; lineages are few
        sel = np.flatnonzero(memb_used[:, li])
        if sel.size == 0:
            raise ValueError(f"lineage {names[li]!r} has no cells with a finite time; drop it or fix its labels")
        ind = sp.csr_matrix((np.ones(sel.size), (bins[sel], sel)), shape=(n_bins, len(rows)))
        sums = ind @ x
        sums = np.asarray(sums.todense()) if sp.issparse(sums) else np.asarray(sums)
        cnt = np.bincount(bins[sel], minlength=n_bins)
        counts[li] = cnt
        values[li] = np.where(cnt[:, None] > 0, sums / np.maximum(cnt, 1)[:, None], 0.0)
        n_filled = int((cnt > 0).sum())
        if n_filled < min_bins:
            raise ValueError(
                f"lineage {names[li]!r} has {sel.size} cell(s) filling only {n_filled} of {n_bins} time bins "
                f"(at least {min_bins} needed); lower n_bins, drop this lineage, or give it more cells"
            )
    mask = counts > 0
    values = np.where(mask[..., None], (values - lo) / rng, 0.0)

    cell_lineage = np.full(adata.n_obs, -1, dtype=np.int64)
    cell_bin = np.full(adata.n_obs, -1, dtype=np.int64)
    cell_lineage[rows] = memb_used.argmax(axis=1)
    cell_bin[rows] = bins
    logger.info("binned %d cells into %d lineage(s) x %d bins of %d genes", len(rows), n_lin, n_bins, d)
    return Trajectories(
        values=values.astype(np.float32),
        mask=mask,
        counts=counts,
        times=times.astype(np.float32),
        lineages=names,
        var_names=[str(adata.var_names[i]) for i in gene_idx],
        offset=lo.astype(np.float32),
        scale=rng.astype(np.float32),
        time_range=(t_min, t_max),
        cell_lineage=cell_lineage,
        cell_bin=cell_bin,
    )
