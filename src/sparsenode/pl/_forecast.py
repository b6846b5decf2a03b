"""Forecast against truth: the observed start, the forecast and the true frames of one trial."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from .. import _keys as K
from ._utils import as_list, check_names, finish, str_list

FORECAST_HINT = "run sn.tl.forecast(adata, key=..., key_added={key!r}) or sn.tl.forecast_baseline(...) first"


def _str_to_none(v):
    return None if isinstance(v, str) and v == "none" else v


def forecast(
    adata: AnnData,
    *,
    key: str,
    channels=None,
    trial: str | None = None,
    n_channels: int = 3,
    ax: Axes | None = None,
    show: bool | None = None,
) -> Axes | None:
    """Plot a forecast written by :func:`sparsenode.tl.forecast` against the true frames of one trial.

    Each channel gets one colour: the true values as a thin solid line, the observed frames as dots, the forecast as a
    dashed line; a vertical line marks the last observed frame.

    Parameters
    ----------
    adata
        Holds ``layers[key]``, ``obs[f"{key}_role"]`` and ``uns[key]`` from ``sn.tl.forecast`` (or
        ``sn.tl.forecast_baseline``).
    key
        The forecast's key (``key_added`` of the forecast; by default ``f"{fit_key}_forecast"``).
    channels
        Channel name(s) to draw (default: the ``n_channels`` forecast channels that vary most in the trial).
    trial
        Trial to draw (default: the first forecast trial).
    n_channels
        How many channels to pick when ``channels`` is not given.
    ax
        Axes to draw into (default: a new figure).
    show
        ``False`` returns the Axes; ``None``/``True`` follow scanpy's show convention.

    Returns
    -------
    The Axes when ``show=False``, else ``None``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, pandas as pd, anndata as ad, sparsenode as sn
    >>> t = np.arange(30.0)
    >>> obs = pd.DataFrame({"trial": "a", "time": t}, index=[str(i) for i in range(30)])
    >>> adata = ad.AnnData(np.stack([np.sin(t / 4), np.cos(t / 4)], 1), obs=obs)
    >>> sn.tl.forecast_baseline(adata, method="constant_velocity", n_observed=5)
    >>> sn.pl.forecast(adata, key="constant_velocity_forecast", show=False)
    <Axes: ...>
    """
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    role_key = K.forecast_role_key(key)
    if key not in adata.uns or key not in adata.layers or role_key not in adata.obs:
        raise KeyError(f"no forecast {key!r} in adata (layers, obs and uns); {FORECAST_HINT.format(key=key)}")
    stored = adata.uns[key]
    params = stored["params"]
    trials = str_list(stored["trials"])
    modelled = str_list(stored["var_names"])
    trial = trials[0] if trial is None else str(trial)
    if trial not in trials:
        raise KeyError(f"trial {trial!r} was not forecast under {key!r}; forecast trials: {trials}")
    trial_key, time_key = str(params["trial_key"]), str(params["time_key"])
    for col in (trial_key, time_key):
        if col not in adata.obs:
            raise KeyError(f"adata.obs lacks {col!r}, which the forecast {key!r} used; keep it or redo the forecast")
    rows = np.flatnonzero(adata.obs[trial_key].astype(str).to_numpy() == trial)
    t = pd.to_numeric(adata.obs[time_key]).to_numpy(dtype=float)[rows]
    order = np.argsort(t, kind="stable")
    rows, t = rows[order], t[order]
    role = adata.obs[role_key].astype(str).to_numpy()[rows]
    truth_layer = _str_to_none(str(params.get("truth_layer", "none")))
    truth_all = adata.X if truth_layer is None else adata.layers[truth_layer]
    var_idx = {str(v): i for i, v in enumerate(adata.var_names)}
    check_names(modelled, list(var_idx), "forecast channel(s) of adata.var_names")
    if channels is None:
        cols = np.asarray([var_idx[c] for c in modelled])
        x = truth_all[rows][:, cols]
        x = np.asarray(x.todense() if sp.issparse(x) else x, dtype=float)
        chosen = [modelled[i] for i in np.argsort(-x.std(axis=0), kind="stable")[: max(int(n_channels), 1)]]
    else:
        chosen = as_list(channels)
        check_names(chosen, modelled, "channel(s) in the forecast")
    cols = [var_idx[c] for c in chosen]
    truth = truth_all[rows][:, cols]
    truth = np.asarray(truth.todense() if sp.issparse(truth) else truth, dtype=float)
    pred = np.asarray(adata.layers[key][rows][:, cols], dtype=float)
    obs_sel = role == "observed"
    fc_sel = role == "forecast"

    if ax is None:
        _, ax = plt.subplots(figsize=(7.2, 3.6), layout="constrained")
    palette = mpl.colormaps["tab10"].colors
    for j, name in enumerate(chosen):
        c = palette[j % len(palette)]
        ax.plot(t, truth[:, j], color=c, lw=1.0, alpha=0.55)
        ax.plot(t[obs_sel], truth[obs_sel, j], "o", color=c, ms=4)
        ax.plot(t[fc_sel], pred[fc_sel, j], "--", color=c, lw=1.8, label=name)
    if obs_sel.any():
        ax.axvline(t[obs_sel].max(), color="0.4", lw=0.8, ls=":")
    handles = [
        Line2D([], [], color="0.3", lw=1.0, alpha=0.55, label="truth"),
        Line2D([], [], color="0.3", marker="o", ls="", ms=4, label="observed"),
        Line2D([], [], color="0.3", ls="--", lw=1.8, label="forecast"),
    ]
    handles += [Line2D([], [], color=palette[j % len(palette)], lw=2, label=n) for j, n in enumerate(chosen)]
    # outside the axes: long forecasts fill the whole panel, so no inside corner stays free
    ax.legend(handles=handles, fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_xlabel(time_key)
    ax.set_ylabel("value")
    mse = float(np.asarray(stored["mse_per_trial"])[trials.index(trial)])
    ax.set_title(f"{key}: trial {trial} (forecast MSE {mse:.3g})")
    return finish(ax, show)
