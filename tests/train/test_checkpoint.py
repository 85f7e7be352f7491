"""Checkpoints: atomic writes, safe loading (no pickle), clear errors, structure round trips."""

from __future__ import annotations

import json
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.state import LSTMState
from rnnkit.train import atomic
from rnnkit.train.checkpoint import (CheckpointDir, CheckpointError, NonFiniteError, apply_weights, load_checkpoint,
                                     read_safetensors, save_checkpoint)
from rnnkit.train.tree import flatten, unflatten


def small_state() -> dict[str, torch.Tensor]:
    return {"w": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([1.0, -1.0])}


def save(root: Path, name: str = "step-00000001", **kw) -> Path:
    args = dict(model_state=small_state(), tensors={"x": torch.ones(3)}, meta={"step": 1})
    args.update(kw)
    return save_checkpoint(root, name, **args)


# ---- atomic writes ------------------------------------------------------------------------------
def test_atomic_write_replaces_content(tmp_path):
    p = tmp_path / "f.json"
    atomic.atomic_write_json(p, {"a": 1})
    atomic.atomic_write_json(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 2}
    assert [x.name for x in tmp_path.iterdir()] == ["f.json"]


def test_crash_between_write_and_rename_keeps_old_file(tmp_path, monkeypatch):
    p = tmp_path / "index.json"
    atomic.atomic_write_json(p, {"last": "old"})

    def crash(src, dst):  # the process "dies" after the temp file is written, before the rename
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_write_json(p, {"last": "new"})
    assert json.loads(p.read_text()) == {"last": "old"}
    assert sorted(x.name for x in tmp_path.iterdir()) == ["index.json"]  # the temp file was cleaned up


def test_crash_while_writing_checkpoint_keeps_previous(tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    first = save(root)
    CheckpointDir(root).update(last=first.name)
    calls = []
    real = atomic.write_tmp

    def dying_write(directory, data, prefix=".tmp-"):
        calls.append(1)
        if len(calls) == 3:  # die after two of the new checkpoint's files are on disk
            raise KeyboardInterrupt("simulated crash")
        return real(directory, data, prefix)

    monkeypatch.setattr("rnnkit.train.checkpoint.write_tmp", dying_write)
    with pytest.raises(KeyboardInterrupt):
        save(root, "step-00000002", model_state={k: v + 1 for k, v in small_state().items()})
    ckdir = CheckpointDir(root)
    assert ckdir.path("last") == first
    assert [p.name for p in ckdir.complete()] == ["step-00000001"]
    state, tensors, meta = load_checkpoint(ckdir.path("last"))
    assert torch.equal(state["w"], small_state()["w"]) and meta == {"step": 1}


def test_a_leftover_temp_dir_is_ignored_and_pruned(tmp_path):
    root = tmp_path / "checkpoints"
    first = save(root)
    (root / ".tmp-abc").mkdir()
    (root / ".tmp-abc" / "model.safetensors").write_bytes(b"partial")
    ckdir = CheckpointDir(root)
    assert ckdir.index() == {"last": first.name}  # no index.json yet: rebuilt from complete dirs
    ckdir.update(last=first.name)
    ckdir.prune(keep=2)
    assert not (root / ".tmp-abc").exists()


def test_same_name_never_overwrites(tmp_path):
    a = save(tmp_path)
    b = save(tmp_path)
    assert a.name == "step-00000001" and b.name == "step-00000001.1" and a.is_dir()


def test_model_file_is_plain_safetensors_with_metadata(tmp_path):
    path = save(tmp_path, model_metadata={"recipe": "toy"})
    assert load_file(str(path / "model.safetensors")).keys() == {"w", "b"}
    _, meta = read_safetensors(path / "model.safetensors")
    assert meta["recipe"] == "toy"


def test_nonfinite_weights_are_never_saved(tmp_path):
    bad = small_state()
    bad["w"][0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="model tensor 'w' holds NaN/inf"):
        save(tmp_path, model_state=bad)
    with pytest.raises(NonFiniteError, match="optimiser tensor 'optim.x'"):
        save(tmp_path, tensors={"optim.x": torch.tensor([float("inf")])})
    assert CheckpointDir(tmp_path).complete() == []


# ---- safe loading -------------------------------------------------------------------------------
class Exploit:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_crafted_pickle_is_refused_and_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"w": Exploit(str(marker))}, protocol=4)
    with pytest.raises(FileNotFoundError):  # sanity: unpickling it really would run code
        pickle.loads(pickle.dumps(Exploit(str(tmp_path / "no" / "dir")), protocol=4))
    ck = save(tmp_path)
    (ck / "model.safetensors").write_bytes(payload)
    (ck / "manifest.json").unlink()  # even without the manifest's checksum, the format check refuses it
    with pytest.raises(CheckpointError, match="is a Python pickle.*never unpickles"):
        load_checkpoint(ck, trust_unverified=True)
    with pytest.raises(CheckpointError, match="is a Python pickle"):
        read_safetensors(ck / "model.safetensors")
    assert not marker.exists()


def test_torch_save_archive_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    with zipfile.ZipFile(path, "w") as z:  # the torch.save format: a zip with data.pkl inside
        z.writestr("archive/data.pkl", pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="zip archive \\(torch.save format"):
        read_safetensors(path)


def test_protocol0_pickle_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"w": 1}, protocol=0))
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        read_safetensors(path)


@pytest.mark.parametrize("cut", [0, 5, 40, -3])
def test_truncated_file(tmp_path, cut):
    ck = save(tmp_path)
    data = (ck / "model.safetensors").read_bytes()
    (ck / "model.safetensors").write_bytes(data[:cut])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(ck)
    (ck / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(ck, trust_unverified=True)


def test_corrupted_bytes_fail_the_checksum(tmp_path):
    ck = save(tmp_path)
    data = bytearray((ck / "trainer.safetensors").read_bytes())
    data[-1] ^= 0xFF  # flip bits inside tensor data: still parses, but is wrong
    (ck / "trainer.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="trainer.safetensors is corrupted: its SHA-256"):
        load_checkpoint(ck)


def test_corrupted_json(tmp_path):
    ck = save(tmp_path)
    (ck / "manifest.json").unlink()
    (ck / "trainer.json").write_text('{"step": 1')
    with pytest.raises(CheckpointError, match="trainer.json is truncated or corrupted \\(not valid JSON"):
        load_checkpoint(ck, trust_unverified=True)


def test_missing_file(tmp_path):
    ck = save(tmp_path)
    (ck / "trainer.safetensors").unlink()
    with pytest.raises(CheckpointError, match="incomplete: trainer.safetensors is missing"):
        load_checkpoint(ck)


def test_wrong_architecture_and_missing_keys(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    other = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Linear(5, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"shape mismatch 0.weight: checkpoint \(5, 3\) vs model \(4, 3\).*--hidden-size"):
        apply_weights(model, other.state_dict(), Path("ck"))
    partial = {k: v for k, v in model.state_dict().items() if k != "1.bias"}
    with pytest.raises(CheckpointError, match=r"missing keys \['1.bias'\]"):
        apply_weights(model, partial, Path("ck"))
    extra = dict(model.state_dict(), **{"2.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"unexpected keys \['2.weight'\]"):
        apply_weights(model, extra, Path("ck"))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing half-loaded


# ---- structures ---------------------------------------------------------------------------------
def test_optimizer_and_scheduler_state_round_trip(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1, betas=(0.8, 0.9))
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max")
    for _ in range(3):
        model(torch.randn(4, 3)).sum().backward()
        opt.step()
        sched.step(0.5)
    tensors, spec = flatten({"opt": opt.state_dict(), "sched": sched.state_dict()}, "s")
    path = save(tmp_path, tensors=tensors, meta={"spec": spec})
    _, loaded_t, meta = load_checkpoint(path)
    back = unflatten(json.loads(json.dumps(meta["spec"])), loaded_t)
    ref = opt.state_dict()
    assert back["opt"]["param_groups"] == ref["param_groups"]
    assert back["opt"]["param_groups"][0]["betas"] == (0.8, 0.9)  # tuples stay tuples
    assert set(back["opt"]["state"]) == {0, 1}  # int keys stay ints
    for i in (0, 1):
        for k, v in ref["state"][i].items():
            assert torch.equal(back["opt"]["state"][i][k], v)
    assert back["sched"] == sched.state_dict()


def test_namedtuple_state_round_trip_and_foreign_types_refused():
    state = (LSTMState(torch.ones(2, 3), torch.zeros(2, 3)), torch.full((2, 4), 2.0))
    tensors, spec = flatten(state, "carry")
    back = unflatten(spec, tensors)
    assert isinstance(back[0], LSTMState) and torch.equal(back[0].c, state[0].c) and torch.equal(back[1], state[1])
    bad = json.loads(json.dumps(spec).replace("rnnkit.state:LSTMState", "os:system"))
    with pytest.raises(ValueError, match="'os:system' is not from rnnkit; refusing"):
        unflatten(bad, tensors)
    with pytest.raises(TypeError, match="cannot store a object at x in a checkpoint"):
        flatten(object(), "x")
    assert unflatten(flatten(OrderedDict(a=1), "o")[1], {}) == {"a": 1}


def test_a_checkpoint_without_manifest_is_refused_unless_trusted(tmp_path):
    ck = save(tmp_path)
    (ck / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="has no manifest.json.*--trust-unverified"):
        load_checkpoint(ck)
    state, _, _ = load_checkpoint(ck, trust_unverified=True)
    torch.testing.assert_close(state["w"], small_state()["w"], rtol=0, atol=0)


@pytest.mark.parametrize("name", ["/etc", "..", "../step-00000001", "step-1/../../x", "x", 3])
def test_index_names_must_be_checkpoint_directories(tmp_path, name):
    root = tmp_path / "run" / "checkpoints"
    ck = save(root)
    (root / "index.json").write_text(json.dumps({"last": ck.name, "best": name}))
    assert CheckpointDir(root).path("last") == ck
    with pytest.raises(CheckpointError, match="'best' must name a checkpoint directory"):
        CheckpointDir(root).path("best")
