"""In-silico perturbations: knockouts, overexpression and screens with a fitted sparse neural ODE."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys as K
from .._utils import warn_user
from ..model import SparseNODE
from ..model._model import _str_to_none
from ..pp._trajectories import bin_trajectories, check_start_time

logger = logging.getLogger(__name__)

MODES = ("knockout", "overexpression")
#: RMS error (fraction of each gene's range) of the wild-type simulation against a lineage's observed bins above
#: which a perturbation warns that it does not describe that lineage. Measured: default fits on krumsiek11 from
#: pseudotime 60 and on toy_grn from t = 3 stay at 0.02-0.12; from the shared progenitor state 0.17-0.74.
WILDTYPE_RMSE_WARN = 0.2


def _as_list(genes) -> list[str]:
    if isinstance(genes, str):
        return [genes]
    out = [str(g) for g in genes]
    if not out:
        raise ValueError("genes is empty; name at least one gene to perturb")
    return out


def _check_genes(adata: AnnData, model: SparseNODE, genes: list[str], key: str) -> None:
    unknown = [g for g in genes if g not in set(map(str, adata.var_names))]
    if unknown:
        raise KeyError(f"gene(s) {unknown} not in adata.var_names; check the spelling")
    not_modelled = [g for g in genes if g not in set(model.var_names)]
    if not_modelled:
        raise KeyError(
            f"gene(s) {not_modelled} were not modelled by fit {key!r} ({model.n_genes} genes); refit with "
            f"genes=... including them to perturb them"
        )


def _scaled_values(model: SparseNODE, genes: list[str], mode: str, value) -> dict[str, float]:
    """Clamp values on the model's scale: knockout = expression 0; overexpression = ``value`` (expression units)."""
    traj = model.trajectories
    pos = {g: i for i, g in enumerate(model.var_names)}
    vals = {}
    for g in genes:
        i = pos[g]
        if mode == "knockout":
            raw = 0.0 if value is None else value
        elif value is None:  # default overexpression: 1.5 x the highest binned level
            top = traj.values[..., i][traj.mask].max() * traj.scale[i] + traj.offset[i]
            raw = 1.5 * float(top) if top > 0 else float(traj.scale[i])
        else:
            raw = value[g] if isinstance(value, dict) else value
        raw = float(raw)
        if not np.isfinite(raw):
            raise ValueError(f"the {mode} value for {g!r} must be a finite number, got {raw}")
        vals[g] = (raw - float(traj.offset[i])) / float(traj.scale[i])
    return vals


def _run(
    model: SparseNODE,
    lineage_idx: list[int],
    n_steps: int,
    clamps: list[dict[str, float]],
    start_time: float | None = None,
):
    """Wild type and each clamp set, from each lineage's start bin, in one batched solve per start time.

    Returns times ``(T,)`` on the normalised axis and arrays ``(len(clamps) + 1, L, T, G)`` (index 0 = wild type).
    """
    traj = model.trajectories
    starts = traj.start_bins(start_time, lineage_idx)
    t0 = float(traj.times[starts.min()])
    grid = np.linspace(t0, float(traj.times[-1]), int(n_steps)).astype(np.float32)
    n_runs = len(clamps) + 1
    out = np.empty((n_runs, len(lineage_idx), len(grid), model.n_genes), dtype=np.float32)
    for s in np.unique(starts):  # lineages sharing a start time are solved together (usually all of them)
        sel = np.flatnonzero(starts == s)
        t_s = float(traj.times[s])
        rel = grid[grid >= t_s - 1e-7] - t_s
        rel = np.concatenate([[0.0], rel]) if rel[0] > 1e-7 else rel
        x0 = traj.values[np.asarray(lineage_idx)[sel], s]  # (l, G)
        x0_all = np.tile(x0, (n_runs, 1))  # run-major
        mask = np.zeros_like(x0_all)
        vals = np.zeros_like(x0_all)
        for r, clamp in enumerate(clamps, start=1):
            m, v = model.clamp_arrays(clamp, len(sel))
            mask[r * len(sel) : (r + 1) * len(sel)] = m
            vals[r * len(sel) : (r + 1) * len(sel)] = v
        sim = model.simulate(x0_all, rel, clamp_mask=mask, clamp_values=vals)  # (runs*l, T', G)
        sim = sim.reshape(n_runs, len(sel), len(rel), model.n_genes)
        n_after = int((grid >= t_s - 1e-7).sum())
        sim = sim[:, :, -n_after:]
        for k, li in enumerate(sel):
            out[:, li, len(grid) - n_after :] = sim[:, k]
            out[:, li, : len(grid) - n_after] = sim[:, k, :1]
    return grid, out


def _wildtype_rmse(model: SparseNODE, lineage_idx: list[int], grid: np.ndarray, wildtype: np.ndarray, start_time):
    """RMS error of the wild-type simulation ``(L, T, G)`` at each lineage's bins from its start, per gene range.

    NaN where the simulation is not finite.
    """
    traj = model.trajectories
    starts = traj.start_bins(start_time, lineage_idx)
    rng = traj.gene_ranges()
    out = np.full(len(lineage_idx), np.nan)
    for k, (li, s) in enumerate(zip(lineage_idx, starts, strict=True)):
        bins = np.flatnonzero(traj.mask[li] & (np.arange(traj.n_bins) >= s))
        if not np.isfinite(wildtype[k]).all() or bins.size == 0:
            continue
        pred = np.stack([np.interp(traj.times[bins], grid, wildtype[k, :, g]) for g in range(model.n_genes)], axis=1)
        out[k] = float(np.sqrt(np.mean(((pred - traj.values[li, bins]) / rng) ** 2)))
    return out


def _warn_wildtype(model: SparseNODE, key: str, lineage_idx: list[int], rmse: np.ndarray, start_time) -> None:
    """Warn when the unperturbed simulation does not follow a lineage's observed trajectory."""
    bad = [(model.trajectories.lineages[li], e) for li, e in zip(lineage_idx, rmse, strict=True)]
    bad = [(name, e) for name, e in bad if not (e <= WILDTYPE_RMSE_WARN)]  # NaN (diverged) counts as bad
    if not bad:
        return
    where = "its first bin" if start_time is None else f"pseudotime {float(start_time):g}"
    listed = ", ".join(f"{name!r} ({'diverged' if np.isnan(e) else f'{e:.2f}'})" for name, e in bad)
    warn_user(
        f"the unperturbed (wild-type) simulation of fit {key!r} does not follow the observed trajectory of "
        f"lineage(s) {listed} from {where} (RMS error as a fraction of each gene's range, above "
        f"{WILDTYPE_RMSE_WARN}): perturbation effects there describe the model's own path, not that lineage. Look "
        f"at sn.pl.trajectory_fit(adata, key={key!r}, start_time=...) and start where the model follows the data "
        "(after the lineages have separated), or refit.",
    )


def _unscale(model: SparseNODE, x: np.ndarray) -> np.ndarray:
    return x * model.trajectories.scale + model.trajectories.offset


def simulate_perturbation(
    adata: AnnData,
    genes,
    *,
    key: str = K.PATHREG,
    mode: str = "knockout",
    value=None,
    lineages=None,
    start_time: float | None = None,
    n_steps: int = 100,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Simulate a knockout or overexpression of one or several genes with a fitted model.

    From each lineage's first bin, the fitted field is integrated twice: unperturbed (wild type) and with the
    perturbed genes clamped (value held fixed, derivative zero). Results are reported in expression units.

    Perturbations integrate whole trajectories, so they are only as good as the fit's trajectories: check them with
    :func:`sparsenode.pl.trajectory_fit`. Fits by multiple shooting (``sn.tl.fit_node(..., objective="shooting")``)
    follow the trajectories more closely than gradient matching (the default, which fits local slopes and ranks
    edges best); on krumsiek11 a Gata1 or Pu.1 knockout lowered every known target with shooting fits (seeds 0, 1)
    but not with the gradient-matching fit of seed 0.

    A UserWarning names every lineage whose wild-type simulation misses its observed bins by more than
    ``WILDTYPE_RMSE_WARN`` (0.2 of each gene's range, RMS) or diverges: there the perturbation describes the model's
    own path, not the lineage (typical from a progenitor state that several lineages share).

    Parameters
    ----------
    adata
        AnnData with a fit in ``adata.uns[key]``.
    genes
        Gene name or list of names to perturb together.
    key
        Key of the fit.
    mode
        ``"knockout"`` (clamp to expression 0) or ``"overexpression"``.
    value
        Clamp value in expression units: a number or ``{gene: value}``. Default: 0 for knockout, 1.5 x the highest
        binned level of the gene for overexpression.
    lineages
        Lineage names to simulate (default: all).
    start_time
        Start each lineage from its observed state at this (original-axis) pseudotime instead of its first bin. For
        branching data choose the branch point, where the lineages have begun to separate but the perturbed genes'
        programmes are not yet established: from a shared progenitor state a deterministic model follows one
        averaged path for every lineage, and after commitment the fitted field may hold the committed state without
        the perturbed gene (on krumsiek11 a Gata1 knockout from t = 30, in progenitors, lowers Fog1, EKLF, Fli1 and
        SCL in the erythroid and megakaryocytic lineages; from t = 60 it may not lower SCL).
    n_steps
        Points of the output time grid.
    key_added
        Key of the result (default ``"perturbation"``, which :func:`sparsenode.pl.perturbation` reads by default;
        give each simulation its own key to keep several).
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy; writes

    - ``adata.uns[key_added]``: ``params`` (``fit_key``, ``mode``, ``genes``, ``values``), ``times`` (normalised
      grid), ``pseudotime`` (the grid on the original time axis), ``lineages``, ``var_names``, and ``(lineages, time,
      genes)`` arrays ``wildtype``, ``perturbed``, ``delta`` (perturbed - wild type) and ``log_fold_change``
      (log2 of perturbed over wild type, expression clipped at 0 with a pseudocount of 1 % of each gene's range),
      and ``wildtype_rmse`` ``(lineages,)``: the RMS error of the wild-type simulation against the lineage's observed
      bins from its start, each gene's error as a fraction of its range over the fitted bins (NaN if it diverged);
    - ``adata.obs[f"{key_added}_effect"]``: per cell, the size (L2 norm over the unperturbed genes, scaled units)
      of the effect at the cell's pseudotime in its lineage; NaN for cells the fit did not use.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.krumsiek11()
    >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=5, progress_bar=False)
    >>> sn.tl.simulate_perturbation(adata, "Gata1", key="pathreg", key_added="ko_gata1")
    >>> adata.uns["ko_gata1"]["delta"].shape
    (4, 100, 11)
    """
    if mode not in MODES:
        raise ValueError(f"mode must be 'knockout' or 'overexpression', not {mode!r}")
    if int(n_steps) < 2:
        raise ValueError(f"n_steps must be at least 2, got {n_steps}")
    model = SparseNODE.from_adata(adata, key=key, device="cpu")
    if model.trajectories is None:
        raise KeyError(f"adata.uns[{key!r}] has no stored trajectories; refit with sn.tl.fit_node")
    genes = _as_list(genes)
    _check_genes(adata, model, genes, key)
    vals = _scaled_values(model, genes, mode, value)
    lin_idx = model.trajectories.lineage_indices(lineages)
    start_time = check_start_time(start_time)
    grid, sims = _run(model, lin_idx, n_steps, [vals], start_time)
    rmse = _wildtype_rmse(model, lin_idx, grid, sims[0], start_time)
    _warn_wildtype(model, key, lin_idx, rmse, start_time)
    wt, pt = _unscale(model, sims[0]), _unscale(model, sims[1])
    pc = 0.01 * model.trajectories.scale
    lfc = np.log2((np.clip(pt, 0, None) + pc) / (np.clip(wt, 0, None) + pc))
    traj = model.trajectories
    t_min, t_max = traj.time_range
    key_added = key_added or "perturbation"
    result = {
        K.PARAMS: {
            "fit_key": key,
            "mode": mode,
            "genes": np.asarray(genes, dtype=str),
            "start_time": float("nan") if start_time is None else float(start_time),
            "values": np.asarray(
                [vals[g] * traj.scale[model.var_names.index(g)] + traj.offset[model.var_names.index(g)] for g in genes],
                dtype=np.float64,
            ),
        },
        "times": grid,
        "pseudotime": (t_min + grid * (t_max - t_min)).astype(np.float64),
        "lineages": np.asarray([traj.lineages[i] for i in lin_idx], dtype=str),
        K.VAR_NAMES: np.asarray(model.var_names, dtype=str),
        "wildtype": wt.astype(np.float32),
        "perturbed": pt.astype(np.float32),
        "delta": (pt - wt).astype(np.float32),
        "log_fold_change": lfc.astype(np.float32),
        "wildtype_rmse": rmse.astype(np.float32),
    }
    effect = _cell_effect(adata, model, key, lin_idx, grid, sims, genes)
    target = adata.copy() if copy else adata
    target.uns[key_added] = result
    target.obs[f"{key_added}_effect"] = effect
    logger.info("added adata.uns[%r] and adata.obs[%r]", key_added, f"{key_added}_effect")
    return target if copy else None


def _cell_effect(adata, model, key, lin_idx, grid, sims, genes) -> np.ndarray:
    """Per-cell effect size at the cell's bin time in its lineage (NaN where the cell was not used)."""
    p = adata.uns[key][K.PARAMS]
    try:
        traj = bin_trajectories(
            adata,
            time_key=str(p["time_key"]),
            lineage_key=_str_to_none(p["lineage_key"]),
            genes=model.var_names,
            layer=_str_to_none(p["layer"]),
            n_bins=int(p["n_bins"]),
            scaling=str(p["scaling"]),
        )
    except (KeyError, ValueError):
        return np.full(adata.n_obs, np.nan)
    keep = np.ones(model.n_genes, dtype=bool)
    keep[[model.var_names.index(g) for g in genes]] = False
    size = np.linalg.norm((sims[1] - sims[0])[..., keep], axis=-1)  # (L, T) on the scaled axis
    pos = {li: k for k, li in enumerate(lin_idx)}
    out = np.full(adata.n_obs, np.nan)
    ok = (traj.cell_lineage >= 0) & np.isin(traj.cell_lineage, lin_idx)
    cells = np.flatnonzero(ok)
    bin_t = traj.times[traj.cell_bin[cells]]
    t_idx = np.clip(np.searchsorted(grid, bin_t), 0, len(grid) - 1)
    rows = np.array([pos[li] for li in traj.cell_lineage[cells]], dtype=np.int64)
    out[cells] = size[rows, t_idx]
    return out


def simulate_knockout(adata: AnnData, genes, **kwargs) -> AnnData | None:
    """Knock genes out: shorthand for ``simulate_perturbation(adata, genes, mode="knockout", ...)``.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.krumsiek11()
    >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=5, progress_bar=False)
    >>> sn.tl.simulate_knockout(adata, ["Gata1", "Pu.1"], key_added="double_ko")
    >>> adata.uns["double_ko"]["params"]["genes"].tolist()
    ['Gata1', 'Pu.1']
    """
    if "mode" in kwargs:
        raise ValueError("simulate_knockout always knocks out; use simulate_perturbation(mode=...) otherwise")
    return simulate_perturbation(adata, genes, mode="knockout", **kwargs)


def perturbation_screen(
    adata: AnnData,
    *,
    key: str = K.PATHREG,
    genes=None,
    mode: str = "knockout",
    value=None,
    start_time: float | None = None,
    n_steps: int = 50,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Perturb each candidate gene on its own and rank the candidates by their effect on each lineage's end state.

    All candidates and lineages are simulated in one batched solve (no loop of fits).

    Parameters
    ----------
    adata
        AnnData with a fit in ``adata.uns[key]``.
    key
        Key of the fit.
    genes
        Candidates (default: every modelled gene, or the fit's regulators when it was given a prior).
    mode, value, start_time
        As in :func:`simulate_perturbation`.
    n_steps
        Points of the internal time grid.
    key_added
        Key of the result (default ``f"{key}_{mode}_screen"``).
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy; writes ``adata.uns[key_added]``: a DataFrame with one row per candidate and lineage:
    ``gene``, ``lineage``, ``effect`` (L2 norm of the end-state change of the other genes, scaled units),
    ``max_abs_delta`` (expression units), ``top_target`` (the most changed gene), ``top_delta``, ``wildtype_rmse``
    (the lineage's wild-type error, see :func:`simulate_perturbation`; the same warning applies) and ``rank`` (1 =
    strongest within the lineage); sorted by lineage and rank.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.krumsiek11()
    >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=5, progress_bar=False)
    >>> sn.tl.perturbation_screen(adata, key="pathreg")
    >>> adata.uns["pathreg_knockout_screen"].shape[0]
    44
    """
    if mode not in MODES:
        raise ValueError(f"mode must be 'knockout' or 'overexpression', not {mode!r}")
    model = SparseNODE.from_adata(adata, key=key, device="cpu")
    if genes is None:
        genes = model.regulators if model.regulators is not None else model.var_names
        genes = [g for g in genes if g in set(model.var_names)]
    genes = _as_list(genes)
    _check_genes(adata, model, genes, key)
    clamps = [_scaled_values(model, [g], mode, value) for g in genes]
    lin_idx = model.trajectories.lineage_indices()
    start_time = check_start_time(start_time)
    grid, sims = _run(model, lin_idx, n_steps, clamps, start_time)
    rmse = _wildtype_rmse(model, lin_idx, grid, sims[0], start_time)
    _warn_wildtype(model, key, lin_idx, rmse, start_time)
    wt_end = sims[0, :, -1]  # (L, G)
    rows = []
    scale = model.trajectories.scale
    for c, g in enumerate(genes):
        gi = model.var_names.index(g)
        d_scaled = sims[c + 1, :, -1] - wt_end
        d_scaled[:, gi] = 0.0
        d_expr = d_scaled * scale
        for k, li in enumerate(lin_idx):
            top = int(np.argmax(np.abs(d_expr[k])))
            rows.append(
                {
                    "gene": g,
                    "lineage": model.trajectories.lineages[li],
                    "effect": float(np.linalg.norm(d_scaled[k])),
                    "max_abs_delta": float(np.abs(d_expr[k]).max()),
                    "top_target": model.var_names[top],
                    "top_delta": float(d_expr[k, top]),
                    "wildtype_rmse": float(rmse[k]),
                }
            )
    df = pd.DataFrame(rows)
    df["rank"] = df.groupby("lineage")["effect"].rank(ascending=False, method="first").astype(int)
    df = df.sort_values(["lineage", "rank"]).reset_index(drop=True)
    df.index = df.index.astype(str)
    key_added = key_added or f"{key}_{mode}_screen"
    target = adata.copy() if copy else adata
    target.uns[key_added] = df
    logger.info("added adata.uns[%r] (%d candidates x %d lineages)", key_added, len(genes), len(lin_idx))
    return target if copy else None
