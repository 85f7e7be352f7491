"""Reproducible train/validation/test splits: stratified by class, random, or the tail of a series."""

from __future__ import annotations

from typing import List, Sequence, Tuple, Union

import numpy as np

__all__ = ["stratified_split", "random_split", "tail_split"]


def _check_fractions(owner: str, fractions: Sequence[float]) -> np.ndarray:
    try:
        f = np.asarray(list(fractions), dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: fractions must be a sequence of floats, got {fractions!r}") from None
    if f.ndim != 1 or len(f) < 2:
        raise ValueError(f"{owner}: fractions must have at least 2 parts, got {fractions!r}")
    if not np.all(np.isfinite(f)) or np.any(f <= 0) or abs(f.sum() - 1.0) > 1e-6:
        raise ValueError(f"{owner}: fractions must be positive and sum to 1, got {fractions!r} (sum {f.sum():g})")
    return f


def _check_seed(owner: str, seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"{owner}: seed must be an int >= 0, got {seed!r}")
    return int(seed)


def _counts(n: int, fractions: np.ndarray) -> np.ndarray:
    """Split ``n`` items into parts proportional to ``fractions`` (largest remainder)."""
    exact = fractions * n
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def stratified_split(y: Sequence[int], fractions: Sequence[float] = (0.8, 0.2), seed: int = 0) -> List[np.ndarray]:
    """Split indices into parts with (almost) the same class proportions in each.

    Each class's items are shuffled and cut by the largest-remainder rule, so part
    ``k`` gets ``round(fractions[k] * n_c)`` items of class ``c`` (give or take one).
    The result is a pure function of ``y``, ``fractions`` and ``seed``.

    Args:
        y: class labels ``(N,)`` (any hashable values NumPy can sort).
        fractions: the parts' shares, e.g. ``(0.8, 0.2)`` or ``(0.7, 0.1, 0.2)``; must sum to 1.
        seed: the random seed.

    Returns:
        One int64 index array per part, each shuffled; together a permutation of ``0..N-1``.
    """
    owner = "stratified_split"
    f = _check_fractions(owner, fractions)
    rng = np.random.default_rng(_check_seed(owner, seed))
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError(f"{owner}: y must be 1-D (one label per item), got shape {labels.shape}")
    parts: List[List[np.ndarray]] = [[] for _ in f]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        bounds = np.concatenate([[0], np.cumsum(_counts(len(idx), f))])
        for k in range(len(f)):
            parts[k].append(idx[bounds[k] : bounds[k + 1]])
    return [rng.permutation(np.concatenate(p).astype(np.int64)) if p else np.zeros(0, np.int64) for p in parts]


def random_split(n: int, fractions: Sequence[float] = (0.8, 0.2), seed: int = 0) -> List[np.ndarray]:
    """Split ``range(n)`` at random into parts of the given shares (a pure function of ``seed``).

    Returns:
        One int64 index array per part.
    """
    owner = "random_split"
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise TypeError(f"{owner}: n must be an int >= 0, got {n!r}")
    f = _check_fractions(owner, fractions)
    perm = np.random.default_rng(_check_seed(owner, seed)).permutation(int(n)).astype(np.int64)
    bounds = np.concatenate([[0], np.cumsum(_counts(int(n), f))])
    return [perm[bounds[k] : bounds[k + 1]] for k in range(len(f))]


def tail_split(n: int, test_size: Union[int, float]) -> Tuple[np.ndarray, np.ndarray]:
    """Hold out the last items of a series (no shuffling, no look-ahead).

    Args:
        n: the series length.
        test_size: how many items to hold out (int), or their share in (0, 1) (float, rounded).

    Returns:
        ``(head, tail)``: ``arange(0, n - k)`` and ``arange(n - k, n)``.
    """
    owner = "tail_split"
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"{owner}: n must be an int >= 2, got {n!r}")
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: test_size must be an int or a float, got {test_size!r}")
    if isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"{owner}: test_size as a float must be in (0, 1), got {test_size}")
        k = int(round(test_size * n))
    else:
        k = int(test_size)
    if not 1 <= k <= n - 1:
        raise ValueError(f"{owner}: test_size must leave 1..{n - 1} items in the tail, got {test_size!r} ({k} items)")
    return np.arange(0, n - k, dtype=np.int64), np.arange(n - k, n, dtype=np.int64)
