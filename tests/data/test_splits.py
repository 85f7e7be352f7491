"""Splits: partitions, per-class proportions, determinism, error messages."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data import random_split, stratified_split, tail_split


def _is_partition(parts, n: int) -> bool:
    allidx = np.concatenate(parts)
    return len(allidx) == n and set(allidx.tolist()) == set(range(n))


def test_stratified_mnist_like_exact_counts() -> None:
    y = np.repeat(np.arange(10), 500)  # sorted by label, as the MNIST 5k file
    train, test = stratified_split(y, (0.8, 0.2), seed=0)
    assert _is_partition([train, test], 5000) and train.dtype == np.int64
    assert np.bincount(y[train]).tolist() == [400] * 10
    assert np.bincount(y[test]).tolist() == [100] * 10
    assert not np.all(np.diff(y[train]) >= 0)  # shuffled, not sorted by label


def test_stratified_three_parts_and_uneven_classes() -> None:
    y = np.array(["a"] * 7 + ["b"] * 13 + ["c"] * 1)
    parts = stratified_split(y, (0.6, 0.2, 0.2), seed=3)
    assert _is_partition(parts, len(y))
    for cls, n in (("a", 7), ("b", 13)):
        counts = [int((y[p] == cls).sum()) for p in parts]
        exact = [0.6 * n, 0.2 * n, 0.2 * n]
        assert sum(counts) == n and all(abs(c - e) < 1 for c, e in zip(counts, exact))


def test_stratified_is_a_pure_function_of_the_seed() -> None:
    y = np.repeat(np.arange(3), 20)
    a = stratified_split(y, (0.5, 0.5), seed=7)
    b = stratified_split(y, (0.5, 0.5), seed=7)
    c = stratified_split(y, (0.5, 0.5), seed=8)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize(
    "fractions,message",
    [
        ((0.5, 0.4), r"fractions must be positive and sum to 1, got \(0.5, 0.4\) \(sum 0.9\)"),
        ((1.0,), r"fractions must have at least 2 parts, got \(1.0,\)"),
        ((1.2, -0.2), "fractions must be positive and sum to 1"),
    ],
)
def test_stratified_bad_fractions(fractions, message: str) -> None:
    with pytest.raises(ValueError, match="stratified_split: " + message):
        stratified_split([0, 1, 0, 1], fractions)


def test_stratified_bad_y_and_seed() -> None:
    with pytest.raises(ValueError, match=r"y must be 1-D \(one label per item\), got shape \(2, 2\)"):
        stratified_split([[0, 1], [0, 1]])
    with pytest.raises(TypeError, match="seed must be an int >= 0, got 0.5"):
        stratified_split([0, 1], seed=0.5)  # type: ignore[arg-type]


def test_random_split() -> None:
    parts = random_split(10, (0.7, 0.3), seed=1)
    assert [len(p) for p in parts] == [7, 3] and _is_partition(parts, 10)
    assert np.array_equal(parts[0], random_split(10, (0.7, 0.3), seed=1)[0])
    with pytest.raises(TypeError, match="random_split: n must be an int >= 0, got -1"):
        random_split(-1)


def test_tail_split() -> None:
    head, tail = tail_split(144, 12)
    assert head.tolist() == list(range(132)) and tail.tolist() == list(range(132, 144))
    head, tail = tail_split(10, 0.25)
    assert len(head) == 8 and tail.tolist() == [8, 9]  # round(2.5) = 2
    with pytest.raises(ValueError, match=r"tail_split: test_size must leave 1..9 items in the tail, got 10 \(10 items\)"):
        tail_split(10, 10)
    with pytest.raises(ValueError, match="test_size as a float must be in \\(0, 1\\), got 1.5"):
        tail_split(10, 1.5)
    with pytest.raises(TypeError, match="test_size must be an int or a float, got '3'"):
        tail_split(10, "3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n must be an int >= 2, got 1"):
        tail_split(1, 1)
