"""A token sequence made of spans of a (memory-mapped) base array, read lazily.

The train / validation / test parts of a corpus are blocks of one token file.
:class:`TokenSpans` presents the concatenation of such blocks as one
sequence without copying it: position ``p`` of the sequence is found by a
binary search over the spans' cumulative lengths, so a batch of windows reads
only its own ``B x T`` tokens. A memory-mapped base is read with ``os.pread``
(:class:`rnnkit.data.fileread.FileReader`), not through the map, so the pages
read do not stay in the process's resident memory.

:class:`rnnkit.data.batching.TBPTTStream`, :class:`~rnnkit.data.batching.RandomWindowStream`
and :func:`~rnnkit.data.batching.random_windows` accept a ``TokenSpans``
wherever they accept a 1-D int64 tensor, and give the same batches.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.fileread import FileReader

__all__ = ["TokenSpans"]


class TokenSpans:
    """The concatenation of ``base[start:stop]`` for each span, as one lazily read 1-D sequence of ids.

    Args:
        base: ``(M,)`` integer array (a ``np.memmap`` of a token file, or any array).
        spans: ``(S, 2)`` ``[start, stop)`` pairs into ``base``, in sequence order.
        lut: optional ``(V_base,)`` int64 table applied to every id read (a vocabulary remap).

    Example:
        >>> seq = TokenSpans(np.arange(10), [(0, 3), (6, 8)])
        >>> seq[:].tolist()
        [0, 1, 2, 6, 7]
    """

    def __init__(self, base: np.ndarray, spans: Union[np.ndarray, Sequence[Sequence[int]]],
                 lut: Optional[np.ndarray] = None) -> None:
        spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
        if base.ndim != 1 or not np.issubdtype(base.dtype, np.integer):
            raise TypeError(f"TokenSpans: base must be a 1-D integer array, got dtype {base.dtype}, "
                            f"shape {base.shape}")
        if spans.size and ((spans[:, 0] < 0).any() or (spans[:, 1] > len(base)).any()
                           or (spans[:, 1] < spans[:, 0]).any()):
            raise ValueError(f"TokenSpans: spans must be [start, stop) pairs within [0, {len(base)}], got "
                             f"{spans[:3].tolist()}...")
        spans = spans[spans[:, 1] > spans[:, 0]]
        self.base, self.spans, self.lut = base, spans, lut
        self.reader = FileReader.of(base)  # a memory-mapped base is read with pread (its pages stay out of RSS)
        self.starts = spans[:, 0]
        self.offsets = np.concatenate([[0], np.cumsum(spans[:, 1] - spans[:, 0])]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __repr__(self) -> str:
        return f"TokenSpans(len={len(self):,}, spans={len(self.spans)}, dtype={self.base.dtype})"

    @property
    def dtype(self) -> torch.dtype:
        """The ids' dtype once read (int64), as a 1-D Long tensor's."""
        return torch.long

    def take(self, positions: Union[np.ndarray, Tensor]) -> np.ndarray:
        """The ids at ``positions`` (any shape, values in ``[0, len)``) as int64."""
        pos = positions.numpy() if isinstance(positions, Tensor) else np.asarray(positions)
        pos = pos.astype(np.int64, copy=False)
        if pos.size and (pos.min() < 0 or pos.max() >= len(self)):
            raise IndexError(f"TokenSpans: positions must be in [0, {len(self)}), got "
                             f"{int(pos.min())}..{int(pos.max())}")
        seg = np.searchsorted(self.offsets, pos, side="right") - 1
        index = self.starts[seg] + (pos - self.offsets[seg])
        found = self.reader.gather(index) if self.reader is not None else None
        ids = np.asarray(found if found is not None else self.base[index], dtype=np.int64)
        return self.lut[ids] if self.lut is not None else ids

    def __getitem__(self, key: Union[int, slice]) -> Union[int, np.ndarray]:
        """One id (int) or a contiguous stretch (int64 array; slices with step 1 only)."""
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                raise ValueError(f"TokenSpans: slices must have step 1, got {step}")
            return self._stretch(start, max(start, stop))
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            k = int(key) + (len(self) if key < 0 else 0)
            return int(self.take(np.array([k]))[0])
        raise TypeError(f"TokenSpans: index must be an int or a slice, got {type(key).__name__}")

    def _stretch(self, start: int, stop: int) -> np.ndarray:
        """Ids ``[start, stop)`` copied span by span (no per-position search)."""
        out = np.empty(stop - start, dtype=np.int64)
        first = int(np.searchsorted(self.offsets, start, side="right") - 1) if stop > start else len(self.spans)
        filled, s = 0, first
        while filled < stop - start:
            lo = max(start, int(self.offsets[s])) - int(self.offsets[s])
            hi = min(stop, int(self.offsets[s + 1])) - int(self.offsets[s])
            a, b = int(self.starts[s]) + lo, int(self.starts[s]) + hi
            out[filled:filled + hi - lo] = self.reader.read(a, b) if self.reader is not None else self.base[a:b]
            filled += hi - lo
            s += 1
        return self.lut[out] if self.lut is not None else out

    def head(self, n: int) -> "TokenSpans":
        """The first ``n`` ids, as a view."""
        n = max(0, min(int(n), len(self)))
        k = int(np.searchsorted(self.offsets, n, side="left"))
        spans = self.spans[:k].copy()
        if k:
            spans[-1, 1] = spans[-1, 0] + n - self.offsets[k - 1]
        return TokenSpans(self.base, spans, self.lut)

    def to_tensor(self) -> Tensor:
        """All ids as a 1-D int64 tensor (copies; for small sequences)."""
        return torch.from_numpy(self[:])

    def numel(self) -> int:
        """``len(self)``, as for a tensor."""
        return len(self)
