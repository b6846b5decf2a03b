"""Helpers shared by the plotting functions: show/return logic, colours, reading stored results."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from anndata import AnnData

from .. import _keys as K

# activation / repression: the two ends of ColorBrewer RdBu, distinguishable with the common colour-vision deficiencies
# and the same colours the diverging heat maps use for positive / negative weights
ACTIVATION = "#B2182B"
REPRESSION = "#2166AC"
DIVERGING = "RdBu_r"

# the tl functions that write what each plot reads (named in the KeyErrors)
FIT_HINT = "run sn.tl.fit_pathreg(adata, ...) or sn.tl.fit_node(adata, method=...) first"
GRN_HINT = "run sn.tl.infer_grn(adata, key={key!r}) first"
PERTURB_HINT = (
    "run sn.tl.simulate_perturbation(adata, genes, key_added={key!r}) or "
    "sn.tl.simulate_knockout(adata, genes, key_added={key!r}) first"
)
PATH_HINT = "run sn.tl.regularization_path(adata, ..., key_added={key!r}) first"

_NON_INTERACTIVE = {"agg", "pdf", "pgf", "ps", "svg", "cairo", "template"}


def interactive_backend() -> bool:
    """Whether the current matplotlib backend shows figures on screen (not Agg, PDF, SVG, ...)."""
    return mpl.get_backend().lower() not in _NON_INTERACTIVE


def finish(obj, show: bool | None):
    """Scanpy's show convention.

    ``show=False`` returns ``obj`` (an Axes, a Figure or a seaborn grid); ``True`` calls :func:`matplotlib.pyplot.show`;
    ``None`` calls it only under an interactive backend. Anything but ``False`` returns ``None``.
    """
    if show is False:
        return obj
    if show is True or (show is None and interactive_backend()):
        plt.show()
    return None


def as_list(values) -> list[str]:
    """Return a string or an iterable of strings as a list of ``str``."""
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return [str(v) for v in np.asarray(list(values)).ravel().tolist()]


def str_list(values) -> list[str]:
    """Return stored names (NumPy string array, list or scalar) as a list of ``str``."""
    return [str(v) for v in np.atleast_1d(np.asarray(values)).tolist()]


def check_names(requested: Sequence[str], available: Sequence[str], what: str) -> None:
    """Raise a KeyError naming the requested entries that are not available."""
    avail = set(available)
    missing = [g for g in requested if g not in avail]
    if missing:
        shown = ", ".join(map(repr, missing[:10])) + (" ..." if len(missing) > 10 else "")
        choices = ", ".join(map(repr, list(available)[:10])) + (" ..." if len(available) > 10 else "")
        raise KeyError(f"{len(missing)} {what} not found: {shown}; available: {choices}")


def get_fit(adata: AnnData, key: str, field: str | None = None) -> dict:
    """``adata.uns[key]`` written by a ``sn.tl.fit_*`` function, checked to hold ``field``."""
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    fits = [k for k, v in adata.uns.items() if isinstance(v, dict) and K.STATE_DICT in v]
    if key not in adata.uns or not isinstance(adata.uns[key], dict):
        raise KeyError(f"no fit under adata.uns[{key!r}] (fits here: {fits or 'none'}); {FIT_HINT}")
    stored = adata.uns[key]
    if field is not None and field not in stored:
        raise KeyError(f"adata.uns[{key!r}] has no {field!r}; {FIT_HINT} (with key_added={key!r})")
    return stored


def lineage_colors(adata: AnnData, lineages: Sequence[str], lineage_key: str | None = None) -> dict[str, str]:
    """One colour per lineage: ``adata.uns[f"{lineage_key}_colors"]`` when it matches, else a qualitative palette."""
    lineages = list(lineages)
    if lineage_key and lineage_key in adata.obs and f"{lineage_key}_colors" in adata.uns:
        col = adata.obs[lineage_key]
        cats = [str(c) for c in col.cat.categories] if hasattr(col, "cat") else []
        stored = list(adata.uns[f"{lineage_key}_colors"])
        if len(stored) == len(cats) and all(lin in cats for lin in lineages):
            return {lin: stored[cats.index(lin)] for lin in lineages}
    palette = mpl.colormaps["tab10"].colors if len(lineages) <= 10 else mpl.colormaps["tab20"].colors
    return {lin: mpl.colors.to_hex(palette[i % len(palette)]) for i, lin in enumerate(lineages)}


def panel_grid(n: int, ncols: int, panel_size: tuple[float, float] = (3.4, 2.7)):
    """Make a figure with ``n`` panels on a grid of ``ncols`` columns (unused ones hidden); return (fig, axes)."""
    if n < 1:
        raise ValueError("nothing to plot")
    ncols = max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False, layout="constrained"
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def symmetric_limit(values: np.ndarray) -> float:
    """Largest absolute finite value (at least a tiny positive number), for colour scales centred on zero."""
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    return max(float(finite.max()) if finite.size else 0.0, 1e-12)
