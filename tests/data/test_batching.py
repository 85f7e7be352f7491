"""Padding, length buckets and token streams, against references written out here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.data import RandomWindowStream, TBPTTStream, bucket_batches, pad_sequences, random_windows, sliding_windows
from tests.data.ddp import assert_ranks_read_disjoint_stretches


# ---------------------------------------------------------------- padding

def test_pad_sequences_matches_a_manual_pad() -> None:
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randn(t, 3, generator=g) for t in (4, 0, 2)]
    padded, lengths = pad_sequences(seqs, padding_value=-1.0)
    assert lengths.tolist() == [4, 0, 2] and lengths.dtype == torch.int64
    ref = torch.full((3, 4, 3), -1.0)
    for b, s in enumerate(seqs):
        ref[b, : len(s)] = s
    assert torch.equal(padded, ref)
    time_major, _ = pad_sequences(seqs, batch_first=False, padding_value=-1.0)
    assert torch.equal(time_major, ref.transpose(0, 1))


def test_pad_sequences_numpy_and_dtype() -> None:
    padded, lengths = pad_sequences([np.arange(3), np.arange(1)], dtype=torch.long)
    assert padded.dtype == torch.long and padded.tolist() == [[0, 1, 2], [0, 0, 0]]
    assert lengths.tolist() == [3, 1]


def test_pad_sequences_errors() -> None:
    with pytest.raises(ValueError, match="pad_sequences: sequences must hold at least one sequence, got an empty list"):
        pad_sequences([])
    with pytest.raises(ValueError, match=r"sequences\[1\] must have feature shape \(3,\) \(as sequences\[0\]\), got \(2,\)"):
        pad_sequences([torch.zeros(2, 3), torch.zeros(2, 2)])
    with pytest.raises(TypeError, match=r"sequences\[0\] must be a Tensor or ndarray, got list"):
        pad_sequences([[1, 2]])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="sequences must be a list of tensors/arrays"):
        pad_sequences(torch.zeros(2, 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"sequences\[0\] must have a time dimension"):
        pad_sequences([torch.tensor(1.0)])


# ---------------------------------------------------------------- buckets

LENGTHS = np.random.default_rng(0).integers(1, 200, size=1000)


def test_bucket_batches_cover_every_index_once_with_little_padding() -> None:
    batches = bucket_batches(LENGTHS, 32, seed=1)
    allidx = np.concatenate(batches)
    assert sorted(allidx.tolist()) == list(range(1000))
    assert all(len(b) <= 32 for b in batches)
    padded = sum(len(b) * LENGTHS[b].max() for b in batches)
    random_order = np.random.default_rng(1).permutation(1000)
    padded_random = sum(32 * LENGTHS[random_order[i : i + 32]].max() for i in range(0, 1000, 32))
    assert padded < 0.75 * padded_random  # bucketing wastes much less padding than random batches


def test_bucket_batches_pure_function_of_seed_and_epoch() -> None:
    a = bucket_batches(LENGTHS, 16, seed=5, epoch=2)
    b = bucket_batches(LENGTHS, 16, seed=5, epoch=2)
    c = bucket_batches(LENGTHS, 16, seed=5, epoch=3)
    assert len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))


def test_bucket_batches_without_shuffle_and_drop_last() -> None:
    batches = bucket_batches(LENGTHS, 64, shuffle=False)
    order = np.concatenate(batches)
    np.testing.assert_array_equal(order, np.argsort(LENGTHS, kind="stable"))
    kept = bucket_batches(LENGTHS, 64, seed=0, drop_last=True)
    assert all(len(b) == 64 for b in kept) and len(kept) < len(bucket_batches(LENGTHS, 64, seed=0))


def test_bucket_batches_errors() -> None:
    with pytest.raises(ValueError, match="bucket_batches: batch_size must be > 0, got 0"):
        bucket_batches([1, 2], 0)
    with pytest.raises(TypeError, match="lengths must be a 1-D sequence of ints, got dtype float64"):
        bucket_batches([1.5, 2.0], 2)
    with pytest.raises(ValueError, match="lengths must be >= 0, got -3"):
        bucket_batches([1, -3], 2)


# ---------------------------------------------------------------- TBPTT stream

def test_tbptt_rows_are_contiguous_and_windows_consecutive() -> None:
    n, B, T = 103, 3, 5
    ids = torch.arange(n) * 7 % 101  # not just arange, so x and y cannot be confused
    stream = TBPTTStream(ids, B, T)
    L = (n - 1) // B  # 34 tokens per row
    assert stream.row_length == L and len(stream) == 7  # ceil(34 / 5); last window has 4 steps
    windows = list(stream)
    for k, (x, y) in enumerate(windows):
        width = min(T, L - k * T)
        assert x.shape == y.shape == (B, width)
        for b in range(B):
            start = b * L + k * T
            assert x[b].tolist() == ids[start : start + width].tolist()
            assert y[b].tolist() == ids[start + 1 : start + width + 1].tolist()
    rows = torch.cat([x for x, _ in windows], dim=1)
    assert rows.tolist() == ids[: B * L].view(B, L).tolist()


def test_tbptt_carrying_state_equals_one_long_pass() -> None:
    torch.manual_seed(0)
    emb, rnn = torch.nn.Embedding(50, 4), torch.nn.RNN(4, 6, batch_first=True)
    ids = torch.randint(0, 50, (200,))
    stream = TBPTTStream(ids, batch_size=4, bptt=7)
    with torch.no_grad():
        full, _ = rnn(emb(stream.x))
        outs, h = [], None
        for x, _ in stream:
            out, h = rnn(emb(x), h)
            outs.append(out)
    assert torch.allclose(torch.cat(outs, dim=1), full, rtol=1e-5, atol=1e-6)


def test_tbptt_resume_and_drop_last() -> None:
    stream = TBPTTStream(torch.arange(1000), 4, 9)
    everything = list(stream)
    for k in (0, 3, len(stream) - 1, len(stream)):
        rest = list(stream.iter_from(k))
        assert len(rest) == len(everything) - k
        assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(rest, everything[k:]))
    dropped = TBPTTStream(torch.arange(1000), 4, 9, drop_last=True)
    assert len(dropped) == 249 // 9 and all(x.shape == (4, 9) for x, _ in dropped)
    assert torch.equal(stream[-1][0], everything[-1][0])


def test_tbptt_errors() -> None:
    with pytest.raises(TypeError, match=r"TBPTTStream: ids must be a 1-D int64 \(Long\) tensor, got dtype torch.float32, shape \(10,\)"):
        TBPTTStream(torch.zeros(10), 2, 3)
    with pytest.raises(ValueError, match="ids must hold at least 5 tokens for batch_size=4, bptt=3, got 4"):
        TBPTTStream(torch.arange(4), 4, 3)
    with pytest.raises(ValueError, match="TBPTTStream: bptt must be > 0, got 0"):
        TBPTTStream(torch.arange(10), 2, 0)
    stream = TBPTTStream(torch.arange(10), 2, 3)
    with pytest.raises(IndexError, match=r"index must be in \[0, 2\), got 2"):
        stream[2]
    with pytest.raises(ValueError, match="start must be >= 0, got -1"):
        list(stream.iter_from(-1))


# ---------------------------------------------------------------- random windows

def test_random_windows_targets_are_the_next_tokens() -> None:
    ids = torch.arange(50) * 3
    x, y = random_windows(ids, 8, 6, torch.Generator().manual_seed(1))
    assert x.shape == y.shape == (8, 6)
    starts = x[:, 0] // 3
    for b in range(8):
        s = int(starts[b])
        assert 0 <= s <= 50 - 6 - 1
        assert x[b].tolist() == ids[s : s + 6].tolist() and y[b].tolist() == ids[s + 1 : s + 7].tolist()
    x2, _ = random_windows(ids, 8, 6, torch.Generator().manual_seed(1))
    assert torch.equal(x, x2)
    with pytest.raises(ValueError, match="random_windows: ids must hold more than bptt=50 tokens, got 50"):
        random_windows(ids, 2, 50)


def test_random_window_stream_resume_and_epochs() -> None:
    ids = torch.arange(500)
    stream = RandomWindowStream(ids, 4, 10, num_batches=6, seed=3)
    first = list(stream)
    assert len(first) == 6 and all(torch.equal(y, x + 1) for x, y in first)
    rest = list(RandomWindowStream(ids, 4, 10, num_batches=6, seed=3).iter_from(4))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(rest, first[4:])) and len(rest) == 2
    stream.set_epoch(1)
    assert not torch.equal(stream[0][0], first[0][0])
    other_seed = RandomWindowStream(ids, 4, 10, num_batches=6, seed=4)
    assert not torch.equal(other_seed[0][0], first[0][0])
    with pytest.raises(IndexError, match=r"index must be an int in \[0, 6\), got 6"):
        stream[6]


# ---------------------------------------------------------------- sliding windows

def test_sliding_windows_match_a_loop() -> None:
    series = np.arange(20, dtype=np.float64) ** 2
    x, y = sliding_windows(series, window=5, horizon=3, stride=2)
    starts = range(0, 20 - 5 - 3 + 1, 2)
    assert x.shape == (len(starts), 5) and y.shape == (len(starts), 3)
    for i, s in enumerate(starts):
        assert x[i].tolist() == series[s : s + 5].tolist() and y[i].tolist() == series[s + 5 : s + 8].tolist()
    multi = torch.stack([torch.arange(10.0), -torch.arange(10.0)], dim=1)  # (N, C)
    xm, ym = sliding_windows(multi, 4, 2)
    assert xm.shape == (5, 4, 2) and ym.shape == (5, 2, 2)
    assert torch.equal(xm[3], multi[3:7]) and torch.equal(ym[3], multi[7:9])


def test_sliding_windows_errors() -> None:
    with pytest.raises(ValueError, match="sliding_windows: series must have at least window \\+ horizon = 6 values, got 5"):
        sliding_windows(np.zeros(5), 4, 2)
    with pytest.raises(ValueError, match=r"series must have shape \(N,\) or \(N, C\), got \(2, 2, 2\)"):
        sliding_windows(np.zeros((2, 2, 2)), 1)
    with pytest.raises(TypeError, match="series must be a Tensor or ndarray"):
        sliding_windows([1.0, 2.0], 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sliding_windows: horizon must be > 0, got 0"):
        sliding_windows(np.zeros(5), 2, 0)


# ---- memory-mapped token parts --------------------------------------------------------------------
def _spans_and_copy():
    from rnnkit.data.spans import TokenSpans

    base = np.random.default_rng(0).integers(0, 90, 4000).astype(np.uint8)
    spans = [(0, 1000), (1300, 2100), (2500, 3999)]
    copy = torch.from_numpy(np.concatenate([base[a:b] for a, b in spans]).astype(np.int64))
    return TokenSpans(base, spans), copy


@pytest.mark.parametrize("batch_size, bptt, drop_last", [(7, 33, False), (4, 50, True), (1, 1000, False)])
def test_tbptt_stream_over_a_memory_map_equals_the_tensor_stream(batch_size, bptt, drop_last):
    spans, copy = _spans_and_copy()
    a, b = TBPTTStream(copy, batch_size, bptt, drop_last=drop_last), TBPTTStream(spans, batch_size, bptt,
                                                                                  drop_last=drop_last)
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and xb.dtype == torch.long


def test_random_windows_over_a_memory_map_equal_the_tensor_windows():
    spans, copy = _spans_and_copy()
    a, b = RandomWindowStream(copy, 6, 40, 5, seed=3), RandomWindowStream(spans, 6, 40, 5, seed=3)
    a.set_epoch(2)
    b.set_epoch(2)
    for k in range(5):
        assert all(torch.equal(u, v) for u, v in zip(a[k], b[k]))


def test_ddp_ranks_read_disjoint_stretches_of_the_memory_map():
    """Under torchrun each rank keeps its rows of a batch (split_batch): disjoint stretches of the corpus."""
    from rnnkit.data.spans import TokenSpans

    assert_ranks_read_disjoint_stretches(TokenSpans(np.arange(10_001, dtype=np.int64), [(0, 10_001)]))


def test_sample_window_starts_are_fixed_disjoint_and_inside():
    from rnnkit.data.batching import sample_window_starts

    s = sample_window_starts(10_000, 20, 300, context=50, seed=4)
    assert np.array_equal(s, sample_window_starts(10_000, 20, 300, context=50, seed=4))
    assert not np.array_equal(s, sample_window_starts(10_000, 20, 300, context=50, seed=5))
    assert len(s) == 20 and (np.diff(s) >= 300).all() and s[0] >= 50 and s[-1] + 300 <= 10_000 - 1
    assert ((s - 50) % 300 == 0).all()
    assert len(sample_window_starts(1000, 50, 300, context=50)) == 3  # only 3 slots: all of them
    with pytest.raises(ValueError, match="n must be more than context"):
        sample_window_starts(100, 5, 300)
