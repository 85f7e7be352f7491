"""The .npz cache: packing, atomic writes, fingerprints, unwritable directories."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data import cache


def test_pack_strings_round_trip() -> None:
    strings = ["fresh", "", "床前明月光", "a,b\n\"c\"", "😀"]
    packed = cache.pack_strings(strings)
    assert packed["bytes"].dtype == np.uint8 and packed["offsets"].tolist()[0] == 0
    assert cache.unpack_strings(packed["bytes"], packed["offsets"]) == strings


def test_pack_sequences_round_trip() -> None:
    seqs = [np.ones((3, 2), np.float32), np.zeros((0, 2), np.float32), np.arange(4, dtype=np.float32).reshape(2, 2)]
    packed = cache.pack_sequences(seqs)
    back = cache.unpack_sequences(packed["values"], packed["lengths"])
    assert [s.shape for s in back] == [(3, 2), (0, 2), (2, 2)]
    assert all(np.array_equal(a, b) for a, b in zip(seqs, back))


def test_save_load_leaves_no_temporary_files_and_never_pickles(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.npz"
    arrays = {"a": np.arange(5), "d": np.array(["2020-01-01"], dtype="datetime64[D]")}
    cache.save_arrays(path, arrays)
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.npz"]
    back = cache.load_arrays(path)
    assert back["a"].tolist() == [0, 1, 2, 3, 4] and back["d"].dtype == np.dtype("datetime64[D]")
    np.savez(tmp_path / "obj.npz", o=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        cache.load_arrays(tmp_path / "obj.npz")


def test_cached_builds_once_and_rebuilds_when_the_source_changes(tmp_path: Path) -> None:
    src = tmp_path / "source.txt"
    src.write_text("1 2 3")
    calls = []

    def build() -> dict:
        calls.append(1)
        return {"v": np.array([int(t) for t in src.read_text().split()])}

    first = cache.cached("demo", [src], build, directory=tmp_path / "c")
    second = cache.cached("demo", [src], build, directory=tmp_path / "c")
    assert len(calls) == 1 and np.array_equal(first["v"], second["v"])
    src.write_text("4 5 6 7")
    os.utime(src, ns=(1, 1))
    third = cache.cached("demo", [src], build, directory=tmp_path / "c")
    assert len(calls) == 2 and third["v"].tolist() == [4, 5, 6, 7]
    cache.cached("demo", [src], build, directory=tmp_path / "c", extra=("test",))
    assert len(calls) == 3


def test_cache_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    assert cache.cache_dir() == tmp_path
    assert cache.cache_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("RNNKIT_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "rnnkit"


def test_unwritable_cache_warns_and_still_returns(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    with pytest.warns(UserWarning, match="could not write"):
        out = cache.cached("demo", [blocker], lambda: {"v": np.arange(3)}, directory=blocker)
    assert out["v"].tolist() == [0, 1, 2]
