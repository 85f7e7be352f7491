"""Classification metrics with honest names, and the warnings a small or lopsided result deserves.

:func:`class_metrics` returns accuracy, the **macro** averages (the unweighted
mean over classes of precision, recall and F1) and, for two classes, the
**positive class's** precision, recall and F1 (the second class, index 1) under
their own names: a binary result is never printed as "macro" when it is the
positive class's figure. A class never predicted has precision 0 (sklearn's
``zero_division=0``); a class never present has recall 0 and is left out of the
macro averages only if it is also never predicted.

:func:`prediction_warnings` says when one class was predicted for every example,
and :func:`small_class_warnings` when a class has too few examples in a split to
judge it (both return messages; callers ``warnings.warn`` them).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["confusion", "class_metrics", "prediction_warnings", "small_class_warnings", "format_metrics"]


def confusion(pred: Sequence[int], true: Sequence[int], num_classes: int) -> np.ndarray:
    """``(K, K)`` counts: rows the true class, columns the predicted class."""
    p, t = np.asarray(pred, np.int64).ravel(), np.asarray(true, np.int64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"confusion: pred and true must have the same length, got {p.shape[0]} and {t.shape[0]}")
    if len(p) and (min(p.min(), t.min()) < 0 or max(p.max(), t.max()) >= num_classes):
        raise ValueError(f"confusion: class indices must be in [0, {num_classes}), got {min(p.min(), t.min())}.."
                         f"{max(p.max(), t.max())}")
    m = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(m, (t, p), 1)
    return m


def class_metrics(pred: Sequence[int], true: Sequence[int], num_classes: int) -> dict[str, float]:
    """Accuracy, macro precision/recall/F1 and, for ``num_classes == 2``, the positive class's.

    Args:
        pred: predicted class indices ``(N,)``.
        true: true class indices ``(N,)``.
        num_classes: ``K``.

    Returns:
        ``acc``, ``macro_precision``, ``macro_recall``, ``macro_f1`` and, for two classes,
        ``pos_precision``, ``pos_recall``, ``pos_f1`` (class index 1). The macro averages run
        over the classes present in ``true`` or ``pred`` (as sklearn's ``average="macro"``).
    """
    m = confusion(pred, true, num_classes).astype(np.float64)
    tp, npred, ntrue = np.diag(m), m.sum(0), m.sum(1)
    precision = np.divide(tp, npred, out=np.zeros_like(tp), where=npred > 0)
    recall = np.divide(tp, ntrue, out=np.zeros_like(tp), where=ntrue > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=precision + recall > 0)
    seen = (npred > 0) | (ntrue > 0)
    out = {"acc": float(tp.sum() / m.sum()) if m.sum() else 0.0}
    for name, v in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[f"macro_{name}"] = float(v[seen].mean()) if seen.any() else 0.0
    if num_classes == 2:
        out.update(pos_precision=float(precision[1]), pos_recall=float(recall[1]), pos_f1=float(f1[1]))
    return out


def format_metrics(m: dict[str, float], positive: str = "") -> str:
    """One line: accuracy, macro P/R/F1 and (binary) the positive class's, each labelled."""
    text = (f"accuracy {m['acc']:.4f}, macro precision {m['macro_precision']:.4f}, recall {m['macro_recall']:.4f}, "
            f"F1 {m['macro_f1']:.4f}")
    if "pos_f1" in m:
        text += (f"; positive class {positive!r}: precision {m['pos_precision']:.4f}, recall {m['pos_recall']:.4f}, "
                 f"F1 {m['pos_f1']:.4f}")
    return text


def prediction_warnings(pred: Sequence[int], classes: Sequence[str], split: str) -> list[str]:
    """A message when every example of ``split`` got the same predicted class (and there were several)."""
    p = np.asarray(pred).ravel()
    if len(p) > 1 and len(classes) > 1 and np.all(p == p[0]):
        return [f"the model predicts one class ({classes[int(p[0])]!r}) for all {len(p)} {split} examples: it has "
                "learned nothing beyond the class prior; try more --epochs, another --lr, or check the labels"]
    return []


def small_class_warnings(y: Sequence[int], classes: Sequence[str], split: str, minimum: int = 5) -> list[str]:
    """A message listing the classes with fewer than ``minimum`` examples in ``split``."""
    counts = np.bincount(np.asarray(y, np.int64).ravel(), minlength=len(classes))
    few = [f"{classes[k]!r}: {int(c)}" for k, c in enumerate(counts) if c < minimum]
    if few:
        return [f"{split}: {len(few)} of {len(classes)} classes have fewer than {minimum} examples ({', '.join(few[:8])}"
                f"{', ...' if len(few) > 8 else ''}); metrics on this split are noisy"]
    return []
