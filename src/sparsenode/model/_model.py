"""SparseNODE: the AnnData-aware model (binned trajectories in, networks and simulations out)."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .. import _keys as K
from .._utils import resolve_device, seeded, to_numpy
from ..module import ClampedField, get_method, jacobian_summary, make_field, with_prior_penalty
from ..pp._trajectories import Trajectories
from ..train import TrainConfig, feature_sparsity, solve, train

logger = logging.getLogger(__name__)

DEFAULT_HIDDEN = (32, 32)


def _none_to_str(d: dict) -> dict:
    """Make a params dict h5ad-safe: None becomes the string 'none', tuples become lists."""
    out = {}
    for k, v in d.items():
        if v is None:
            out[k] = "none"
        elif isinstance(v, dict):
            out[k] = _none_to_str(v)
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = v
    return out


def _str_to_none(v):
    return None if isinstance(v, str) and v == "none" else v


def check_lambda_prior(lambda_prior) -> float:
    """``lambda_prior`` as a finite non-negative float, or a ValueError that says what is wrong."""
    try:
        lam = float(lambda_prior)
    except (TypeError, ValueError):
        raise ValueError(f"lambda_prior must be a number, got {lambda_prior!r}") from None
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"lambda_prior must be a finite non-negative number, got {lambda_prior}")
    return lam


def _check_prior(var_names: list[str], prior_edges, lambda_prior) -> tuple[float, list[tuple[str, str]] | None]:
    """Validate the soft prior: ``(lambda_prior, sorted modelled (source, target) pairs or None)``."""
    lam = check_lambda_prior(lambda_prior)
    if prior_edges is None:
        if lam > 0:
            raise ValueError("lambda_prior > 0 penalises edges outside a prior, but no prior_edges were given")
        return lam, None
    if hasattr(prior_edges, "columns"):
        if not {"source", "target"} <= set(prior_edges.columns):
            raise ValueError(
                "a prior network needs 'source' and 'target' columns (e.g. sn.datasets.base_grn()); "
                f"got columns {list(prior_edges.columns)}"
            )
        src, tgt = prior_edges["source"].astype(str), prior_edges["target"].astype(str)
        keep = (src.isin(var_names) & tgt.isin(var_names)).to_numpy()
        pairs = zip(src[keep], tgt[keep], strict=True)
    else:
        pairs = ((str(s), str(t)) for s, t in prior_edges)
    genes = set(var_names)
    edges = sorted({(s, t) for s, t in pairs if s in genes and t in genes})
    if not edges:
        raise ValueError(
            "no edge of the prior connects two modelled genes (unknown gene names?); check that the prior uses the "
            "same gene naming as adata.var_names (symbols vs. ids), or model its genes with genes=..."
        )
    return lam, edges


class SparseNODE:
    """A sparse neural ODE ``dx/dt = f(x)`` over a set of genes, fitted to binned pseudotime trajectories.

    The model never writes into AnnData itself: :mod:`sparsenode.tl` functions do that, and
    :meth:`from_adata` rebuilds a fitted model from what they stored.

    Parameters
    ----------
    var_names
        Names of the modelled genes (order of the state vector).
    method
        One of ``"node"``, ``"l0"``, ``"cnode"``, ``"grouplasso"``, ``"lassonet_inner"``, ``"lassonet_outer"``,
        ``"pathreg"``.
    hidden
        Hidden layer sizes of the vector field MLP (per output gene for ``grouplasso``).
    activation
        Non-linearity of the MLP.
    lambdas
        Regularisation strengths overriding the method's defaults (e.g. ``{"lambda_path": 0.1}``).
    gates
        PathReg/L0 gate type: ``"weight"`` (default, one gate per weight) or ``"unit"`` (one gate per input unit,
        as in the paper's public code; it can only select inputs globally).
    decay
        Learn a first-order decay term per gene beside the network.
    regulators
        Optional gene names allowed to act as regulators (inputs); other genes' inputs are masked out (hard mask on
        the first layer: it can only act on sources, since one network computes every output).
    prior_edges
        Optional prior network for the soft penalty: a DataFrame with ``source`` and ``target`` columns, or
        ``(source, target)`` pairs. Pairs outside the modelled genes are dropped.
    lambda_prior
        Strength of the soft prior penalty (``0``: none). Adds ``lambda_prior`` times the mean over all gene pairs of
        the method's input-output dependency (:func:`sparsenode.module.prior_dependency`) on the pairs that
        ``prior_edges`` does not list: edge-level, for every method. Needs ``prior_edges``.
    n_members
        Ensemble size, computed in one batched solve.
    seed
        Seed of initialisation, validation split and gate sampling.
    device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.toy_grn(n_genes=5, n_cells=300, seed=0)
    >>> traj = sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineage", n_bins=15)
    >>> model = sn.SparseNODE(traj.var_names, method="pathreg", hidden=(16, 16))
    >>> model.fit(traj, sn.train.TrainConfig(max_epochs=5), progress_bar=False).adjacency().shape
    (5, 5)
    """

    def __init__(
        self,
        var_names,
        method: str = "pathreg",
        *,
        hidden=DEFAULT_HIDDEN,
        activation: str = "softplus",
        lambdas: dict | None = None,
        gates: str | None = None,
        decay: bool = True,
        regulators=None,
        prior_edges=None,
        lambda_prior: float = 0.0,
        n_members: int = 1,
        seed: int = 0,
        device: str = "auto",
    ):
        self.method = get_method(method)
        self.var_names = [str(v) for v in var_names]
        if len(set(self.var_names)) != len(self.var_names):
            raise ValueError("var_names contains duplicates")
        unknown = set(lambdas or {}) - set(self.method.lambdas)
        if unknown:
            raise ValueError(
                f"method {method!r} takes no regularisation strength(s) {sorted(unknown)}; "
                f"it uses {sorted(self.method.lambdas) or 'none'}"
            )
        self.lambdas = {**self.method.lambdas, **{k: float(v) for k, v in (lambdas or {}).items()}}
        for k, v in self.lambdas.items():
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{k} must be a finite non-negative number, got {v}")
        if gates is not None and self.method.gates is None:
            raise ValueError(f"method {method!r} has no gates; gates=... applies to 'pathreg' and 'l0'")
        self.gates = gates if gates is not None else self.method.gates
        self.hidden = tuple(int(h) for h in hidden)
        self.activation = activation
        self.decay = bool(decay)
        self.n_members = int(n_members)
        if self.n_members < 1:
            raise ValueError(f"n_members must be >= 1, got {n_members}")
        self.seed = int(seed)
        self.device = resolve_device(device)
        self.regulators = None if regulators is None else [str(r) for r in regulators]
        mask = None
        if self.regulators is not None:
            missing = [r for r in self.regulators if r not in set(self.var_names)]
            known = set(self.regulators)
            mask = torch.tensor([1.0 if g in known else 0.0 for g in self.var_names])
            if mask.sum() == 0:
                raise ValueError("none of the regulators is among the modelled genes; check the names")
            if missing:
                logger.info("%d regulator(s) are not modelled and are ignored", len(missing))
        self.lambda_prior, self.prior_edges = _check_prior(self.var_names, prior_edges, lambda_prior)
        with seeded(self.seed):
            self.field = make_field(
                self.method,
                len(self.var_names),
                hidden=self.hidden,
                activation=activation,
                n_members=self.n_members,
                decay=self.decay,
                input_mask=mask,
                seed=self.seed,
                gates=self.gates,
            ).to(self.device)
        self.field.eval()
        self.trajectories: Trajectories | None = None
        self.history: dict = {}
        self.train_config = TrainConfig()

    # ---------------------------------------------------------------------------------------------------------------
    @property
    def n_genes(self) -> int:
        """Number of modelled genes."""
        return len(self.var_names)

    def __repr__(self) -> str:
        fitted = "fitted" if self.history else "not fitted"
        return (
            f"SparseNODE(method={self.method.name!r}, genes={self.n_genes}, hidden={self.hidden}, "
            f"members={self.n_members}, {fitted})"
        )

    def fit(
        self,
        trajectories: Trajectories,
        config: TrainConfig | None = None,
        *,
        progress_bar: bool = True,
        member_weights: np.ndarray | None = None,
        checkpoint_dir=None,
        resume: bool = False,
    ) -> SparseNODE:
        """Fit the vector field to binned trajectories; returns ``self``.

        Parameters
        ----------
        trajectories
            Output of :func:`sparsenode.pp.bin_trajectories` over the same genes, in the same order.
        config
            Optimisation settings (:class:`sparsenode.train.TrainConfig`).
        progress_bar
            Show a progress bar.
        member_weights
            Optional ``(members, lineages, bins)`` weights of each target bin per ensemble member (bootstrap).
        checkpoint_dir
            Folder for training checkpoints (overrides ``config.checkpoint_dir``), written every
            ``config.checkpoint_every`` epochs.
        resume
            Continue from the checkpoint in the checkpoint folder, if there is one; the result equals that of an
            uninterrupted fit. The checkpoint must come from the same genes, architecture and settings.
        """
        if list(trajectories.var_names) != self.var_names:
            raise ValueError("the trajectories' genes differ from the model's var_names (same genes, same order)")
        self.train_config = config or TrainConfig()
        if checkpoint_dir is not None or self.train_config.checkpoint_dir is not None:
            folder = str(checkpoint_dir if checkpoint_dir is not None else self.train_config.checkpoint_dir)
            self.train_config = dataclasses.replace(self.train_config, checkpoint_dir=folder)
        elif resume:
            raise ValueError("resume=True needs a checkpoint folder: pass checkpoint_dir=...")
        arch = {k: v for k, v in self.config().items() if k != "train"}
        meta = {"var_names": json.dumps(self.var_names), "model": json.dumps(arch, sort_keys=True, default=float)}
        with seeded(self.seed, self.device):
            self.history = train(
                self.field,
                self.training_method(),
                self.lambdas,
                trajectories.values,
                trajectories.mask,
                trajectories.times,
                self.train_config,
                seed=self.seed,
                progress_bar=progress_bar,
                member_weights=member_weights,
                description=f"{self.method.name}",
                resume=resume,
                checkpoint_meta=meta,
            )
        self.trajectories = trajectories
        return self

    def off_prior(self) -> np.ndarray | None:
        """``(genes, genes)`` 0/1 ``[source, target]``: 1 for pairs the prior does not list (None without a prior)."""
        if self.prior_edges is None:
            return None
        pos = {g: i for i, g in enumerate(self.var_names)}
        off = np.ones((self.n_genes, self.n_genes), dtype=np.float32)
        src = [pos[s] for s, _ in self.prior_edges]
        tgt = [pos[t] for _, t in self.prior_edges]
        off[src, tgt] = 0.0
        return off

    def training_method(self):
        """The method as trained: with the soft prior penalty added when ``lambda_prior > 0``."""
        if self.prior_edges is None or self.lambda_prior == 0.0:
            return self.method
        off = torch.as_tensor(self.off_prior().T.copy(), device=self.device)  # torch convention (outputs, inputs)
        return with_prior_penalty(self.method, off, self.lambda_prior)

    # -- readouts ----------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def adjacency(self, members: bool = False) -> np.ndarray:
        """Structural input-output adjacency, ``[source, target]`` (rows regulate columns).

        Parameters
        ----------
        members
            Return ``(members, genes, genes)`` instead of the mean over ensemble members.
        """
        adj = self.method.adjacency(self.field)
        if getattr(self.field, "edge_mask", None) is not None:  # pairs removed by sn.tl.prune
            adj = adj * self.field.edge_mask
        adj = to_numpy(adj).transpose(0, 2, 1)
        if self.field.input_mask is not None:
            adj = adj * to_numpy(self.field.input_mask)[None, :, None]
        return adj if members else adj.mean(axis=0)

    def feature_sparsity(self, threshold: float = 1e-3) -> float:
        """Fraction of zero entries of the input-output adjacency (relative to its largest entry)."""
        return feature_sparsity(torch.as_tensor(self.adjacency(members=True)), threshold)

    def weight_sparsity(self) -> float:
        """Fraction of zero (gated off, or exactly zero) network weights."""
        with torch.no_grad():
            f = self.field
            if getattr(f, "gates", None) is not None:
                zs = f.gate_values(sample=False)
                zero = sum(float((z == 0).sum()) for z in zs)
                total = sum(z.numel() for z in zs)
                return zero / total
            ws = [
                p
                for n, p in f.named_parameters()
                if n.startswith(("weights", "first", "blocks", "last", "skip")) and "bias" not in n
            ]
            zero = sum(float((w.abs() <= 1e-8).sum()) for w in ws)
            return zero / max(sum(w.numel() for w in ws), 1)

    def _tensor(self, a) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float32), device=self.device)

    def _states(self, states: str, lineage=None) -> torch.Tensor:
        traj = self._require_trajectories()
        mask = traj.mask
        if lineage is not None:
            if isinstance(lineage, (int, np.integer)) and 0 <= int(lineage) < traj.n_lineages:
                li = int(lineage)
            elif str(lineage) in traj.lineages:
                li = traj.lineages.index(str(lineage))
            else:
                raise KeyError(f"unknown lineage {lineage!r}; the model was fitted on lineages {traj.lineages}")
            mask = np.zeros_like(traj.mask)
            mask[li] = traj.mask[li]
        if states == "data":
            x = traj.values[mask]
        elif states == "fitted":
            pred = self.predict()
            x = pred[mask]
        else:
            raise ValueError(f"states must be 'data' or 'fitted', not {states!r}")
        return self._tensor(x)

    def jacobian(self, states: str = "data", members: bool = False, lineage=None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and mean absolute Jacobian of the field, ``[source, target]``, over the trajectory states.

        Parameters
        ----------
        states
            ``"data"`` (the observed bins) or ``"fitted"`` (the model's own trajectories at the same bins).
        members
            Keep the ensemble dimension.
        lineage
            Average only over the bins of this lineage (name or index); ``None``: all lineages.

        Returns
        -------
        ``(mean_J, mean_abs_J)``, each ``(genes, genes)`` (or ``(members, genes, genes)``) indexed [source, target].
        """
        stats = self.jacobian_stats(self._states(states, lineage))
        mean, mabs = stats["mean"], stats["mean_abs"]
        if members:
            return mean, mabs
        return mean.mean(axis=0), mabs.mean(axis=0)

    def jacobian_stats(self, x: torch.Tensor, rates: torch.Tensor | None = None) -> dict[str, np.ndarray]:
        """Per member, ``[source, target]``: mean and mean absolute Jacobian at the states ``x`` ``(batch, genes)``.

        With ``rates`` (``(batch, genes)`` or ``(members, batch, genes)``, the rates of change ``dx/dt`` at ``x``)
        also ``"flux"``: the mean of ``|J[target, source] * dx_source/dt|``. One chunked pass over the field
        (:func:`sparsenode.module.jacobian_summary`), so 2,000 genes never hold the whole Jacobian in memory.
        """
        self.field.eval()
        self.field.prepare(sample=False)
        try:
            xs = x.unsqueeze(0).expand(self.n_members, -1, -1)
            if rates is not None and rates.dim() == 2:
                rates = rates.unsqueeze(0)
            stats = jacobian_summary(self.field, xs, rates)  # (members, out, in)
        finally:
            self.field.release()
        return {k: to_numpy(v).transpose(0, 2, 1) for k, v in stats.items()}

    # -- simulation --------------------------------------------------------------------------------------------------
    def _require_trajectories(self) -> Trajectories:
        if self.trajectories is None:
            raise ValueError("the model has not been fitted (no trajectories); call fit() first")
        return self.trajectories

    def clamp_arrays(self, clamp: dict, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(batch, genes)`` clamp mask and values from ``{gene: scaled value}``, with a clear error on bad genes."""
        idx = {g: i for i, g in enumerate(self.var_names)}
        mask = np.zeros((batch, self.n_genes), dtype=np.float32)
        vals = np.zeros((batch, self.n_genes), dtype=np.float32)
        for g, v in clamp.items():
            if g not in idx:
                raise KeyError(f"gene {g!r} is not modelled; modelled genes are in model.var_names")
            if not np.isfinite(v):
                raise ValueError(f"clamp value for {g!r} must be finite, got {v}")
            mask[:, idx[g]] = 1.0
            vals[:, idx[g]] = float(v)
        return mask, vals

    @torch.no_grad()
    def simulate(
        self,
        x0: np.ndarray,
        times: np.ndarray,
        *,
        clamp: dict | None = None,
        clamp_mask: np.ndarray | None = None,
        clamp_values: np.ndarray | None = None,
        members: bool = False,
    ) -> np.ndarray:
        """Integrate the fitted field from scaled initial states (one batched solve).

        Parameters
        ----------
        x0
            ``(batch, genes)`` initial states on the model's scale.
        times
            Increasing time points on the normalised axis; the first is the initial time.
        clamp
            ``{gene: value}`` genes held at a value (scaled units) in every run (knockout: the scaled zero).
        clamp_mask, clamp_values
            Per-run clamps instead of ``clamp``: ``(batch, genes)`` 0/1 mask and values, so that many different
            perturbations run in one solve.
        members
            Keep the ensemble dimension in the output. Otherwise an ensemble's trajectories are summarised by the
            members' median at every time point and gene: one member whose simulation diverges (fields fitted by
            gradient matching can, far from the data) does not move it, where it would dominate a mean.

        Returns
        -------
        ``(batch, times, genes)`` (or ``(members, batch, times, genes)``).

        Examples
        --------
        >>> import numpy as np, sparsenode as sn
        >>> model = sn.SparseNODE(["a", "b"], method="node", hidden=(4,))
        >>> model.simulate(np.ones((3, 2)), np.linspace(0, 1, 5), clamp={"a": 0.0}).shape
        (3, 5, 2)
        """
        x0 = self._tensor(np.atleast_2d(x0))
        t = self._tensor(times)
        field = self.field
        field.eval()
        y0 = x0.unsqueeze(0).expand(self.n_members, -1, -1).contiguous()
        fn = field
        if clamp:
            clamp_mask, clamp_values = self.clamp_arrays(clamp, x0.shape[0])
        if clamp_mask is not None:
            if (
                clamp_values is None
                or np.shape(clamp_mask) != tuple(x0.shape)
                or np.shape(clamp_values) != tuple(x0.shape)
            ):
                raise ValueError("clamp_mask and clamp_values must both have the shape of x0 (batch, genes)")
            fn = ClampedField(field, self._tensor(clamp_mask).unsqueeze(0), self._tensor(clamp_values).unsqueeze(0))
            y0 = fn.clamp(y0)
        field.prepare(sample=False)
        try:
            cfg = self.train_config
            out = solve(fn, y0, t, solver=cfg.solver, rtol=cfg.rtol, atol=cfg.atol, step_size=cfg.step_size)
            out = field.apply_outer_skip(out)
        finally:
            field.release()
        arr = to_numpy(out).transpose(1, 2, 0, 3)  # (members, batch, time, genes)
        return arr if members else np.median(arr, axis=0)

    def predict(
        self,
        *,
        clamp: dict | None = None,
        members: bool = False,
        start_time: float | None = None,
        lineages: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Each lineage's trajectory from its first filled bin over the shared grid, ``(lineages, bins, genes)``.

        Bins before a lineage's start repeat its initial state. An ensemble's prediction is the members' median
        (see :meth:`simulate`), ``members=True`` keeps every member's. ``start_time`` (original pseudotime axis)
        starts each lineage from its observed state at the first filled bin at or after that time instead
        (:meth:`sparsenode.pp.Trajectories.start_bins`): lineages that share a progenitor state at the first bin
        cannot follow different fates from it, later starts show how the model follows each one. ``lineages``
        (names) predicts only those, in that order; only they need data after ``start_time``.

        Examples
        --------
        >>> import sparsenode as sn
        >>> adata = sn.datasets.toy_grn(n_genes=4, n_cells=200, seed=0)
        >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", n_bins=10, max_epochs=3, hidden=(8,),
        ...                   progress_bar=False)
        >>> model = sn.SparseNODE.from_adata(adata, device="cpu")
        >>> later = model.predict(start_time=5.0)  # from the observed bin at pseudotime 5 on
        >>> later.shape, bool((later[:, 4] == model.trajectories.values[:, 4]).all())
        ((2, 10, 4), True)
        """
        traj = self._require_trajectories()
        idx = np.asarray(traj.lineage_indices(lineages), dtype=np.int64)
        starts = traj.start_bins(start_time, lineage_idx=idx)
        x0 = traj.values[idx, starts]
        s0 = int(starts.min())
        rel = traj.times[s0:] - traj.times[s0]
        sim = self.simulate(x0, rel, clamp=clamp, members=True)  # (members, L, T - s0, d)
        out = np.empty((self.n_members, len(idx), traj.n_bins, self.n_genes), dtype=np.float32)
        for li, s in enumerate(starts):  # few lineages; aligns each lineage's own start
            n = traj.n_bins - s
            out[:, li, s:] = sim[:, li, :n]
            out[:, li, :s] = sim[:, li, :1]
        return out if members else np.median(out, axis=0)

    def mse(self) -> float:
        """MSE of :meth:`predict` against the observed bins (single shooting from each lineage's start)."""
        traj = self._require_trajectories()
        pred = self.predict()
        return float(((pred - traj.values) ** 2)[traj.mask].mean())

    # -- persistence -------------------------------------------------------------------------------------------------
    def config(self) -> dict:
        """Constructor arguments and training settings as a JSON/h5ad-safe dict."""
        return _none_to_str(
            {
                "method": self.method.name,
                "hidden": list(self.hidden),
                "activation": self.activation,
                "lambdas": dict(self.lambdas),
                "gates": self.gates,
                "decay": self.decay,
                "n_members": self.n_members,
                "seed": self.seed,
                "regulators": self.regulators,
                "lambda_prior": float(self.lambda_prior),
                "prior_source": None if self.prior_edges is None else [e[0] for e in self.prior_edges],
                "prior_target": None if self.prior_edges is None else [e[1] for e in self.prior_edges],
                "train": self.train_config.to_dict(),
            }
        )

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The field's state_dict as float32 NumPy arrays (h5ad-safe)."""
        return {k.replace(".", "__"): to_numpy(v) for k, v in self.field.state_dict().items()}

    def load_state_arrays(self, arrays: dict) -> None:
        """Load weights stored by :meth:`state_arrays`."""
        sd = {k.replace("__", "."): torch.as_tensor(np.asarray(v)) for k, v in arrays.items()}
        self._load_field_state(sd)
        self.field.to(self.device).eval()

    def _load_field_state(self, sd: dict) -> None:
        if "edge_mask" in sd and hasattr(self.field, "set_edge_mask"):  # a pruned fit (sn.tl.prune)
            self.field.set_edge_mask(sd["edge_mask"])
        self.field.load_state_dict(sd)

    @classmethod
    def _from_config(cls, cfg: dict, var_names, device: str = "auto") -> SparseNODE:
        regs = _str_to_none(cfg.get("regulators", "none"))
        if regs is not None:
            regs = [str(r) for r in np.asarray(regs).tolist()]
        edges = None
        src, tgt = _str_to_none(cfg.get("prior_source", "none")), _str_to_none(cfg.get("prior_target", "none"))
        if src is not None and tgt is not None:
            edges = list(zip(map(str, np.asarray(src).tolist()), map(str, np.asarray(tgt).tolist()), strict=True))
        model = cls(
            var_names,
            method=str(cfg["method"]),
            hidden=tuple(int(h) for h in np.asarray(cfg["hidden"]).tolist()),
            activation=str(cfg["activation"]),
            lambdas={str(k): float(v) for k, v in dict(cfg["lambdas"]).items()},
            gates=_str_to_none(cfg.get("gates", "none")) if get_method(str(cfg["method"])).gates else None,
            decay=bool(cfg["decay"]),
            regulators=regs,
            prior_edges=edges,
            lambda_prior=float(cfg.get("lambda_prior", 0.0)),
            n_members=int(cfg["n_members"]),
            seed=int(cfg["seed"]),
            device=device,
        )
        train_cfg = {
            k: (
                None
                if (
                    isinstance(v, (int, float))
                    and v == -1
                    and k in ("patience", "segment_bins", "step_size", "grad_clip", "checkpoint_dir")
                )
                else v
            )
            for k, v in dict(cfg.get("train", {})).items()
        }
        model.train_config = TrainConfig(**{k: (v.item() if hasattr(v, "item") else v) for k, v in train_cfg.items()})
        return model

    @classmethod
    def from_adata(cls, adata, key: str = K.PATHREG, device: str = "auto") -> SparseNODE:
        """Rebuild a fitted model from ``adata.uns[key]`` written by a ``sn.tl.fit_*`` function.

        Examples
        --------
        >>> import sparsenode as sn
        >>> adata = sn.datasets.toy_grn(n_genes=5, n_cells=300, seed=0)
        >>> sn.tl.fit_pathreg(adata, time_key="time", lineage_key="lineage", max_epochs=3, progress_bar=False)
        >>> sn.SparseNODE.from_adata(adata, key="pathreg")
        SparseNODE(method='pathreg', genes=5, hidden=(32, 32), members=16, fitted)
        """
        if key not in adata.uns:
            fitted = [k for k, v in adata.uns.items() if isinstance(v, dict) and K.STATE_DICT in v]
            raise KeyError(
                f"no fitted model under adata.uns[{key!r}]; fitted models here: {fitted or 'none'}. "
                "Run sn.tl.fit_pathreg(adata, ...) or sn.tl.fit_node(adata, method=...) first"
            )
        stored = adata.uns[key]
        for field in (K.PARAMS, K.VAR_NAMES, K.STATE_DICT):
            if field not in stored:
                raise KeyError(f"adata.uns[{key!r}] holds no fitted model (missing {field!r}); refit it")
        var_names = [str(v) for v in np.asarray(stored[K.VAR_NAMES]).tolist()]
        model = cls._from_config(dict(stored[K.PARAMS]), var_names, device=device)
        model.load_state_arrays(dict(stored[K.STATE_DICT]))
        if K.TRAJECTORIES in stored:
            model.trajectories = Trajectories.from_dict(dict(stored[K.TRAJECTORIES]), var_names)
        model.history = {k: np.asarray(v) for k, v in dict(stored.get(K.HISTORY, {"fitted": 1})).items()}
        return model

    def save(self, path, *, overwrite: bool = False) -> None:
        """Write ``config.json`` and ``model.pt`` (a plain tensor state_dict, no pickled objects) into ``path``.

        Examples
        --------
        >>> import sparsenode as sn, tempfile
        >>> model = sn.SparseNODE(["a", "b"], method="node", hidden=(4,))
        >>> with tempfile.TemporaryDirectory() as d:
        ...     model.save(d, overwrite=True)
        ...     sn.SparseNODE.load(d).var_names
        ['a', 'b']
        """
        path = Path(path)
        if path.exists() and any(path.iterdir()) and not overwrite:
            raise FileExistsError(f"{path} exists and is not empty; pass overwrite=True or choose another folder")
        path.mkdir(parents=True, exist_ok=True)
        payload = {"state_dict": {k: v.detach().cpu() for k, v in self.field.state_dict().items()}}
        if self.trajectories is not None:
            payload["trajectories"] = {
                k: torch.as_tensor(np.asarray(v).astype(np.float32) if k != "lineages" else np.zeros(0, np.float32))
                for k, v in self.trajectories.to_dict().items()
            }
        meta = {
            "var_names": self.var_names,
            "config": self.config(),
            "lineages": list(self.trajectories.lineages) if self.trajectories is not None else [],
        }
        tmp_pt, tmp_js = path / "model.pt.tmp", path / "config.json.tmp"
        torch.save(payload, tmp_pt)
        tmp_js.write_text(json.dumps(meta, indent=2, default=float))
        tmp_pt.replace(path / "model.pt")
        tmp_js.replace(path / "config.json")

    @classmethod
    def load(cls, path, adata=None, *, device: str = "auto") -> SparseNODE:
        """Load a model written by :meth:`save`; with ``adata``, check that its genes are all present."""
        path = Path(path)
        if not (path / "config.json").is_file() or not (path / "model.pt").is_file():
            raise FileNotFoundError(f"{path} does not hold a saved sparsenode model (config.json and model.pt)")
        meta = json.loads((path / "config.json").read_text())
        var_names = meta["var_names"]
        if adata is not None:
            missing = [g for g in var_names if g not in set(map(str, adata.var_names))]
            if missing:
                raise ValueError(
                    f"the saved model's genes differ from the AnnData: {len(missing)} modelled gene(s) are missing "
                    f"from adata.var_names (e.g. {missing[:5]}); load it with the AnnData it was fitted on"
                )
        model = cls._from_config(meta["config"], var_names, device=device)
        payload = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        model._load_field_state(payload["state_dict"])
        model.field.to(model.device).eval()
        if "trajectories" in payload:
            d = {k: v.numpy() for k, v in payload["trajectories"].items()}
            d["lineages"] = np.asarray(meta["lineages"], dtype=str)
            d["mask"] = d["mask"].astype(bool)
            model.trajectories = Trajectories.from_dict(d, var_names)
        model.history = {"loaded": np.asarray(1)}
        return model
