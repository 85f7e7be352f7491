"""Padded series built in place and per-batch noise: equal to the list-and-pad path and to ``shuffled_batches``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.data import seriesbatches
from rnnkit.data.batching import pad_sequences
from rnnkit.data.seriesbatches import NoisyBatches, batch_generator, pad_normalised
from rnnkit.data.seriesnorm import _zscore, channel_stats, normalise
from rnnkit.recipes.base import shuffled_batches


def _seqs(rng: np.random.Generator, channels: int = 3) -> list[np.ndarray]:
    seqs = [rng.normal(2, 3, (int(n), channels)).astype(np.float32) for n in rng.integers(1, 40, 25)]
    seqs[3][1, 0] = np.nan  # a missing value
    return seqs


@pytest.mark.parametrize("mode", ["series", "channel", "both", "none"])
@pytest.mark.parametrize("group_rows", [1, 50, 1 << 16])
def test_pad_normalised_equals_padding_the_normalised_list(monkeypatch, mode, group_rows):
    monkeypatch.setattr(seriesbatches, "GROUP_ROWS", group_rows)
    seqs = _seqs(np.random.default_rng(0))
    mean, std = channel_stats(seqs, mode)
    ref, ref_len = pad_sequences([torch.from_numpy(normalise(s, mode, mean, std)) for s in seqs], padding_value=0.0,
                                 dtype=torch.float32)
    x, lengths = pad_normalised(seqs, mode, mean, std, 3)
    assert x.dtype == torch.float32 and torch.equal(x, ref) and torch.equal(lengths, ref_len)
    empty, none = pad_normalised([], mode, mean, std, 3)
    assert empty.shape == (0, 1, 3) and none.shape == (0,)


def test_channel_stats_are_numpys_nanmean_and_nanstd_bit_for_bit():
    rng = np.random.default_rng(1)
    for n, c in ((1, 1), (30, 3), (70_000, 2)):
        seqs = [rng.normal(5, 2, (n, c)).astype(np.float32) * 7 for _ in range(3)]
        steps = np.concatenate(seqs)
        for nan in (False, True):
            if nan:
                seqs[0][0, 0] = np.nan
                steps = np.concatenate(seqs)
            mean, std = channel_stats(seqs, "channel")
            ref_mean, ref_std = np.nanmean(steps, 0), np.nanstd(steps, 0)
            assert mean.dtype == ref_mean.dtype and np.array_equal(mean, ref_mean)
            assert np.array_equal(std, np.where(ref_std > 0, ref_std, 1.0))
        zs = np.concatenate([_zscore(np.asarray(s, np.float64)) for s in seqs])  # the previous implementation
        mean, std = channel_stats(seqs, "both")
        assert np.array_equal(mean, np.nan_to_num(np.nanmean(zs, 0)))
        assert np.array_equal(std, np.where(np.nan_to_num(np.nanstd(zs, 0)) > 0, np.nanstd(zs, 0), 1.0))


def _split():
    x, lengths = pad_normalised(_seqs(np.random.default_rng(2)), "channel", [0.0] * 3, [1.0] * 3, 3)
    return x, lengths, torch.arange(len(lengths)) % 3


def test_without_noise_the_batches_are_shuffled_batches():
    x, lengths, y = _split()
    gen = torch.Generator().manual_seed(7)
    ref = shuffled_batches((x, lengths, y), 4, gen)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(7))
    got = NoisyBatches(x, lengths, y, 4, order, 0.0, seed=0, epoch=0)
    assert len(got) == len(ref) == 7
    for a, b in zip(got, ref):
        assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert torch.equal(got[-1][0], ref[-1][0])
    with pytest.raises(IndexError, match=r"index must be in \[0, 7\), got 7"):
        got[7]


def test_noise_is_a_function_of_seed_epoch_and_batch_on_valid_steps_only():
    x, lengths, y = _split()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(3))
    a = NoisyBatches(x, lengths, y, 4, order, 0.5, seed=11, epoch=2)
    b = NoisyBatches(x, lengths, y, 4, order, 0.5, seed=11, epoch=2)
    late = b[5]  # a resumed run indexes batch 5 first: the same inputs
    assert torch.equal(late[0], a[5][0]) and torch.equal(a[0][0], b[0][0])
    assert not torch.equal(a[0][0], NoisyBatches(x, lengths, y, 4, order, 0.5, seed=11, epoch=3)[0][0])
    assert not torch.equal(a[0][0], NoisyBatches(x, lengths, y, 4, order, 0.5, seed=12, epoch=2)[0][0])
    for k in range(len(a)):  # x + 0.5 * randn(seeded by (11, 2, 1, k)) on valid steps; padding stays 0
        xb, lb, yb = a[k]
        idx = order[k * 4:(k + 1) * 4]
        valid = (torch.arange(x.shape[1])[None, :] < lb[:, None]).unsqueeze(-1)
        expect = x[idx] + 0.5 * torch.randn(xb.shape, generator=batch_generator(11, 2, 1, k)) * valid
        assert torch.equal(xb, expect) and torch.equal(lb, lengths[idx]) and torch.equal(yb, y[idx])
        assert (xb[~valid.expand_as(xb)] == 0).all()
    assert x.abs().sum() > 0 and torch.equal(x, _split()[0])  # the training tensor itself is not changed
