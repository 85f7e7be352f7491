"""Crash safety end to end, through the real command in subprocesses.

* SIGKILL mid-epoch, then ``--resume``: the run continues from its last
  checkpoint and, in deterministic mode, ends bit-identical to an
  uninterrupted run (weights, optimiser state, metrics).
* SIGTERM: a checkpoint is saved at the current step before exit (exit
  code 143), and resuming from it is bit-identical too (SIGINT takes the
  same path; it is tested in-process in test_loop.py).

The recipe is ``sincos``: its LSTM state is carried across batches, and with
two layers, dropout and input noise every kind of restored state matters.
A tiny wrapper slows each step down so the signals land mid-epoch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.train.checkpoint import CheckpointDir

ROOT = Path(__file__).resolve().parents[2]
SLOW = ROOT / "tests" / "train" / "_slow_rnnkit.py"  # the rnnkit command, each training step slower
ARGS = ["train", "sincos", "--tiny", "--epochs", "2", "--hidden-size", "8", "--num-layers", "2", "--dropout", "0.2",
        "--noise", "0.05", "--deterministic", "--threads", "1", "--checkpoint-every", "2", "--no-progress"]
# tiny sincos: 20 windows per epoch -> 40 steps; checkpoints every 2 steps; step 24 is mid-epoch 2


def start(tmp: Path, name: str, delay: float, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), RNNKIT_CACHE=str(tmp / "cache"))
    return subprocess.Popen([sys.executable, str(SLOW), str(delay), *ARGS, "--run-dir", str(tmp / name), *extra],
                            cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(proc: subprocess.Popen, run: Path, step: int, timeout: float = 120.0) -> None:
    """Wait until a checkpoint at ``step`` or later exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in CheckpointDir(run / "checkpoints").complete() if int(p.name[5:13]) >= step]
        if done:
            return
        if proc.poll() is not None:
            pytest.fail(f"run ended before step {step}: {proc.communicate()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"no checkpoint at step {step} within {timeout} s")


def final_state(run: Path) -> dict[str, torch.Tensor]:
    last = CheckpointDir(run / "checkpoints").path("last")
    state = load_file(str(last / "model.safetensors"))
    state.update({k: v for k, v in load_file(str(last / "trainer.safetensors")).items() if k.startswith("optim.")})
    return state


def epochs_logged(run: Path) -> list[dict]:
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time_s", "examples_per_s")} for r in records]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start the reference, SIGKILL, SIGTERM and SIGINT runs together; resume the interrupted ones."""
    tmp = tmp_path_factory.mktemp("crash")
    ref = start(tmp, "ref", 0.0)
    names = {signal.SIGKILL: "kill", signal.SIGTERM: "term"}
    # the SIGTERM victim is slower, so it is still mid-epoch after the SIGKILL victim has been handled
    victims = {sig: start(tmp, name, delay) for (sig, name), delay in zip(names.items(), (0.05, 0.15))}
    outcome = {}
    for sig, proc in victims.items():
        run = tmp / names[sig]
        wait_for_step(proc, run, 24)  # mid-epoch 2
        time.sleep(0.05)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        last = CheckpointDir(run / "checkpoints").path("last")
        outcome[sig] = (proc.returncode, out, err, json.loads((last / "trainer.json").read_text()))
    assert ref.wait(timeout=300) == 0, ref.communicate()
    resumed = {}
    for sig, name in ((signal.SIGKILL, "kill"), (signal.SIGTERM, "term")):
        resumed[sig] = start(tmp, name, 0.0, "--resume")
    for sig, proc in resumed.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        resumed[sig] = out
    return tmp, outcome, resumed


def test_sigkill_mid_epoch_then_resume_is_bit_identical(runs):
    tmp, outcome, resumed = runs
    rc, _, _, _ = outcome[signal.SIGKILL]
    assert rc == -signal.SIGKILL
    line = next(x for x in resumed[signal.SIGKILL].splitlines() if x.startswith("resumed from"))
    step = int(line.rsplit("step ", 1)[1].rstrip(")"))
    assert step >= 22  # at most one checkpoint interval (2 steps) lost after step 24 appeared
    ref, got = final_state(tmp / "ref"), final_state(tmp / "kill")
    assert ref.keys() == got.keys() and any(k.startswith("optim.") for k in ref)
    for k in ref:
        assert torch.equal(ref[k], got[k]), k
    assert epochs_logged(tmp / "ref") == epochs_logged(tmp / "kill")
    assert json.loads((tmp / "kill" / "report.json").read_text())["test"] == \
        json.loads((tmp / "ref" / "report.json").read_text())["test"]


def test_sigterm_saves_checkpoint_and_resume_is_bit_identical(runs):
    tmp, outcome, _ = runs
    rc, _, err, meta = outcome[signal.SIGTERM]
    assert rc == 143
    assert "stopped by SIGTERM; checkpoint saved to" in err and "--resume --run-dir" in err
    assert meta["step"] >= 24 and meta["batch_index"] not in (0, 20)  # saved mid-epoch, at the step it stopped
    ref, got = final_state(tmp / "ref"), final_state(tmp / "term")
    for k in ref:
        assert torch.equal(ref[k], got[k]), k
