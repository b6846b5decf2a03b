"""Benchmark data set specifications: BEELINE folders (with their peers' published predictions), toy systems,
krumsiek11 and motion capture, resolved from short user-facing specs.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import pandas as pd
from anndata import AnnData

from .. import _keys as K
from ..io import read_beeline, read_ranked_edges
from ..io._beeline import EXPRESSION_FILE

__all__ = ["DatasetSpec", "beeline_peers", "resolve_datasets"]

BUILTIN = ("krumsiek11", "toy_grn", "mocap")
RANKED_EDGES = "rankedEdges.csv"


@dataclass(frozen=True)
class DatasetSpec:
    """One data set of a benchmark grid.

    Attributes
    ----------
    name
        Unique name used in the results table (``dataset`` column) and file names.
    kind
        ``"beeline"``, ``"krumsiek11"``, ``"toy_grn"`` or ``"mocap"``.
    group
        Family the data set belongs to (``group`` column; reports take medians over a group's replicates), e.g.
        ``"dyn-BF"`` for ``dyn-BF_2000_3``.
    path
        Folder (BEELINE) or file (mocap) the data come from; empty for simulated data.
    options
        Keyword arguments of the loader (e.g. ``n_genes``, ``seed`` for :func:`sparsenode.datasets.toy_grn`).
    peers_dir
        Folder holding ``<ALGORITHM>/rankedEdges.csv`` of published peer predictions for this data set, if known.

    Examples
    --------
    >>> from sparsenode.bm import DatasetSpec
    >>> spec = DatasetSpec(name="toy", kind="toy_grn", group="toy", options={"n_genes": 4, "n_cells": 100})
    >>> adata = spec.load()
    >>> adata.n_vars, spec.time_key, "true_network" in adata.uns
    (4, 'time', True)
    """

    name: str
    kind: str
    group: str
    path: str = ""
    options: dict = field(default_factory=dict)
    peers_dir: str = ""

    @property
    def time_key(self) -> str:
        """Column of ``obs`` with (pseudo)time."""
        return K.TIME

    @property
    def lineage_key(self) -> str:
        """Lineage column / membership matrix of the loaded AnnData."""
        return {"beeline": "lineages", "mocap": "trial"}.get(self.kind, K.LINEAGE)

    def load(self) -> AnnData:
        """Load the data set as AnnData (truth, if any, in ``uns["true_network"]``)."""
        from .. import datasets

        if self.kind == "beeline":
            return read_beeline(self.path)
        if self.kind == "krumsiek11":
            return datasets.krumsiek11()
        if self.kind == "toy_grn":
            return datasets.toy_grn(**self.options)
        if self.kind == "mocap":
            adata = datasets.mocap35(self.path)
            split = self.options.get("split", "train")
            return adata[adata.obs["split"] == split].copy() if split else adata
        raise ValueError(f"unknown data set kind {self.kind!r}; choose one of {('beeline', *BUILTIN)}")

    def peer_file(self, algorithm: str) -> Path:
        """Path of a peer's published ``rankedEdges.csv`` for this data set."""
        if not self.peers_dir:
            raise FileNotFoundError(
                f"data set {self.name!r} has no published peer predictions; peers exist for BEELINE inputs whose "
                "folder lies under .../inputs/ next to a matching .../outputs/ tree (or give peers_dir=...)"
            )
        path = Path(self.peers_dir) / algorithm / RANKED_EDGES
        if not path.is_file():
            available = sorted(p.parent.name for p in Path(self.peers_dir).glob(f"*/{RANKED_EDGES}"))
            raise FileNotFoundError(f"no {path}; peers published for {self.name!r}: {available}")
        return path


def beeline_peers(path: str | PathLike) -> Path | None:
    """Folder of BEELINE's published predictions for an input folder, or None if there is none.

    BEELINE mirrors its input tree: ``<root>/inputs/<Category>/<Group>/<name>`` has its predictions in
    ``<root>/outputs/<Category>/<Group>/<name>/<ALGORITHM>/rankedEdges.csv``.

    Parameters
    ----------
    path
        A BEELINE input folder (holding ``ExpressionData.csv``).

    Returns
    -------
    The matching outputs folder, or None when the input does not lie under an ``inputs`` folder or no outputs exist.

    Examples
    --------
    >>> from sparsenode.bm import beeline_peers
    >>> beeline_peers("/nowhere/inputs/Synthetic/dyn-BF/dyn-BF_2000_0") is None
    True
    """
    path = Path(path).resolve()
    parts = path.parts
    if "inputs" not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index("inputs")
    out = Path(*parts[:i], "outputs", *parts[i + 1 :])
    return out if out.is_dir() else None


def _beeline_spec(folder: Path, options: dict | None = None, name: str | None = None) -> DatasetSpec:
    options = dict(options or {})
    peers = options.pop("peers_dir", None)
    peers = Path(peers) if peers else beeline_peers(folder)
    return DatasetSpec(
        name=name or folder.name,
        kind="beeline",
        group=str(options.pop("group", folder.parent.name)),
        path=str(folder),
        options=options,
        peers_dir=str(peers) if peers else "",
    )


def _beeline_folders(spec: str) -> list[Path]:
    """BEELINE input folders named by a folder, a folder of folders (searched recursively) or a glob."""
    hits = sorted(Path(p) for p in glob.glob(spec, recursive=True)) if glob.has_magic(spec) else [Path(spec)]
    folders: list[Path] = []
    for hit in hits:
        if hit.is_file() and hit.name == EXPRESSION_FILE:
            hit = hit.parent
        if (hit / EXPRESSION_FILE).is_file():
            folders.append(hit)
        elif hit.is_dir():
            folders.extend(sorted(p.parent for p in hit.rglob(EXPRESSION_FILE)))
    return sorted(dict.fromkeys(folders))


def _one(spec) -> list[DatasetSpec]:
    if isinstance(spec, DatasetSpec):
        return [spec]
    if isinstance(spec, PathLike):
        spec = str(spec)
    if isinstance(spec, str):
        if spec in ("krumsiek11", "toy_grn"):
            return [DatasetSpec(name=spec, kind=spec, group=spec)]
        folders = _beeline_folders(spec)
        if not folders:
            raise FileNotFoundError(
                f"data set {spec!r} is neither a built-in ('krumsiek11', 'toy_grn') nor a BEELINE folder: no "
                f"{EXPRESSION_FILE} found at or under it (give a folder, a folder of folders or a glob)"
            )
        return [_beeline_spec(f) for f in folders]
    if isinstance(spec, dict):
        spec = dict(spec)
        kind = spec.pop("kind", None) or spec.pop("type", None)
        name = spec.pop("name", None)
        path = spec.pop("path", None)
        group = spec.pop("group", None)
        if kind is None:
            if path is None:
                raise ValueError(f"data set spec {spec!r} needs 'kind' (beeline, krumsiek11, toy_grn, mocap) or 'path'")
            kind = "beeline"
        if kind == "beeline":
            if path is None:
                raise ValueError("a BEELINE data set spec needs 'path' (a folder, a folder of folders or a glob)")
            if group is not None:
                spec["group"] = group
            folders = _beeline_folders(str(path))
            if not folders:
                raise FileNotFoundError(f"no {EXPRESSION_FILE} found at or under {path!r}")
            if name is not None and len(folders) > 1:
                raise ValueError(f"'name' {name!r} can only name one folder, but {path!r} matches {len(folders)}")
            return [_beeline_spec(f, spec, name) for f in folders]
        if kind == "mocap":
            if path is None:
                raise ValueError("a mocap data set spec needs 'path' (mocap35.mat or its folder)")
            return [
                DatasetSpec(name=name or "mocap35", kind="mocap", group=group or "mocap", path=str(path), options=spec)
            ]
        if kind in ("krumsiek11", "toy_grn"):
            if name is None:
                name = kind if not spec else kind + "_" + "_".join(f"{k}{v}" for k, v in sorted(spec.items()))
            return [DatasetSpec(name=name, kind=kind, group=group or kind, options=spec)]
        raise ValueError(f"unknown data set kind {kind!r}; choose one of {('beeline', *BUILTIN)}")
    raise TypeError(f"a data set spec is a string, a path, a dict or a DatasetSpec, not {type(spec).__name__}")


def resolve_datasets(specs) -> list[DatasetSpec]:
    """Turn user-facing data set specs into a list of :class:`DatasetSpec`.

    Parameters
    ----------
    specs
        One spec or a list of specs. A spec is

        * ``"krumsiek11"`` or ``"toy_grn"`` (default settings);
        * a BEELINE input folder (``.../dyn-BF_2000_0``), a folder holding such folders at any depth
          (``.../beeline/inputs`` gives all of them) or a glob (``.../inputs/*/dyn-*/*_2000_[01]``);
        * a dict with ``kind`` (``beeline``, ``krumsiek11``, ``toy_grn``, ``mocap``), optional ``name``, ``group``,
          ``path`` and loader options, e.g. ``{"kind": "toy_grn", "n_genes": 8, "seed": 1}`` or
          ``{"kind": "mocap", "path": ".../mocap35.mat", "split": "train"}``.

    Returns
    -------
    One :class:`DatasetSpec` per data set, in the order given; BEELINE peers' folders are found next to the inputs.

    Examples
    --------
    >>> from sparsenode.bm import resolve_datasets
    >>> [d.name for d in resolve_datasets(["krumsiek11", {"kind": "toy_grn", "n_genes": 5}])]
    ['krumsiek11', 'toy_grn_n_genes5']
    """
    if isinstance(specs, str | dict | DatasetSpec | PathLike):
        specs = [specs]
    out: list[DatasetSpec] = []
    for spec in specs:
        out.extend(_one(spec))
    names = pd.Series([d.name for d in out])
    dup = sorted(set(names[names.duplicated()]))
    if dup:
        raise ValueError(f"data set names must be unique, but {dup} appear more than once; give each a 'name'")
    return out


def read_peer(spec: DatasetSpec, algorithm: str) -> pd.DataFrame:
    """Published prediction of ``algorithm`` for a BEELINE data set as an edge DataFrame."""
    return read_ranked_edges(spec.peer_file(algorithm))
