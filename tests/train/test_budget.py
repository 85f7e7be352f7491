"""--time-budget paces the cosine schedule: with a fake clock the LR reaches its end at the budget.

The clock (:func:`rnnkit.train.budget.now`) advances 3 s per training step and not otherwise, so a
1-minute budget holds exactly 20 steps; the learning rates the steps used are compared with the
closed-form cosine (and, without a budget, with torch's own ``CosineAnnealingLR`` stepped by hand).
"""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from rnnkit.train.budget import SchedulePace, cosine_lr
from rnnkit.train.loop import Trainer
from tests.train.toy import Toy, ToyConfig

LR, PER_STEP = 0.01, 3.0  # Toy: 64 training examples, batch 8: 8 steps per epoch


@pytest.fixture
def clocked(monkeypatch):
    """A fake budget clock that moves PER_STEP seconds per training step; records each step's LR."""
    t, lrs = [0.0], []
    monkeypatch.setattr("rnnkit.train.budget.now", lambda: t[0])
    orig = Trainer._train_step

    def step(self, batch):
        lrs.append(self.optimizer.param_groups[0]["lr"])
        t[0] += PER_STEP
        return orig(self, batch)

    monkeypatch.setattr(Trainer, "_train_step", step)
    return t, lrs


def fit(tmp_path, name="run", resume=False, **kw):
    logs = []
    trainer = Trainer(Toy(ToyConfig(lr=LR, lr_schedule="cosine", **kw)), tmp_path / name, resume=resume,
                      log=logs.append)
    return trainer, trainer.fit(), logs


def cos(p):
    return LR * (1 + math.cos(math.pi * p)) / 2


def test_cosine_schedule_ends_at_the_budget(tmp_path, clocked):
    _, lrs = clocked
    trainer, report, logs = fit(tmp_path, epochs=10, time_budget=1.0)  # 80 steps scheduled, 20 fit in 60 s
    assert len(lrs) == 20 and trainer.step == 20
    assert lrs == pytest.approx([cos((k - 1) / 20) for k in range(1, 21)], rel=1e-12, abs=1e-15)
    assert trainer.optimizer.param_groups[0]["lr"] == 0.0  # annealed when training stopped
    assert report["stopped"].startswith("time budget (1 min) reached at step 20, batch 4 of 8 in epoch 3, which")
    assert "cosine learning-rate schedule was shortened to end at the budget (step 20 of the 80 scheduled" in \
        report["stopped"]
    assert report["epochs_completed"] == 3 and "shortened" in (tmp_path / "run" / "report.md").read_text()
    estimate = [m for m in logs if m.startswith("time budget 1 min:")]
    assert estimate == ["time budget 1 min: 3 s per training step so far (an epoch with its validation timed), about "
                        "11 more steps fit, of the 71 scheduled: the cosine schedule is paced to end at the budget"]


def test_without_a_budget_the_schedule_is_torchs_cosine(tmp_path, clocked):
    _, lrs = clocked
    trainer, report, _ = fit(tmp_path, epochs=2)
    assert not trainer.pace.active and report["stopped"] == "completed 2 epochs"
    ref_opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=LR)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, T_max=16)
    expected = []
    for _ in range(16):
        expected.append(ref_opt.param_groups[0]["lr"])
        ref_opt.step()
        ref.step()
    assert lrs == expected  # bit for bit: the schedule is untouched without a budget


def test_a_budget_longer_than_the_run_changes_nothing_but_the_pace(tmp_path, clocked):
    _, lrs = clocked
    trainer, report, logs = fit(tmp_path, epochs=2, time_budget=10.0)  # 16 steps of 3 s: 48 s of 600
    assert report["stopped"] == "completed 2 epochs" and len(lrs) == 16
    assert lrs == pytest.approx([cos((k - 1) / 16) for k in range(1, 17)], rel=1e-12, abs=1e-15)
    assert any("the 7 scheduled steps should fit (about 191 would)" in m for m in logs)


def test_resume_spends_the_new_budget_on_the_rest_of_the_schedule(tmp_path, clocked):
    t, lrs = clocked
    fit(tmp_path, epochs=10, time_budget=1.0, max_steps=10)  # stops at step 10: progress 0.5
    shutil.copytree(tmp_path / "run", tmp_path / "nobudget")
    assert lrs[-1] == pytest.approx(cos(9 / 20))
    del lrs[:]
    t[0] = 1000.0  # another session: the clock starts anywhere
    trainer, report, _ = fit(tmp_path, epochs=10, time_budget=1.0, resume=True)
    # the remaining half of the schedule over this session's 20 steps: p = 0.5 + 0.5 (k - 10) / 20
    assert trainer.step == 30 and len(lrs) == 20
    assert lrs == pytest.approx([cos(0.5 + (k - 10) / 40) for k in range(10, 30)], rel=1e-12, abs=1e-15)
    assert "reached at step 30" in report["stopped"] and trainer.optimizer.param_groups[0]["lr"] == 0.0
    del lrs[:]
    _, report, _ = fit(tmp_path, epochs=10, time_budget=1.0, resume=True)  # nothing left
    assert lrs == [] and report["stopped"].startswith("the cosine learning-rate schedule already ended")
    # without a budget the paced schedule goes on by steps: the other half over the 70 steps left
    trainer, report, _ = fit(tmp_path, "nobudget", epochs=10, resume=True)
    assert trainer.step == 80 and report["stopped"] == "completed 10 epochs"
    assert lrs == pytest.approx([cos(0.5 + 0.5 * (k - 10) / 70) for k in range(10, 80)], rel=1e-12, abs=1e-15)


def test_constant_schedule_only_stops(tmp_path, clocked):
    _, lrs = clocked
    trainer = Trainer(Toy(ToyConfig(lr=LR, epochs=10, time_budget=0.5)), tmp_path / "c", log=lambda *_: None)
    report = trainer.fit()
    assert lrs == [LR] * 10 and report["stopped"] == ("time budget (0.5 min) reached at step 10, batch 2 of 8 in "
                                                      "epoch 2, which was validated as it stood")


def test_cosine_lr_and_pace_units():
    assert cosine_lr(2.0, 0.0) == 2.0 and cosine_lr(2.0, 1.0) == 0.0 and cosine_lr(2.0, 7.0) == 0.0
    assert cosine_lr(2.0, 0.5, eta_min=1.0) == pytest.approx(1.5)
    pace = SchedulePace(100, 0.0)
    pace.start(40)
    assert not pace.active and pace.state(40) == {"progress": 0.4, "paced": False} and not pace.spent()
