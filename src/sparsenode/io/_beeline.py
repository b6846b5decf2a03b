"""Read BEELINE-format inputs (expression, pseudotime, reference network) and ranked edge lists.

BEELINE (Pratapa et al. 2020, Nature Methods) stores one data set per folder:

* ``ExpressionData.csv``: genes x cells, first column the gene names, header the cell names.
* ``PseudoTime.csv``: cells x lineages (``PseudoTime``, ``PseudoTime1``, ...), empty or ``NA`` where a cell does not
  belong to a lineage. Cells shared by several lineages (progenitors) carry a value in each.
* ``refNetwork.csv``: the true network, columns ``Gene1,Gene2[,Type]`` with ``Type`` ``+`` (activation) or ``-``
  (inhibition).

A method's prediction is a ``rankedEdges.csv`` with columns ``Gene1 Gene2 EdgeWeight`` (tab-separated).
"""

from __future__ import annotations

import warnings
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

EXPRESSION_FILE = "ExpressionData.csv"
PSEUDOTIME_FILE = "PseudoTime.csv"
NETWORK_FILE = "refNetwork.csv"
_EXPECTED = f"{EXPRESSION_FILE} (genes x cells), {PSEUDOTIME_FILE} (cells x lineages) and optionally {NETWORK_FILE}"

_SIGNS = {"+": 1, "-": -1, "activation": 1, "inhibition": -1, "repression": -1, "1": 1, "-1": -1}


def _sign_of(value) -> int:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return 0
    return _SIGNS.get(str(value).strip().lower(), 0)


def _read_pseudotime(path: Path, cells: pd.Index) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    pt = pd.read_csv(path, index_col=0)
    if pt.shape[1] == 0:
        raise ValueError(f"{path} has no pseudotime column; expected cells x lineages with one column per lineage")
    pt.index = pt.index.astype(str)
    pt.columns = [str(c) for c in pt.columns]
    pt = pt.apply(pd.to_numeric, errors="coerce")
    if not pt.index.is_unique:
        raise ValueError(f"{path} lists some cells more than once; each cell must appear in one row")
    unknown = cells.difference(pt.index)
    if len(unknown):
        warnings.warn(
            f"{len(unknown)} cell(s) of {EXPRESSION_FILE} have no row in {path.name}; their time and lineage are NaN",
            stacklevel=3,
        )
    pt = pt.reindex(cells)
    member = pt.notna()
    has_any = member.any(axis=1).to_numpy()
    first = member.to_numpy().argmax(axis=1)
    values = pt.to_numpy(dtype=np.float64)
    time = np.where(has_any, values[np.arange(len(cells)), first], np.nan)
    names = list(pt.columns)
    lineage = pd.Categorical(
        [names[j] if ok else np.nan for j, ok in zip(first, has_any, strict=True)], categories=names
    )
    if (~has_any).any() and not len(unknown):
        warnings.warn(f"{(~has_any).sum()} cell(s) have no pseudotime in any lineage of {path.name}", stacklevel=3)
    return (
        pd.Series(time, index=cells, dtype=np.float64),
        pd.Series(lineage, index=cells),
        pd.DataFrame(member.to_numpy(dtype=bool), index=cells, columns=names),
    )


def _read_network(path: Path, genes: pd.Index) -> pd.DataFrame:
    net = pd.read_csv(path, dtype=str, keep_default_na=False)
    cols = list(net.columns)
    if len(cols) < 2:
        raise ValueError(f"{path} needs at least two columns (Gene1, Gene2[, Type]); found {cols}")
    src = cols.index("Gene1") if "Gene1" in cols else 0
    tgt = cols.index("Gene2") if "Gene2" in cols else 1
    typ = "Type" if "Type" in cols else (cols[2] if len(cols) > 2 else None)
    out = pd.DataFrame(
        {
            "source": net.iloc[:, src].str.strip().astype(str).to_numpy(),
            "target": net.iloc[:, tgt].str.strip().astype(str).to_numpy(),
            "sign": np.asarray([_sign_of(v) for v in net[typ]] if typ else np.zeros(len(net)), dtype=np.int64),
        }
    )
    # the same edge listed twice keeps one row; conflicting signs make the sign unknown (0)
    agg = out.groupby(["source", "target"], sort=False)["sign"].agg(lambda s: int(s.iloc[0]) if s.nunique() == 1 else 0)
    out = agg.reset_index()
    out["sign"] = out["sign"].astype(np.int64)
    out["source"] = out["source"].astype(str)
    out["target"] = out["target"].astype(str)
    absent = sorted((set(out["source"]) | set(out["target"])) - set(genes))
    if absent:
        shown = ", ".join(absent[:10]) + (" ..." if len(absent) > 10 else "")
        warnings.warn(
            f"{len(absent)} gene(s) of {path.name} are not in {EXPRESSION_FILE}: {shown}; "
            "their edges stay in uns['true_network'] but cannot be predicted from this expression matrix",
            stacklevel=3,
        )
    return out


def read_beeline(path: str | PathLike) -> AnnData:
    r"""Read one BEELINE data set folder into an AnnData.

    Parameters
    ----------
    path
        Folder holding ``ExpressionData.csv`` and ``PseudoTime.csv`` (and usually ``refNetwork.csv``), e.g.
        ``.../inputs/Synthetic/dyn-BF/dyn-BF_2000_0``. A path to the ``ExpressionData.csv`` itself is accepted too.

    Returns
    -------
    Cells x genes AnnData with

    * ``X``: float32 expression (``var_names`` genes, ``obs_names`` cells);
    * ``obs["time"]``: pseudotime of the cell in the first lineage (column order of ``PseudoTime.csv``) where it
      has one; NaN if it has none;
    * ``obs["lineage"]``: categorical, the name of that first lineage;
    * ``obsm["lineages"]``: cells x lineages boolean DataFrame, True where the cell has a pseudotime in the lineage
      (shared progenitors belong to several lineages);
    * ``uns["true_network"]``: DataFrame ``source``, ``target`` (str) and ``sign`` (int: +1 activation,
      -1 inhibition, 0 unknown), duplicates merged; only when ``refNetwork.csv`` exists;
    * ``uns["dataset"]``: the folder name.

    Raises
    ------
    FileNotFoundError
        If the folder, ``ExpressionData.csv`` or ``PseudoTime.csv`` is missing.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import sparsenode as sn
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "toy"
    >>> d.mkdir()
    >>> _ = (d / "ExpressionData.csv").write_text(",c1,c2,c3\ng1,1,2,3\ng2,0,1,0\n")
    >>> _ = (d / "PseudoTime.csv").write_text(",PseudoTime1,PseudoTime2\nc1,0.0,0.0\nc2,0.5,NA\nc3,NA,1.0\n")
    >>> _ = (d / "refNetwork.csv").write_text("Gene1,Gene2,Type\ng1,g2,-\n")
    >>> adata = sn.io.read_beeline(d)
    >>> adata.shape
    (3, 2)
    >>> adata.obs["lineage"].tolist()
    ['PseudoTime1', 'PseudoTime1', 'PseudoTime2']
    >>> adata.uns["true_network"]["sign"].tolist()
    [-1]
    """
    path = Path(path)
    if path.is_file() and path.name == EXPRESSION_FILE:
        path = path.parent
    if not path.is_dir():
        raise FileNotFoundError(f"BEELINE data set folder not found: {path} (expected a folder holding {_EXPECTED})")
    files = {name: path / name for name in (EXPRESSION_FILE, PSEUDOTIME_FILE, NETWORK_FILE)}
    missing = [name for name in (EXPRESSION_FILE, PSEUDOTIME_FILE) if not files[name].is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)} in {path}; a BEELINE data set folder holds {_EXPECTED}")

    expr = pd.read_csv(files[EXPRESSION_FILE], index_col=0)
    expr.index = expr.index.astype(str)
    expr.columns = expr.columns.astype(str)
    if expr.shape[0] == 0 or expr.shape[1] == 0:
        raise ValueError(f"{files[EXPRESSION_FILE]} is empty; expected genes as rows and cells as columns")
    if not expr.index.is_unique:
        raise ValueError(f"{files[EXPRESSION_FILE]} lists some genes more than once; gene names must be unique")
    if not expr.columns.is_unique:
        raise ValueError(f"{files[EXPRESSION_FILE]} lists some cells more than once; cell names must be unique")
    try:
        x = expr.to_numpy(dtype=np.float32).T.copy()
    except ValueError as err:
        raise ValueError(f"{files[EXPRESSION_FILE]} holds non-numeric expression values: {err}") from err
    cells = pd.Index(expr.columns, name=None)
    genes = pd.Index(expr.index, name=None)

    time, lineage, member = _read_pseudotime(files[PSEUDOTIME_FILE], cells)
    obs = pd.DataFrame({"time": time.to_numpy(), "lineage": lineage.to_numpy()}, index=cells)
    obs["lineage"] = obs["lineage"].astype(pd.CategoricalDtype(categories=list(member.columns)))
    adata = AnnData(X=x, obs=obs, var=pd.DataFrame(index=genes))
    adata.obsm["lineages"] = member
    adata.uns["dataset"] = path.resolve().name
    if files[NETWORK_FILE].is_file():
        adata.uns["true_network"] = _read_network(files[NETWORK_FILE], genes)
    else:
        warnings.warn(f"no {NETWORK_FILE} in {path}; uns['true_network'] is not set", stacklevel=2)
    return adata


def read_ranked_edges(path: str | PathLike) -> pd.DataFrame:
    r"""Read a BEELINE ``rankedEdges.csv`` (``Gene1 Gene2 EdgeWeight``).

    Tab-separated files are the BEELINE format; comma-separated files are accepted too. An empty file (a method
    that predicted nothing) gives an empty frame.

    Parameters
    ----------
    path
        The ranked edge list.

    Returns
    -------
    DataFrame with columns ``source``, ``target`` (str) and ``weight`` (float), in file order.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import sparsenode as sn
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "rankedEdges.csv"
    >>> _ = f.write_text("Gene1\tGene2\tEdgeWeight\ng1\tg2\t0.9\ng2\tg1\t-0.2\n")
    >>> sn.io.read_ranked_edges(f)["weight"].tolist()
    [0.9, -0.2]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ranked edge list not found: {path} (expected a file with Gene1, Gene2, EdgeWeight)")
    with path.open() as fh:
        header = fh.readline()
    sep = "\t" if "\t" in header or "," not in header else ","
    if not header.strip():
        return pd.DataFrame(
            {
                "source": pd.Series([], dtype=object),
                "target": pd.Series([], dtype=object),
                "weight": pd.Series([], dtype=np.float64),
            }
        )
    df = pd.read_csv(path, sep=sep, dtype={0: str, 1: str})
    if df.shape[1] < 3:
        raise ValueError(f"{path} needs three columns (Gene1, Gene2, EdgeWeight); found {list(df.columns)}")
    cols = list(df.columns)
    src = cols.index("Gene1") if "Gene1" in cols else 0
    tgt = cols.index("Gene2") if "Gene2" in cols else 1
    wcol = cols.index("EdgeWeight") if "EdgeWeight" in cols else 2
    weight = pd.to_numeric(df.iloc[:, wcol], errors="coerce")
    if weight.isna().any():
        bad = df.iloc[:, wcol][weight.isna()].head(3).tolist()
        raise ValueError(f"{path} has non-numeric edge weights, e.g. {bad}")
    return pd.DataFrame(
        {
            "source": df.iloc[:, src].astype(str).str.strip().to_numpy(),
            "target": df.iloc[:, tgt].astype(str).str.strip().to_numpy(),
            "weight": weight.to_numpy(dtype=np.float64),
        }
    )
