"""The preprocessed CMU subject-35 walking benchmark of ODE2VAE (``mocap35.mat``)."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

__all__ = ["mocap35"]

FILENAME = "mocap35.mat"
DT = 0.1
"""Time step between frames used by ODE2VAE's loader of this file (``load_mocap_data_many_walks(..., dt=0.1)``)."""

_SPLITS = (("train", "Xtr"), ("val", "Xval"), ("test", "Xtest"))
_EXTRAS = ("Xtr_low", "u", "v")


def mocap35(path: str | PathLike) -> AnnData:
    """Load the preprocessed subject-35 walking benchmark (``mocap35.mat``) used by ODE2VAE.

    The file holds 23 walking sequences of CMU subject 35, 300 frames each, 50 channels, already preprocessed by
    the ODE2VAE authors (train ``Xtr`` 16, validation ``Xval`` 3, test ``Xtest`` 4 sequences). Values are kept
    exactly as stored. Nothing is downloaded.

    Parameters
    ----------
    path
        The ``mocap35.mat`` file, or the folder that holds it.

    Returns
    -------
    AnnData
        ``(23 * 300, 50)`` float64, one row per (sequence, frame), train then val then test. Variables are
        ``channel_0`` ... ``channel_49`` (the file gives no names). ``obs["trial"]``: ``"train_00"`` ...
        ``"test_03"`` (categorical, in file order); ``obs["split"]``: ``"train"``, ``"val"`` or ``"test"``
        (categorical); ``obs["frame"]``: frame index from 0; ``obs["time"]``: ``frame * 0.1``, the time step ODE2VAE's
        loader uses for this file. ``uns["mocap35"]``: ``dt`` and, when present in the file, the other arrays it
        stores as they are (``Xtr_low`` ``(16, 300, 3)``, ``u`` ``(50, 50)``, ``v`` ``(1, 50)``; the file does not
        document them; ``u``/``v`` look like an SVD basis and singular values of the 50 channels).

    Raises
    ------
    FileNotFoundError
        When the file is not there.
    ValueError
        When the file lacks ``Xtr``, ``Xval`` or ``Xtest``, or their shapes disagree.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.mocap35("../shared/data/mocap")  # doctest: +SKIP
    >>> adata.shape, adata.obs.groupby("split", observed=True)["trial"].nunique().to_dict()  # doctest: +SKIP
    ((6900, 50), {'train': 16, 'val': 3, 'test': 4})
    """
    from scipy.io import loadmat

    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; pass the path of mocap35.mat (or its folder), the preprocessed CMU subject-35 walking "
            "data of ODE2VAE (github.com/cagatayyildiz/ODE2VAE, datasets link in its README)"
        )
    mat = loadmat(path)
    missing = [key for _, key in _SPLITS if key not in mat]
    if missing:
        raise ValueError(f"{path} lacks {missing}; expected the arrays Xtr, Xval, Xtest of ODE2VAE's mocap35.mat")
    arrays = [np.asarray(mat[key]) for _, key in _SPLITS]
    for (_, key), arr in zip(_SPLITS, arrays, strict=True):
        if arr.ndim != 3 or arr.shape[2] != arrays[0].shape[2]:
            raise ValueError(f"{path}: {key} has shape {arr.shape}; expected (sequences, frames, channels)")

    X, obs = [], []
    for (split, _), arr in zip(_SPLITS, arrays, strict=True):
        n_seq, n_frames, _ = arr.shape
        X.append(arr.reshape(n_seq * n_frames, -1))
        for s in range(n_seq):
            trial = f"{split}_{s:02d}"
            frame = np.arange(n_frames)
            obs.append(
                pd.DataFrame(
                    {"trial": trial, "split": split, "frame": frame, "time": frame * DT},
                    index=[f"{trial}:{f}" for f in frame],
                )
            )
    obs_df = pd.concat(obs)
    obs_df["trial"] = pd.Categorical(obs_df["trial"], categories=list(dict.fromkeys(obs_df["trial"])))
    obs_df["split"] = pd.Categorical(obs_df["split"], categories=[s for s, _ in _SPLITS])
    n_vars = arrays[0].shape[2]
    adata = AnnData(
        X=np.concatenate(X).astype(np.float64, copy=False),
        obs=obs_df,
        var=pd.DataFrame(index=[f"channel_{i}" for i in range(n_vars)]),
    )
    adata.uns["mocap35"] = {"dt": DT, "file": str(path), **{k: np.asarray(mat[k]) for k in _EXTRAS if k in mat}}
    return adata
