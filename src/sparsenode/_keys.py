"""Every AnnData key string sparsenode reads or writes, in one place."""

TIME = "time"
LINEAGE = "lineage"
BATCH = "batch"
TRUE_NETWORK = "true_network"

# adata.uns[key] fields written by tl.fit_*
PARAMS = "params"
VAR_NAMES = "var_names"
ADJACENCY = "adjacency"
STATE_DICT = "state_dict"
HISTORY = "history"
METRICS = "metrics"
TRAJECTORIES = "trajectories"
PRUNE = "prune"  # params[PRUNE]: settings of sn.tl.prune; history[REFIT_START]: first refit epoch
REFIT_START = "refit_start"

# suffixes
GRN_SUFFIX = "_grn"
GRN_EDGES = "grn_edges"

# default keys
PATHREG = "pathreg"


def grn_key(key: str) -> str:
    """Return the ``adata.varp`` key of the signed network of fit ``key``."""
    return f"{key}{GRN_SUFFIX}"


# motion capture and forecasting
TRIAL = "trial"
CLEAN = "clean"  # layer with the values before sn.pp.add_noise
OOD = "ood"  # adata.uns[...] describing the out-of-distribution setting a pp helper applied
FORECAST_SUFFIX = "_forecast"  # sn.tl.forecast(key=k) writes layer, uns entry and obs column prefix f"{k}_forecast"
FORECAST_ROLE_SUFFIX = "_role"  # adata.obs[f"{key}_role"]: "observed", "forecast" or "unused"


def forecast_role_key(key: str) -> str:
    """Return the ``adata.obs`` column saying which frames a forecast ``key`` observed and predicted."""
    return f"{key}{FORECAST_ROLE_SUFFIX}"


def forecast_key(key: str) -> str:
    """Return the default ``key_added`` of a forecast from fit (or baseline) ``key``."""
    return f"{key}{FORECAST_SUFFIX}"


# edge confidence of an ensemble (adata.uns[key]["grn"] arrays, sn.get.grn columns)
FREQUENCY = "frequency"
SIGN_AGREEMENT = "sign_agreement"
