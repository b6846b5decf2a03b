"""grouplasso's default fit on the BEELINE inputs (replicates 0-4) read out four ways (the per-target step on / off).

Usage (repository root, 2-core CPU dev machine)::

    OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks/accuracy python benchmarks/accuracy/grouplasso_beeline.py \
        [--lambda-group 0.1] [--modes flux_lagens,flux_lagens:global] [--out results/other.csv]

Writes results/grouplasso_beeline_per_target.csv (or ``--out``) and prints the median AUPRC ratio per data set for
each readout of ``--modes`` (default ``flux_lagens`` (per target), ``flux_lagens:global``,
``flux_lagens_structure`` and ``flux_lagens_structure:target``). ``--lambda-group`` overrides the strength
(default: the package's).
"""

import argparse
import time
from pathlib import Path

import _common as c
import pandas as pd

import sparsenode as sn

OUT = Path(__file__).resolve().parent / "results" / "grouplasso_beeline_per_target.csv"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lambda-group", type=float, default=None, help="lambda_group (default: the package's)")
    p.add_argument(
        "--modes", default="flux_lagens,flux_lagens:global,flux_lagens_structure,flux_lagens_structure:target"
    )
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args()
    lambdas = None if args.lambda_group is None else {"lambda_group": args.lambda_group}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    c.one_thread()
    rows = []
    for name, r, inp, _ in c.replicates(reps=range(5)):
        a = sn.io.read_beeline(inp)
        t0 = time.perf_counter()
        sn.tl.fit_node(
            a, method="grouplasso", lambdas=lambdas, time_key="time", lineage_key=c.LINEAGE_KEY, seed=r,
            progress_bar=False, device="cpu",
        )  # fmt: skip
        row = dict(dataset=name, replicate=r, seconds=time.perf_counter() - t0)
        for spec in args.modes.split(","):
            c.infer_grn(a, spec, key="grouplasso")
            row[spec] = sn.bm.score(
                sn.get.grn(a, key="grouplasso"), a.uns["true_network"], genes=list(map(str, a.var_names))
            )["auprc_ratio"]
        rows.append(row)
        print(row, flush=True)
        pd.DataFrame(rows).to_csv(args.out, index=False)
    d = pd.DataFrame(rows)
    print(d.groupby("dataset", sort=False).median(numeric_only=True).round(2).to_string())


if __name__ == "__main__":
    main()
