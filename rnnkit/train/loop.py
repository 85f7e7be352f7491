"""The generic training loop: a recipe says *what* to train, the Trainer does the rest.

Per epoch: the recipe's batches (a pure function of seed and epoch) ->
``training_loss`` -> NaN/inf check -> backward -> gradient clipping ->
optimiser step -> (checkpoint every ``checkpoint_every`` steps) -> validation
-> early stopping / best checkpoint -> ``metrics.jsonl`` -> learning curves.
At the end the best weights are reloaded, evaluated on the test split, and
the recipe writes its artefacts and the report.

Crash safety (see :mod:`rnnkit.train.checkpoint`, :mod:`rnnkit.train.trainstate`): checkpoints hold the model,
optimiser, scheduler, every RNG state, the carried RNN state and the position
in the epoch (batch index), so ``--resume`` continues exactly; in
``--deterministic`` mode a killed and resumed run ends bit-identical to an
uninterrupted one. SIGINT/SIGTERM save a checkpoint and stop; a non-finite
loss or gradient skips the step with a warning, and ``max_nonfinite`` in a
row stop the run with :class:`~rnnkit.train.checkpoint.NonFiniteError`.
Resuming with another ``--threads`` or ``--device`` warns that bit-identity is lost.
``--time-budget MINUTES`` ends training early but cleanly: a cosine schedule is paced to end at the
budget (:mod:`rnnkit.train.budget`), the current epoch is validated and checkpointed, then the best
weights are tested and reported.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import torch

from rnnkit.recipes.base import Recipe
from rnnkit.train import budget, distributed, plots, progress, seeding
from rnnkit.train.checkpoint import CheckpointDir, CheckpointError, NonFiniteError, apply_weights, load_checkpoint
from rnnkit.train.metrics import MetricsLog
from rnnkit.train.report import write_report
from rnnkit.train.rundir import write_run_files
from rnnkit.train.signals import GracefulStop
from rnnkit.train.trainstate import TrainingState
from rnnkit.train.tree import batch_size_of, tree_map


class Interrupted(Exception):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint."""

    def __init__(self, signal_name: str, checkpoint: Path) -> None:
        super().__init__(f"stopped by {signal_name}; checkpoint saved to {checkpoint}")
        self.signal_name = signal_name
        self.checkpoint = checkpoint


class Trainer(TrainingState):
    """Runs a recipe in a run directory.

    Args:
        recipe: the recipe (its ``cfg`` holds every option).
        run_dir: where config, metrics, checkpoints and artefacts go.
        resume: continue from the run's last checkpoint.
        log: where progress messages go (default ``print``).
    """

    def __init__(self, recipe: Recipe, run_dir: Path, *, resume: bool = False, log: Any = print) -> None:
        self.recipe, self.cfg, self.run_dir, self.resume, self.log = recipe, recipe.cfg, Path(run_dir), resume, log
        self.ckdir = CheckpointDir(self.run_dir / "checkpoints")
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl")
        # under torchrun: one process per rank; rank 0 alone writes checkpoints, logs, plots and the report
        distributed.init_from_env(self.cfg.device)
        self.rank, self.world, self.main = distributed.rank(), distributed.world_size(), distributed.is_main()
        if not self.main:
            self.log = lambda *args, **kwargs: None
        self.device = distributed.local_device(self.cfg.device)
        self.split_weight = 1.0
        self.better = (lambda a, b: a < b) if recipe.monitor_mode == "min" else (lambda a, b: a > b)
        # training position and early-stopping state (all saved in checkpoints)
        self.epoch, self.batch_index, self.step = 0, 0, 0
        self.best: Optional[float] = None
        self.best_epoch = -1
        self.bad_epochs = 0
        self.loss_sum, self.loss_count, self.skipped, self.nonfinite_streak = 0.0, 0, 0, 0
        self.wall_before = 0.0  # wall time of earlier invocations of this run (restored on resume)
        self.sessions = 1
        self.t_start = time.perf_counter()
        self.carry: Any = None
        self.stopped = ""
        self.saved_step = -1

    # ---- setup ----------------------------------------------------------------------------------
    def setup(self) -> None:
        """Seed, load data, build model/optimiser/scheduler; restore the last checkpoint on resume."""
        cfg = self.cfg
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        seeding.seed_everything(cfg.seed, deterministic=cfg.deterministic)
        assets = self.run_dir / "assets.json"
        if self.resume and assets.is_file():  # the run's own vocabulary/scaler/classes, not rebuilt ones
            self.recipe.assets = json.loads(assets.read_text("utf-8"))
        self.recipe.load_data()
        self.model = self.recipe.build_model().to(self.device)
        params = self.recipe.param_groups(self.model)
        if cfg.weight_decay > 0:
            self.optimizer: torch.optim.Optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            self.optimizer = torch.optim.Adam(params, lr=cfg.lr)
        self.steps_per_epoch = len(self.recipe.train_batches(0))
        self.scheduler: Optional[Any] = None
        if cfg.lr_schedule == "cosine":
            total = max(1, cfg.epochs * self.steps_per_epoch)
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=total)
        elif cfg.lr_schedule == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode=self.recipe.monitor_mode, factor=0.5, patience=1)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.resume:
            if self.ckdir.path("last") is None:
                raise CheckpointError(f"rnnkit: --resume: {self.run_dir} has no checkpoint to resume from (the run "
                                      "stopped before its first one); start it again without --resume")
            self._restore_newest_loadable()
        else:
            if self.ckdir.path("last") is not None:
                raise CheckpointError(f"rnnkit: {self.run_dir} already holds checkpoints; pass --resume to continue "
                                      "that run or choose another --run-dir")
            if self.metrics.path.exists() and self.main:
                self.metrics.path.unlink()
        cosine = self.scheduler if cfg.lr_schedule == "cosine" else None
        self.pace = budget.SchedulePace(cosine.T_max if cosine else cfg.epochs * self.steps_per_epoch, cfg.time_budget,
                                 cosine=cosine, log=self.log)
        self.train_model = distributed.wrap_model(self.model)  # DDP (a collective: every rank got here)
        if self.main:
            write_run_files(self.run_dir, self.recipe)

    # ---- training -------------------------------------------------------------------------------
    def _train_step(self, batch: Any) -> Optional[float]:
        """One optimiser step; returns the loss, or None if it was skipped as non-finite."""
        self.train_model.train()
        if self.world > 1:  # this rank's rows of the batch; weighted so DDP's mean gradient is the batch's
            batch, self.split_weight = distributed.split_batch(batch, self.rank, self.world)
        loss, carry = self.recipe.training_loss(self.train_model, batch, self.carry)
        if self.world > 1:
            loss = loss * self.split_weight
        value = distributed.all_reduce_metrics({"loss": float(loss.detach())})["loss"]  # same on every rank
        why = "" if math.isfinite(value) else f"loss is {value}"
        if not why:
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            params = [p for p in self.model.parameters() if p.grad is not None]
            clip = self.cfg.grad_clip if self.cfg.grad_clip > 0 else float("inf")
            norm = float(torch.nn.utils.clip_grad_norm_(params, clip)) if params else 0.0
            why = "" if math.isfinite(norm) else f"gradient norm is {norm}"
        if why:
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped += 1
            self.nonfinite_streak += 1
            self.carry = None
            warnings.warn(f"rnnkit: step {self.step} skipped: {why} "
                          f"({self.nonfinite_streak} in a row, limit --max-nonfinite {self.cfg.max_nonfinite})",
                          RuntimeWarning, stacklevel=2)
            if self.nonfinite_streak >= self.cfg.max_nonfinite:
                raise NonFiniteError(
                    f"rnnkit: training stopped: {self.nonfinite_streak} consecutive steps had a non-finite loss or "
                    f"gradient (last: {why} at step {self.step}). Try a lower --lr, --grad-clip 1.0, or check the "
                    f"data for NaN/inf. The last good checkpoint is in {self.ckdir.root}.")
            return None
        self.optimizer.step()
        if self.cfg.lr_schedule == "cosine":
            self.scheduler.step()
        self.nonfinite_streak = 0
        self.carry = tree_map(lambda t: t.detach(), carry)
        return value

    def _run_epoch(self, stop: GracefulStop) -> bool:
        """Train the rest of ``self.epoch``; returns False if training must stop (max_steps).

        When ``--time-budget`` runs out, the epoch ends early (``self.stopped`` says so) and is validated
        and checkpointed like a full one; the run then finishes (test, artefacts, report)."""
        cfg, recipe = self.cfg, self.recipe
        batches = recipe.train_batches(self.epoch)
        n = len(batches)
        bar = progress.progress_bar(n, initial=self.batch_index, desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
                                    enabled=cfg.progress and self.main)
        t0, seen = time.perf_counter(), 0
        try:
            while self.batch_index < n:
                batch = tree_map(lambda t: t.to(self.device), batches[self.batch_index])
                value = self._train_step(batch)
                if value is not None:
                    self.loss_sum += value
                    self.loss_count += 1
                self.batch_index += 1
                self.step += 1
                if self.pace.active:  # the budget's clock paces the schedule (and says when it is spent)
                    self.pace.tick(self.step, n)
                seen += batch_size_of(batch)
                progress.update(bar, self.loss_sum / max(1, self.loss_count), seen / (time.perf_counter() - t0))
                if cfg.log_every and self.step % cfg.log_every == 0 and self.main:
                    self.metrics.append({"kind": "interval", "epoch": self.epoch, "step": self.step,
                                         "train_loss": self.loss_sum / max(1, self.loss_count)})
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self._save()
                if distributed.any_rank(stop.requested):  # every rank stops at the same step
                    path = self._save() if self.saved_step != self.step else self.ckdir.path("last")
                    raise Interrupted(stop.signal_name or "signal", path)
                if cfg.max_steps and self.step >= cfg.max_steps:
                    self.stopped = f"max_steps ({cfg.max_steps}) reached"
                    if self.saved_step != self.step:
                        self._save()
                    return False
                if cfg.time_budget and self.over_budget():
                    where = (f"batch {self.batch_index} of {n} in epoch {self.epoch + 1}, which was validated as "
                             "it stood" if self.batch_index < n else f"the end of epoch {self.epoch + 1}")
                    self.stopped = (f"time budget ({cfg.time_budget:g} min) reached at step {self.step}, {where}"
                                    + self.pace.stop_note(self.step))
                    break
        finally:
            bar.close()
        self.epoch_time = time.perf_counter() - t0
        self.epoch_examples = seen
        return True

    def _end_epoch(self) -> bool:
        """Validate, log, keep the best checkpoint, early-stop; returns False to stop."""
        cfg, recipe = self.cfg, self.recipe
        val = distributed.all_reduce_metrics(self.evaluate("val"))  # identical decisions on every rank
        key = recipe.monitor
        if not key:  # the recipe validates nothing (a fixed schedule): every epoch is kept as the newest
            improved = True
        elif key not in val:
            raise KeyError(f"rnnkit: recipe {recipe.name}.evaluate('val') must return {key!r}, got {sorted(val)}")
        else:
            improved = self.best is None or self.better(val[key], self.best)
        if not key:
            self.best_epoch = self.epoch
        elif improved:
            self.best, self.best_epoch, self.bad_epochs = val[key], self.epoch, 0
        else:
            self.bad_epochs += 1
        if cfg.lr_schedule == "plateau" and key:
            self.scheduler.step(val[key])
        record = {"kind": "epoch", "epoch": self.epoch, "step": self.step,
                  "train_loss": self.loss_sum / self.loss_count if self.loss_count else None,
                  **{f"val_{k}": v for k, v in val.items()},
                  "lr": self.optimizer.param_groups[0]["lr"], "skipped_steps": self.skipped,
                  "time_s": round(getattr(self, "epoch_time", 0.0), 3),
                  "examples_per_s": round(getattr(self, "epoch_examples", 0) / max(getattr(self, "epoch_time", 0.0),
                                                                                     1e-9), 1)}
        if self.main:
            record.update(recipe.on_epoch_end(self.model, self.epoch, self.run_dir))
            self.metrics.append(record)
        msg = ", ".join(f"{k} {v:.4f}" for k, v in record.items()
                        if isinstance(v, float) and (k == "train_loss" or k.startswith("val_")))
        self.log(f"epoch {self.epoch + 1}/{cfg.epochs}: {msg}" + (" (best)" if improved and key else ""))
        self.epoch, self.batch_index, self.loss_sum, self.loss_count, self.skipped = self.epoch + 1, 0, 0.0, 0, 0
        self.carry = None
        self._save(best=improved)
        if cfg.patience and self.bad_epochs >= cfg.patience:
            self.stopped = f"early stopping: no validation improvement in {cfg.patience} epochs"
            return False
        return True

    def evaluate(self, split: str) -> dict[str, float]:
        """The recipe's metrics on ``split``, in eval mode without gradients."""
        self.model.eval()
        with torch.no_grad():
            return {k: float(v) for k, v in self.recipe.evaluate(self.model, split).items()}

    def fit(self) -> dict[str, Any]:
        """Train (or continue) to the end, then test the best weights and write the report.

        Returns:
            The report (also written to ``report.json``).

        Raises:
            Interrupted: on SIGINT/SIGTERM, after saving a checkpoint.
            NonFiniteError: after ``max_nonfinite`` consecutive non-finite steps.
        """
        self.t_start = time.perf_counter()
        threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
        try:  # process-wide torch settings are restored afterwards (the Trainer may run inside a library)
            with GracefulStop() as stop:
                started = budget.now()  # the budget counts this invocation's setup too
                self.setup()
                self.pace.start(self.step, getattr(self, "pace_saved", None), started)
                if self.pace.done and self.epoch < self.cfg.epochs:
                    self.stopped = ("the cosine learning-rate schedule already ended at an earlier session's time "
                                    "budget: nothing left to train (start a new run for more)")
                while self.epoch < self.cfg.epochs and not self.stopped:
                    if not self._run_epoch(stop) or not self._end_epoch() or self.stopped:
                        break  # max_steps, early stopping, or the time budget
                    if distributed.any_rank(stop.requested):
                        raise Interrupted(stop.signal_name or "signal", self.ckdir.path("last"))
            if not self.main:  # rank 0 tests the best weights and writes the report
                return {}
            return self._finish()
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(deterministic)

    def over_budget(self) -> bool:
        """True once ``--time-budget`` minutes of this invocation have passed (the same answer on every rank)."""
        return self.pace.spent()

    def _finish(self) -> dict[str, Any]:
        """Reload the best weights, test them, let the recipe write its artefacts, write the report."""
        self.stopped = self.stopped or f"completed {self.cfg.epochs} epochs"
        plots.plot_learning_curves(self.metrics.read(), self.run_dir / "learning_curves.png", self.recipe.monitor)
        best = self.ckdir.path("best") or self.ckdir.path("last")
        state, _, _ = load_checkpoint(best)
        apply_weights(self.model, state, best)
        val, test = self.evaluate("val"), self.evaluate("test")
        self.model.eval()
        with torch.no_grad():
            extra = self.recipe.finish(self.model, self.run_dir, test)
        return write_report(self, best, val, test, extra, self.wall_time())
