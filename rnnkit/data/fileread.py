"""Reading parts of a memory-mapped array with ``os.pread`` instead of touching the map.

Pages of a file that a process reads through a memory map count in its resident
memory (``RssFile``) for as long as they stay mapped; pages read with
``pread`` go through the page cache into a small buffer and do not. For a
corpus read window by window (``torchrun`` ranks, the sampled evaluation),
:class:`FileReader` keeps each process's resident memory independent of how
much of the file it has read.
"""

from __future__ import annotations

import mmap
import os
from typing import Optional

import numpy as np

__all__ = ["FileReader", "MAX_RUNS"]

MAX_RUNS = 4096
"""A gather of more separate stretches than this reads through the map instead (one ``pread`` per stretch)."""


class FileReader:
    """Reads elements of a 1-D contiguous ``np.memmap`` (or a view of one) from its file with ``os.pread``.

    Args:
        array: the mapped array; :meth:`of` returns None for anything else.
        path: its file.
        offset: the byte offset of ``array[0]`` in the file.
    """

    def __init__(self, array: np.ndarray, path: str, offset: int) -> None:
        self.dtype, self.size, self.path, self.offset = array.dtype, len(array), path, offset
        self._fd: Optional[int] = None
        self._pid = -1

    @classmethod
    def of(cls, array: np.ndarray) -> Optional["FileReader"]:
        """A reader for ``array`` when it is a 1-D contiguous view of a file's ``np.memmap``, else None."""
        root = array
        while isinstance(root.base, np.ndarray):
            root = root.base
        if (not isinstance(array, np.memmap) or not isinstance(root, np.memmap) or array.ndim != 1
                or not isinstance(root.base, mmap.mmap) or not getattr(root, "filename", None)
                or (len(array) > 1 and array.strides[0] != array.itemsize)):
            return None
        offset = int(root.offset) + (array.ctypes.data - root.ctypes.data)  # root[0] is at root.offset
        return cls(array, root.filename, offset)

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked worker opens its own
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            try:
                os.close(self._fd)
            except OSError:
                pass

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def read(self, start: int, stop: int) -> np.ndarray:
        """Elements ``[start, stop)`` (a new array of the file's dtype)."""
        if not 0 <= start <= stop <= self.size:
            raise IndexError(f"FileReader: [{start}, {stop}) must lie in [0, {self.size}]")
        out = np.empty(stop - start, dtype=self.dtype)
        view = memoryview(out).cast("B")
        want, done = out.nbytes, 0
        base = self.offset + start * self.dtype.itemsize
        while done < want:
            n = os.preadv(self._file(), [view[done:]], base + done)
            if n <= 0:
                raise OSError(f"FileReader: {self.path} ended at byte {base + done}, expected {base + want}")
            done += n
        return out

    def gather(self, index: np.ndarray) -> Optional[np.ndarray]:
        """``array[index]`` (int64 ``index``, any shape, in range) read stretch by stretch; None past :data:`MAX_RUNS`.

        Consecutive indices form a stretch (a window's row is one), each read with one ``pread``.
        """
        flat = index.reshape(-1)
        if flat.size == 0:
            return np.empty(index.shape, dtype=self.dtype)
        cut = np.flatnonzero(np.diff(flat) != 1) + 1
        if len(cut) + 1 > MAX_RUNS:
            return None
        bounds = np.concatenate([[0], cut, [flat.size]])
        out = np.empty(flat.size, dtype=self.dtype)
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            out[a:b] = self.read(int(flat[a]), int(flat[a]) + b - a)
        return out.reshape(index.shape)
