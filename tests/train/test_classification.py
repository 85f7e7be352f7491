"""Classification metrics against sklearn, and the guards' messages."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from rnnkit.train.classification import (class_metrics, confusion, format_metrics, prediction_warnings,
                                         small_class_warnings)


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("seed", range(6))
def test_metrics_match_sklearn(k, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    true = rng.integers(0, k, n)
    pred = rng.integers(0, k, n) if seed % 3 else np.full(n, k - 1)  # include "one class for everything"
    m = class_metrics(pred, true, k)
    assert m["acc"] == pytest.approx(accuracy_score(true, pred))
    np.testing.assert_array_equal(confusion(pred, true, k), confusion_matrix(true, pred, labels=range(k)))
    labels = sorted(set(true) | set(pred))  # sklearn's macro: the labels present in either
    p, r, f, _ = precision_recall_fscore_support(true, pred, labels=labels, average="macro", zero_division=0)
    assert (m["macro_precision"], m["macro_recall"], m["macro_f1"]) == pytest.approx((p, r, f))
    if k == 2:
        p, r, f, _ = precision_recall_fscore_support(true, pred, pos_label=1, average="binary", zero_division=0)
        assert (m["pos_precision"], m["pos_recall"], m["pos_f1"]) == pytest.approx((p, r, f))
    else:
        assert "pos_f1" not in m


def test_binary_one_class_is_not_labelled_macro():
    """The issue's case: one class predicted for everything; macro and positive-class figures differ and are named."""
    true = np.array([0] * 76 + [1] * 74)
    m = class_metrics(np.ones(150, int), true, 2)
    assert m["macro_precision"] == pytest.approx(74 / 150 / 2) and m["macro_recall"] == pytest.approx(0.5)
    assert m["pos_precision"] == pytest.approx(74 / 150) and m["pos_recall"] == 1.0
    text = format_metrics(m, "2")
    assert "macro precision 0.2467, recall 0.5000" in text and "positive class '2': precision 0.4933" in text


def test_guards():
    assert "one class ('b') for all 4 test examples" in prediction_warnings([1, 1, 1, 1], ["a", "b"], "test")[0]
    assert prediction_warnings([1, 0, 1], ["a", "b"], "test") == []
    assert prediction_warnings([0], ["a", "b"], "test") == []  # one example says nothing
    msg = small_class_warnings([0, 0, 0, 1, 1, 2, 2, 2, 2, 2], ["a", "b", "c"], "validation split", 3)
    assert msg == ["validation split: 1 of 3 classes have fewer than 3 examples ('b': 2); metrics on this split "
                   "are noisy"]
    assert small_class_warnings([0, 1, 2] * 5, ["a", "b", "c", "d"], "val", 1)[0].startswith("val: 1 of 4 classes")
    with pytest.raises(ValueError, match=r"class indices must be in \[0, 2\)"):
        confusion([0, 2], [0, 1], 2)
