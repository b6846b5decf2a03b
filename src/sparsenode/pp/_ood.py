"""Out-of-distribution settings for forecasting: held-out trials, noisy inputs, irregular sampling.

Each helper returns a new AnnData and leaves its input untouched.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from .. import _keys as K
from ._trajectories import _column_list, _get_matrix

logger = logging.getLogger(__name__)


def _check_adata(adata) -> None:
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")


def _trial_codes(adata: AnnData, trial_key: str) -> tuple[np.ndarray, list[str]]:
    if trial_key not in adata.obs:
        raise KeyError(
            f"no column {trial_key!r} in adata.obs (available: {_column_list(adata)}); pass trial_key=... naming the "
            "column that says which trial (sequence) each frame belongs to"
        )
    col = adata.obs[trial_key].astype(str)
    names = list(dict.fromkeys(col.tolist()))
    codes = col.map({n: i for i, n in enumerate(names)}).to_numpy()
    return codes, names


def hold_out_trials(adata: AnnData, trials, *, trial_key: str = K.TRIAL) -> tuple[AnnData, AnnData]:
    """Split frames into a training and a held-out part by trial.

    Parameters
    ----------
    adata
        Frames x channels with a trial label per frame.
    trials
        Trial name(s) to hold out.
    trial_key
        Column of ``adata.obs`` with the trial of each frame.

    Returns
    -------
    ``(kept, held_out)``: two new AnnData objects (copies), the first without the held-out trials, the second with
    only them.

    Examples
    --------
    >>> import numpy as np, pandas as pd, anndata as ad, sparsenode as sn
    >>> obs = pd.DataFrame({"trial": np.repeat(["a", "b", "c"], 4), "time": np.tile(np.arange(4.0), 3)})
    >>> adata = ad.AnnData(np.random.default_rng(0).normal(size=(12, 2)), obs=obs)
    >>> train, test = sn.pp.hold_out_trials(adata, ["c"])
    >>> train.n_obs, sorted(set(test.obs["trial"]))
    (8, ['c'])
    """
    _check_adata(adata)
    codes, names = _trial_codes(adata, trial_key)
    wanted = [trials] if isinstance(trials, str) else [str(t) for t in trials]
    if not wanted:
        raise ValueError("trials is empty; name at least one trial to hold out")
    missing = [t for t in wanted if t not in names]
    if missing:
        raise KeyError(f"trial(s) {missing} not in adata.obs[{trial_key!r}]; trials are {names[:10]}")
    held = np.isin(np.asarray(names)[codes], wanted)
    if held.all():
        raise ValueError("holding out these trials leaves no frame to train on; hold out fewer trials")
    return adata[~held].copy(), adata[held].copy()


def add_noise(
    adata: AnnData,
    sigma: float,
    seed: int = 0,
    *,
    relative: bool = True,
    layer: str | None = None,
    clean_layer: str | None = K.CLEAN,
) -> AnnData:
    """Add Gaussian noise to every value (the paper's noisy-input setting).

    Parameters
    ----------
    adata
        Frames x channels.
    sigma
        Noise standard deviation; with ``relative=True`` in units of each channel's standard deviation over all
        frames (constant channels then stay constant), else in the data's units.
    seed
        Seed of the noise (same seed, same noise).
    relative
        Scale the noise per channel by its standard deviation.
    layer
        Add the noise to this layer instead of ``adata.X``.
    clean_layer
        Keep the values before noise in ``layers[clean_layer]`` of the result, so a forecast can be scored against
        the clean truth (``sn.tl.forecast(..., truth_layer=clean_layer)``); ``None`` keeps no copy.

    Returns
    -------
    A new AnnData with noisy values; ``uns["ood"]`` records ``setting="noise"``, ``sigma``, ``seed``, ``relative``.

    Examples
    --------
    >>> import numpy as np, anndata as ad, sparsenode as sn
    >>> adata = ad.AnnData(np.arange(12.0).reshape(6, 2))
    >>> noisy = sn.pp.add_noise(adata, 0.1, seed=0)
    >>> bool(np.allclose(noisy.layers["clean"], adata.X)), bool(np.allclose(noisy.X, adata.X))
    (True, False)
    """
    _check_adata(adata)
    sigma = float(sigma)
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a finite non-negative number, got {sigma}")
    x = _get_matrix(adata, layer)
    x = np.asarray(x.todense() if sp.issparse(x) else x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("the values contain NaN or infinite entries; clean them before adding noise")
    sd = x.std(axis=0) if relative else np.ones(x.shape[1])
    noise = np.random.default_rng(seed).normal(size=x.shape) * (sigma * sd)[None, :]
    out = adata.copy()
    if clean_layer is not None:
        out.layers[clean_layer] = x.copy()
    if layer is None:
        out.X = x + noise
    else:
        out.layers[layer] = x + noise
    out.uns[K.OOD] = {"setting": "noise", "sigma": sigma, "seed": int(seed), "relative": bool(relative)}
    logger.info("added Gaussian noise (sigma=%g%s)", sigma, " x channel sd" if relative else "")
    return out


def drop_frames(
    adata: AnnData,
    fraction: float,
    seed: int = 0,
    *,
    trial_key: str = K.TRIAL,
    time_key: str = K.TIME,
    keep_first: int = 2,
) -> AnnData:
    """Drop a random fraction of each trial's frames (the paper's irregular-sampling setting).

    Parameters
    ----------
    adata
        Frames x channels with a trial and a time per frame.
    fraction
        Fraction of each trial's droppable frames to remove, in ``[0, 1)``.
    seed
        Seed of the choice (same seed, same frames).
    trial_key
        Column of ``adata.obs`` with the trial of each frame.
    time_key
        Column of ``adata.obs`` with the time of each frame (frames are ordered by it).
    keep_first
        The first ``keep_first`` frames of every trial are always kept (the observed start of a forecast; two frames
        also fix the sampling step for ``n_bins=None``).

    Returns
    -------
    A new AnnData with the remaining frames in their original order; ``uns["ood"]`` records
    ``setting="irregular"``, ``fraction``, ``seed``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, anndata as ad, sparsenode as sn
    >>> obs = pd.DataFrame({"trial": np.repeat(["a", "b"], 10), "time": np.tile(np.arange(10.0), 2)})
    >>> adata = ad.AnnData(np.zeros((20, 3)), obs=obs)
    >>> sn.pp.drop_frames(adata, 0.5, seed=0).n_obs
    12
    """
    _check_adata(adata)
    fraction = float(fraction)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    if int(keep_first) < 0:
        raise ValueError(f"keep_first must be >= 0, got {keep_first}")
    if time_key not in adata.obs:
        raise KeyError(f"no column {time_key!r} in adata.obs (available: {_column_list(adata)}); pass time_key=...")
    codes, names = _trial_codes(adata, trial_key)
    t = np.asarray(adata.obs[time_key], dtype=np.float64)
    rng = np.random.default_rng(seed)
    keep = np.zeros(adata.n_obs, dtype=bool)
    for i in range(len(names)):
        rows = np.flatnonzero(codes == i)
        rows = rows[np.argsort(t[rows], kind="stable")]
        keep[rows[: int(keep_first)]] = True
        rest = rows[int(keep_first) :]
        n_drop = round(fraction * rest.size)
        keep[rng.choice(rest, size=rest.size - n_drop, replace=False)] = True
    out = adata[keep].copy()
    out.uns[K.OOD] = {"setting": "irregular", "fraction": fraction, "seed": int(seed), "keep_first": int(keep_first)}
    logger.info("kept %d of %d frames", int(keep.sum()), adata.n_obs)
    return out
