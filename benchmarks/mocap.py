"""Forecasting benchmark on CMU subject-35 walking (ODE2VAE's mocap35.mat): seven methods beside two baselines.

Run by hand (single thread, low priority), e.g.::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/mocap.py /work/shared/data/mocap --out mocap.json

Protocol: fit each method on the 16 training trials (300 frames each, one bin per frame, ``n_bins=None``; single
shooting over whole trials), then forecast the 4 test trials from their first ``--n-observed`` frames to frame 300
(ODE2VAE's protocol: observe the first frames, predict the rest) and report the MSE in the file's units over all
forecast frames and the 50 channels. The same forecast is scored with noisy inputs (Gaussian noise of ``--noise``
channel standard deviations added to the test trials, scored against the clean frames) and with irregular sampling
(a ``--drop`` fraction of frames after the observed start removed at random from the training and the test trials;
the models are refitted on the irregular training trials and forecast the remaining test frames). Baselines
(constant position, constant velocity) see exactly the same observed frames and are scored on the same frames; the
per-channel training mean is listed as a reference that ignores the observed frames. Settings were chosen on the
validation trials (``--split val``), the reported figures are ``--split test``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

import sparsenode as sn

METHODS = ["node", "l0", "cnode", "grouplasso", "lassonet_inner", "lassonet_outer", "pathreg"]
BASELINES = ["constant_position", "constant_velocity"]
REFERENCE = "training_mean"  # not a forecaster of the observed frames: every frame predicted as the training mean


def training_mean_mse(test, train_mean, truth_layer=None) -> float:
    """MSE of predicting every forecast frame as the per-channel training mean (same frames as the baselines)."""
    fc = (test.obs["constant_position_forecast_role"] == "forecast").to_numpy()
    truth = test.X if truth_layer is None else test.layers[truth_layer]
    return float(np.mean((np.asarray(truth)[fc] - train_mean[None, :]) ** 2))


def fit(adata, method: str, args) -> dict:
    t0 = time.perf_counter()
    epochs = args.epochs_grouplasso if method == "grouplasso" and args.epochs_grouplasso else args.epochs
    sn.tl.fit_node(
        adata,
        method=method,
        time_key="time",
        lineage_key="trial",
        n_bins=None,
        hidden=tuple(args.hidden_grouplasso if method == "grouplasso" else args.hidden),
        max_epochs=epochs,
        lr=args.lr,
        segment_bins=None if args.segment_bins <= 0 else args.segment_bins,
        patience=None,
        seed=args.seed,
        solver=args.solver,
        objective=args.objective,  # shooting by default: gradient matching alone forecasts far worse here
        warmstart_fraction=args.warmstart_fraction,
        device="cpu",
        progress_bar=False,
    )
    m = adata.uns[method]["metrics"]
    return {
        "epochs": epochs,
        "seconds": time.perf_counter() - t0,
        "train_mse_scaled": float(m["train_mse"]),
        "feature_sparsity": float(m["feature_sparsity"]),
        "weight_sparsity": float(m["weight_sparsity"]),
    }


def score(test, key: str | None, n_observed: int, truth_layer=None, fit_from=None) -> float:
    if key in sn.tl.FORECAST_BASELINES:
        sn.tl.forecast_baseline(test, method=key, n_observed=n_observed, truth_layer=truth_layer)
    else:
        test.uns[key] = fit_from.uns[key]
        sn.tl.forecast(test, key=key, n_observed=n_observed, truth_layer=truth_layer, device="cpu")
    return float(test.uns[f"{key}_forecast"]["mse"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="mocap35.mat or its folder")
    parser.add_argument("--methods", nargs="*", default=METHODS, help="none: baselines only")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--epochs-grouplasso", type=int, default=0, help="epochs for grouplasso; 0: --epochs")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument(
        "--segment-bins", type=int, default=0, help="multiple-shooting segment length (frames); 0: single"
    )
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    parser.add_argument("--hidden-grouplasso", type=int, nargs="+", default=[8])
    parser.add_argument("--n-observed", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.1, help="input noise, in channel standard deviations")
    parser.add_argument("--drop", type=float, default=0.5, help="fraction of frames dropped (irregular sampling)")
    parser.add_argument(
        "--no-irregular-fit", action="store_true", help="score irregular test frames with the clean fit"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--split", default="test", choices=["val", "test"], help="trials to score: 'val' for tuning, 'test' to report"
    )
    parser.add_argument("--solver", default="dopri5", help="ODE solver of the fits")
    parser.add_argument("--objective", default="shooting", choices=["shooting", "gradient", "hybrid"])
    parser.add_argument(
        "--warmstart-fraction", type=float, default=0.75, help="hybrid: share of --epochs spent on gradient matching"
    )
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    data = sn.datasets.mocap35(args.path)
    train = data[data.obs["split"] == "train"].copy()
    test = data[data.obs["split"] == args.split].copy()
    val = data[data.obs["split"] == "val"].copy()  # clean validation MSE is listed beside every result
    noisy = sn.pp.add_noise(test, args.noise, seed=args.seed)
    train_irr = sn.pp.drop_frames(train, args.drop, seed=args.seed, keep_first=args.n_observed)
    test_irr = sn.pp.drop_frames(test, args.drop, seed=args.seed + 1, keep_first=args.n_observed)
    n = args.n_observed
    rows = {}
    for b in BASELINES:
        rows[b] = {
            "val_mse": score(val, b, n),
            "test_mse": score(test, b, n),
            "noise_mse": score(noisy, b, n, truth_layer="clean"),
            "irregular_mse": score(test_irr, b, n),
        }
        print(b, rows[b], flush=True)
    train_mean = np.asarray(train.X).mean(axis=0)
    rows[REFERENCE] = {
        "val_mse": training_mean_mse(val, train_mean),
        "test_mse": training_mean_mse(test, train_mean),
        "noise_mse": training_mean_mse(noisy, train_mean, truth_layer="clean"),
        "irregular_mse": training_mean_mse(test_irr, train_mean),
    }
    print(REFERENCE, rows[REFERENCE], flush=True)
    for method in args.methods:
        row = fit(train, method, args)
        row["val_mse"] = score(val, method, n, fit_from=train)
        row["test_mse"] = score(test, method, n, fit_from=train)
        row["noise_mse"] = score(noisy, method, n, truth_layer="clean", fit_from=train)
        if args.no_irregular_fit:
            row["irregular_mse"] = score(test_irr, method, n, fit_from=train)
        else:
            row["irregular_fit_seconds"] = fit(train_irr, method, args)["seconds"]
            row["irregular_mse"] = score(test_irr, method, n, fit_from=train_irr)
        rows[method] = row
        print(method, {k: round(v, 4) for k, v in row.items()}, flush=True)
    result = {
        "settings": vars(args),
        "machine": f"{platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, 1 thread",
        "results": rows,
    }
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
