"""Turning label strings into class indices and back."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["encode_labels"]


def _sort_key(label: str) -> Tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def encode_labels(labels: Sequence[object], classes: Optional[Sequence[str]] = None) -> Tuple[np.ndarray, List[str]]:
    """Map labels to class indices ``0 .. K-1``.

    Args:
        labels: labels as strings (or anything ``str()`` turns into its label).
        classes: the known classes in index order (e.g. saved with a trained model);
            default: the distinct labels sorted, numerically when all are numbers
            (so ``"0", "1", "2"`` map to 0, 1, 2), else alphabetically.

    Returns:
        ``(indices int64 (N,), classes)``.

    Raises:
        ValueError: a label is not one of ``classes``.
    """
    text = [str(v) for v in labels]
    if classes is None:
        distinct = set(text)
        numeric = all(_sort_key(c)[0] == 0 for c in distinct)
        classes = sorted(distinct, key=_sort_key) if numeric else sorted(distinct)
    classes = [str(c) for c in classes]
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({t for t in text if t not in index})
    if unknown:
        raise ValueError(f"encode_labels: labels must be one of the classes {classes}, got unknown label(s) {unknown[:5]}")
    return np.array([index[t] for t in text], dtype=np.int64), classes
