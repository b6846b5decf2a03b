"""Forecasting trials (e.g. motion capture): observe the first frames, predict the rest with a fitted ODE."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .. import _keys as K
from ..model import SparseNODE
from ..model._model import _none_to_str, _str_to_none
from ..pp._trajectories import _column_list, _get_matrix, _resolve_genes

logger = logging.getLogger(__name__)

ROLES = ("unused", "observed", "forecast")


@dataclass
class _Trial:
    name: str
    rows: np.ndarray  # obs indices ordered by time
    times: np.ndarray  # original time axis
    inputs: np.ndarray  # (frames, channels) values the forecaster may see (only the first n_observed are used)
    truth: np.ndarray  # (frames, channels) values forecasts are scored against


def _dense(x) -> np.ndarray:
    return np.asarray(x.todense() if sp.issparse(x) else x, dtype=np.float64)


def _forecast_task(
    adata: AnnData,
    *,
    trials,
    n_observed: int,
    time_key: str,
    trial_key: str,
    channels: np.ndarray,
    layer: str | None,
    truth_layer: str | None,
    min_observed: int = 1,
) -> list[_Trial]:
    """The frames of each trial, split into the observed start and the part to forecast (checked)."""
    if isinstance(n_observed, bool) or not isinstance(n_observed, (int, np.integer)):
        raise ValueError(f"n_observed must be an integer number of frames, got {n_observed!r}")
    n_observed = int(n_observed)
    if n_observed < min_observed:
        raise ValueError(f"n_observed must be at least {min_observed} here, got {n_observed}")
    for col in (time_key, trial_key):
        if col not in adata.obs:
            raise KeyError(
                f"no column {col!r} in adata.obs (available: {_column_list(adata)}); pass time_key=/trial_key=..."
            )
    labels = adata.obs[trial_key].astype(str).to_numpy()
    names = list(dict.fromkeys(labels.tolist()))
    if trials is None:
        wanted = names
    else:
        wanted = [trials] if isinstance(trials, str) else [str(t) for t in trials]
        if not wanted:
            raise ValueError("trials is empty; pass None to forecast every trial, or a list of trial names")
        missing = [t for t in wanted if t not in names]
        if missing:
            shown = ", ".join(map(repr, names[:10])) + (" ..." if len(names) > 10 else "")
            raise KeyError(f"trial(s) {missing} not in adata.obs[{trial_key!r}]; trials here: {shown}")
    t_all = pd.to_numeric(adata.obs[time_key], errors="coerce").to_numpy(dtype=np.float64)
    x_in = _get_matrix(adata, layer)
    x_true = _get_matrix(adata, truth_layer) if truth_layer != layer else x_in
    out = []
    for name in wanted:
        rows = np.flatnonzero(labels == name)
        rows = rows[np.argsort(t_all[rows], kind="stable")]
        t = t_all[rows]
        if not np.isfinite(t).all():
            raise ValueError(f"trial {name!r} has frames without a finite {time_key!r}; drop or fix them")
        if np.any(np.diff(t) <= 0):
            raise ValueError(f"trial {name!r} has two frames at the same time; each frame needs its own time")
        if rows.size <= n_observed:
            raise ValueError(
                f"n_observed={n_observed} leaves nothing to forecast: trial {name!r} has {rows.size} frame(s); "
                f"choose n_observed below {rows.size}"
            )
        inputs = _dense(x_in[rows][:, channels])
        truth = inputs if x_true is x_in else _dense(x_true[rows][:, channels])
        if not (np.isfinite(inputs[:n_observed]).all() and np.isfinite(truth).all()):
            raise ValueError(f"trial {name!r} holds NaN or infinite values; clean them before forecasting")
        out.append(_Trial(name, rows, t, inputs, truth))
    return out


def _write(
    adata: AnnData,
    task: list[_Trial],
    preds: list[np.ndarray],
    channels: np.ndarray,
    n_observed: int,
    params: dict,
    extra: dict,
    key_added: str,
    copy: bool,
) -> AnnData | None:
    """Score the forecasts and write layer, obs role column and uns entry (all computed before anything is written)."""
    layer = np.full(adata.shape, np.nan, dtype=np.float32)
    role = np.zeros(adata.n_obs, dtype=np.int64)
    sq_sum, counts, per_trial = 0.0, 0, []
    for tr, pred in zip(task, preds, strict=True):
        fc_rows = tr.rows[n_observed:]
        layer[np.ix_(fc_rows, channels)] = pred
        role[tr.rows[:n_observed]] = 1
        role[fc_rows] = 2
        sq = (pred - tr.truth[n_observed:]) ** 2
        per_trial.append(float(sq.mean()))
        sq_sum += float(sq.sum())
        counts += sq.size
    result = {
        "params": _none_to_str({**params, "n_observed": int(n_observed)}),
        "trials": np.asarray([tr.name for tr in task], dtype=str),
        "var_names": np.asarray([str(adata.var_names[i]) for i in channels], dtype=str),
        "mse": sq_sum / counts,
        "mse_per_trial": np.asarray(per_trial, dtype=np.float64),
        "n_forecast": np.asarray([tr.rows.size - n_observed for tr in task], dtype=np.int64),
        **extra,
    }
    target = adata.copy() if copy else adata
    target.layers[key_added] = layer
    target.obs[K.forecast_role_key(key_added)] = pd.Categorical.from_codes(role, categories=list(ROLES))
    target.uns[key_added] = result
    logger.info(
        "added adata.layers[%r], adata.obs[%r] and adata.uns[%r] (forecast MSE %.4g)",
        key_added,
        K.forecast_role_key(key_added),
        key_added,
        result["mse"],
    )
    return target if copy else None


def _relative_grid(task: list[_Trial], n_observed: int, t_min: float, span: float):
    """One shared grid of times since each trial's last observed frame (the field is autonomous) and the indices."""
    rels = []
    for tr in task:
        tau = (tr.times - t_min) / span
        rels.append(tau[n_observed:] - tau[n_observed - 1])
    grid = np.unique(np.concatenate([[0.0], *rels]))
    return grid, [np.searchsorted(grid, r) for r in rels]


def forecast(
    adata: AnnData,
    *,
    key: str = K.PATHREG,
    trials=None,
    n_observed: int = 3,
    truth_layer: str | None = None,
    trial_key: str | None = None,
    hold_constant: bool = True,
    device: str = "auto",
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Forecast trials from their first frames with a fitted ODE and score the forecast.

    Each trial's frames are ordered by the fit's ``time_key``; the first ``n_observed`` are observed and the model
    (rebuilt from ``adata.uns[key]``) integrates from the last observed frame, scaled as in the fit, to the times of
    all later frames (one batched solve, :meth:`sparsenode.SparseNODE.simulate`). Frames may be irregularly spaced.
    The forecast is mapped back to the data's units and scored by the mean squared error over all forecast frames
    and modelled channels. The trials may be ones the model never saw (held-out trials).

    Parameters
    ----------
    adata
        Frames x channels holding the fit ``adata.uns[key]`` (from :func:`sparsenode.tl.fit_node`) and the trials to
        forecast. To forecast other data with a model fitted elsewhere, copy ``uns[key]`` over.
    key
        Key of the fit in ``adata.uns``.
    trials
        Trial name(s) to forecast (default: every trial in ``adata.obs[trial_key]``).
    n_observed
        Number of first frames of each trial that are observed; the rest is forecast.
    truth_layer
        Layer to score against (default: the values the fit used). After :func:`sparsenode.pp.add_noise`, pass
        ``"clean"`` to score noisy-input forecasts against the clean data.
    trial_key
        Column of ``adata.obs`` naming the trial of each frame (default: the fit's ``lineage_key``).
    hold_constant
        Channels that were constant in the training data are held at their last observed value (on constant data the
        field has nothing to learn; without this they drift with the field's offset).
    device
        Device of the solve (``"auto"``, ``"cpu"``, ``"cuda"``).
    key_added
        Where to write (default ``f"{key}_forecast"``).
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` (or the copy); writes

    - ``adata.layers[key_added]``: float32 forecast at the forecast frames of the modelled channels, NaN elsewhere;
    - ``adata.obs[f"{key_added}_role"]``: ``"observed"``, ``"forecast"`` or ``"unused"`` per frame;
    - ``adata.uns[key_added]``: ``params`` (fit key, method, n_observed, time/trial keys, layers), ``trials``,
      ``var_names``, ``mse`` (data units), ``mse_scaled`` (on the fit's scale), ``mse_per_trial``, ``n_forecast``,
      ``constant_channels``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, anndata as ad, sparsenode as sn
    >>> t = np.arange(40) * 0.1
    >>> x = np.concatenate([np.stack([np.sin(t + p), np.cos(t + p)], 1) for p in (0.0, 0.5)])
    >>> obs = pd.DataFrame({"trial": np.repeat(["a", "b"], 40), "time": np.tile(t, 2)})
    >>> adata = ad.AnnData(x, obs=obs)
    >>> sn.tl.fit_node(adata, method="node", time_key="time", lineage_key="trial", n_bins=None, max_epochs=5,
    ...                hidden=(8,), progress_bar=False)
    >>> sn.tl.forecast(adata, key="node", trials=["b"], n_observed=10)
    >>> adata.uns["node_forecast"]["n_forecast"], adata.layers["node_forecast"].shape
    (array([30]), (80, 2))
    """
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    model = SparseNODE.from_adata(adata, key=key, device=device)
    traj = model.trajectories
    if traj is None:
        raise ValueError(
            f"adata.uns[{key!r}] stores no trajectories (scaling and time axis); refit with sn.tl.fit_node"
        )
    p = adata.uns[key][K.PARAMS]
    time_key = str(p.get("time_key", K.TIME))
    fit_lineage = _str_to_none(p.get("lineage_key", "none"))
    trial_key = trial_key if trial_key is not None else (fit_lineage or K.TRIAL)
    layer = _str_to_none(p.get("layer", "none"))
    truth_layer = layer if truth_layer is None else truth_layer
    channels = _resolve_genes(adata, model.var_names)
    task = _forecast_task(
        adata,
        trials=trials,
        n_observed=n_observed,
        time_key=time_key,
        trial_key=trial_key,
        channels=channels,
        layer=layer,
        truth_layer=truth_layer,
    )
    offset = traj.offset.astype(np.float64)
    scale = traj.scale.astype(np.float64)
    t_min, t_max = traj.time_range
    span = t_max - t_min if t_max > t_min else 1.0
    x0 = np.stack([(tr.inputs[n_observed - 1] - offset) / scale for tr in task])
    constant = np.zeros(model.n_genes, dtype=bool)
    if hold_constant and traj.mask.any():
        seen = traj.values[traj.mask]
        constant = np.ptp(seen, axis=0) <= 1e-8
    grid, idx = _relative_grid(task, n_observed, t_min, span)
    clamp_mask = clamp_values = None
    if constant.any():
        clamp_mask = np.broadcast_to(constant, x0.shape).astype(np.float32)
        clamp_values = x0.astype(np.float32)
    sim = model.simulate(x0, grid, clamp_mask=clamp_mask, clamp_values=clamp_values)  # (trials, grid, channels)
    if not np.isfinite(sim).all():
        raise ValueError(
            f"the forecast of fit {key!r} diverged (NaN or infinite values); the field is unstable this far from the "
            "training data: forecast a shorter horizon or refit"
        )
    preds_scaled = [sim[i, ix] for i, ix in enumerate(idx)]
    preds = [ps * scale + offset for ps in preds_scaled]
    sq = np.concatenate(
        [
            ((ps - (tr.truth[n_observed:] - offset) / scale) ** 2).ravel()
            for ps, tr in zip(preds_scaled, task, strict=True)
        ]
    )
    params = {
        "key": key,
        "method": str(p.get("method", "")),
        "time_key": time_key,
        "trial_key": trial_key,
        "layer": layer,
        "truth_layer": truth_layer,
        "hold_constant": bool(hold_constant),
    }
    extra = {
        "mse_scaled": float(sq.mean()),
        "constant_channels": np.asarray([model.var_names[i] for i in np.flatnonzero(constant)], dtype=str),
    }
    key_added = K.forecast_key(key) if key_added is None else str(key_added)
    return _write(adata, task, preds, channels, n_observed, params, extra, key_added, copy)


def _constant_position(times: np.ndarray, inputs: np.ndarray, n_observed: int) -> np.ndarray:
    return np.repeat(inputs[n_observed - 1 : n_observed], times.size - n_observed, axis=0)


def _constant_velocity(times: np.ndarray, inputs: np.ndarray, n_observed: int) -> np.ndarray:
    last, prev = inputs[n_observed - 1], inputs[n_observed - 2]
    velocity = (last - prev) / (times[n_observed - 1] - times[n_observed - 2])
    return last[None, :] + (times[n_observed:] - times[n_observed - 1])[:, None] * velocity[None, :]


FORECAST_BASELINES = {
    "constant_position": (_constant_position, 1),
    "constant_velocity": (_constant_velocity, 2),
}
"""Reference forecasters: name -> (function(times, inputs, n_observed) -> forecast, frames they need observed)."""


def forecast_baseline(
    adata: AnnData,
    *,
    method: str = "constant_position",
    trials=None,
    n_observed: int = 3,
    time_key: str = K.TIME,
    trial_key: str = K.TRIAL,
    genes=None,
    layer: str | None = None,
    truth_layer: str | None = None,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Forecast trials with a reference rule on the same task as :func:`forecast`, for comparison.

    ``"constant_position"`` repeats the last observed frame; ``"constant_velocity"`` extrapolates linearly with the
    velocity of the last two observed frames (``n_observed >= 2``).

    Parameters
    ----------
    adata
        Frames x channels.
    method
        A key of ``FORECAST_BASELINES``: ``"constant_position"`` or ``"constant_velocity"``.
    trials, n_observed, truth_layer, copy
        As in :func:`forecast`.
    time_key, trial_key
        Columns of ``adata.obs`` with each frame's time and trial.
    genes
        Channels to forecast and score (default: all).
    layer
        Layer with the observed values (default ``adata.X``).
    key_added
        Where to write (default ``f"{method}_forecast"``).

    Returns
    -------
    ``None`` (or the copy); writes the same layer, obs column and uns fields as :func:`forecast` (without
    ``mse_scaled`` and ``constant_channels``).

    Examples
    --------
    >>> import numpy as np, pandas as pd, anndata as ad, sparsenode as sn
    >>> t = np.arange(10.0)
    >>> adata = ad.AnnData(np.stack([2 * t, np.ones(10)], 1), obs=pd.DataFrame({"trial": "a", "time": t}))
    >>> sn.tl.forecast_baseline(adata, method="constant_velocity", n_observed=3)
    >>> float(adata.uns["constant_velocity_forecast"]["mse"])
    0.0
    """
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    if method not in FORECAST_BASELINES:
        raise ValueError(f"unknown baseline {method!r}; choose one of {sorted(FORECAST_BASELINES)}")
    fn, min_observed = FORECAST_BASELINES[method]
    channels = _resolve_genes(adata, genes)
    truth_layer = layer if truth_layer is None else truth_layer
    task = _forecast_task(
        adata,
        trials=trials,
        n_observed=n_observed,
        time_key=time_key,
        trial_key=trial_key,
        channels=channels,
        layer=layer,
        truth_layer=truth_layer,
        min_observed=min_observed,
    )
    preds = [fn(tr.times, tr.inputs, int(n_observed)) for tr in task]
    params = {
        "key": method,
        "method": method,
        "time_key": time_key,
        "trial_key": trial_key,
        "layer": layer,
        "truth_layer": truth_layer,
    }
    key_added = K.forecast_key(method) if key_added is None else str(key_added)
    return _write(adata, task, preds, channels, int(n_observed), params, {}, key_added, copy)
