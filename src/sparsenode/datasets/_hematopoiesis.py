"""Human hematopoiesis trajectories and the base GRN prior of the PathReg paper (Aliee et al., NeurIPS 2022)."""

from __future__ import annotations

import logging
import os
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys as K

logger = logging.getLogger(__name__)

__all__ = ["base_grn", "hematopoiesis"]

#: Batches (site/donor of the NeurIPS 2021 multiome data) and the numeric code used in the file names.
BATCHES = {"s1d1": 11, "s1d2": 12, "s2d1": 21, "s2d4": 24, "s3d6": 36}
#: Lineage names and their file prefixes.
LINEAGES = {"erythroid": "eryth", "monocyte": "mono", "B": "B"}
_LINEAGE_ALIASES = {
    "eryth": "erythroid",
    "mono": "monocyte",
    "b": "B",
    "erythroid": "erythroid",
    "monocyte": "monocyte",
}
#: Trajectory files the paper's repository does not hold (no erythroid cells of batch s2d4).
ABSENT = {("erythroid", "s2d4")}
#: Environment variable naming a local folder with the files (checked when ``path`` is None).
ENV_VAR = "SPARSENODE_DATA_DIR"
#: Environment variable overriding the download cache folder (default: pooch's per-user cache, ``sparsenode``).
CACHE_ENV_VAR = "SPARSENODE_CACHE_DIR"
#: Downloader handed to pooch (``None``: pooch picks one from the URL); tests swap in a local copy.
_DOWNLOADER = None
BASE_GRN_FILE = "tf_targets_baseGRN_human_matrix.csv.gz"

#: Public source: the PathReg paper's repository, pinned to the commit whose files the checksums below describe.
SOURCE_COMMIT = "95f84b656e3dc4b0e5a73ea9d99f5712fad48527"
BASE_URL = f"https://raw.githubusercontent.com/theislab/PathReg/{SOURCE_COMMIT}/data/data/"
_SUBDIR = {"trajectories": "trajectories/", "grn": "TFs_Targets/"}
#: sha256 of every file (computed from the files of the pinned commit).
REGISTRY = {
    "B_11_norm.csv": "28b41cf1b8b22431458c9e6f62d6f506d4536cb602e568588c2f739fff9e6e7b",
    "B_12_norm.csv": "74719640cc33efe85b791a6a6d52e3a54201a851162ec906793432677e6cb888",
    "B_21_norm.csv": "216a969a0fc1094acf53439ae6095746ef9eada21e4a578b7bc56ca708c5230a",
    "B_24_norm.csv": "7c73affa5beafd41bf24e5f6441c787df314c6dc21f08b72bdcd57d6e7a3114d",
    "B_36_norm.csv": "d1b0f7c49e3da98def9098f70de720bde3a4e514154cd189aa241708105e8acd",
    "eryth_11_norm.csv": "eb44c4476d942d4bb12aa3affefb57c0dab058677bff4213e9b02470d707d014",
    "eryth_12_norm.csv": "7bb069ff75ef8098ed1082b0a5e9d94b35e53708aa21605c68965c58b9a5d746",
    "eryth_21_norm.csv": "571e971267fe2991627c69ba3699abf763fc21a238f8dc3e730b5976c8b0b055",
    "eryth_36_norm.csv": "33277c3c32431552dc7a85f8fdf3e34b3a4514cbe6181e55bd8ec1a6a783cdc8",
    "mono_11_norm.csv": "f15840f266e0fd4c907b147795e7cf9564be41561416bbcd716c54c45b65453d",
    "mono_12_norm.csv": "db55a76bff6e09ba6bae391a79a15b49c4f6dd11398368dbd5580e4a5079c216",
    "mono_21_norm.csv": "20518770b17a8f4c774e9143ef8818ff72fe027ed5cb01ced2d856646ed03560",
    "mono_24_norm.csv": "25120ec65650a2f662e301b982c5bf8a6a256676f6996860a69db4e107c8eac7",
    "mono_36_norm.csv": "b01b5a199a6ad636ab49e61b3283a508888a320980db742dab5498466bf63445",
    BASE_GRN_FILE: "2fca06f6d4db8d717996c05893afc640b77b98d3c15e9e81011a3a86a3b0dd81",
}
TIME_COLUMN = "dpt_pseudotime"


def _file_name(lineage: str, batch: str) -> str:
    return f"{LINEAGES[lineage]}_{BATCHES[batch]}_norm.csv"


def _fetch(names: list[str], path) -> dict[str, Path]:
    """Local paths of ``names``: from ``path``, else ``$SPARSENODE_DATA_DIR``, else downloaded into a cache."""
    if path is None and os.environ.get(ENV_VAR):
        path = os.environ[ENV_VAR]
    if path is not None:
        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder} is not a folder; pass the folder that holds {', '.join(names[:3])}"
                f"{' ...' if len(names) > 3 else ''} (or path=None to download them)"
            )
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} expected file(s) missing from {folder}: {', '.join(missing)}. Point path (or "
                f"${ENV_VAR}) at the folder with the PathReg hematopoiesis files, or pass path=None to download them"
            )
        return {n: folder / n for n in names}
    try:
        import pooch
    except ImportError as err:  # pragma: no cover - pooch is a dependency
        raise ImportError("downloading the data needs pooch: pip install pooch (or pass path=...)") from err
    urls = {n: BASE_URL + (_SUBDIR["grn"] if n == BASE_GRN_FILE else _SUBDIR["trajectories"]) + n for n in REGISTRY}
    fetcher = pooch.create(
        path=pooch.os_cache("sparsenode") / "hematopoiesis",
        base_url=BASE_URL,
        registry={n: f"sha256:{h}" for n, h in REGISTRY.items()},
        urls=urls,
        env=CACHE_ENV_VAR,
    )
    return {n: Path(fetcher.fetch(n, downloader=_DOWNLOADER)) for n in names}


def _resolve(values, allowed: dict, what: str, aliases: dict | None = None) -> list[str]:
    values = [values] if isinstance(values, str) else list(values)
    if not values:
        raise ValueError(f"{what} is empty; choose from {list(allowed)}")
    out = []
    for v in values:
        name = str(v)
        if aliases is not None:
            name = aliases.get(name, aliases.get(name.lower(), name))
        if name not in allowed:
            raise ValueError(f"unknown {what[:-1]} {v!r}; choose from {list(allowed)}")
        if name not in out:
            out.append(name)
    return out


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = x.min(axis=0), x.max(axis=0)
    rng = np.where(hi - lo > 1e-12, hi - lo, 1.0)
    return (x - lo) / rng


def hematopoiesis(
    path: str | PathLike | None = None,
    *,
    batches=tuple(BATCHES),
    lineages=tuple(LINEAGES),
    trim: tuple[int, int] = (10, 20),
    scale: bool = True,
) -> AnnData:
    r"""Human bone-marrow trajectories (erythroid, monocyte, B) of the PathReg paper, one per lineage and batch.

    Cells of the NeurIPS 2021 multiome competition data, ordered by diffusion pseudotime per lineage and batch,
    529 genes (highly variable genes and transcription factors), size-factor normalised. As in the paper, the first
    ``trim[0]`` and last ``trim[1]`` cells of each trajectory are dropped and (``scale=True``) each gene and the
    pseudotime are min-max scaled per trajectory. The paper trains on ``s1d2`` and tests on the other batches. The
    file of erythroid cells of ``s2d4`` does not exist; that trajectory is skipped.

    Parameters
    ----------
    path
        Folder holding the ``{eryth,mono,B}_{11,12,21,24,36}_norm.csv`` files. ``None``: the folder in
        ``$SPARSENODE_DATA_DIR`` if set, else the files are downloaded once from the paper's repository
        (:data:`BASE_URL`) into a cache with checksums (needs internet; the cache folder is
        ``$SPARSENODE_CACHE_DIR`` when set).
    batches
        Batch names among ``s1d1``, ``s1d2``, ``s2d1``, ``s2d4``, ``s3d6``.
    lineages
        Lineages among ``erythroid`` (or ``eryth``), ``monocyte`` (or ``mono``), ``B``.
    trim
        Cells dropped at the start and the end of each trajectory (in pseudotime order).
    scale
        Min-max scale each gene and the pseudotime per trajectory (the paper's preprocessing); ``False`` keeps the
        normalised expression in ``X`` and the raw pseudotime in ``obs["time"]``.

    Returns
    -------
    AnnData
        Cells x 529 genes (float32), grouped by batch then lineage and sorted by pseudotime. ``obs["time"]``: the
        pseudotime (scaled to ``[0, 1]`` per trajectory when ``scale``); ``obs["dpt_pseudotime"]``: as in the file;
        ``obs["lineage"]``, ``obs["batch"]`` (categorical; names like ``s1d2``); ``obs["batch_code"]``: the numeric
        code of the file name (12 for ``s1d2``). ``layers["normalised"]``: the unscaled values of the file.

    Raises
    ------
    FileNotFoundError
        When ``path`` lacks a requested file (the message names them).
    ValueError
        On an unknown batch or lineage, or when nothing is left to load.

    Examples
    --------
    The real files (529 genes; the folder from ``../shared/data`` or a download):

    >>> import sparsenode as sn
    >>> adata = sn.datasets.hematopoiesis("../shared/data/hematopoiesis", batches="s1d2")  # doctest: +SKIP
    >>> adata.n_vars, list(adata.obs["lineage"].cat.categories)  # doctest: +SKIP
    (529, ['erythroid', 'monocyte', 'B'])

    The same call on toy files of the same layout (tab-separated, one ``dpt_pseudotime`` column):

    >>> import tempfile, numpy as np, pandas as pd
    >>> folder, rng = tempfile.mkdtemp(), np.random.default_rng(0)
    >>> for prefix in ("eryth", "mono", "B"):
    ...     cells = pd.DataFrame(rng.random((40, 2)), columns=["GATA1", "SPI1"]).assign(dpt_pseudotime=rng.random(40))
    ...     cells.to_csv(f"{folder}/{prefix}_12_norm.csv", sep="\t", index=False)
    >>> toy = sn.datasets.hematopoiesis(folder, batches="s1d2")
    >>> toy.shape, list(toy.obs["lineage"].cat.categories), float(toy.obs["time"].max())
    ((30, 2), ['erythroid', 'monocyte', 'B'], 1.0)
    """
    batch_list = _resolve(batches, BATCHES, "batches")
    lin_list = _resolve(lineages, LINEAGES, "lineages", _LINEAGE_ALIASES)
    trim = tuple(int(t) for t in trim)
    if len(trim) != 2 or min(trim) < 0:
        raise ValueError(f"trim must be two non-negative cell counts (start, end), got {trim}")
    pairs = [(li, b) for b in batch_list for li in lin_list if (li, b) not in ABSENT]
    if not pairs:
        raise ValueError(
            f"no trajectory for lineages {lin_list} in batches {batch_list} (erythroid/s2d4 does not exist)"
        )
    files = _fetch([_file_name(li, b) for li, b in pairs], path)
    blocks, obs_parts, raw_parts, genes = [], [], [], None
    for li, b in pairs:
        name = _file_name(li, b)
        df = pd.read_csv(files[name], sep="\t", index_col=None)
        if TIME_COLUMN not in df.columns:
            raise ValueError(f"{files[name]} has no {TIME_COLUMN!r} column; is it a PathReg trajectory file?")
        these = [str(c) for c in df.columns if c != TIME_COLUMN]
        if genes is None:
            genes = these
        elif these != genes:
            raise ValueError(f"{files[name]} has different genes from the other trajectory files")
        df = df.sort_values(TIME_COLUMN, kind="stable")
        end = len(df) - trim[1]
        df = df.iloc[trim[0] : end]
        if len(df) < 2:
            raise ValueError(f"{name}: fewer than 2 cells left after trim={trim}; lower trim")
        t = df[TIME_COLUMN].to_numpy(dtype=np.float64)
        x = df[genes].to_numpy(dtype=np.float64)
        raw_parts.append(x.astype(np.float32))
        if scale:
            x = _minmax(x)
            span = t.max() - t.min()
            time = (t - t.min()) / (span if span > 0 else 1.0)
        else:
            time = t
        blocks.append(x.astype(np.float32))
        obs_parts.append(
            pd.DataFrame(
                {K.TIME: time, TIME_COLUMN: t, K.LINEAGE: li, K.BATCH: b, "batch_code": BATCHES[b]},
                index=[f"{LINEAGES[li]}_{BATCHES[b]}_{i}" for i in range(len(df))],
            )
        )
    obs = pd.concat(obs_parts)
    obs[K.LINEAGE] = pd.Categorical(obs[K.LINEAGE], categories=[li for li in lin_list if li in set(obs[K.LINEAGE])])
    obs[K.BATCH] = pd.Categorical(obs[K.BATCH], categories=[b for b in batch_list if b in set(obs[K.BATCH])])
    obs["batch_code"] = obs["batch_code"].astype(np.int64)
    adata = AnnData(np.concatenate(blocks), obs=obs, var=pd.DataFrame(index=genes))
    adata.layers["normalised"] = np.concatenate(raw_parts)
    logger.info("loaded %d trajectories, %d cells x %d genes", len(pairs), adata.n_obs, adata.n_vars)
    return adata


def base_grn(path: str | PathLike | None = None) -> pd.DataFrame:
    r"""The base GRN prior of the PathReg paper: 762 transcription factors -> 13,388 targets.

    A binary TF x target matrix derived from TF motifs (prior knowledge, not ground truth), returned as an edge list
    that :func:`sparsenode.tl.fit_node` accepts as ``prior=``.

    Parameters
    ----------
    path
        Folder holding ``tf_targets_baseGRN_human_matrix.csv.gz`` (``None``: ``$SPARSENODE_DATA_DIR`` or download,
        as in :func:`hematopoiesis`).

    Returns
    -------
    DataFrame with categorical columns ``source`` (TF) and ``target``, one row per non-zero entry (3,845,934).

    Examples
    --------
    >>> import sparsenode as sn
    >>> prior = sn.datasets.base_grn("../shared/data/hematopoiesis")  # doctest: +SKIP
    >>> prior["source"].nunique() <= 762  # doctest: +SKIP
    True

    A toy matrix of the same layout (rows: TFs, columns: targets, entries ``0.0``/``1.0``, gzipped CSV):

    >>> import gzip, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with gzip.open(f"{folder}/tf_targets_baseGRN_human_matrix.csv.gz", "wt") as fh:
    ...     _ = fh.write("TF.human,GATA1,KLF1,SPI1\nGATA1,0.0,1.0,0.0\nSPI1,1.0,0.0,0.0\n")
    >>> sn.datasets.base_grn(folder).astype(str).values.tolist()
    [['GATA1', 'KLF1'], ['SPI1', 'GATA1']]
    """
    file = _fetch([BASE_GRN_FILE], path)[BASE_GRN_FILE]
    parsed = _read_binary_matrix(file)
    if parsed is None:  # not the compact "0.0"/"1.0" layout: let pandas parse it (slower)
        df = pd.read_csv(file, index_col=0, engine="c", low_memory=False)
        sources, targets = df.index.astype(str).to_numpy(), df.columns.astype(str).to_numpy()
        rows, cols = np.nonzero(df.to_numpy(dtype=np.float32))
    else:
        sources, targets, rows, cols = parsed
    return pd.DataFrame(
        {
            "source": pd.Categorical.from_codes(rows, categories=pd.Index(sources)),
            "target": pd.Categorical.from_codes(cols, categories=pd.Index(targets)),
        }
    )


def _read_binary_matrix(file: Path):
    """Fast reader of a gzipped CSV of ``0.0``/``1.0`` entries; ``None`` when the file has another layout."""
    import gzip

    with gzip.open(file, "rb") as fh:
        header = fh.readline().rstrip(b"\r\n").decode().split(",")
        targets = np.asarray(header[1:], dtype=str)
        n = len(targets)
        sources, rows, cols = [], [], []
        for line in fh:
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            name, _, values = line.partition(b",")
            buf = np.frombuffer(values, dtype=np.uint8)
            if buf.size != 4 * n - 1 or not (buf[1::4] == ord(".")).all() or not (buf[2::4] == ord("0")).all():
                return None
            digits = buf[0::4]
            if not np.isin(digits, (ord("0"), ord("1"))).all():
                return None
            hit = np.flatnonzero(digits == ord("1"))
            rows.append(np.full(hit.size, len(sources)))
            cols.append(hit)
            sources.append(name.decode())
    return np.asarray(sources, dtype=str), targets, np.concatenate(rows), np.concatenate(cols)
