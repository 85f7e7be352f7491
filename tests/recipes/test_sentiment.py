"""sentiment end to end through ``rnnkit.cli.main``: train -> checkpoint -> resume -> eval -> predict."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.datasets import dataset_status
from rnnkit.recipes.sentiment import Config, TextClassifier, classification_metrics
from rnnkit.train import rundir

SMALL = ["--embed-dim", "16", "--hidden-size", "16", "--hidden-size2", "8", "--min-freq", "1", "--batch-size", "16",
         "--lr", "0.03", "--dropout", "0.1", "--threads", "1", "--no-progress"]
WORDS = {"pos": ["good", "great", "superb", "moving"], "neg": ["bad", "dull", "awful", "boring"],
         "mixed": ["uneven", "patchy", "so-so", "middling"]}
FILLER = ["the", "film", "a", "plot", "is", "with", "actors", "and", "story", "this", "it"]


def texts(labels: list[str], seed: int = 0) -> list[tuple[str, str]]:
    """Synthetic reviews: filler words and one or two words that give the label away."""
    rng = random.Random(seed)
    rows = []
    for i in range(200):
        label = labels[i % len(labels)]
        words = rng.choices(FILLER, k=rng.randint(3, 12)) + rng.choices(WORDS[label], k=rng.randint(1, 2))
        rng.shuffle(words)
        rows.append((" ".join(words).capitalize() + "!", label))
    return rows


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def records(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_csv_train_resume_eval_predict(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "reviews.csv"
    with open(data, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["review", "verdict", "id"])
        w.writerows((t, label, i) for i, (t, label) in enumerate(texts(["pos", "neg"])))
    run = tmp_path / "r"
    args = ["train", "sentiment", "--data", str(data), "--text-column", "review", "--label-column", "verdict", *SMALL]
    assert main([*args, "--epochs", "3", "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "read 200 rows" in out and "(positive class 'pos')" in out
    epochs = [r for r in records(run) if r["kind"] == "epoch"]
    assert epochs[-1]["train_loss"] < 0.7 * epochs[0]["train_loss"]
    report = json.loads((run / "report.json").read_text())
    assert report["results"]["classes"] == ["neg", "pos"] and report["test"]["acc"] >= 0.75
    assert sum(map(sum, report["results"]["confusion_matrix"])) == 40  # 20% of 200
    assert json.loads((run / "assets.json").read_text())["vocab"]["itos"][:2] == ["<pad>", "<unk>"]

    assert main(["train", "sentiment", "--resume", "--run-dir", str(run), "--epochs", "4", "--no-progress"]) == 0
    assert [r["epoch"] for r in records(run) if r["kind"] == "epoch"] == [0, 1, 2, 3]

    # eval: test accuracy recomputed text by text (one unpadded text at a time: padding must not matter)
    assert main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    recipe = rundir.open_recipe(run)
    recipe.load_data()
    model, _ = rundir.load_weights(recipe, run)
    ids, _, y = recipe.splits["test"]
    with torch.no_grad():
        probs = torch.cat([torch.sigmoid(model(t[None], torch.tensor([len(t)])))[:, 0] for t in ids])
    assert result["test"]["acc"] == pytest.approx(float(((probs > 0.5).long() == y).float().mean()))

    # predict: a .txt file (one text per line) and a CSV with the text column
    (tmp_path / "new.txt").write_text("a superb and moving story\nthe dull boring plot\n\n", encoding="utf-8")
    assert main(["predict", str(run), "--input", str(tmp_path / "new.txt")]) == 0
    rows = read_rows(tmp_path / "new.predictions.csv")
    assert [r["prediction"] for r in rows] == ["pos", "neg"] and rows[0]["text"] == "a superb and moving story"
    assert all(float(r["p_neg"]) + float(r["p_pos"]) == pytest.approx(1.0, abs=1e-5) for r in rows)
    with open(tmp_path / "new.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["review"], ["great, good"], ["awful, \"bad\""]])
    assert main(["predict", str(run), "--input", str(tmp_path / "new.csv"), "--output", str(tmp_path / "o.csv")]) == 0
    assert [r["prediction"] for r in read_rows(tmp_path / "o.csv")] == ["pos", "neg"]


def test_jsonl_multiclass(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "reviews.jsonl"
    data.write_text("\n".join(json.dumps({"text": t, "label": label}) for t, label in texts(["pos", "neg", "mixed"]))
                    + "\n", encoding="utf-8")
    run = tmp_path / "m"
    assert main(["train", "sentiment", "--data", str(data), *SMALL, "--pooling", "max", "--bidirectional",
                 "--epochs", "4", "--run-dir", str(run)]) == 0
    assert "(macro average)" in capsys.readouterr().out
    epochs = [r for r in records(run) if r["kind"] == "epoch"]
    assert epochs[-1]["train_loss"] < 0.7 * epochs[0]["train_loss"]
    report = json.loads((run / "report.json").read_text())
    assert report["results"]["classes"] == ["mixed", "neg", "pos"] and len(report["results"]["confusion_matrix"]) == 3
    recipe = rundir.open_recipe(run)
    model, _ = rundir.load_weights(recipe, run)
    assert model.head.out_features == 3


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_padding_never_changes_a_texts_logits(pooling):
    torch.manual_seed(0)
    model = TextClassifier(Config(embed_dim=6, hidden_size=5, hidden_size2=4, pooling=pooling), 20, 1).eval()
    short = torch.tensor([[3, 4, 5]])
    padded = torch.tensor([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
    with torch.no_grad():
        alone = model(short, torch.tensor([3]))
        batch = model(padded, torch.tensor([3, 6]))
    assert torch.allclose(alone[0], batch[0], atol=1e-6)


def test_classification_metrics_match_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    for k in (2, 4):
        true, pred = torch.randint(0, k, (300,), generator=g), torch.randint(0, k, (300,), generator=g)
        got = classification_metrics(pred, true, k)
        avg = {"average": "binary"} if k == 2 else {"average": "macro"}
        assert got["acc"] == pytest.approx(metrics.accuracy_score(true, pred))
        assert got["precision"] == pytest.approx(metrics.precision_score(true, pred, **avg))
        assert got["recall"] == pytest.approx(metrics.recall_score(true, pred, **avg))
        assert got["f1"] == pytest.approx(metrics.f1_score(true, pred, **avg))


def test_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "sentiment", "--data", str(tmp_path / "none.csv")]) == 1
    assert "sentiment: --data file" in capsys.readouterr().err
    (tmp_path / "one.csv").write_text("text,label\nfine film,pos\ngood film,pos\n", encoding="utf-8")
    assert main(["train", "sentiment", "--data", str(tmp_path / "one.csv")]) == 1
    assert "at least 2 labels" in capsys.readouterr().err
    (tmp_path / "cols.csv").write_text("body,label\nfine film,pos\n", encoding="utf-8")
    assert main(["train", "sentiment", "--data", str(tmp_path / "cols.csv")]) == 1
    assert "no column(s) 'text'" in capsys.readouterr().err


@pytest.mark.skipif(not dataset_status()["rotten_tomatoes"][0], reason=dataset_status()["rotten_tomatoes"][1])
def test_rotten_tomatoes_tiny(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "sentiment", "--tiny", *SMALL, "--epochs", "1", "--run-dir", str(tmp_path / "rt")]) == 0
    report = json.loads((tmp_path / "rt" / "report.json").read_text())
    assert report["results"]["classes"] == ["rotten", "fresh"]
