"""The krumsiek11 myeloid-progenitor simulation shipped with scanpy, with its true network attached."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys

#: Fates of the four simulated time series, in the row order of scanpy's file.
KRUMSIEK11_LINEAGES = ("Mo", "Ery", "Mk", "Neu")
#: Cells per simulated time series.
KRUMSIEK11_BLOCK = 160

_MODEL_RELPATH = Path("sim_models") / "krumsiek11.txt"
_COUPLING_HEADER = "# coupling list:"


def _model_file() -> Path:
    """Path of ``krumsiek11.txt`` inside the installed scanpy package."""
    import scanpy

    return Path(scanpy.__file__).resolve().parent / _MODEL_RELPATH


def read_coupling_list(path: str | Path) -> pd.DataFrame:
    """Parse the ``# coupling list:`` section of a scanpy simulation model file.

    Each line of that section reads ``TARGET SOURCE WEIGHT``: the first column is the regulated gene, the second its
    regulator.

    Parameters
    ----------
    path
        Model file, e.g. ``scanpy/sim_models/krumsiek11.txt``.

    Returns
    -------
    :class:`pandas.DataFrame` with columns ``source``, ``target`` (str), ``sign`` (int, ``+1``/``-1``) and
    ``weight`` (float, the coupling value), in file order. Self-loops are kept.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file has no coupling section or a line in it cannot be parsed.

    Examples
    --------
    >>> from sparsenode.datasets._krumsiek11 import _model_file, read_coupling_list
    >>> net = read_coupling_list(_model_file())
    >>> len(net)
    30
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"simulation model file not found: {path}")
    lines = path.read_text().splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip().lower() == _COUPLING_HEADER)
    except StopIteration:
        raise ValueError(f"{path} has no {_COUPLING_HEADER!r} section") from None
    rows = []
    for lineno, line in enumerate(lines[start + 1 :], start=start + 2):
        text = line.strip()
        if not text:
            continue
        if text.startswith("#"):
            break
        parts = text.split()
        if len(parts) != 3:
            raise ValueError(f"{path}:{lineno}: expected 'TARGET SOURCE WEIGHT', got {line!r}")
        target, source, weight = parts[0], parts[1], float(parts[2])
        if weight == 0:
            continue
        rows.append((source, target, int(np.sign(weight)), weight))
    if not rows:
        raise ValueError(f"{path}: the coupling section lists no edges")
    net = pd.DataFrame(rows, columns=["source", "target", "sign", "weight"])
    return net.astype({"source": str, "target": str, "sign": np.int64, "weight": np.float64})


def krumsiek11() -> AnnData:
    """Load the simulated myeloid differentiation of Krumsiek et al. (2011) with its true regulatory network.

    Loads scanpy's bundled :func:`scanpy.datasets.krumsiek11` (640 cells × 11 genes): four simulated time series of
    160 consecutive steps each, ending in the monocyte (rows 0-159), erythrocyte (160-319), megakaryocyte (320-479)
    and neutrophil (480-639) fates; the first 80 cells of each series are progenitors. The simulation step order is
    the true time. The 30 couplings of the model (including 4 self-loops) are parsed at run time from scanpy's model
    file ``scanpy/sim_models/krumsiek11.txt``.

    Returns
    -------
    :class:`~anndata.AnnData` with

    - ``obs["time"]``: position within the series, ``0.0 … 159.0``;
    - ``obs["lineage"]``: categorical fate of the series (``'Mo'``, ``'Ery'``, ``'Mk'``, ``'Neu'``);
    - ``obs["cell_type"]``: scanpy's annotation (``'progenitor'`` or the fate);
    - ``uns["true_network"]``: DataFrame ``source``, ``target``, ``sign``, ``weight`` (30 edges, self-loops kept);
    - ``uns["iroot"]``: index of the root cell (int).

    Raises
    ------
    FileNotFoundError
        If scanpy's model file cannot be found (scanpy too old or installed without its ``sim_models`` data).

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.krumsiek11()
    >>> adata.shape
    (640, 11)
    >>> adata.obs["lineage"].value_counts().sort_index().tolist()
    [160, 160, 160, 160]
    >>> net = adata.uns["true_network"]
    >>> int(net.query("source == 'Pu.1' and target == 'Gata1'")["sign"].iloc[0])
    -1
    """
    import scanpy as sc

    model = _model_file()
    if not model.is_file():
        raise FileNotFoundError(
            f"cannot find scanpy's krumsiek11 model file at {model}; the true network is read from it. "
            "Reinstall scanpy (>=1.9) with its package data (scanpy/sim_models/krumsiek11.txt)."
        )
    network = read_coupling_list(model)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*names are not unique.*")
        raw = sc.datasets.krumsiek11()
    n_expected = KRUMSIEK11_BLOCK * len(KRUMSIEK11_LINEAGES)
    if raw.n_obs != n_expected:
        raise ValueError(f"scanpy's krumsiek11 has {raw.n_obs} cells, expected {n_expected}")
    missing = sorted(set(network["source"]).union(network["target"]) - set(raw.var_names))
    if missing:
        raise ValueError(f"model genes {missing} are not among the data's genes {list(raw.var_names)}")

    position = np.tile(np.arange(KRUMSIEK11_BLOCK), len(KRUMSIEK11_LINEAGES))
    fate = np.repeat(np.asarray(KRUMSIEK11_LINEAGES), KRUMSIEK11_BLOCK)
    obs = pd.DataFrame(
        {
            "cell_type": raw.obs["cell_type"].to_numpy(),
            _keys.TIME: position.astype(np.float64),
            _keys.LINEAGE: pd.Categorical(fate, categories=list(KRUMSIEK11_LINEAGES)),
        },
        index=pd.Index([f"{f}_{p}" for f, p in zip(fate, position, strict=True)]),
    )
    obs["cell_type"] = obs["cell_type"].astype("category")
    var = pd.DataFrame(index=pd.Index([str(g) for g in raw.var_names]))
    adata = AnnData(X=np.asarray(raw.X, dtype=np.float32), obs=obs, var=var)
    adata.uns["iroot"] = int(raw.uns.get("iroot", 0))
    adata.uns[_keys.TRUE_NETWORK] = network
    return adata
