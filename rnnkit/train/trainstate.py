"""What of a :class:`~rnnkit.train.loop.Trainer` a checkpoint holds, and how it comes back on ``--resume``.

A checkpoint (:mod:`rnnkit.train.checkpoint`) holds the model's weights and, as safetensors and JSON,
the optimiser's and scheduler's states, every RNG state, the carried RNN state (the whole batch's, gathered
from every rank) and the position in training: epoch, batch index, step, early-stopping state, the epoch's
loss sums, the non-finite streak, wall time and sessions, and the ``--time-budget`` schedule's pace.
:class:`TrainingState` saves these and restores them (from the newest checkpoint that loads); the
:class:`~rnnkit.train.loop.Trainer` is one.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import torch

from rnnkit.recipes.base import Recipe
from rnnkit.train import budget, distributed, seeding
from rnnkit.train.checkpoint import CheckpointDir, CheckpointError, apply_weights, load_checkpoint, save_checkpoint
from rnnkit.train.metrics import MetricsLog
from rnnkit.train.tree import flatten, tree_map, unflatten


class TrainingState:
    """Checkpoint saving and restoring for the :class:`~rnnkit.train.loop.Trainer` (its attributes, set there)."""

    recipe: Recipe
    cfg: Any
    ckdir: CheckpointDir
    metrics: MetricsLog
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Optional[Any]
    pace: budget.SchedulePace
    device: torch.device
    rank: int
    world: int
    main: bool
    log: Any
    split_weight: float
    carry: Any
    epoch: int
    batch_index: int
    step: int
    best: Optional[float]
    best_epoch: int
    bad_epochs: int
    loss_sum: float
    loss_count: int
    skipped: int
    nonfinite_streak: int
    wall_before: float
    sessions: int
    t_start: float
    saved_step: int
    pace_saved: Any

    def wall_time(self) -> float:
        """Seconds this run has taken: this invocation so far plus the earlier ones up to their last checkpoint."""
        return self.wall_before + time.perf_counter() - self.t_start

    def _save(self, *, best: bool = False) -> Path:
        """Checkpoint the weights and the training state now (rank 0 writes; ``best`` marks it the best).

        Returns:
            The checkpoint's folder (on other ranks: the last one rank 0 wrote).
        """
        carry = distributed.gather_batch(self.carry, keep=self.split_weight > 0)  # the whole batch's state
        if not self.main:  # every rank holds the same weights and position: rank 0 writes them
            self.saved_step = self.step
            return self.ckdir.path("last") or self.ckdir.root
        tensors, meta_rng = seeding.get_rng_state()
        opt_t, opt_spec = flatten(self.optimizer.state_dict(), "optim")
        sch_t, sch_spec = flatten(self.scheduler.state_dict() if self.scheduler else None, "sched")
        carry_t, carry_spec = flatten(carry, "carry")
        tensors.update(opt_t, **sch_t, **carry_t)
        meta = {"epoch": self.epoch, "batch_index": self.batch_index, "step": self.step, "best": self.best,
                "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs, "loss_sum": self.loss_sum,
                "loss_count": self.loss_count, "skipped": self.skipped, "rng": meta_rng, "optimizer": opt_spec,
                "scheduler": sch_spec, "carry": carry_spec, "recipe": self.recipe.name,
                "nonfinite_streak": self.nonfinite_streak, "threads": torch.get_num_threads(),
                "device": self.cfg.device,
                "wall_time_s": self.wall_time(), "sessions": self.sessions, "schedule_pace": self.pace.state(self.step)}
        path = save_checkpoint(self.ckdir.root, f"step-{self.step:08d}", model_state=self.model.state_dict(),
                               tensors=tensors, meta=meta,
                               model_metadata={"recipe": self.recipe.name, "config": json.dumps(self.cfg.to_dict())})
        self.ckdir.update(last=path.name, **({"best": path.name, "best_value": self.best} if best else {}))
        self.ckdir.prune(self.cfg.keep_checkpoints)
        self.saved_step = self.step
        return path

    def _restore_newest_loadable(self) -> None:
        """Restore the last checkpoint; if it is damaged (disk error, edited by hand), the newest older one."""
        last = self.ckdir.path("last")
        candidates = [last] + [p for p in reversed(self.ckdir.complete()) if p != last]
        errors = []
        for path in candidates:
            try:
                self._restore(path)
                return
            except CheckpointError as err:
                errors.append(str(err))
                warnings.warn(f"rnnkit: cannot resume from {path}: {err}; trying an older checkpoint",
                              RuntimeWarning, stacklevel=2)
        raise CheckpointError(f"rnnkit: no loadable checkpoint in {self.ckdir.root}: " + " | ".join(errors))

    def _restore(self, path: Path) -> None:
        state, tensors, meta = load_checkpoint(path)
        apply_weights(self.model, state, path)
        try:
            self.optimizer.load_state_dict(unflatten(meta["optimizer"], tensors))
            if self.scheduler is not None and meta["scheduler"].get("v", 0) is not None:
                self.scheduler.load_state_dict(unflatten(meta["scheduler"], tensors))
            seeding.set_rng_state(tensors, meta["rng"])
            self.carry = tree_map(lambda t: t.to(self.device), unflatten(meta["carry"], tensors))
            if self.world > 1 and self.carry is not None:  # this rank's rows, as split_batch gives its batches
                self.carry = distributed.split_batch(self.carry, self.rank, self.world)[0]
        except (KeyError, ValueError, TypeError) as err:
            raise CheckpointError(f"checkpoint {path} has an unreadable training state ({err}); the weights "
                                  "alone can still be used with 'rnnkit eval'") from err
        for key in ("epoch", "batch_index", "step", "best", "best_epoch", "bad_epochs", "loss_sum",
                    "loss_count", "skipped"):
            setattr(self, key, meta[key])
        # older checkpoints predate these keys: a fresh streak, and no wall time recorded for earlier sessions
        self.nonfinite_streak = int(meta.get("nonfinite_streak", 0))
        self.wall_before, self.sessions = float(meta.get("wall_time_s", 0.0)), int(meta.get("sessions", 0)) + 1
        self.pace_saved = meta.get("schedule_pace")
        changed = [f"{what} {meta[key]} -> {now}" for what, key, now in (
            ("--threads", "threads", torch.get_num_threads()), ("--device", "device", self.cfg.device))
            if key in meta and meta[key] != now]
        if changed:
            warnings.warn(f"rnnkit: resuming with {', '.join(changed)}: the run is no longer bit-identical to an "
                          "uninterrupted one (floating-point sums are ordered by the thread count and device)",
                          RuntimeWarning, stacklevel=2)
        if self.main:
            self.metrics.truncate_after(self.step, self.epoch)
        self.log(f"resumed from {path} (epoch {self.epoch + 1}, batch {self.batch_index}, step {self.step})")
