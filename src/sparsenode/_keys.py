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

# suffixes
GRN_SUFFIX = "_grn"
GRN_EDGES = "grn_edges"

# default keys
PATHREG = "pathreg"


def grn_key(key: str) -> str:
    """Return the ``adata.varp`` key of the signed network of fit ``key``."""
    return f"{key}{GRN_SUFFIX}"


# edge confidence of an ensemble (adata.uns[key]["grn"] arrays, sn.get.grn columns)
FREQUENCY = "frequency"
SIGN_AGREEMENT = "sign_agreement"
