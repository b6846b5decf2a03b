"""The ``sparsenode`` command line: ``sparsenode benchmark CONFIG.yaml`` and ``sparsenode report RESULTS_DIR``.

A benchmark config is a YAML mapping (relative paths are relative to the config file's folder)::

    datasets:            # specs as in sparsenode.bm.resolve_datasets
      - ../../shared/data/beeline/inputs
      - krumsiek11
      - {kind: toy_grn, n_genes: 8, seed: 1}
    methods: [pathreg, pearson, peer:GENIE3]
    seeds: [0]
    backend: local       # or ray
    address: null        # Ray cluster address; null starts a local Ray
    output_dir: results/beeline
    resume: true
    n_threads: 1
    fit_options: {max_epochs: 150}
    method_options: {pathreg: {lambdas: {lambda_path: 0.01}}}
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

__all__ = ["load_config", "main"]

_KEYS = {
    "datasets",
    "methods",
    "seeds",
    "backend",
    "address",
    "output_dir",
    "resume",
    "n_threads",
    "fit_options",
    "method_options",
    "ray_init",
    "peers",
}


def _resolve_path(value: str, base: Path) -> str:
    if value in ("krumsiek11", "toy_grn"):
        return value
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else base / p)


def load_config(path: str | Path) -> dict:
    r"""Read a benchmark config (YAML) into keyword arguments of :func:`sparsenode.bm.benchmark`.

    Relative data set paths and ``output_dir`` are taken relative to the config file's folder. ``peers: all`` (or a
    list of algorithm names) adds ``peer:<ALGORITHM>`` methods for BEELINE's 12 published peers.

    Parameters
    ----------
    path
        The YAML file.

    Returns
    -------
    Keyword arguments for :func:`sparsenode.bm.benchmark`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sparsenode.cli import load_config
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "bm.yaml"
    >>> _ = f.write_text("datasets: [krumsiek11]\nmethods: [pearson]\noutput_dir: out\n")
    >>> cfg = load_config(f)
    >>> cfg["methods"], cfg["output_dir"] == str(f.parent / "out")
    (['pearson'], True)
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config {path} not found")
    cfg = yaml.safe_load(path.read_text()) or {}
    if not isinstance(cfg, dict):
        raise ValueError(f"{path} must hold a YAML mapping with datasets, methods, seeds, output_dir, ...")
    unknown = sorted(set(cfg) - _KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(_KEYS)}")
    for key in ("datasets", "methods", "output_dir"):
        if key not in cfg:
            raise ValueError(f"{path}: '{key}' is missing")
    base = path.resolve().parent
    datasets = cfg["datasets"] if isinstance(cfg["datasets"], list) else [cfg["datasets"]]
    resolved = []
    for spec in datasets:
        if isinstance(spec, str):
            spec = _resolve_path(spec, base)
        elif isinstance(spec, dict) and isinstance(spec.get("path"), str):
            spec = {**spec, "path": _resolve_path(spec["path"], base)}
        resolved.append(spec)
    cfg["datasets"] = resolved
    cfg["output_dir"] = _resolve_path(str(cfg["output_dir"]), base)
    methods = cfg["methods"] if isinstance(cfg["methods"], list) else [cfg["methods"]]
    peers = cfg.pop("peers", None)
    if peers:
        from .bm._methods import PEER_PREFIX

        names = BEELINE_PEERS if peers == "all" else list(peers)
        methods = methods + [f"{PEER_PREFIX}{p}" for p in names if f"{PEER_PREFIX}{p}" not in methods]
    cfg["methods"] = [str(m) for m in methods]
    if "seeds" in cfg and isinstance(cfg["seeds"], int):
        cfg["seeds"] = [cfg["seeds"]]
    return cfg


BEELINE_PEERS = (
    "GENIE3",
    "GRISLI",
    "GRNBOOST2",
    "GRNVBEM",
    "LEAP",
    "PIDC",
    "PPCOR",
    "SCINGE",
    "SCNS",
    "SCODE",
    "SCRIBE",
    "SINCERITIES",
)


def _benchmark(args) -> int:
    from . import bm

    cfg = load_config(args.config)
    if args.output_dir:
        cfg["output_dir"] = args.output_dir
    if args.backend:
        cfg["backend"] = args.backend
    if args.no_resume:
        cfg["resume"] = False
    start = time.perf_counter()
    table = bm.benchmark(progress_bar=not args.quiet, **cfg)
    cells = table.drop_duplicates(["dataset", "method", "seed"])
    n_failed = int((cells["error"] != "").sum())
    print(
        f"{cells.shape[0]} cells ({n_failed} failed) in {time.perf_counter() - start:.1f} s; "
        f"table: {Path(cfg['output_dir']) / 'results.csv'}"
    )
    return 0


def _report(args) -> int:
    from . import bm

    path = bm.report(args.results_dir, args.output_dir, by=args.by)
    print(f"report: {path}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sparsenode", description="sparse neural ODEs for gene regulatory networks")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO) to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("benchmark", help="run a benchmark grid from a YAML config")
    b.add_argument("config", help="YAML config: datasets, methods, seeds, backend, output_dir, options")
    b.add_argument("--output-dir", help="override the config's output_dir")
    b.add_argument("--backend", choices=["local", "ray"], help="override the config's backend")
    b.add_argument("--no-resume", action="store_true", help="recompute finished cells")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_benchmark)
    r = sub.add_parser("report", help="write a markdown summary and plots of a benchmark")
    r.add_argument("results_dir", help="output folder of a benchmark (holding results.csv)")
    r.add_argument("-o", "--output-dir", help="where to write report.md and PNGs (default: RESULTS_DIR/report)")
    r.add_argument("--by", choices=["group", "dataset"], default="group", help="summarise per family or data set")
    r.set_defaults(func=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``sparsenode`` command line.

    Parameters
    ----------
    argv
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    Exit status: 0 on success, 2 on bad input.

    Examples
    --------
    >>> from sparsenode.cli import main
    >>> main(["report", "/nonexistent"])
    2
    """
    args = _parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("sparsenode").setLevel(logging.INFO)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, KeyError, ImportError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
