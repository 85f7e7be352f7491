"""Padded series tensors built in place, and shuffled batches with per-batch seeded input noise.

For ``tsclass`` on large files: :func:`pad_normalised` writes each normalised
sequence straight into one preallocated zero-padded ``(N, T_max, C)`` array
(no list of per-sequence copies, no second padded copy); :class:`NoisyBatches`
gathers and perturbs one batch at a time when it is indexed, instead of a noisy
copy of the whole training tensor per epoch. Batch ``k``'s noise is drawn from
a generator seeded with ``(seed, epoch, stream, k)``, so it does not depend on
the batches before it: a run resumed at batch ``k`` sees the same inputs.
"""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.seriesnorm import normalise

__all__ = ["pad_normalised", "NoisyBatches", "batch_generator"]

GROUP_ROWS = 1 << 16
"""``channel``/``none`` normalisation runs on groups of consecutive sequences of about this many steps."""


def pad_normalised(seqs: Sequence[np.ndarray], mode: str, mean: Sequence[float], std: Sequence[float],
                   channels: int) -> Tuple[Tensor, Tensor]:
    """``pad_sequences([normalise(s, mode, mean, std) for s in seqs])`` without the intermediate copies.

    The values are exactly those of :func:`rnnkit.data.seriesnorm.normalise` (float32, missing -> 0):
    ``series``/``both`` normalise each sequence on its own, ``channel``/``none`` (elementwise) a
    group of consecutive sequences at once; each result is written into its row of the padded array.

    Args:
        seqs: ``N`` arrays ``(T_i, C)`` (views of one array, memory-mapped or not, are fine).
        mode: ``series``, ``channel``, ``both`` or ``none``.
        mean, std: the per-channel statistics ``(C,)`` for ``channel``/``both``.
        channels: ``C``, for the empty case.

    Returns:
        ``x`` float32 ``(N, T_max, C)`` zero-padded (``(0, 1, C)`` for no sequences) and lengths int64 ``(N,)``.
    """
    if not seqs:
        return torch.zeros(0, 1, channels), torch.zeros(0, dtype=torch.long)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    out = np.zeros((len(seqs), int(lengths.max()), seqs[0].shape[1]), dtype=np.float32)
    if mode in ("series", "both"):
        for i, s in enumerate(seqs):
            out[i, :len(s)] = normalise(s, mode, mean, std)
    else:
        start = 0
        while start < len(seqs):
            stop, rows = start, 0
            while stop < len(seqs) and (stop == start or rows + lengths[stop] <= GROUP_ROWS):
                rows += int(lengths[stop])
                stop += 1
            block = normalise(np.concatenate(seqs[start:stop]) if stop - start > 1 else seqs[start], mode, mean, std)
            at = 0
            for i in range(start, stop):
                out[i, :lengths[i]] = block[at:at + lengths[i]]
                at += int(lengths[i])
            start = stop
    return torch.from_numpy(out), torch.from_numpy(lengths)


def batch_generator(seed: int, epoch: int, stream: int, k: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, epoch, stream, k)`` (numpy's ``SeedSequence`` mixes them)."""
    state = np.random.SeedSequence([seed, epoch, stream, k]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class NoisyBatches(Sequence[Tuple[Tensor, Tensor, Tensor]]):
    """Shuffled batches ``(x[idx], lengths[idx], y[idx])`` with Gaussian noise on the valid steps, built on demand.

    Batch ``k`` takes the indices ``order[k * B : (k + 1) * B]`` (``shuffled_batches``' split of the
    same permutation, so without noise the batches are identical to it) and adds
    ``noise * randn(x_k.shape) * valid`` to its own copy of the inputs, ``valid`` masking the padding.
    The noise of batch ``k`` is a pure function of ``(seed, epoch, stream, k)``.

    Args:
        x: ``(N, T, C)`` float inputs, zero-padded.
        lengths: ``(N,)`` int64 valid steps.
        y: ``(N,)`` labels.
        batch_size: ``B``.
        order: ``(N,)`` permutation of the examples (e.g. ``torch.randperm(N, generator=...)``).
        noise: the noise standard deviation (0 = none).
        seed, epoch, stream: the noise's seed.
    """

    def __init__(self, x: Tensor, lengths: Tensor, y: Tensor, batch_size: int, order: Tensor, noise: float,
                 seed: int, epoch: int, stream: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"NoisyBatches: batch_size must be >= 1, got {batch_size}")
        if noise < 0:
            raise ValueError(f"NoisyBatches: noise must be >= 0, got {noise}")
        if not (len(x) == len(lengths) == len(y) == len(order)):
            raise ValueError(f"NoisyBatches: x, lengths, y and order must have the same length, got {len(x)}, "
                             f"{len(lengths)}, {len(y)}, {len(order)}")
        self.x, self.lengths, self.y, self.order = x, lengths, y, order
        self.batch_size, self.noise, self.key = batch_size, noise, (seed, epoch, stream)

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.batch_size)

    def __getitem__(self, k: int) -> Tuple[Tensor, Tensor, Tensor]:  # type: ignore[override]
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"NoisyBatches: index must be an int, got {type(k).__name__}")
        n = len(self)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"NoisyBatches: index must be in [0, {n}), got {k}")
        idx = self.order[k * self.batch_size:(k + 1) * self.batch_size]
        x, lengths = self.x[idx], self.lengths[idx]
        if self.noise > 0:
            valid = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)
            noise = torch.randn(x.shape, generator=batch_generator(*self.key, int(k)), dtype=x.dtype)
            x = x + self.noise * noise * valid
        return x, lengths, self.y[idx]
