"""tsclass end to end through ``rnnkit.cli.main``: train -> checkpoint -> resume -> eval -> predict (CSV, .ts)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.datasets import dataset_status
from rnnkit.train import rundir

SMALL = ["--hidden-size", "16", "--batch-size", "16", "--lr", "0.02", "--threads", "1", "--no-progress"]
CLASSES = ["up", "down", "flat"]


def make_sequences(n: int = 90, seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """Two-channel sequences of 5..20 steps: rising, falling or flat first channel, noise on the second."""
    rng = np.random.default_rng(seed)
    seqs, labels = [], []
    for i in range(n):
        label = CLASSES[i % 3]
        t = np.arange(rng.integers(5, 21), dtype=np.float64)
        slope = {"up": 0.5, "down": -0.5, "flat": 0.0}[label]
        seqs.append(np.stack([slope * t + rng.normal(0, 0.3, len(t)), rng.normal(0, 1, len(t))], 1))
        labels.append(label)
    return seqs, labels


def write_csv(path: Path, seqs: list[np.ndarray], labels: list[str] | None) -> None:
    """One row per time step, columns in a shuffled-looking order, steps given out of order with a time column."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "seq", "step", "b"] + (["kind"] if labels else []))
        for i, s in enumerate(seqs):
            for t in reversed(range(len(s))):  # reversed: --time-column must restore the order
                w.writerow([f"{s[t, 0]:.5f}", f"s{i}", t, f"{s[t, 1]:.5f}"] + ([labels[i]] if labels else []))


def write_ts(path: Path, seqs: list[np.ndarray], labels: list[str]) -> None:
    lines = ["@problemName toy", "@timeStamps false", "@missing false", "@univariate false", "@dimensions 2",
             "@equalLength false", f"@classLabel true {' '.join(CLASSES)}", "@data"]
    for s, label in zip(seqs, labels):
        lines.append(":".join(",".join(f"{v:.5f}" for v in s[:, c]) for c in range(2)) + f":{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def records(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_csv_train_resume_eval_predict(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    seqs, labels = make_sequences()
    write_csv(tmp_path / "train.csv", seqs, labels)
    run = tmp_path / "r"
    args = ["train", "tsclass", "--data", str(tmp_path / "train.csv"), "--id-column", "seq", "--label-column", "kind",
            "--time-column", "step", "--feature-columns", "a,b", *SMALL]
    assert main([*args, "--epochs", "4", "--run-dir", str(run)]) == 0
    assert "tsclass: test accuracy" in capsys.readouterr().out
    epochs = [r for r in records(run) if r["kind"] == "epoch"]
    assert epochs[-1]["train_loss"] < 0.5 * epochs[0]["train_loss"]
    report = json.loads((run / "report.json").read_text())
    assert report["results"]["classes"] == ["down", "flat", "up"] and report["test"]["acc"] >= 0.8
    assets = json.loads((run / "assets.json").read_text())
    assert assets["features"] == ["a", "b"] and assets["channels"] == 2

    assert main(["train", "tsclass", "--resume", "--run-dir", str(run), "--epochs", "5", "--no-progress"]) == 0
    assert [r["epoch"] for r in records(run) if r["kind"] == "epoch"] == [0, 1, 2, 3, 4]

    # eval: test accuracy recomputed one unpadded, hand-standardised sequence at a time
    assert main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    recipe = rundir.open_recipe(run)
    recipe.load_data()
    model, _ = rundir.load_weights(recipe, run)
    x, lengths, y = recipe.splits["test"]
    with torch.no_grad():
        hits = [int(model(x[i:i + 1, :lengths[i]])[0].argmax()) == int(y[i]) for i in range(len(y))]
    assert result["test"]["acc"] == pytest.approx(np.mean(hits))

    # predict on CSV without labels: one row per sequence, ids in order of appearance
    new, _ = make_sequences(6, seed=5)
    write_csv(tmp_path / "new.csv", new, None)
    assert main(["predict", str(run), "--input", str(tmp_path / "new.csv")]) == 0
    rows = read_rows(tmp_path / "new.predictions.csv")
    assert [r["id"] for r in rows] == [f"s{i}" for i in range(6)]
    assert all(sum(float(r[f"p_{c}"]) for c in CLASSES) == pytest.approx(1.0, abs=1e-5) for r in rows)
    assert sum(r["prediction"] == c for r, c in zip(rows, ["up", "down", "flat"] * 2)) >= 4


def test_ts_files_with_separate_test_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    seqs, labels = make_sequences()
    write_ts(tmp_path / "train.ts", seqs, labels)
    tseqs, tlabels = make_sequences(30, seed=9)
    write_ts(tmp_path / "test.ts", tseqs, tlabels)
    run = tmp_path / "ts"
    assert main(["train", "tsclass", "--data", str(tmp_path / "train.ts"), "--test-data", str(tmp_path / "test.ts"),
                 *SMALL, "--cell", "gru", "--no-bidirectional", "--epochs", "4", "--run-dir", str(run)]) == 0
    report = json.loads((run / "report.json").read_text())
    assert sum(map(sum, report["results"]["confusion_matrix"])) == 30
    capsys.readouterr()
    assert main(["predict", str(run), "--input", str(tmp_path / "test.ts"), "--output", str(tmp_path / "p.csv")]) == 0
    assert "accuracy" in capsys.readouterr().out
    rows = read_rows(tmp_path / "p.csv")
    assert len(rows) == 30 and [r["label"] for r in rows] == tlabels
    acc = np.mean([r["prediction"] == r["label"] for r in rows])
    assert acc == pytest.approx(report["test"]["acc"])  # the test split is exactly test.ts


def test_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "tsclass", "--data", str(tmp_path / "none.csv")]) == 1
    assert "tsclass: --data file" in capsys.readouterr().err
    (tmp_path / "x.csv").write_text("id,label,a\n1,p,0.5\n1,q,0.7\n", encoding="utf-8")
    assert main(["train", "tsclass", "--data", str(tmp_path / "x.csv")]) == 1
    assert "x.csv, line 3: sequence '1' has label 'q' here but 'p' on line 2" in capsys.readouterr().err


@pytest.mark.skipif(not dataset_status()["japanese_vowels"][0], reason=dataset_status()["japanese_vowels"][1])
def test_japanese_vowels_tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "tsclass", "--tiny", *SMALL, "--epochs", "2", "--run-dir", str(tmp_path / "jv")]) == 0
    report = json.loads((tmp_path / "jv" / "report.json").read_text())
    assert report["results"]["classes"] == [str(k) for k in range(1, 10)]
    assert json.loads((tmp_path / "jv" / "assets.json").read_text())["channels"] == 12


# ---- protocol, normalisation, front end, guards, formats (issue 13) ------------------------------------------


def test_default_protocol_trains_a_fixed_schedule_on_all_training_data(tmp_path, monkeypatch, capsys):
    """--val-fraction 0 (default): no validation split, every training sequence is fitted, the last epoch is kept."""
    monkeypatch.chdir(tmp_path)
    seqs, labels = make_sequences(30)
    write_ts(tmp_path / "train.ts", seqs, labels)
    write_ts(tmp_path / "test.ts", *make_sequences(12, seed=3))
    run = tmp_path / "fixed"
    assert main(["train", "tsclass", "--data", str(tmp_path / "train.ts"), "--test-data", str(tmp_path / "test.ts"),
                 *SMALL, "--epochs", "3", "--run-dir", str(run)]) == 0
    report = json.loads((run / "report.json").read_text())
    assert report["best_epoch"] == 3 and report["epochs_completed"] == 3 and report["val"] == {}
    recipe = rundir.open_recipe(run)
    recipe.load_data()
    assert len(recipe.splits["train"][2]) == 30 and len(recipe.splits["val"][2]) == 0
    assert json.loads((run / "config.json").read_text())["config"]["val_fraction"] == 0.0
    # the kept weights are the last epoch's checkpoint
    ck = json.loads((run / "checkpoints" / "index.json").read_text())
    assert ck["best"] == ck["last"]
    # --patience without a validation split is refused, naming both flags
    assert main(["train", "tsclass", "--data", str(tmp_path / "train.ts"), "--patience", "3", *SMALL]) == 1
    assert "--patience 3 needs a validation split (--val-fraction > 0)" in capsys.readouterr().err


def test_small_validation_split_warns_and_one_class_prediction_warns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seqs, labels = make_sequences(30)
    write_ts(tmp_path / "train.ts", seqs, labels)
    run = tmp_path / "val"
    with pytest.warns(UserWarning) as caught:
        # lr 1e-9: the model cannot move off its initial guess, which is one class for everything
        assert main(["train", "tsclass", "--data", str(tmp_path / "train.ts"), *SMALL, "--lr", "1e-9",
                     "--val-fraction", "0.2", "--epochs", "1", "--run-dir", str(run), "--hidden-size", "4"]) == 0
    text = " | ".join(str(w.message) for w in caught)
    assert "validation split: 3 of 3 classes have fewer than 5 examples" in text
    recipe = rundir.open_recipe(run)
    recipe.load_data()
    model, _ = rundir.load_weights(recipe, run)
    with torch.no_grad():
        pred = recipe._logits(model, *recipe.splits["test"][:2]).argmax(1)
    if len(set(pred.tolist())) == 1:  # the guard must fire exactly when the predictions are constant
        assert "predicts one class" in text
    else:
        assert "predicts one class" not in text


def test_arff_and_ucr_text_files_train_and_predict(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    seqs, labels = make_sequences(45)
    uni = [s[:, :1] for s in seqs]
    arff = ["@relation toy", *[f"@attribute t{k} numeric" for k in range(20)], "@attribute cls {up,down,flat}", "@data"]
    for s, label in zip(uni, labels):  # equal length 20 (padded with '?' past each series' end: missing)
        vals = [f"{v:.5f}" for v in s[:, 0]] + ["?"] * (20 - len(s))
        arff.append(",".join(vals) + f",{label}")
    (tmp_path / "train.arff").write_text("\n".join(arff) + "\n", encoding="utf-8")
    txt = "\n".join(f"{label}\t" + "\t".join(f"{v:.5f}" for v in s[:, 0]) for s, label in zip(uni, labels))
    (tmp_path / "test_TEST.txt").write_text(txt + "\n", encoding="utf-8")
    run = tmp_path / "arff"
    assert main(["train", "tsclass", "--data", str(tmp_path / "train.arff"), "--test-data",
                 str(tmp_path / "test_TEST.txt"), *SMALL, "--epochs", "3", "--run-dir", str(run)]) == 0
    report = json.loads((run / "report.json").read_text())
    assert sum(map(sum, report["results"]["confusion_matrix"])) == 45
    assert main(["predict", str(run), "--input", str(tmp_path / "test_TEST.txt"), "--output",
                 str(tmp_path / "p.csv")]) == 0
    rows = read_rows(tmp_path / "p.csv")
    assert [r["label"] for r in rows] == labels
    assert np.mean([r["prediction"] == r["label"] for r in rows]) == pytest.approx(report["test"]["acc"])


def test_gzipped_csv_and_skip_bad_with_cli_spelled_hints(tmp_path):
    """A .csv.gz reads like the plain file; a bad row stops with a hint naming --skip-bad, which skips it."""
    import gzip

    from rnnkit.data.errors import DataFileError
    from rnnkit.recipes.tsclass import Config, read_sequence_file

    rows = ["seq,t,x,label"] + [f"{s},{t},{0.5 * s + t},{'ab'[s % 2]}" for s in range(30) for t in range(4)]
    plain = tmp_path / "d.csv"
    plain.write_text("\n".join(rows) + "\n")
    packed = tmp_path / "d.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    cfg = Config(id_column="seq", time_column="t", label_column="label")
    a, b = read_sequence_file(plain, cfg, None, need_labels=True), read_sequence_file(packed, cfg, None, need_labels=True)
    assert a[2:] == b[2:] and a[1].tolist() == b[1].tolist()
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0]))
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(rows[:5] + ["1,9,oops,b"] + rows[5:]) + "\n")
    with pytest.raises(DataFileError, match="add --skip-bad"):
        read_sequence_file(bad, cfg, None, need_labels=True)
    cfg.skip_bad = True
    with pytest.warns(UserWarning, match="skipped 1 bad rows"):
        seqs, _, ids, _ = read_sequence_file(bad, cfg, None, need_labels=True)
    assert len(seqs) == 30 and ids == a[2]


@pytest.mark.parametrize("lead", ["\n", "\n \n,\n", "\ufeff\n"])
def test_csv_with_blank_leading_lines_gives_the_same_ids_names_and_label_column(tmp_path, lead):
    """The header read for names, ids and the label column is the reader's (blank leading rows skipped)."""
    from rnnkit.recipes.tsclass import Config, read_sequence_file

    rows = ["seq,t,x,label"] + [f"{s},{t},{0.5 * s + t},{'ab'[s % 2]}" for s in range(6) for t in range(3)]
    path = tmp_path / "d.csv"
    path.write_text(lead + "\n".join(rows) + "\n", encoding="utf-8")
    cfg = Config(id_column="seq", time_column="t", label_column="label")
    seqs, labels, ids, names = read_sequence_file(path, cfg, None, need_labels=True)
    assert ids == [str(s) for s in range(6)] and names == ["x"] and labels.tolist() == list("ababab")
    assert [s[:, 0].tolist() for s in seqs] == [[0.5 * s + t for t in range(3)] for s in range(6)]
    seqs, labels, ids, names = read_sequence_file(path, cfg, None, need_labels=False)  # predict: label kept apart
    assert ids == [str(s) for s in range(6)] and names == ["x"] and [s.shape for s in seqs] == [(3, 1)] * 6


def test_ids_stay_aligned_when_skip_bad_drops_a_whole_sequence(tmp_path):
    """With --skip-bad, a sequence whose every row is bad is dropped; the ids of the others stay theirs
    (they came from a separate pass over the file that still listed the dropped one, shifting every id
    after it onto the wrong sequence)."""
    from rnnkit.recipes.tsclass import Config, read_sequence_file

    rows = ["seq,t,x,label"]
    for s in range(5):
        for t in range(3):
            x = "oops" if s == 1 else f"{10 * s + t}"  # sequence 1: every feature bad
            rows.append(f"s{s},{t},{x},{'ab'[s % 2]}")
    path = tmp_path / "d.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    cfg = Config(id_column="seq", time_column="t", label_column="label", skip_bad=True, max_bad_share=0.5)
    with pytest.warns(UserWarning):
        seqs, labels, ids, names = read_sequence_file(path, cfg, None, need_labels=True)
    assert ids == ["s0", "s2", "s3", "s4"]
    assert [s[:, 0].tolist() for s in seqs] == [[10.0 * s + t for t in range(3)] for s in (0, 2, 3, 4)]
    assert labels.tolist() == ["a", "a", "b", "a"]
