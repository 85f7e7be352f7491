"""``rnnkit train tsclass --folds K`` end to end: folds, the epoch count chosen on them, the refit, resume, errors."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.train import rundir
from tests.recipes.test_tsclass import make_sequences, write_ts

SMALL = ["--hidden-size", "8", "--conv-channels", "8", "--batch-size", "8", "--lr", "0.02", "--threads", "1",
         "--no-progress"]
N_TRAIN = 30  # 10 per class: a fold trains on 20 (3 batches of 8), the refit on 30 (4 batches)


def epoch_records(path: Path) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["kind"] == "epoch"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kfold_data")
    write_ts(root / "train.ts", *make_sequences(N_TRAIN))
    write_ts(root / "test.ts", *make_sequences(12, seed=3))
    return root


def train_args(data: Path, run: Path, *extra: str) -> list[str]:
    return ["train", "tsclass", "--data", str(data / "train.ts"), "--test-data", str(data / "test.ts"), *SMALL,
            "--run-dir", str(run), *extra]


@pytest.fixture(scope="module")
def kfold_run(data: Path) -> Path:
    run = data / "run"
    assert main(train_args(data, run, "--folds", "3", "--epochs", "5")) == 0
    return run


def test_folds_are_stratified_disjoint_and_cover_the_training_set(kfold_run):
    state = json.loads((kfold_run / "kfold.json").read_text())
    held = state["held_out"]
    assert state["folds"] == 3 and sorted(sum(held, [])) == list(range(N_TRAIN))
    # make_sequences labels sequence i with class i % 3; the test split is separate, so the indices are the file's
    for part in held:  # 10 per class: 3 or 4 of each class in each held-out fold
        assert all(abs(c - 10 / 3) < 1 for c in np.bincount(np.asarray(part) % 3, minlength=3))
    for k in range(3):  # each fold trained on the other 20 (3 batches of 8) and validated on its 10 held out
        fold = kfold_run / "folds" / f"fold-{k + 1}"
        recs = epoch_records(fold / "metrics.jsonl")
        assert [r["epoch"] for r in recs] == list(range(5)) and [r["step"] for r in recs] == [3, 6, 9, 12, 15]
        report = json.loads((fold / "report.json").read_text())
        assert report["test"] == {}  # a fold never sees the test set
        recipe = rundir.open_recipe(fold)
        recipe.fold = (np.setdiff1d(np.arange(N_TRAIN), held[k]), np.asarray(held[k]))
        recipe.load_data()
        assert len(recipe.splits["train"][2]) == 20 and len(recipe.splits["val"][2]) == len(held[k])


def test_the_chosen_epoch_is_the_best_of_the_averaged_validation_curve(kfold_run):
    folds = [epoch_records(kfold_run / "folds" / f"fold-{k}" / "metrics.jsonl") for k in (1, 2, 3)]
    loss = [sum(f[e]["val_loss"] for f in folds) / 3 for e in range(5)]  # by hand, from the files
    acc = [sum(f[e]["val_acc"] for f in folds) / 3 for e in range(5)]
    # --fold-metric acc (default): the highest mean accuracy, ties to the lower mean loss, then the earliest
    chosen = min(range(5), key=lambda e: (-round(acc[e], 9), loss[e], e)) + 1
    by_loss = min(range(5), key=lambda e: (loss[e], e)) + 1  # --fold-metric loss: the argmin of the mean loss
    state = json.loads((kfold_run / "kfold.json").read_text())
    assert state["chosen_epochs"] == chosen and state["fold_epochs"] == 5 and state["monitor"] == "val_acc"
    assert state["best_by_other_metric"]["val_loss"] == by_loss
    assert state["curves"]["val_loss"]["mean"] == pytest.approx(loss)
    assert state["curves"]["val_acc"]["mean"] == pytest.approx(acc)
    report = json.loads((kfold_run / "report.json").read_text())
    assert report["kfold"]["chosen_epochs"] == chosen
    assert report["kfold"]["fold_metrics"] == [f"folds/fold-{k}/metrics.jsonl" for k in (1, 2, 3)]
    md = (kfold_run / "report.md").read_text()
    assert "## Epoch count chosen by 3-fold cross-validation" in md and f"| {chosen} (chosen) |" in md


def test_the_refit_trains_on_all_training_sequences_for_the_chosen_epochs(kfold_run):
    chosen = json.loads((kfold_run / "kfold.json").read_text())["chosen_epochs"]
    recs = epoch_records(kfold_run / "metrics.jsonl")
    batches = math.ceil(N_TRAIN / 8)  # 4: all 30 sequences (a fold's 20 give 3)
    assert [r["epoch"] for r in recs] == list(range(chosen))
    assert [r["step"] for r in recs] == [batches * (e + 1) for e in range(chosen)]
    report = json.loads((kfold_run / "report.json").read_text())
    assert report["epochs_completed"] == chosen and report["steps"] == batches * chosen and report["val"] == {}
    assert report["test"]["acc"] >= 0.5
    # the cosine schedule ends at 0 after the chosen epochs (re-scaled, not the folds' 5)
    assert recs[-1]["lr"] == pytest.approx(0.0, abs=1e-9)
    assert json.loads((kfold_run / "config.json").read_text())["config"]["epochs"] == chosen
    recipe = rundir.open_recipe(kfold_run)  # eval/predict see an ordinary run on all the training data
    recipe.load_data()
    assert len(recipe.splits["train"][2]) == N_TRAIN


def test_resume_keeps_finished_folds_and_continues(kfold_run, data, capsys):
    run = data / "resumed"
    shutil.copytree(kfold_run, run)
    (run / "folds" / "fold-3" / "report.json").unlink()  # as if stopped after fold 3's last checkpoint
    shutil.rmtree(run / "checkpoints")
    (run / "report.json").unlink()
    before = json.loads((kfold_run / "kfold.json").read_text())["chosen_epochs"]
    cfg = json.loads((kfold_run / "config.json").read_text())["config"]
    capsys.readouterr()
    assert main(["train", "tsclass", "--resume", "--run-dir", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "fold 1/3 finished before (kept)" in out and "fold 2/3 finished before (kept)" in out
    assert "fold 3/3: resumed from" in out
    assert json.loads((run / "report.json").read_text())["kfold"]["chosen_epochs"] == before
    assert cfg["folds"] == 3
    # a new run in a directory that holds one is refused
    assert main(train_args(data, run, "--folds", "3", "--epochs", "5")) == 1
    assert "already holds a run; pass --resume" in capsys.readouterr().err


def test_k_is_capped_by_the_smallest_class_with_a_message(data, tmp_path, capsys):
    seqs, labels = make_sequences(N_TRAIN)
    flat = [i for i, lab in enumerate(labels) if lab == "flat"]
    keep = [i for i, lab in enumerate(labels) if lab != "flat"] + flat[:2]
    write_ts(tmp_path / "few.ts", [seqs[i] for i in keep], [labels[i] for i in keep])
    args = ["train", "tsclass", "--data", str(tmp_path / "few.ts"), "--test-data", str(data / "test.ts"), *SMALL,
            "--run-dir", str(tmp_path / "r"), "--folds", "5", "--epochs", "3", "--fold-metric", "loss"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "--folds 5: the smallest class ('flat') has 2 training examples, so 2 folds are used" in out
    assert len(list((tmp_path / "r" / "folds").iterdir())) == 2
    folds = [epoch_records(tmp_path / "r" / "folds" / f"fold-{k}" / "metrics.jsonl") for k in (1, 2)]
    loss = [(folds[0][e]["val_loss"] + folds[1][e]["val_loss"]) / 2 for e in range(3)]
    state = json.loads((tmp_path / "r" / "kfold.json").read_text())
    assert state["monitor"] == "val_loss" and state["chosen_epochs"] == min(range(3), key=lambda e: (loss[e], e)) + 1
    assert "the smallest class ('flat')" in state["note"]


@pytest.mark.parametrize("extra, message", [
    (["--folds", "1"], "--folds must be 0 (off) or >= 2, got 1"),
    (["--folds", "-2"], "--folds must be 0 (off) or >= 2, got -2"),
    (["--folds", "3", "--val-fraction", "0.2"], "--folds 3 validates on every held-out fold; it cannot be combined "
                                                "with --val-fraction 0.2"),
    (["--folds", "3", "--time-budget", "1"], "--time-budget 1 cannot be combined with --folds 3"),
    (["--folds", "3", "--max-steps", "7"], "--max-steps 7 cannot be combined with --folds 3"),
])
def test_bad_values_give_an_error_naming_the_flag(data, tmp_path, capsys, extra, message):
    assert main(train_args(data, tmp_path / "bad", *extra)) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
