"""Trainer: exact resume in-process, NaN/inf skipping, early stopping, metrics and report files."""

from __future__ import annotations

import json
import os
import signal
import time
import warnings

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.train.checkpoint import CheckpointDir, CheckpointError, NonFiniteError, load_checkpoint
from rnnkit.train.loop import Interrupted, Trainer
from tests.train.toy import Toy, ToyConfig


def run(tmp_path, name="run", poison=(), resume=False, **kw):
    recipe = Toy(ToyConfig(**kw))
    recipe.poison = set(poison)
    trainer = Trainer(recipe, tmp_path / name, resume=resume, log=lambda *_: None)
    return trainer, trainer.fit()


def last_weights(run_dir):
    return load_file(str(CheckpointDir(run_dir / "checkpoints").path("last") / "model.safetensors"))


def test_loss_falls_and_files_exist(tmp_path):
    trainer, report = run(tmp_path, epochs=4)
    d = tmp_path / "run"
    records = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [0, 1, 2, 3]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    for name in ("config.json", "assets.json", "report.md", "report.json", "learning_curves.png"):
        assert (d / name).is_file(), name
    assert (d / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((d / "report.json").read_text())
    assert saved["test"]["loss"] == pytest.approx(report["test"]["loss"])
    assert saved["epochs_completed"] == 4 and saved["steps"] == 32
    best = min(epochs, key=lambda r: r["val_loss"])
    assert saved["best_epoch"] == best["epoch"] + 1
    assert saved["val"]["loss"] == pytest.approx(best["val_loss"], rel=1e-6)  # the best weights were reloaded


def test_torch_settings_restored(tmp_path):
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    run(tmp_path, epochs=1, threads=2, deterministic=True)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before


def test_stop_mid_epoch_and_resume_is_bit_identical(tmp_path):
    run(tmp_path, "full", epochs=3)
    run(tmp_path, "cut", epochs=3, max_steps=11)  # stops mid-epoch 2 (8 batches per epoch)
    _, meta = load_checkpoint(CheckpointDir(tmp_path / "cut" / "checkpoints").path("last"))[1:]
    assert (meta["epoch"], meta["batch_index"], meta["step"]) == (1, 3, 11)
    run(tmp_path, "cut", epochs=3, resume=True)
    a, b = last_weights(tmp_path / "full"), last_weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    strip = lambda recs: [{k: v for k, v in r.items() if k not in ("time_s", "examples_per_s")} for r in recs]
    read = lambda d: [json.loads(x) for x in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
    assert strip(read("full")) == strip(read("cut"))


def test_different_seed_differs_same_seed_equal(tmp_path):
    run(tmp_path, "a", epochs=1)
    run(tmp_path, "b", epochs=1)
    run(tmp_path, "c", epochs=1, seed=1)
    a, b, c = (last_weights(tmp_path / n) for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_nan_loss_is_skipped_with_warning(tmp_path):
    with pytest.warns(RuntimeWarning, match=r"step 2 skipped: loss is nan \(1 in a row"):
        trainer, _ = run(tmp_path, epochs=1, poison={3})
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["skipped_steps"] == 1
    for t in last_weights(tmp_path / "run").values():
        assert torch.isfinite(t).all()


def test_too_many_nonfinite_in_a_row_stops(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(NonFiniteError, match=r"3 consecutive steps had a non-finite loss.*--lr"):
            run(tmp_path, epochs=3, max_nonfinite=3, poison={9, 10, 11, 12})
        # non-consecutive NaNs never stop the run
        run(tmp_path, "ok", epochs=1, max_nonfinite=2, poison={1, 3, 5, 7})
    ckdir = CheckpointDir(tmp_path / "run" / "checkpoints")
    assert ckdir.path("last").name == "step-00000008"  # the end of epoch 1; nothing after the NaNs
    for ck in ckdir.complete():
        for t in load_checkpoint(ck)[0].values():
            assert torch.isfinite(t).all()


def test_nonfinite_gradient_is_skipped(tmp_path, monkeypatch):
    recipe = Toy(ToyConfig(epochs=1))
    trainer = Trainer(recipe, tmp_path / "g", log=lambda *_: None)
    real = torch.nn.utils.clip_grad_norm_
    calls = []

    def fake(params, max_norm):
        calls.append(1)
        return torch.tensor(float("inf")) if len(calls) == 2 else real(params, max_norm)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", fake)
    with pytest.warns(RuntimeWarning, match="gradient norm is inf"):
        trainer.fit()


def test_sigint_saves_a_checkpoint_then_stops(tmp_path, monkeypatch):
    recipe = Toy(ToyConfig(epochs=2))
    trainer = Trainer(recipe, tmp_path / "i", log=lambda *_: None)
    real = Trainer._train_step

    def step(self, batch):
        if self.step == 3:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does
        return real(self, batch)

    monkeypatch.setattr(Trainer, "_train_step", step)
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN in a background job
    with pytest.raises(Interrupted, match="stopped by SIGINT; checkpoint saved to") as info:
        trainer.fit()
    meta = load_checkpoint(info.value.checkpoint)[2]
    assert (meta["step"], meta["batch_index"]) == (4, 4)
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored


def test_early_stopping(tmp_path):
    _, report = run(tmp_path, epochs=50, patience=1, lr=0.3)
    assert report["stopped"].startswith("early stopping")
    assert report["epochs_completed"] < 50


def test_existing_run_needs_resume(tmp_path):
    run(tmp_path, epochs=1)
    with pytest.raises(CheckpointError, match="already holds checkpoints; pass --resume"):
        run(tmp_path, epochs=1)


def test_keeps_only_recent_and_best_checkpoints(tmp_path):
    run(tmp_path, epochs=5, checkpoint_every=3, keep_checkpoints=2)
    ckdir = CheckpointDir(tmp_path / "run" / "checkpoints")
    names = [p.name for p in ckdir.complete()]
    idx = ckdir.index()
    assert idx["last"] == "step-00000040" and idx["best"] in names
    assert len(names) <= 3 and names[-2:] == sorted(names)[-2:]


def test_resume_falls_back_to_an_older_checkpoint_when_the_last_is_damaged(tmp_path):
    run(tmp_path, "full", epochs=2)
    run(tmp_path, "cut", epochs=2, checkpoint_every=3, max_steps=12)  # checkpoints at steps 3, 6, 8, 9, 12
    ckdir = CheckpointDir(tmp_path / "cut" / "checkpoints")
    last = ckdir.path("last")
    assert last.name == "step-00000012"
    (last / "trainer.safetensors").write_bytes(b"\x00" * 10)  # damaged on disk
    with pytest.warns(RuntimeWarning, match="cannot resume from .*step-00000012.*trying an older"):
        run(tmp_path, "cut", epochs=2, resume=True)
    a, b = last_weights(tmp_path / "full"), last_weights(tmp_path / "cut")
    assert all(torch.equal(a[k], b[k]) for k in a)  # resumed from step 9: still bit-identical


def test_resume_uses_the_runs_saved_assets(tmp_path):
    run(tmp_path, epochs=1)
    path = tmp_path / "run" / "assets.json"
    path.write_text(json.dumps({"input_size": 3, "vocabulary": ["a", "b"]}))
    trainer, _ = run(tmp_path, epochs=2, resume=True)
    assert trainer.recipe.assets["vocabulary"] == ["a", "b"]  # load_data kept them instead of rebuilding
    assert json.loads(path.read_text())["vocabulary"] == ["a", "b"]


# ---- issue 18: resume bookkeeping, --time-budget --------------------------------------------------
def test_nonfinite_streak_survives_a_resume(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run(tmp_path, epochs=3, max_steps=4, max_nonfinite=3, poison={4})  # step 4 (the last) is skipped
        meta = load_checkpoint(CheckpointDir(tmp_path / "run" / "checkpoints").path("last"))[2]
        assert meta["nonfinite_streak"] == 1
        # two more in a row after the resume make three: the run stops, as it would have uninterrupted
        with pytest.raises(NonFiniteError, match="3 consecutive steps"):
            run(tmp_path, epochs=3, max_nonfinite=3, poison={1, 2}, resume=True)


def test_resume_with_other_threads_warns_that_bit_identity_is_lost(tmp_path):
    run(tmp_path, epochs=2, max_steps=3, threads=1)
    with pytest.warns(RuntimeWarning, match=r"--threads 1 -> 2: the run is no longer bit-identical"):
        run(tmp_path, epochs=2, threads=2, resume=True)
    run(tmp_path, "same", epochs=2, max_steps=3, threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        run(tmp_path, "same", epochs=2, threads=1, resume=True)


def test_resume_without_a_checkpoint_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="--resume: .*empty has no checkpoint to resume from"):
        run(tmp_path, "empty", epochs=1, resume=True)


def test_report_wall_time_counts_every_session(tmp_path, monkeypatch):
    real = time.perf_counter
    with monkeypatch.context() as m:  # the first session's clock runs 100 times fast: a long first session
        m.setattr("rnnkit.train.loop.time.perf_counter", lambda: 100.0 * real())
        run(tmp_path, epochs=2, max_steps=10)
    before = load_checkpoint(CheckpointDir(tmp_path / "run" / "checkpoints").path("last"))[2]["wall_time_s"]
    assert before > 1.0
    t0 = real()
    _, report = run(tmp_path, epochs=2, resume=True)
    second = real() - t0
    after = load_checkpoint(CheckpointDir(tmp_path / "run" / "checkpoints").path("last"))[2]["wall_time_s"]
    assert report["sessions"] == 2
    assert before < after <= before + second  # the saved total: the first session and part of this one
    # the report's total, rounded to 0.1 s (compared with the unrounded saved one: a short first session plus
    # the rounding could fall below `second`, as CI saw once when the first session was real-time)
    assert after - 0.05 <= report["wall_time_s"] <= before + second + 0.05
    assert "over 2 sessions" in (tmp_path / "run" / "report.md").read_text()


def test_time_budget_ends_the_epoch_cleanly_and_reports(tmp_path, monkeypatch):
    clock = iter(range(0, 10_000, 20))  # every reading of the clock is 20 s later than the one before
    monkeypatch.setattr("rnnkit.train.loop.time.perf_counter", lambda: float(next(clock)))
    trainer, report = run(tmp_path, epochs=5, time_budget=1.0)  # one minute: three readings
    assert "time budget (1 min) reached" in report["stopped"] and "epoch 1" in report["stopped"]
    assert 0 < trainer.step < 8 and report["epochs_completed"] == 1  # the first epoch, cut short and validated
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [trainer.step]
    ckdir = CheckpointDir(tmp_path / "run" / "checkpoints")
    assert ckdir.path("best") == ckdir.path("last") and ckdir.path("best").name == f"step-{trainer.step:08d}"
    assert "time budget" in (tmp_path / "run" / "report.md").read_text()
