"""Batching: padding with lengths, length buckets, and token streams for truncated BPTT.

* :func:`pad_sequences` pads variable-length sequences and returns their lengths,
  which :func:`rnnkit.unroll` uses so no step runs past a sequence's end.
* :func:`bucket_batches` groups indices of similar length (less padding), with an
  order that is a pure function of ``(seed, epoch)``.
* :class:`TBPTTStream` cuts a token stream into ``B`` contiguous rows and yields
  consecutive ``(x, y)`` windows, so a model can carry its state from one batch to
  the next (stateful truncated backpropagation through time).
* :func:`random_windows` / :class:`RandomWindowStream` draw windows at random
  positions (the state is reset for each batch).
* :func:`sliding_windows` turns a series into ``(input window, next values)``
  pairs for forecasting.

Both streams can resume at window ``k`` (``iter_from(k)``) and give the same
remaining windows as an uninterrupted pass.
"""

from __future__ import annotations

import math
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from rnnkit.checks import check_positive_int
from rnnkit.data.spans import TokenSpans

__all__ = ["pad_sequences", "bucket_batches", "TBPTTStream", "RandomWindowStream", "random_windows", "sliding_windows"]

ArrayLike = Union[Tensor, np.ndarray]


def pad_sequences(
    sequences: Sequence[ArrayLike],
    batch_first: bool = True,
    padding_value: float = 0.0,
    dtype: Optional[torch.dtype] = None,
) -> Tuple[Tensor, Tensor]:
    """Pad sequences ``(T_i, *F)`` to a common length.

    Args:
        sequences: tensors or arrays ``(T_i, *F)``; ``T_i`` may be 0; ``F`` must agree.
        batch_first: give ``(B, T_max, *F)``; else ``(T_max, B, *F)``.
        padding_value: the value after each sequence's end.
        dtype: convert to this dtype (default: keep the inputs' dtype).

    Returns:
        ``(padded, lengths)``: the padded tensor and int64 lengths ``(B,)`` on the CPU.
    """
    owner = "pad_sequences"
    if isinstance(sequences, (Tensor, np.ndarray)) or not isinstance(sequences, Sequence):
        raise TypeError(f"{owner}: sequences must be a list of tensors/arrays (T_i, ...), got {type(sequences).__name__}")
    if len(sequences) == 0:
        raise ValueError(f"{owner}: sequences must hold at least one sequence, got an empty list")
    tensors: List[Tensor] = []
    for i, seq in enumerate(sequences):
        if not isinstance(seq, (Tensor, np.ndarray)):
            raise TypeError(f"{owner}: sequences[{i}] must be a Tensor or ndarray, got {type(seq).__name__}")
        t = torch.as_tensor(seq)
        if t.dim() == 0:
            raise ValueError(f"{owner}: sequences[{i}] must have a time dimension (T_i, ...), got a scalar")
        if tensors and t.shape[1:] != tensors[0].shape[1:]:
            raise ValueError(
                f"{owner}: sequences[{i}] must have feature shape {tuple(tensors[0].shape[1:])} "
                f"(as sequences[0]), got {tuple(t.shape[1:])}"
            )
        tensors.append(t if dtype is None else t.to(dtype))
    lengths = torch.tensor([t.shape[0] for t in tensors], dtype=torch.long)
    padded = torch.nn.utils.rnn.pad_sequence(tensors, batch_first=batch_first, padding_value=padding_value)
    return padded, lengths


def bucket_batches(
    lengths: Sequence[int],
    batch_size: int,
    seed: int = 0,
    shuffle: bool = True,
    *,
    epoch: int = 0,
    pool: int = 50,
    drop_last: bool = False,
) -> List[np.ndarray]:
    """Batches of indices whose sequences have similar lengths.

    With ``shuffle``: indices are shuffled, cut into pools of ``pool * batch_size``,
    each pool is sorted by length and cut into batches, and the batches are
    shuffled. Without: all indices are sorted by length (stable) and cut in order.
    The result is a pure function of the arguments (``seed`` and ``epoch`` included).

    Args:
        lengths: one length per item.
        batch_size: items per batch (the last batch of a pool may be smaller).
        seed: the random seed.
        shuffle: shuffle as above; else a fixed length-sorted order (for evaluation).
        epoch: the epoch number, mixed into the seed so each epoch differs.
        pool: pools hold this many batches' worth of items.
        drop_last: drop batches smaller than ``batch_size``.

    Returns:
        A list of int64 index arrays; without ``drop_last`` every index appears exactly once.
    """
    owner = "bucket_batches"
    check_positive_int(owner, "batch_size", batch_size)
    check_positive_int(owner, "pool", pool)
    check_positive_int(owner, "seed", seed, allow_zero=True)
    check_positive_int(owner, "epoch", epoch, allow_zero=True)
    lens = np.asarray(lengths)
    if lens.ndim != 1 or (lens.size and not np.issubdtype(lens.dtype, np.integer)):
        raise TypeError(f"{owner}: lengths must be a 1-D sequence of ints, got dtype {lens.dtype}, shape {lens.shape}")
    if lens.size and lens.min() < 0:
        raise ValueError(f"{owner}: lengths must be >= 0, got {int(lens.min())}")
    if not shuffle:
        order = np.argsort(lens, kind="stable")
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    else:
        rng = np.random.default_rng([seed, epoch])
        perm = rng.permutation(len(lens))
        batches = []
        step = pool * batch_size
        for p in range(0, len(perm), step):
            chunk = perm[p : p + step]
            chunk = chunk[np.argsort(lens[chunk], kind="stable")]
            batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
        batches = [batches[i] for i in rng.permutation(len(batches))]
    if drop_last:
        batches = [b for b in batches if len(b) == batch_size]
    return [b.astype(np.int64) for b in batches]


Ids = Union[Tensor, TokenSpans]


def _check_ids(owner: str, ids: object) -> Ids:
    if isinstance(ids, TokenSpans):
        return ids
    if not isinstance(ids, Tensor) or ids.dim() != 1 or ids.dtype != torch.long:
        got = f"dtype {ids.dtype}, shape {tuple(ids.shape)}" if isinstance(ids, Tensor) else type(ids).__name__
        raise TypeError(f"{owner}: ids must be a 1-D int64 (Long) tensor, got {got}")
    return ids


def _gather(ids: Ids, idx: Tensor) -> Tensor:
    """``ids[idx]`` for a tensor, or the ids a :class:`TokenSpans` holds at ``idx`` (read from its memory map)."""
    if isinstance(ids, TokenSpans):
        return torch.from_numpy(ids.take(idx))
    return ids[idx.to(ids.device)]


class TBPTTStream:
    """Consecutive windows of a token stream for truncated BPTT with state carried across batches.

    The stream ``ids`` is cut into ``B = batch_size`` contiguous rows of
    ``L = (N - 1) // B`` tokens (the remainder is dropped): row ``b`` holds
    ``ids[b*L : (b+1)*L]`` and its targets are the next tokens,
    ``ids[b*L + 1 : (b+1)*L + 1]``. Window ``k`` is columns ``[k*bptt, (k+1)*bptt)``,
    so window ``k+1`` continues every row exactly where window ``k`` stopped: carry the
    model's final state into the next batch (detached).

    Args:
        ids: 1-D int64 tensor ``(N,)``, or a :class:`~rnnkit.data.spans.TokenSpans` (a memory-mapped
            corpus part: each window reads only its own ids).
        batch_size: ``B``, the number of parallel rows.
        bptt: the window length (steps backpropagated through).
        drop_last: drop a final window shorter than ``bptt``.

    Example:
        >>> stream = TBPTTStream(torch.arange(101), batch_size=2, bptt=10)
        >>> x, y = stream[0]          # x (2, 10): rows start at 0 and 50; y = x + 1
    """

    def __init__(self, ids: Ids, batch_size: int, bptt: int, *, drop_last: bool = False) -> None:
        owner = "TBPTTStream"
        ids = _check_ids(owner, ids)
        check_positive_int(owner, "batch_size", batch_size)
        check_positive_int(owner, "bptt", bptt)
        rows = (ids.numel() - 1) // batch_size
        if rows < 1 or (drop_last and rows < bptt):
            need = batch_size * (bptt if drop_last else 1) + 1
            raise ValueError(f"{owner}: ids must hold at least {need} tokens for batch_size={batch_size}, bptt={bptt}, got {ids.numel()}")
        self.batch_size, self.bptt, self.row_length = batch_size, bptt, rows
        self.ids = ids
        if isinstance(ids, Tensor):
            self.x = ids[: batch_size * rows].view(batch_size, rows)
            self.y = ids[1 : batch_size * rows + 1].view(batch_size, rows)
        self._len = rows // bptt if drop_last else math.ceil(rows / bptt)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, k: int) -> Tuple[Tensor, Tensor]:
        """Window ``k``: ``(x, y)`` of shape ``(B, bptt)`` (the last may be shorter)."""
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"TBPTTStream: index must be an int, got {type(k).__name__}")
        if k < 0:
            k += self._len
        if not 0 <= k < self._len:
            raise IndexError(f"TBPTTStream: index must be in [0, {self._len}), got {k}")
        if isinstance(self.ids, TokenSpans):  # read only this window's B x bptt (+1) ids from the map
            stop = min((k + 1) * self.bptt, self.row_length)
            cols = torch.arange(k * self.bptt, stop + 1)
            ids = _gather(self.ids, torch.arange(self.batch_size)[:, None] * self.row_length + cols[None, :])
            return ids[:, :-1].contiguous(), ids[:, 1:].contiguous()
        s = slice(k * self.bptt, (k + 1) * self.bptt)
        return self.x[:, s], self.y[:, s]

    def __iter__(self) -> Iterator[Tuple[Tensor, Tensor]]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[Tuple[Tensor, Tensor]]:
        """Windows ``start, start + 1, ...`` (to resume a run at window ``start``)."""
        check_positive_int("TBPTTStream.iter_from", "start", start, allow_zero=True)
        for k in range(start, self._len):
            yield self[k]


def random_windows(
    ids: Ids, batch_size: int, bptt: int, generator: Optional[torch.Generator] = None
) -> Tuple[Tensor, Tensor]:
    """One batch of windows at random positions of ``ids``.

    Args:
        ids: 1-D int64 tensor ``(N,)`` with ``N > bptt``, or a :class:`~rnnkit.data.spans.TokenSpans`.
        batch_size: ``B``, windows per batch.
        bptt: window length ``T``.
        generator: the random source (for reproducibility).

    Returns:
        ``(x, y)``, each ``(B, T)``: ``x[b] = ids[s_b : s_b + T]`` and ``y[b] = ids[s_b + 1 : s_b + T + 1]``
        with starts ``s_b`` uniform in ``[0, N - T - 1]``.
    """
    owner = "random_windows"
    ids = _check_ids(owner, ids)
    check_positive_int(owner, "batch_size", batch_size)
    check_positive_int(owner, "bptt", bptt)
    if ids.numel() <= bptt:
        raise ValueError(f"{owner}: ids must hold more than bptt={bptt} tokens, got {ids.numel()}")
    starts = torch.randint(0, ids.numel() - bptt, (batch_size,), generator=generator)
    if isinstance(ids, TokenSpans):  # one read of B x (bptt + 1) ids from the memory map
        window = _gather(ids, starts[:, None] + torch.arange(bptt + 1)[None, :])
        return window[:, :-1].contiguous(), window[:, 1:].contiguous()
    idx = starts[:, None] + torch.arange(bptt)[None, :]
    idx = idx.to(ids.device)
    return ids[idx], ids[idx + 1]


class RandomWindowStream:
    """``num_batches`` batches of :func:`random_windows`, each a pure function of ``(seed, epoch, k)``.

    Batch ``k`` of an epoch does not depend on the batches before it, so a run
    resumed at batch ``k`` sees exactly the batches it would have seen.

    Args:
        ids: 1-D int64 tensor, or a :class:`~rnnkit.data.spans.TokenSpans`.
        batch_size: windows per batch.
        bptt: window length.
        num_batches: batches per epoch.
        seed: the random seed.
    """

    def __init__(self, ids: Ids, batch_size: int, bptt: int, num_batches: int, seed: int = 0) -> None:
        owner = "RandomWindowStream"
        self.ids = _check_ids(owner, ids)
        self.batch_size = check_positive_int(owner, "batch_size", batch_size)
        self.bptt = check_positive_int(owner, "bptt", bptt)
        self.num_batches = check_positive_int(owner, "num_batches", num_batches)
        self.seed = check_positive_int(owner, "seed", seed, allow_zero=True)
        if ids.numel() <= bptt:
            raise ValueError(f"{owner}: ids must hold more than bptt={bptt} tokens, got {ids.numel()}")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch (each epoch draws different windows)."""
        self.epoch = check_positive_int("RandomWindowStream.set_epoch", "epoch", epoch, allow_zero=True)

    def __len__(self) -> int:
        return self.num_batches

    def __getitem__(self, k: int) -> Tuple[Tensor, Tensor]:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < self.num_batches:
            raise IndexError(f"RandomWindowStream: index must be an int in [0, {self.num_batches}), got {k!r}")
        state = np.random.SeedSequence([self.seed, self.epoch, k]).generate_state(2, dtype=np.uint32)
        gen = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
        return random_windows(self.ids, self.batch_size, self.bptt, gen)

    def __iter__(self) -> Iterator[Tuple[Tensor, Tensor]]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[Tuple[Tensor, Tensor]]:
        """Batches ``start, start + 1, ...`` of the current epoch."""
        check_positive_int("RandomWindowStream.iter_from", "start", start, allow_zero=True)
        for k in range(start, self.num_batches):
            yield self[k]


def sliding_windows(
    series: ArrayLike, window: int, horizon: int = 1, stride: int = 1
) -> Tuple[Tensor, Tensor]:
    """Input/target pairs from a series for multi-step forecasting.

    Pair ``i`` starts at ``s = i * stride``: the input is ``series[s : s + window]``
    and the target the ``horizon`` values after it, ``series[s + window : s + window + horizon]``.

    Args:
        series: ``(N,)`` or ``(N, C)`` values (tensor or array).
        window: input length ``W``.
        horizon: how many future values to predict ``H``.
        stride: step between consecutive windows.

    Returns:
        ``(inputs, targets)``: ``(M, W, *C)`` and ``(M, H, *C)`` views, ``M = (N - W - H) // stride + 1``.
    """
    owner = "sliding_windows"
    if not isinstance(series, (Tensor, np.ndarray)):
        raise TypeError(f"{owner}: series must be a Tensor or ndarray (N,) or (N, C), got {type(series).__name__}")
    values = torch.as_tensor(series)
    if values.dim() not in (1, 2):
        raise ValueError(f"{owner}: series must have shape (N,) or (N, C), got {tuple(values.shape)}")
    check_positive_int(owner, "window", window)
    check_positive_int(owner, "horizon", horizon)
    check_positive_int(owner, "stride", stride)
    n = values.shape[0]
    if n < window + horizon:
        raise ValueError(f"{owner}: series must have at least window + horizon = {window + horizon} values, got {n}")
    spans = values.unfold(0, window + horizon, stride)  # (M, *C, W + H)
    spans = spans.movedim(-1, 1)  # (M, W + H, *C)
    return spans[:, :window], spans[:, window:]


def sample_window_starts(n: int, count: int, length: int, context: int = 0, seed: int = 0) -> np.ndarray:
    """Starts of a fixed, seeded sample of non-overlapping windows, for bounded evaluation of a long text.

    The text's positions ``[context, n - 1)`` are cut into ``slots = (n - 1 - context) // length``
    consecutive windows of ``length`` (``n - 1``: each window's targets are the next ids); ``count``
    of them are drawn without replacement by a generator seeded with ``seed``, so the same call
    gives the same windows (comparable from epoch to epoch). Window ``s`` is scored on
    ``[s, s + length)`` after reading ``[s - context, s)`` to warm the state up.

    Args:
        n: the text's length in tokens.
        count: windows wanted (fewer when the text holds fewer slots).
        length: scored tokens per window.
        context: tokens read before each window (not scored).
        seed: the sample's seed.

    Returns:
        Sorted int64 starts ``(min(count, slots),)``.
    """
    owner = "sample_window_starts"
    check_positive_int(owner, "count", count)
    check_positive_int(owner, "length", length)
    check_positive_int(owner, "context", context, allow_zero=True)
    slots = max(0, (n - 1 - context) // length)
    if slots == 0:
        raise ValueError(f"{owner}: n must be more than context + length = {context + length}, got {n}")
    pick = np.random.default_rng(seed).choice(slots, size=min(count, slots), replace=False)
    return np.sort(context + pick.astype(np.int64) * length)
