"""Training checkpoints: periodic, atomic snapshots of everything needed to resume a fit exactly.

A checkpoint is one file, ``checkpoint.pt`` in the checkpoint folder: a :func:`torch.save` of plain tensors, numbers,
strings, lists and dicts (no pickled objects), read back with ``torch.load(..., weights_only=True)``. It holds the
field's weights, the optimiser and learning-rate schedule states, the last finished epoch, the best weights so far
with their score, the history, the solver's evaluation count and the random number generator state that drives gate
sampling, so a resumed fit ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
_FORMAT = 1


def _cpu(obj):
    """Copy tensors (nested in dicts/lists) to the CPU, detached."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


class Checkpointer:
    """Write and restore training checkpoints for one call of :func:`sparsenode.train.train`.

    Parameters
    ----------
    directory
        Folder of the checkpoint (created when the first checkpoint is written); ``None`` disables checkpoints.
    every
        Write a checkpoint after every ``every`` finished epochs and after the last epoch.
    field, optimizer, scheduler
        The objects whose states are saved and restored.
    n_epochs
        Total number of epochs of the fit.
    meta
        Strings describing the fit (genes, architecture, training settings). A checkpoint is only resumed when its
        ``meta`` equals this one, so a checkpoint of another fit is never continued by mistake.

    Examples
    --------
    Usually driven through ``SparseNODE.fit(..., checkpoint_dir=..., resume=True)`` or ``sn.tl.fit_node``:

    >>> import sparsenode as sn, tempfile, os
    >>> adata = sn.datasets.toy_grn(n_genes=4, n_cells=200, seed=0)
    >>> traj = sn.pp.bin_trajectories(adata, time_key="time", lineage_key="lineage", n_bins=10)
    >>> cfg = sn.train.TrainConfig(max_epochs=4, checkpoint_every=2)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     model = sn.SparseNODE(traj.var_names, hidden=(8,), device="cpu")
    ...     _ = model.fit(traj, cfg, progress_bar=False, checkpoint_dir=d, resume=True)
    ...     os.listdir(d)
    ['checkpoint.pt']
    """

    def __init__(
        self,
        directory,
        every: int,
        field: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler,
        n_epochs: int,
        meta: dict[str, str] | None = None,
    ):
        self.directory = None if directory is None else Path(directory)
        self.every = int(every)
        if self.directory is not None and self.every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {every}")
        self.field, self.optimizer, self.scheduler = field, optimizer, scheduler
        self.n_epochs = int(n_epochs)
        self.meta = {str(k): str(v) for k, v in (meta or {}).items()}
        self.device = next(field.parameters()).device

    @classmethod
    def from_config(cls, config, field, optimizer, scheduler, meta: dict | None = None) -> Checkpointer:
        """Checkpointer for a :class:`~sparsenode.train.TrainConfig`, whose other settings join ``meta``."""
        settings = {k: v for k, v in config.to_dict().items() if not k.startswith("checkpoint_")}
        if settings.get("objective") != "hybrid":  # hybrid-only settings: checkpoints of other fits stay resumable
            settings = {k: v for k, v in settings.items() if k not in ("warmstart_fraction", "refine_lr_factor")}
        meta = {**(meta or {}), "train_settings": repr(sorted(settings.items()))}
        return cls(config.checkpoint_dir, config.checkpoint_every, field, optimizer, scheduler, config.max_epochs, meta)

    @property
    def path(self) -> Path | None:
        """The checkpoint file (``None`` when checkpoints are off)."""
        return None if self.directory is None else self.directory / CHECKPOINT_FILE

    # -- writing -----------------------------------------------------------------------------------------------------
    def step(self, epoch: int, best: dict, history: dict) -> None:
        """Write a checkpoint if ``epoch`` (0-based, finished) is due; called at the end of every epoch."""
        if self.directory is None:
            return
        if (epoch + 1) % self.every == 0 or epoch == self.n_epochs - 1:
            self.save(epoch, best, history)

    def save(self, epoch: int, best: dict, history: dict) -> None:
        """Write the checkpoint of finished epoch ``epoch`` atomically (temporary file, then rename)."""
        payload = {
            "format": _FORMAT,
            "epoch": int(epoch),
            "n_epochs": self.n_epochs,
            "meta": dict(self.meta),
            "shapes": {k: list(v.shape) for k, v in self.field.state_dict().items()},
            "field": _cpu(self.field.state_dict()),
            "optimizer": _cpu(self.optimizer.state_dict()),
            "scheduler": _cpu(self.scheduler.state_dict()),
            "best_score": float(best["score"]),
            "best_epoch": int(best["epoch"]),
            "best_state": _cpu(best["state"]),
            "history": {k: torch.tensor(v, dtype=torch.float64) for k, v in history.items()},
            "n_evals": int(getattr(self.field, "n_evals", 0)),
            "rng_cpu": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            payload["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{CHECKPOINT_FILE}.{os.getpid()}.tmp")
        try:
            torch.save(payload, tmp)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        logger.debug("checkpoint of epoch %d written to %s", epoch, self.path)

    # -- reading -----------------------------------------------------------------------------------------------------
    def resume(self, best: dict, history: dict) -> tuple[int, dict, dict]:
        """Restore the last checkpoint into the field, optimiser, scheduler and RNG.

        Returns the first epoch still to run, the best-so-far record and the history; with no checkpoint file yet,
        the inputs unchanged and epoch 0 (a fresh fit that will write checkpoints).
        """
        if self.directory is None:
            raise ValueError("resume=True needs a checkpoint folder: pass checkpoint_dir=...")
        if not self.path.is_file():
            logger.info("no checkpoint in %s yet; starting a new fit", self.directory)
            return 0, best, history
        try:
            ck = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # any unreadable file gets the same advice
            raise ValueError(
                f"cannot read the checkpoint {self.path} ({err}); delete it or pass resume=False to start over"
            ) from err
        self._check(ck)
        self.field.load_state_dict(ck["field"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        best = {"score": float(ck["best_score"]), "epoch": int(ck["best_epoch"]), "state": ck["best_state"]}
        history = {k: v.tolist() for k, v in ck["history"].items()}
        self.field.n_evals = int(ck["n_evals"])
        torch.set_rng_state(ck["rng_cpu"])
        if self.device.type == "cuda" and "rng_cuda" in ck:
            torch.cuda.set_rng_state(ck["rng_cuda"], self.device)
        logger.info("resumed from %s after epoch %d", self.path, int(ck["epoch"]))
        return int(ck["epoch"]) + 1, best, history

    def _check(self, ck: dict) -> None:
        """Raise ``ValueError`` when the checkpoint belongs to another fit."""
        advice = f"use another checkpoint_dir, or resume=False to overwrite {self.path}"
        if not isinstance(ck, dict) or ck.get("format") != _FORMAT:
            raise ValueError(f"{self.path} is not a sparsenode training checkpoint; {advice}")
        shapes = {k: list(v.shape) for k, v in self.field.state_dict().items()}
        if ck["shapes"] != shapes:
            raise ValueError(
                f"the checkpoint {self.path} was written by a model with other genes or another architecture "
                f"(parameter shapes differ); {advice}"
            )
        differ = sorted(k for k in set(self.meta) | set(ck["meta"]) if self.meta.get(k) != ck["meta"].get(k))
        if differ or int(ck["n_epochs"]) != self.n_epochs:
            what = ", ".join(differ + ([] if int(ck["n_epochs"]) == self.n_epochs else ["max_epochs"]))
            raise ValueError(f"the checkpoint {self.path} belongs to a fit with different {what}; {advice}")
