"""sincos end to end through ``rnnkit.cli.main``, and the state carried across windows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rnnkit.cli import main
from rnnkit.recipes.models import RNNModel
from rnnkit.recipes.sincos import Config, SinCos, read_series, series
from rnnkit.train.checkpoint import CheckpointDir

TINY = ["--tiny", "--hidden-size", "16", "--lr", "0.03", "--threads", "1", "--no-progress"]


def model_from(run: Path) -> RNNModel:
    cfg = Config(**json.loads((run / "config.json").read_text())["config"])
    model = RNNModel(cfg, 1, input_size=1, per_step=True)
    model.load_state_dict(load_file(str(CheckpointDir(run / "checkpoints").path("best") / "model.safetensors")))
    return model.eval()


def test_series_is_sin_and_cos_of_consecutive_positions():
    x, y = series(5, 2, 3)
    pos = 5 + torch.arange(6.0, dtype=torch.float64).reshape(2, 3)
    assert torch.equal(x[..., 0], torch.sin(pos / (10 * math.pi)).float())
    assert torch.equal(y[..., 0], torch.cos(pos / (10 * math.pi)).float())


def test_windows_continue_each_stream():
    recipe = SinCos(Config(window=4, batch_size=3, train_windows=5, eval_windows=2))
    recipe.load_data()
    batches = recipe.train_batches(0)
    assert len(batches) == 5 and batches[0][0].shape == (3, 4, 1)
    joined = torch.cat([b[0] for b in batches], dim=1)
    assert torch.equal(joined, recipe.splits["train"][0])  # batch k+1 continues batch k, stream by stream
    assert recipe.train_batches(0) is not recipe.train_batches(1)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(recipe.train_batches(0), recipe.train_batches(3)))


def test_train_resume_eval_predict(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "s"
    assert main(["train", "sincos", *TINY, "--epochs", "4", "--run-dir", str(run)]) == 0
    assert "sincos: test MSE" in capsys.readouterr().out
    epochs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs[-1]["train_loss"] < 0.95 * epochs[0]["train_loss"]  # the fit itself needs ~600 steps
    assert (run / "prediction.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["train", "sincos", "--resume", "--run-dir", str(run), "--epochs", "5", "--no-progress"]) == 0
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 5

    # eval equals an independent computation: the whole test stretch in one call (no windows)
    assert main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    recipe = SinCos(Config(**json.loads((run / "config.json").read_text())["config"]))
    recipe.load_data()
    x, y = recipe.splits["test"]
    model = model_from(run)
    with torch.no_grad():
        whole = model(x)[0]
    assert result["test"]["loss"] == pytest.approx(float(((whole - y) ** 2).mean()), rel=1e-4)
    assert result["test"]["mae"] == pytest.approx(float((whole - y).abs().mean()), rel=1e-4)

    # predict a user's series (CSV with header); windows with carried state == one pass
    values = torch.sin(torch.arange(47.0) / (10 * math.pi))
    (tmp_path / "in.csv").write_text("sin\n" + "".join(f"{v:.7f}\n" for v in values.tolist()))
    assert main(["predict", str(run), "--input", str(tmp_path / "in.csv")]) == 0
    rows = (tmp_path / "in.predictions.csv").read_text().splitlines()
    assert rows[0] == "index,input,prediction" and len(rows) == 48
    got = torch.tensor([float(r.split(",")[2]) for r in rows[1:]])
    with torch.no_grad():
        want = model(torch.tensor([float(r.split(",")[1]) for r in rows[1:]]).reshape(1, -1, 1))[0][0, :, 0]
    torch.testing.assert_close(got, want, atol=2e-6, rtol=0)


def test_read_series(tmp_path):
    np.save(tmp_path / "a.npy", np.array([[0.1], [0.2]]))
    assert read_series(tmp_path / "a.npy").tolist() == pytest.approx([0.1, 0.2])
    (tmp_path / "b.txt").write_text("x\n0.5\nabc\n")
    with pytest.raises(ValueError, match="b.txt, line 3: expected a number, got 'abc'"):
        read_series(tmp_path / "b.txt")
    (tmp_path / "c.txt").write_text("")
    with pytest.raises(ValueError, match="c.txt must hold a non-empty 1-D series"):
        read_series(tmp_path / "c.txt")
    (tmp_path / "d.txt").write_text("nan\n")
    with pytest.raises(ValueError, match="d.txt contains NaN or inf"):
        read_series(tmp_path / "d.txt")


def test_read_series_columns_gz_and_skip_bad(tmp_path):
    import gzip
    import re

    from rnnkit.data import DataFileError

    (tmp_path / "multi.csv").write_text("t,sin,noise\n0,0.1,5\n1,0.2,6\n")
    with pytest.raises(DataFileError, match=re.escape("the file has several columns: ['t', 'sin', 'noise']; "
                                                      "pass column=... to choose the sin values")):
        read_series(tmp_path / "multi.csv")  # before: silently read the last column
    assert read_series(tmp_path / "multi.csv", "sin").tolist() == pytest.approx([0.1, 0.2])
    with pytest.raises(DataFileError, match=re.escape("no column 'cos'; columns are ['t', 'sin', 'noise']")):
        read_series(tmp_path / "multi.csv", "cos")
    (tmp_path / "bare.csv").write_text("0,0.3\n1,0.4\n")
    with pytest.raises(DataFileError, match=re.escape("2 unnamed columns (positions 1..2)")):
        read_series(tmp_path / "bare.csv")
    assert read_series(tmp_path / "bare.csv", "2").tolist() == pytest.approx([0.3, 0.4])
    rows = "".join(f"{k / 100}\n" for k in range(30)) + "oops\n" + "".join(f"{k / 100}\n" for k in range(30, 40))
    (tmp_path / "s.txt.gz").write_bytes(gzip.compress(("sin\n" + rows).encode()))
    with pytest.warns(UserWarning, match=r"read 40 rows, skipped 1 bad rows \(2.4% of the file dropped"):
        got = read_series(tmp_path / "s.txt.gz", skip_bad=True)
    assert got.tolist() == pytest.approx([k / 100 for k in range(40)])
    (tmp_path / "latin.txt").write_bytes("sin\n0.5\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataFileError, match=re.escape(f"{tmp_path / 'latin.txt'}, line 3: not valid utf-8")):
        read_series(tmp_path / "latin.txt")


def test_predict_speaks_cli_and_takes_column(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "s"
    assert main(["train", "sincos", *TINY, "--epochs", "1", "--max-steps", "2", "--run-dir", str(run)]) == 0
    (tmp_path / "in.csv").write_text("t,sin\n" + "".join(f"{k},{math.sin(k / 31.4):.6f}\n" for k in range(20)))
    capsys.readouterr()
    assert main(["predict", str(run), "--input", str(tmp_path / "in.csv")]) == 1
    err = capsys.readouterr().err
    assert "the file has several columns: ['t', 'sin']; add --column NAME to choose the sin values" in err
    assert "column=" not in err
    assert main(["predict", str(run), "--input", str(tmp_path / "in.csv"), "--column", "sin"]) == 0
    rows = (tmp_path / "in.predictions.csv").read_text().splitlines()
    assert len(rows) == 21 and float(rows[3].split(",")[1]) == pytest.approx(math.sin(2 / 31.4), abs=1e-6)
    assert main(["predict", str(run), "--input", str(tmp_path / "in.csv"), "--text-column", "x"]) == 1
    assert "--text-column does not apply to 'sincos' predict files" in capsys.readouterr().err
