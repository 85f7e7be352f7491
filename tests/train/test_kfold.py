"""rnnkit.train.kfold: stratified folds, averaged curves, the choice of the epoch count (no training here)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.errors import UsageError
from rnnkit.train.kfold import choose_epochs, fold_curves, stratified_folds, summary_rows


def test_folds_are_stratified_disjoint_and_cover_the_training_set():
    y = np.array(["a"] * 12 + ["b"] * 7 + ["c"] * 5)
    rng = np.random.default_rng(0)
    y = y[rng.permutation(len(y))]
    folds, note = stratified_folds(y, 5, seed=3)
    assert note == "" and len(folds) == 5
    held = [va for _, va in folds]
    allv = np.concatenate(held)
    assert sorted(allv.tolist()) == list(range(len(y)))  # cover, and (same length) disjoint
    assert len(allv) == len(set(allv.tolist()))
    for tr, va in folds:
        assert sorted(tr.tolist() + va.tolist()) == list(range(len(y)))  # train = the complement
        assert not set(tr.tolist()) & set(va.tolist())
        for c in "abc":  # n_c / K held out, give or take one
            n_c = int((y == c).sum())
            assert abs(int((y[va] == c).sum()) - n_c / 5) < 1
    # a pure function of labels, k and seed
    again, _ = stratified_folds(y, 5, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))
    other, _ = stratified_folds(y, 5, seed=4)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other))


def test_k_larger_than_the_smallest_class_is_capped_with_a_message():
    y = np.array([0] * 10 + [1] * 3)
    folds, note = stratified_folds(y, 5, seed=0)
    assert len(folds) == 3
    assert note.startswith("--folds 5: the smallest class (1) has 3 training examples, so 3 folds are used")
    for _, va in folds:
        assert (y[va] == 1).sum() == 1


def test_bad_values_name_the_flag():
    with pytest.raises(UsageError, match=r"--folds must be an integer >= 2 \(0 = off\), got 1"):
        stratified_folds([0, 0, 1, 1], 1, seed=0)
    with pytest.raises(UsageError, match=r"--folds 3: class 'z' has 1 training example; k-fold needs at least 2"):
        stratified_folds(["y", "y", "y", "z"], 3, seed=0)


def _records(values: list[float], accs: list[float]) -> list[dict]:
    return ([{"kind": "interval", "epoch": 0, "step": 1, "train_loss": 9.0}]
            + [{"kind": "epoch", "epoch": e, "step": e + 1, "val_loss": v, "val_acc": a}
               for e, (v, a) in enumerate(zip(values, accs))])


def test_curves_are_averaged_over_folds_and_the_argmin_is_chosen():
    folds = [_records([1.0, 0.5, 0.6, 0.7], [0.5, 0.7, 0.8, 0.8]),
             _records([1.2, 0.8, 0.4, 0.9], [0.4, 0.6, 0.9, 0.9]),
             _records([0.9, 0.6, 0.5, 0.3], [0.6, 0.7, 0.7, 0.9])]
    curves, note = fold_curves(folds)
    assert note == "" and sorted(curves) == ["val_acc", "val_loss"]
    mean = curves["val_loss"].mean(0)
    np.testing.assert_allclose(mean, [(1.0 + 1.2 + 0.9) / 3, (0.5 + 0.8 + 0.6) / 3, 0.5, (0.7 + 0.9 + 0.3) / 3])
    assert choose_epochs(mean, "min") == 3  # epoch 3 (1-based): mean 0.5 < 0.633
    assert choose_epochs(curves["val_acc"].mean(0), "max") == 4
    assert choose_epochs(np.array([0.5, 0.4, 0.4, 0.6]), "min") == 2  # ties: the earliest
    assert choose_epochs(np.array([np.nan, 0.4, 0.3]), "min") == 3  # NaN (a non-finite loss) never wins
    with pytest.raises(ValueError, match="no finite value"):
        choose_epochs(np.array([np.nan, np.nan]), "min")
    rows = summary_rows(curves, 3, rows=2)
    assert [r["epoch"] for r in rows] == [1, 3, 4]
    assert rows[1]["val_loss"] == pytest.approx(0.5) and rows[1]["val_loss_std"] == pytest.approx(np.std([.6, .4, .5]))


def test_folds_of_unequal_length_are_averaged_over_the_common_epochs_and_said_so():
    curves, note = fold_curves([_records([1.0, 0.5, 0.4], [0, 0, 0]), _records([1.0, 0.6], [0, 0])])
    assert curves["val_loss"].shape == (2, 2)
    assert note == "folds reached [3, 2] epochs; the curves are averaged over the first 2"


def test_torchrun_and_recipes_without_folds_are_refused(monkeypatch, tmp_path):
    from rnnkit.recipes.tsclass import TSClass
    from rnnkit.recipes.sincos import SinCos
    from rnnkit.train import kfold

    cfg = TSClass.Config(folds=3)
    monkeypatch.setattr(kfold.distributed, "world_size", lambda: 2)
    with pytest.raises(UsageError, match=r"--folds runs in one process, not under torchrun \(2 processes\)"):
        kfold.KFoldTrainer(TSClass, cfg, tmp_path)
    monkeypatch.setattr(kfold.distributed, "world_size", lambda: 1)
    with pytest.raises(UsageError, match="rnnkit train sincos: --folds is not supported by this recipe"):
        kfold.KFoldTrainer(SinCos, cfg, tmp_path)
