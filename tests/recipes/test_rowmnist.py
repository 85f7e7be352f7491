"""rowmnist end to end through ``rnnkit.cli.main``: train -> checkpoint -> resume -> eval -> predict."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rnnkit.cli import build_config, main
from rnnkit.data.datasets import dataset_status
from rnnkit.layers import Bidirectional
from rnnkit.recipes import get_recipe
from rnnkit.recipes.models import RNNModel
from rnnkit.recipes.rowmnist import Config, RowMNIST, random_shift, read_images
from rnnkit.train.checkpoint import CheckpointDir

needs_digits = pytest.mark.skipif(not dataset_status()["digits"][0], reason=dataset_status()["digits"][1])
needs_mnist = pytest.mark.skipif(not dataset_status()["mnist5k"][0], reason=dataset_status()["mnist5k"][1])
TINY = ["--tiny", "--dataset", "digits", "--hidden-size", "24", "--proj-size", "16", "--lr", "0.05", "--lr-schedule", "constant",
        "--batch-size", "32", "--threads", "1", "--no-progress"]


def records(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def reference_model(run: Path, which: str = "best") -> RNNModel:
    """The trained model rebuilt by hand from config.json and the checkpoint (not through the recipe)."""
    cfg = Config(**json.loads((run / "config.json").read_text())["config"])
    model = RNNModel(cfg, 10, input_size=8, proj_size=cfg.proj_size)
    model.load_state_dict(load_file(str(CheckpointDir(run / "checkpoints").path(which) / "model.safetensors")))
    return model.eval()


@needs_digits
def test_train_resume_eval_predict(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "r"
    assert main(["train", "rowmnist", *TINY, "--epochs", "3", "--checkpoint-every", "5", "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "rowmnist: test accuracy" in out and "confusion matrix" in out
    epochs = [r for r in records(run) if r["kind"] == "epoch"]
    assert len(epochs) == 3 and epochs[-1]["train_loss"] < 0.8 * epochs[0]["train_loss"]
    report = json.loads((run / "report.json").read_text())
    confusion = np.array(report["results"]["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == 64
    assert np.trace(confusion) / 64 == pytest.approx(report["test"]["acc"])
    assert (run / "misclassified.png").read_bytes()[:4] == b"\x89PNG"
    assert "Confusion matrix" in (run / "report.md").read_text()

    # resume: two more epochs continue the same run
    assert main(["train", "rowmnist", "--resume", "--run-dir", str(run), "--epochs", "5", "--no-progress"]) == 0
    epochs = [r for r in records(run) if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [0, 1, 2, 3, 4]
    assert "resumed from" in capsys.readouterr().out

    # eval: the best checkpoint's metrics, recomputed by an independently rebuilt model
    assert main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    recipe = RowMNIST(Config(**json.loads((run / "config.json").read_text())["config"]))
    recipe.load_data()
    x, y = recipe.splits["test"]
    with torch.no_grad():
        logits = reference_model(run)(x)[0]
    assert result["test"]["acc"] == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    assert result["test"]["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-5)
    best = min(epochs, key=lambda r: (-r["val_acc"], r["epoch"]))
    assert result["val"]["acc"] == pytest.approx(best["val_acc"])

    # predict: .npy in 0..16 (raw digits scale) and CSV with a header
    images = x[:5].numpy()
    np.save(tmp_path / "five.npy", images * 16)
    assert main(["predict", str(run), "--input", str(tmp_path / "five.npy")]) == 0
    rows = (tmp_path / "five.predictions.csv").read_text().splitlines()
    assert rows[0].startswith("index,prediction,p0,") and len(rows) == 6
    predicted = [int(r.split(",")[1]) for r in rows[1:]]
    assert predicted == logits[:5].argmax(1).tolist()
    probs = np.array([[float(v) for v in r.split(",")[2:]] for r in rows[1:]])
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)
    csv = tmp_path / "five.csv"
    csv.write_text(",".join(f"px{i}" for i in range(64)) + "\n"
                   + "\n".join(",".join(f"{v:.6f}" for v in img.ravel()) for img in images) + "\n")
    assert main(["predict", str(run), "--input", str(csv), "--output", str(tmp_path / "p.csv")]) == 0
    assert [int(r.split(",")[1]) for r in (tmp_path / "p.csv").read_text().splitlines()[1:]] == predicted

    # errors a user can act on
    np.save(tmp_path / "bad.npy", np.zeros((3, 10)))
    assert main(["predict", str(run), "--input", str(tmp_path / "bad.npy")]) == 1
    assert "must hold images of shape (N, 8, 8) or (N, 64), got (3, 10)" in capsys.readouterr().err
    assert main(["generate", str(run)]) == 1
    assert "recipe 'rowmnist' does not generate; try 'rnnkit predict'" in capsys.readouterr().err


@needs_mnist
def test_mnist5k_default_dataset_tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "rowmnist", "--tiny", "--epochs", "1", "--hidden-size", "8", "--proj-size", "8",
                 "--threads", "1", "--no-progress", "--run-dir", "m"]) == 0
    assert json.loads((tmp_path / "m" / "assets.json").read_text())["rows"] == 28


def test_digits_has_its_own_defaults_that_flags_override(tmp_path):
    recipe = get_recipe("rowmnist")
    mnist, _ = build_config(recipe, [])
    assert (mnist.bidirectional, mnist.dropout, mnist.epochs) == (False, 0.0, 40)
    digits, given = build_config(recipe, ["--dataset", "digits"])
    assert (digits.bidirectional, digits.dropout, digits.epochs) == (True, 0.2, 80)
    assert "bidirectional" not in given  # (so --resume does not see them as changed options)
    model = RNNModel(digits, 10, input_size=8, proj_size=digits.proj_size)
    assert isinstance(model.rnn.layers[0], Bidirectional) and model.head.in_features == 2 * digits.hidden_size
    own, _ = build_config(recipe, ["--dataset", "digits", "--no-bidirectional", "--dropout", "0.1", "--epochs", "5"])
    assert (own.bidirectional, own.dropout, own.epochs) == (False, 0.1, 5)
    (tmp_path / "run.toml").write_text('dataset = "digits"\nepochs = 7\n')
    toml, _ = build_config(recipe, ["--config", str(tmp_path / "run.toml")])
    assert (toml.bidirectional, toml.epochs) == (True, 7)


@needs_digits
def test_split_seed_keeps_the_test_set_and_varies_validation():
    def splits(**kw):
        recipe = RowMNIST(Config(dataset="digits", **kw))
        recipe.load_data()
        return {k: v[0].flatten(1) for k, v in recipe.splits.items()}

    base, same_test, other = splits(seed=0), splits(seed=1, split_seed=0), splits(seed=1)
    assert torch.equal(base["test"], same_test["test"])
    assert not torch.equal(base["val"], same_test["val"])
    assert not torch.equal(base["test"], other["test"])  # -1: the split follows --seed, as before
    with pytest.raises(ValueError, match="--split-seed must be >= -1"):
        RowMNIST(Config(dataset="digits", split_seed=-2)).load_data()


def test_random_shift_matches_a_manual_translation():
    images = torch.arange(2 * 5 * 5, dtype=torch.float32).reshape(2, 5, 5)
    g = torch.Generator().manual_seed(3)
    got = random_shift(images, 2, g)
    dy, dx = torch.randint(0, 5, (2, 2), generator=torch.Generator().manual_seed(3))
    for i in range(2):
        want = torch.zeros(5, 5)
        sy, sx = int(dy[i]) - 2, int(dx[i]) - 2  # content moves by (-sy, -sx)
        for r in range(5):
            for c in range(5):
                if 0 <= r + sy < 5 and 0 <= c + sx < 5:
                    want[r, c] = images[i, r + sy, c + sx]
        assert torch.equal(got[i], want)


def test_read_images_errors(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n" + ",".join(["1"] * 64) + "\n1,2,oops\n")
    with pytest.raises(ValueError, match=r"t.csv, line 3: expected 64 comma-separated numbers, got '1,2,oops'"):
        read_images(tmp_path / "t.csv", 8, 8, 16.0)
    (tmp_path / "short.csv").write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"short.csv, line 1: expected 64 values \(one image per row\), got 3"):
        read_images(tmp_path / "short.csv", 8, 8, 16.0)
    (tmp_path / "empty.csv").write_text("header\n")
    with pytest.raises(ValueError, match="empty.csv: holds no rows of numbers"):
        read_images(tmp_path / "empty.csv", 8, 8, 16.0)
    np.save(tmp_path / "nan.npy", np.full((1, 8, 8), np.nan))
    with pytest.raises(ValueError, match="nan.npy contains NaN or inf"):
        read_images(tmp_path / "nan.npy", 8, 8, 16.0)
    np.save(tmp_path / "one.npy", np.full((8, 8), 8.0))
    assert torch.equal(read_images(tmp_path / "one.npy", 8, 8, 16.0), torch.full((1, 8, 8), 0.5))


def test_read_images_gz_skip_bad_and_undecodable(tmp_path):
    import gzip

    good = [",".join(str((i + k) % 17) for k in range(64)) for i in range(19)]
    text = "\n".join(good[:10] + ["1,2,oops"] + good[10:]) + "\n"  # one bad row among 20: 5% of the lines
    (tmp_path / "imgs.csv.gz").write_bytes(gzip.compress(text.encode()))
    with pytest.raises(ValueError, match=re.escape("imgs.csv.gz, line 11: expected 64 comma-separated numbers, got "
                                                   "'1,2,oops' (add --skip-bad to skip bad rows)")):
        read_images(tmp_path / "imgs.csv.gz", 8, 8, 16.0)
    with pytest.warns(UserWarning, match=r"read 19 rows, skipped 1 bad rows \(5.0% of the file dropped"):
        x = read_images(tmp_path / "imgs.csv.gz", 8, 8, 16.0, skip_bad=True)
    want = np.array([[float(v) for v in row.split(",")] for row in good]).reshape(-1, 8, 8) / 16.0
    np.testing.assert_allclose(x.numpy(), want, rtol=1e-6)
    (tmp_path / "latin.csv").write_bytes("caf\xe9\n".encode("latin-1") + b"1,2\n")
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'latin.csv'}, line 1: not valid utf-8")):
        read_images(tmp_path / "latin.csv", 8, 8, 16.0)
