"""Shared helpers of the accuracy benchmarks: BEELINE inputs, reference scores, one-thread torch.

Run by hand from the repository root with ``PYTHONPATH=src``; needs the BEELINE folders of ../shared/data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

import sparsenode as sn

DATA = Path(os.environ.get("SPARSENODE_SHARED", "/work/shared")) / "data" / "beeline"
DATASETS = {
    "Synthetic": ["dyn-LI", "dyn-CY", "dyn-LL", "dyn-BF", "dyn-TF", "dyn-BFC"],
    "Simulated": ["mCAD", "VSC", "HSC", "GSD"],
}
PEERS = [
    "GENIE3", "GRNBOOST2", "PIDC", "SINCERITIES", "SCODE", "PPCOR",
    "GRISLI", "GRNVBEM", "LEAP", "SCINGE", "SCNS", "SCRIBE",
]  # fmt: skip
LINEAGE_KEY = "lineages"  # BEELINE membership matrix: shared progenitors belong to every lineage


def parse_kwargs(text: str) -> dict:
    """``"activation='silu',smoothing=2.0"`` -> ``{"activation": "silu", "smoothing": 2.0}`` (Python literals)."""
    import ast

    call = ast.parse(f"f({text})", mode="eval").body
    return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}


def readout(spec: str) -> tuple[str, dict]:
    """``"flux_lagens"`` -> ``("flux_lagens", {})``; a ``":global"`` suffix turns ``per_target`` off (the ranking of
    ``infer_grn`` before its per-target step), e.g. ``"flux_lagens:global"``, a ``":target"`` suffix turns it on."""
    mode, _, flag = spec.partition(":")
    flags = {"": {}, "global": {"per_target": False}, "target": {"per_target": True}}
    if flag not in flags:
        raise ValueError(f"unknown readout suffix {flag!r} in {spec!r} (':global' or ':target')")
    return mode, flags[flag]


def infer_grn(adata, spec: str, **kwargs) -> None:
    """``sn.tl.infer_grn(adata, mode=..., **kwargs)`` for a readout spec such as ``"flux_lagens:global"``."""
    mode, flags = readout(spec)
    sn.tl.infer_grn(adata, mode=mode, **flags, **kwargs)


def one_thread() -> None:
    """Keep torch on one CPU thread (the dev machine is shared)."""
    import torch

    torch.set_num_threads(1)


def replicates(datasets=None, reps=range(5)):
    """Yield ``(dataset, replicate, input folder, output folder)``."""
    for group, names in DATASETS.items():
        for name in names:
            if datasets is not None and name not in datasets:
                continue
            for r in reps:
                sub = f"{group}/{name}/{name}_2000_{r}"
                yield name, r, DATA / "inputs" / sub, DATA / "outputs" / sub


def reference_scores(adata, out_dir: Path) -> dict:
    """AUPRC ratio of the three reference baselines and the 12 peers on one replicate."""
    truth = adata.uns["true_network"]
    genes = list(map(str, adata.var_names))
    res = {}
    for name, fn in sn.bm.BASELINES.items():
        kw = {} if name == "pearson" else {"lineage_key": LINEAGE_KEY}
        res[name] = sn.bm.score(fn(adata, **kw), truth, genes=genes)["auprc_ratio"]
    for peer in PEERS:
        f = out_dir / peer / "rankedEdges.csv"
        if f.is_file():
            edges = sn.io.read_ranked_edges(f)
            res[peer] = sn.bm.score(edges, truth, genes=genes)["auprc_ratio"] if len(edges) else np.nan
        else:
            res[peer] = np.nan
    return res


def reference_table(path: Path | None = None) -> pd.DataFrame:
    """Reference scores of every replicate, cached in ``results/reference.csv``."""
    path = Path(__file__).parent / "results" / "reference.csv" if path is None else path
    if path.is_file():
        return pd.read_csv(path)
    rows = []
    for name, r, inp, out in replicates():
        adata = sn.io.read_beeline(inp)
        rows.append({"dataset": name, "replicate": r, **reference_scores(adata, out)})
    df = pd.DataFrame(rows)
    path.parent.mkdir(exist_ok=True)
    df.to_csv(path, index=False)
    return df
