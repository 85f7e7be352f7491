"""``--time-budget``: pace the learning-rate schedule by the clock, so a budgeted run ends annealed.

Without a budget a cosine schedule is a function of the step: ``p = step / T`` with ``T`` the
scheduled steps (epochs x steps per epoch) and

.. math::

    \\eta(p) = \\eta_{min} + (\\eta_0 - \\eta_{min}) \\, \\frac{1 + \\cos(\\pi p)}{2}.

With ``--time-budget B`` minutes the schedule's progress is whichever is further along, the
share of the steps or the share of the budget spent (this invocation, setup included):

.. math::

    p = p_0 + (1 - p_0) \\max\\Big(\\frac{step - s_0}{T - s_0}, \\frac{t - t_0}{60 B}\\Big),

where ``(s_0, p_0)`` are the step and progress this invocation started from (0 and 0 for a
fresh run; a ``--resume``\\ d run goes on from where its schedule stood and spends the new budget on
what is left). Training ends when ``p`` reaches 1: at the last scheduled step, or when the budget
is spent, by which time the learning rate has reached ``\\eta_{min}``. Other schedules (constant,
plateau) have no end to move: the budget only stops them.

Budgeted runs are not bit-reproducible across machines or loads: how many steps fit, and the
learning rate of each, depend on the speed. Every rank uses the slowest rank's clock (one
all-reduce per step), so data-parallel ranks agree on the learning rate and on when to stop.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Optional

from rnnkit.train import distributed

__all__ = ["SchedulePace", "cosine_lr", "now"]


def now() -> float:
    """The clock the budget is measured with (seconds; tests replace it)."""
    return time.perf_counter()


def cosine_lr(base: float, progress: float, eta_min: float = 0.0) -> float:
    """The cosine schedule's learning rate at ``progress`` in [0, 1] (clipped)."""
    p = min(max(progress, 0.0), 1.0)
    return eta_min + (base - eta_min) * (1.0 + math.cos(math.pi * p)) / 2.0


class SchedulePace:
    """Where the learning-rate schedule stands, and whether the time budget is spent.

    Args:
        total_steps: the schedule's length in steps ``T`` (for cosine: its ``T_max``).
        budget_min: ``--time-budget`` in minutes (0 = none).
        cosine: the cosine scheduler (``CosineAnnealingLR``; the only schedule whose end the budget
            moves: its optimiser's learning rates are set here while the clock paces it), else ``None``.
        log: where the one-off estimate goes.
    """

    ESTIMATE_AFTER = 500
    """Epochs shorter than this are timed whole, validation included, before the estimate is printed;
    longer ones for their first 50 steps (validation then not counted)."""

    def __init__(self, total_steps: int, budget_min: float, *, cosine: Optional[Any] = None,
                 log: Callable[..., Any] = print) -> None:
        self.total, self.budget_s, self.log = max(1, int(total_steps)), 60.0 * budget_min, log
        self.scheduler, self.cosine = cosine, cosine is not None
        self.start_step, self.start_progress = 0, 0.0
        self.progress = 0.0
        self.time_share = 0.0
        self.paced = False  # True once the clock has set the learning rate (saved: a resumed run keeps pacing)
        self.t0 = now()
        self.t_first: Optional[float] = None
        self.estimated = False

    @property
    def active(self) -> bool:
        """Whether :meth:`tick` must run after each step (a budget, or a schedule the clock paced before)."""
        return self.budget_s > 0 or self.paced

    def start(self, step: int, saved: Optional[dict[str, Any]] = None, t0: Optional[float] = None) -> None:
        """Start this invocation at ``step``, its clock at ``t0`` (:func:`now`; default: now).

        ``saved`` is the resumed checkpoint's :meth:`state` (``None`` for a fresh run or an older
        checkpoint: the schedule then stands where its steps put it).
        """
        self.t0, self.t_first, self.estimated = now() if t0 is None else t0, None, False
        self.start_step = step
        if saved and "progress" in saved:
            self.start_progress, self.paced = float(saved["progress"]), bool(saved.get("paced", False))
        else:
            self.start_progress = min(step / self.total, 1.0)
        self.progress, self.time_share = self.start_progress, 0.0

    def state(self, step: int) -> dict[str, Any]:
        """What a checkpoint at ``step`` keeps (JSON-safe): the schedule's progress and whether the clock paced it."""
        return {"progress": self.progress if self.paced else min(step / self.total, 1.0), "paced": self.paced}

    @property
    def done(self) -> bool:
        """The cosine schedule has reached its end (only a budget ends it before the last step)."""
        return self.cosine and self.paced and self.progress >= 1.0

    def spent(self) -> bool:
        """True once the budget is spent (every rank gives the same answer after :meth:`tick`)."""
        return self.budget_s > 0 and self.time_share >= 1.0

    def tick(self, step: int, steps_per_epoch: int) -> None:
        """After optimiser step ``step``: update the progress; with a cosine schedule set the next learning rate."""
        t = now()
        if self.t_first is None:  # the first step's start is unknown: time from the end of the first one
            self.t_first, self.first_step = t, step
        if self.budget_s > 0:
            self.time_share = distributed.max_over_ranks(t - self.t0) / self.budget_s  # the slowest rank's clock
        left = max(self.total - self.start_step, 1)
        share = max((step - self.start_step) / left, self.time_share)
        self.progress = min(1.0, self.start_progress + (1.0 - self.start_progress) * share)
        if self.scheduler is not None:
            self.paced = True
            eta_min = float(getattr(self.scheduler, "eta_min", 0.0))
            for group, base in zip(self.scheduler.optimizer.param_groups, self.scheduler.base_lrs):
                group["lr"] = cosine_lr(base, self.progress, eta_min)
        self._estimate(step, t, steps_per_epoch)

    def _estimate(self, step: int, t: float, steps_per_epoch: int) -> None:
        """Print once what the budget implies, after the first timed steps."""
        timed = step - self.first_step
        whole = steps_per_epoch < self.ESTIMATE_AFTER  # a whole epoch and its validation lie between the readings
        if self.estimated or self.budget_s <= 0 or timed < (steps_per_epoch if whole else 50):
            return
        self.estimated = True
        per_step = (t - self.t_first) / timed
        fit = int((self.budget_s - (t - self.t0)) / per_step) if per_step > 0 else 10 ** 12
        left = self.total - step
        what = (f"about {fit:,} more steps fit, of the {left:,} scheduled: " +
                ("the cosine schedule is paced to end at the budget" if self.cosine else
                 "training will stop at the budget") if fit < left else
                f"the {left:,} scheduled steps should fit (about {fit:,} would)")
        how = "an epoch with its validation timed" if whole else "validation not counted"
        self.log(f"time budget {self.budget_s / 60:g} min: {per_step:.3g} s per training step so far ({how}), {what}")

    def stop_note(self, step: int) -> str:
        """What the report says about the schedule when the budget stopped training."""
        if not self.cosine:
            return ""
        return (f"; the cosine learning-rate schedule was shortened to end at the budget (step {step:,} of the "
                f"{self.total:,} scheduled; learning rate {cosine_lr(1.0, self.progress):.3g} x the initial one)")
