"""rnnkit.fused.build: the cache name hashes everything the binary depends on; failures fall back loudly."""

from __future__ import annotations

import io
import shutil
import time
import warnings
from pathlib import Path

import pytest

from rnnkit.fused import build
from rnnkit.fused.build_core import cmd_build_core
from rnnkit.fused.build_progress import BuildProgress


def _name(monkeypatch: pytest.MonkeyPatch, csrc: Path = build.CSRC, flags: list[str] | None = None) -> str:
    return build.extension_name(build.identity(flags if flags is not None else build._flags(), csrc))


def test_name_changes_with_source_contents_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "csrc"
    shutil.copytree(build.CSRC, copy)
    before = _name(monkeypatch, copy)
    assert before == _name(monkeypatch, copy)  # deterministic
    # another checkout of the same sources: its own name (torch's build file holds absolute source paths,
    # so one shared name made two checkouts in one environment rebuild over each other)
    assert before != _name(monkeypatch)
    header = copy / "fastmath.h"
    header.write_text(header.read_text() + "\n// an edit\n")
    assert _name(monkeypatch, copy) != before  # contents, not only names


def test_name_changes_with_flags_compiler_target_and_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    base = _name(monkeypatch)
    assert _name(monkeypatch, flags=[*build._flags(), "-DX"]) != base
    monkeypatch.setattr(build, "compiler_version", lambda cxx=None: "another compiler 1.0")
    assert _name(monkeypatch) != base
    monkeypatch.undo()
    monkeypatch.setattr(build, "target_features", lambda flags, cxx=None: ["-march=other", "-mno-avx512f"])
    assert _name(monkeypatch) != base
    monkeypatch.undo()
    monkeypatch.setattr(build.sys, "prefix", "/another/venv")
    assert _name(monkeypatch) != base


def test_target_features_expand_march_native() -> None:
    if not build.compiler_version():
        pytest.skip("no C++ compiler here (the compiled-core tests skip too)")
    features = build.target_features(["-march=native"])
    if "-march=native" not in build._flags():
        pytest.skip("this platform builds without -march=native")
    cpu = build.target_cpu(features)
    assert cpu and cpu != "native"  # the driver resolved it to a concrete CPU
    assert any(tok.startswith("-m") and tok != f"-march={cpu}" for tok in features)  # and to its features
    assert build.target_features(["-march=x86-64"]) != features


def test_progress_announces_counts_object_files_and_reports(tmp_path: Path) -> None:
    out = io.StringIO()  # not a terminal: the announcement, then the outcome
    progress = BuildProgress(tmp_path, 3, "c++ 12", "znver4", stream=out)
    progress.start()
    (tmp_path / "a.o").write_bytes(b"")
    (tmp_path / "b.o").write_bytes(b"")
    assert progress.done_files() == 2
    time.sleep(0.05)
    progress.stop(True)
    text = out.getvalue()
    assert text.startswith("rnnkit: building the compiled C++ core") and "3 files" in text and "znver4" in text
    assert str(tmp_path) in text and "rnnkit build-core" in text
    assert "compiled core built in" in text.splitlines()[-1]


def test_build_failure_falls_back_with_one_warning(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    def broken(verbose: bool) -> None:
        raise RuntimeError("Error building extension 'x'\nmore lines")

    monkeypatch.setattr(build, "_module", None)
    monkeypatch.setattr(build, "_error", None)
    monkeypatch.setattr(build, "_warned", False)
    monkeypatch.setattr(build, "_build_and_load", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert build.load() is None and build.load() is None
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "could not be built (RuntimeError: Error building extension 'x')" in messages[0]
    assert "slower reference runner" in messages[0]
    assert cmd_build_core([]) == 1
    err = capsys.readouterr().err
    assert "rnnkit build-core: the compiled core could not be built" in err and "pure-PyTorch path" in err


def test_build_core_prints_where_the_library_is(capsys: pytest.CaptureFixture[str]) -> None:
    if build.load() is None:
        pytest.skip(build.unavailable_reason() or "compiled core unavailable")
    assert cmd_build_core([]) == 0
    out = capsys.readouterr().out
    path = build.library_path()
    assert path is not None and path.exists() and str(path) in out
    assert path.parent.name == build.extension_name(build.identity(build._flags()))
