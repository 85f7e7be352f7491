"""TokenSpans: a lazily read concatenation of spans equals the copied concatenation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.data.spans import TokenSpans

BASE = np.random.default_rng(0).integers(0, 250, 3000).astype(np.uint8)
SPANS = [(0, 700), (700, 900), (1500, 1501), (2000, 2000), (2100, 3000)]
COPY = np.concatenate([BASE[a:b] for a, b in SPANS]).astype(np.int64)


def test_take_slices_and_head_equal_the_copy():
    seq = TokenSpans(BASE, SPANS)
    assert len(seq) == len(COPY) == seq.numel()
    pos = np.random.default_rng(1).integers(0, len(COPY), (7, 13))
    np.testing.assert_array_equal(seq.take(pos), COPY[pos])
    np.testing.assert_array_equal(seq.take(torch.from_numpy(pos)), COPY[pos])
    for a, b in [(0, len(COPY)), (650, 1000), (899, 902), (5, 5), (1100, 10_000)]:
        np.testing.assert_array_equal(seq[a:b], COPY[a:b])
    assert seq[900] == COPY[900] and seq[-1] == COPY[-1]
    for n in (0, 1, 700, 901, len(COPY)):
        np.testing.assert_array_equal(seq.head(n)[:], COPY[:n])
    assert torch.equal(seq.to_tensor(), torch.from_numpy(COPY))


def test_lut_remaps_every_read():
    lut = np.arange(256, dtype=np.int64)[::-1].copy()
    seq = TokenSpans(BASE, SPANS, lut)
    np.testing.assert_array_equal(seq[:], lut[COPY])
    np.testing.assert_array_equal(seq.take(np.array([0, 900])), lut[COPY[[0, 900]]])


def test_errors_name_the_problem():
    seq = TokenSpans(BASE, SPANS)
    with pytest.raises(IndexError, match=r"positions must be in \[0, 1801\), got 0..1801"):
        seq.take(np.array([0, 1801]))
    with pytest.raises(ValueError, match="step 1"):
        seq[::2]
    with pytest.raises(ValueError, match="within"):
        TokenSpans(BASE, [(0, 3001)])
    with pytest.raises(TypeError, match="1-D integer array"):
        TokenSpans(BASE.astype(np.float32), [(0, 1)])
