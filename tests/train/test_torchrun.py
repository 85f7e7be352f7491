"""DDP through the Trainer and the real command: ``torchrun --nproc-per-node 2 -m rnnkit train ...``.

Two gloo processes (``--threads 1``) split each batch of tiny ``sincos`` (its
LSTM state is carried across batches, each rank carrying its own rows) and
must end where one process ends: the same number of steps and epochs, the same
learning-rate schedule, the same weights up to float summation order. A
two-process run killed (SIGKILL on the whole process group) after a mid-epoch
checkpoint and resumed under torchrun ends bit-identical to an uninterrupted
two-process run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.train.checkpoint import CheckpointDir

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["train", "sincos", "--tiny", "--epochs", "2", "--hidden-size", "8", "--lr-schedule", "cosine",
        "--deterministic", "--threads", "1", "--checkpoint-every", "4", "--no-progress"]
# tiny sincos: 20 windows per epoch -> 40 steps in all; batch 8 streams -> 4 rows per rank
SLOW = ROOT / "tests" / "train" / "_slow_rnnkit.py"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp: Path, name: str, *extra: str, procs: int = 2, slow: bool = False) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), RNNKIT_CACHE=str(tmp / "cache"), OMP_NUM_THREADS="1")
    target = [str(SLOW), "0.15"] if slow else ["-m", "rnnkit"]
    if procs > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(procs), "--master-addr",
               "127.0.0.1", "--master-port", str(_port()), *target]
    else:
        cmd = [sys.executable, *target]
    return subprocess.Popen([*cmd, *ARGS, "--run-dir", str(tmp / name), *extra], cwd=tmp, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    return out


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(CheckpointDir(run / "checkpoints").path("last") / "model.safetensors"))


def _epochs(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in ("time_s", "examples_per_s")}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except (OSError, IndexError):
        return False


def _wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in pids):
        assert time.monotonic() < deadline, "workers still alive after SIGKILL"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("torchrun")
    procs = {"one": _start(tmp, "one", procs=1), "two": _start(tmp, "two"), "killed": _start(tmp, "killed", slow=True)}
    run = tmp / "killed"
    deadline = time.monotonic() + 180
    while not any(int(p.name[5:13]) >= 24 for p in CheckpointDir(run / "checkpoints").complete()):
        assert procs["killed"].poll() is None, procs["killed"].communicate()
        assert time.monotonic() < deadline, "no checkpoint at step 24"
        time.sleep(0.05)
    victims = _descendants(procs["killed"].pid)  # torchrun starts each worker in a session of its own
    assert len(victims) >= 2, victims
    for pid in (*victims, procs["killed"].pid):  # the workers and the agent, mid-epoch 2
        os.kill(pid, signal.SIGKILL)
    procs["killed"].wait()
    _wait_gone(victims)
    killed_at = json.loads((CheckpointDir(run / "checkpoints").path("last") / "trainer.json").read_text())["step"]
    out = {name: _finish(p) for name, p in procs.items() if name != "killed"}
    out["resumed"] = _finish(_start(tmp, "killed", "--resume"))
    return tmp, out, killed_at


def test_two_processes_equal_one(runs):
    tmp, out, _ = runs
    assert "(2 processes)" in out["two"] and "processes" not in out["one"]
    one, two = _epochs(tmp / "one"), _epochs(tmp / "two")
    assert [(r["epoch"], r["step"]) for r in two] == [(r["epoch"], r["step"]) for r in one] == [(0, 20), (1, 40)]
    for a, b in zip(one, two):
        assert b["lr"] == pytest.approx(a["lr"], rel=1e-12)  # the same cosine schedule, step for step
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4)
    w1, w2 = _weights(tmp / "one"), _weights(tmp / "two")
    assert w1.keys() == w2.keys()
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-5)
    report = json.loads((tmp / "two" / "report.json").read_text())
    assert report["steps"] == 40 and report["epochs_completed"] == 2


def test_killed_and_resumed_under_torchrun_is_bit_identical(runs):
    tmp, out, killed_at = runs
    assert 24 <= killed_at < 40
    assert f"step {killed_at})" in out["resumed"], out["resumed"]  # "resumed from ... (epoch 2, batch B, step N)"
    ref, resumed = _weights(tmp / "two"), _weights(tmp / "killed")
    for k in ref:
        assert torch.equal(ref[k], resumed[k]), k
    assert _epochs(tmp / "killed") == _epochs(tmp / "two")
