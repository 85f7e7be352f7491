"""Property-based fuzzing of the ``rnnkit`` command through ``rnnkit.cli.main(argv)`` (issue 7, "Bad input").

Random and malformed argument lists (unknown commands and recipes, unknown
flags, values of the wrong type, out of range, NaN/inf, missing values),
``--config`` files (random bytes, TOML of the wrong shape or types, a
directory, a missing file) and run directories whose ``config.json`` is
malformed. ``main`` must return 0, 1 (a message on stderr) or 2 (argparse's
usage error), never let an exception escape. Nothing trains: the Trainer is
replaced by a stub that records the config it would have run, and that config
must hold exactly the values given (flags over the TOML file over the
defaults) and pass the recipe's own validation. ``HYPOTHESIS_PROFILE=fuzz``
runs many more examples.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import math
import tempfile
from pathlib import Path
from typing import Any, Optional
from unittest import mock

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import rnnkit.train.loop
import rnnkit.train.rundir
from rnnkit.cli import main
from rnnkit.recipes import available, get_recipe

QUARTER = settings(max_examples=max(50, settings.default.max_examples // 4))
_DIR = tempfile.TemporaryDirectory(prefix="rnnkit-fuzz-cli-")
_COUNTER = itertools.count()
RECIPES = available()
FIELDS = sorted({f.name for r in RECIPES for f in dataclasses.fields(get_recipe(r).Config)})


def _path(suffix: str) -> Path:
    return Path(_DIR.name) / f"f{next(_COUNTER)}{suffix}"


class FakeTrainer:
    """Stands in for :class:`rnnkit.train.loop.Trainer`: records what would have been trained."""

    last: Optional["FakeTrainer"] = None

    def __init__(self, recipe: Any, run_dir: Path, *, resume: bool = False) -> None:
        self.recipe, self.run_dir, self.resume = recipe, run_dir, resume
        FakeTrainer.last = self

    def fit(self) -> dict:
        return {"stopped": "stub", "test": {}, "wall_time_s": 0.0}


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with the stub Trainer and runs under a temporary directory: (exit code, stderr, stdout)."""
    FakeTrainer.last = None
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            mock.patch.object(rnnkit.train.loop, "Trainer", FakeTrainer), \
            mock.patch.object(rnnkit.train.rundir, "RUNS_ROOT", Path(_DIR.name) / "runs"):
        code = main(argv)
    return code, err.getvalue(), out.getvalue()


VALUES = st.one_of(
    st.integers(-3, 300).map(str), st.sampled_from(["0.5", "1e-3", "-1.5", "0", "1", "", " ", "lstm", "gru",
                                                    "transformer", "true", "--", "1e999", "0x10", "３"]),
    st.text(max_size=4),
)
FINITE = VALUES.filter(lambda v: v.strip().lower() not in ("nan", "inf", "-inf", "+inf", "infinity", "1e999"))


@st.composite
def flags(draw: Any, values: Any = FINITE) -> list[str]:
    out: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.one_of(st.sampled_from(FIELDS), st.sampled_from(["nope", "hidden_size", "h", "config"])))
        flag = "--" + (name.replace("_", "-") if draw(st.integers(0, 5)) else name)
        if draw(st.integers(0, 7)) == 0:
            flag = "--no-" + flag[2:]
        out.append(flag)
        if draw(st.integers(0, 5)):
            out.append(draw(values))
    return out


@st.composite
def good_flags(draw: Any, config_cls: type) -> list[str]:
    """Well-typed values for a recipe's own fields (in range or not: validation decides)."""
    out: list[str] = []
    for f in draw(st.lists(st.sampled_from(dataclasses.fields(config_cls)), max_size=4)):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            out.append(flag if draw(st.booleans()) else "--no-" + flag[2:])
        elif "choices" in f.metadata:
            out += [flag, str(draw(st.sampled_from(f.metadata["choices"])))]
        elif f.type == "int":
            out += [flag, str(draw(st.integers(0, 64)))]
        elif f.type == "float":
            out += [flag, repr(draw(st.floats(0.0, 2.0)))]
        elif f.name not in ("run_dir", "device"):  # a run directory or device would be used as given
            out += [flag, draw(st.text("abc._", min_size=1, max_size=3))]
    return out


TOML_PIECES = st.sampled_from(['hidden_size = 8\n', 'hidden-size = "8"\n', 'lr = 0.5\n', 'lr = nan\n', 'lr = inf\n',
                               'cell = "gru"\n', 'cell = 3\n', 'epochs = -1\n', 'nope = 1\n', '[train]\n', 'train = 5\n', '[[train]]\n',
                               '[other]\n', 'tiny = true\n', 'tiny = "yes"\n', 'dropout = 0.5\n', 'dropout = [1, 2]\n',
                               'batch_size = 1979-05-27\n', 'x = {a = 1}\n', '= 3\n', '"\n', '\xff', 'seed = 1e3\n',
                               'device = "cpu"\n'])


@st.composite
def config_files(draw: Any) -> str:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return str(Path(_DIR.name) / "missing.toml")
    if kind == 1:
        return _DIR.name  # a directory
    path = _path(".toml")
    if kind == 2:
        path.write_bytes(draw(st.binary(max_size=40)))
    else:
        path.write_text("".join(draw(st.lists(TOML_PIECES, max_size=6))), "utf-8", errors="surrogateescape")
    return str(path)


def _check_exit(code: int, err: str, out: str) -> None:
    event(f"exit {code}")
    assert code in (0, 1, 2), code
    assert "Traceback" not in err + out
    if code == 1:
        assert err.strip() and err.lstrip().startswith("rnnkit"), err
    if code == 2:  # argparse's "usage: ... error: ..." on stderr (`rnnkit train` alone prints its usage to stdout)
        assert "usage" in err + out or "unknown command" in err, "exit 2 without a message"


@QUARTER
@given(st.data())
def test_fuzz_train_arguments(data: Any) -> None:
    recipe = data.draw(st.sampled_from(RECIPES + ["nosuch", "", "--help", "-x", "SINCOS"]))
    argv = ["train", recipe] + data.draw(flags() if recipe not in RECIPES or data.draw(st.booleans())
                                         else good_flags(get_recipe(recipe).Config))
    if data.draw(st.integers(0, 3)) == 0:
        argv += ["--config", data.draw(config_files())]
    code, err, out = run_main(argv)
    _check_exit(code, err, out)
    trainer = FakeTrainer.last
    if code != 0 or trainer is None:
        return
    cfg = trainer.recipe.cfg
    cfg.validate("fuzz")  # the config that would have been trained is valid
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        assert type(value).__name__ == f.type or f.type not in ("int", "float", "str", "bool"), (f.name, value)
        if isinstance(value, float):  # NaN/inf in a TOML file: see test_non_finite_options_are_refused
            event("non-finite option accepted" if not math.isfinite(value) else "finite options")
    expected = _expected_values(type(cfg), argv[2:])
    if expected is not None:  # a plain command line: the config holds the last value given for each flag
        event("flags checked against an independent parse")
        assert {k: getattr(cfg, k) for k in expected} == expected


def _expected_values(config_cls: type, args: list[str]) -> Optional[dict]:
    """``{field: value}`` for a simple ``--flag value`` / ``--[no-]bool`` list (None if the list is not that simple)."""
    kinds = {f.name: f.type for f in dataclasses.fields(config_cls)}
    out: dict = {}
    i = 0
    while i < len(args):
        name = args[i][2:].replace("-", "_") if args[i].startswith("--") else None
        negated = name is not None and name.startswith("no_") and kinds.get(name[3:]) == "bool"
        if negated:
            out[name[3:]] = False
            i += 1
        elif name in kinds and kinds[name] == "bool":
            out[name] = True
            i += 1
        elif name in kinds and i + 1 < len(args) and not args[i + 1].startswith("-"):
            if name != "run_dir":  # `rnnkit train` fills in an empty --run-dir with runs/<recipe>-<time>
                out[name] = {"int": int, "float": float, "str": str}[kinds[name]](args[i + 1])
            i += 2
        else:
            return None
    return out


@QUARTER
@given(st.data())
def test_fuzz_run_commands_with_malformed_run_dirs(data: Any) -> None:
    """eval / predict / generate / export on run directories with malformed config.json / assets.json, and bad flags."""
    command = data.draw(st.sampled_from(["eval", "predict", "generate", "export", "list", "fly", "", "-h"]))
    run_dir = _path("")
    kind = data.draw(st.integers(0, 5))
    if kind:
        run_dir.mkdir()
        config = data.draw(st.one_of(
            st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
            st.sampled_from(['[]', '3', '{}', '{"recipe": "nosuch"}', '{"recipe": 3, "config": []}',
                             '{"recipe": "sincos", "config": {"hidden_size": "big"}}',
                             '{"recipe": "sincos", "config": {"nope": 1}}',
                             '{"recipe": "sincos", "config": {"lr": -1}}', '{"recipe": "sincos", "config": 5}',
                             '{"recipe": "sincos"}', '{"recipe": "sincos", "config": {}}'])))
        (run_dir / "config.json").write_text(config, "utf-8")
        if data.draw(st.booleans()):
            (run_dir / "assets.json").write_text(data.draw(st.sampled_from(['{}', '[', '3', '{"vocab": 1}'])))
    options = st.sampled_from([["--checkpoint", "best"], ["--checkpoint", "worst"], ["--device", "cpu"],
                               ["--threads", "-1"], ["--threads", "x"], ["--length", "5"], ["--length", "-1"],
                               ["--temperature", "0"], ["--temperature", "nan"], ["--format", "onnx"], ["--format", "x"], ["--top-k"], ["--input", str(run_dir / "config.json")],
                               ["--input", str(run_dir / "missing")], ["--output"], ["--seed", "1"], ["--nope"]])
    argv = [command, str(run_dir), *itertools.chain.from_iterable(data.draw(st.lists(options, max_size=3)))]
    loader = mock.patch.object(rnnkit.train.rundir, "get_recipe", side_effect=_no_data_loading)
    with loader:
        code, err, out = run_main(argv)
    _check_exit(code, err, out)


def _no_data_loading(name: Any) -> type:
    """The recipe class, with ``load_data`` stubbed to an error: ``eval`` must not load a dataset here."""
    cls = get_recipe(name)

    class NoData(cls):  # type: ignore[misc, valid-type]
        def load_data(self) -> None:
            raise ValueError("rnnkit: (fuzz stub) load_data reached with a valid run directory")

    NoData.__name__ = cls.__name__
    return NoData


@QUARTER
@given(argv=st.lists(st.one_of(st.sampled_from(["train", "list", "eval", "--help", "-h", "--", "sincos"]),
                               VALUES), max_size=4))
def test_fuzz_any_argv(argv: list[str]) -> None:
    code, err, out = run_main(argv)
    _check_exit(code, err, out)


def _toml(text: str) -> str:
    path = _path(".toml")
    path.write_text(text, "utf-8")
    return str(path)


@pytest.mark.parametrize("argv", [
    ["train", "sincos", "--lr", "nan"],
    ["train", "sincos", "--grad-clip", "inf"],
    ["train", "sincos", "--weight-decay", "nan"],
])
def test_non_finite_options_are_refused(argv: list[str]) -> None:
    code, err, _ = run_main(argv)
    assert code == 1 and " must be " in err and FakeTrainer.last is None


@pytest.mark.parametrize("make_argv", [
    lambda: ["train", "sincos", "--config", _toml("train = 5\n")],
    lambda: ["train", "sincos", "--config", _DIR.name],
    lambda: ["train", "sincos", "--config", _toml("[[train]]\nlr = 1\n")],
    lambda: ["eval", _run_dir('[1, 2]')],
    lambda: ["train", "sincos", "--resume", "--run-dir", _run_dir('{"recipe": "sincos"}')],
])
def test_malformed_config_files_give_a_message(make_argv: Any) -> None:
    code, err, _ = run_main(make_argv())
    assert code == 1 and err.startswith("rnnkit")


def _run_dir(config: str) -> str:
    path = _path("")
    path.mkdir()
    (path / "config.json").write_text(config, "utf-8")
    return str(path)


def test_cli_stub_trainer_sees_flags_over_toml_over_defaults() -> None:
    """The harness itself: a good command line reaches the (stub) Trainer with the values given."""
    code, err, _ = run_main(["train", "sincos", "--config", _toml("hidden_size = 8\nlr = 0.5\n"), "--lr", "0.25",
                          "--tiny"])
    assert (code, err) == (0, "")
    cfg = FakeTrainer.last.recipe.cfg
    assert (cfg.hidden_size, cfg.lr, cfg.tiny, cfg.epochs) == (8, 0.25, True, get_recipe("sincos").Config().epochs)
    assert json.dumps(cfg.to_dict())  # what config.json would hold
