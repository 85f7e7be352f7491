"""The fast path's parse of a long table (one row per time step) into sequences, in bounded extra memory.

Part of :mod:`rnnkit.data.columnar` (which decides when this parse may be trusted and caches its
result): pandas' chunks are written into arrays preallocated for the file's line count, and a file
already in sequence order is not sorted (no per-row codes or times kept).
"""

from __future__ import annotations

from contextlib import closing
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from rnnkit.data.cache import PathLike
from rnnkit.data.columnar import _codes, _Declined, _read_chunks

__all__ = ["parse_sequences"]


def _finite_into(df: Any, columns: Sequence[str], out: np.ndarray) -> None:
    """``df[columns]`` as numbers written into ``out`` ``(n, len(columns))`` (float64 cast to ``out``'s dtype).

    Declines unless every value is a finite number.
    """
    for j, c in enumerate(columns):
        col = df[c]
        if col.dtype.kind not in "if":
            raise _Declined(f"column {c!r} is not all numbers")
        v = col.to_numpy(dtype=np.float64)
        if not np.isfinite(v).all():
            raise _Declined("missing or non-finite values")
        out[:, j] = v


class _Unordered(Exception):
    """The rows are not in sequence order: parse again keeping every row's sequence code and time."""


def parse_sequences(path: PathLike, header: List[str], features: List[str], id_column: str,
                     label_column: Optional[str], time_column: Optional[str], encoding: str,
                     count: int) -> Dict[str, np.ndarray]:
    """Parse a long table into ``values`` ``(rows, C)`` float32 grouped by sequence, ``lengths``, ``ids``, ``labels``.

    Chunks are written into arrays preallocated for ``count`` (at least the number of rows): no list of
    chunks to concatenate. A file already in sequence order (rows grouped by id in order of first
    appearance, ``time_column`` ascending within each) keeps only the values; otherwise (found at the
    first row out of order) it is parsed again keeping each row's sequence code and time, and sorted
    (by first appearance, then ``time_column``, stably: the strict reader's order).
    """
    try:
        return _parse_pass(path, header, features, id_column, label_column, time_column, encoding, count, False)
    except _Unordered:
        return _parse_pass(path, header, features, id_column, label_column, time_column, encoding, count, True)


def _parse_pass(path: PathLike, header: List[str], features: List[str], id_column: str,
                label_column: Optional[str], time_column: Optional[str], encoding: str, count: int,
                keep: bool) -> Dict[str, np.ndarray]:
    """One parse (see :func:`parse_sequences`); without ``keep``, raise :class:`_Unordered` at the first row out of order."""
    strings = [id_column] + ([label_column] if label_column is not None else [])
    values = np.empty((count, len(features)), dtype=np.float32)
    code_dtype = np.int32 if count < 2 ** 31 else np.int64
    times = np.empty(count if keep and time_column is not None else 0, dtype=np.float64)
    codes = np.empty(count if keep else 0, dtype=code_dtype)
    first_label: Dict[int, str] = {}
    ids: Dict[str, int] = {}
    seen: List[np.ndarray] = []  # without keep: each chunk's codes with their row counts, for the lengths
    prev_code, prev_time, at = np.zeros(0, code_dtype), np.zeros(0), 0
    with closing(_read_chunks(path, header, strings, encoding)) as chunks:
        for df in chunks:
            n = len(df)
            if at + n > count:
                raise _Declined("more rows than lines")  # cannot happen; never write past the arrays
            _finite_into(df, features, values[at:at + n])
            local, uniq = _codes(df, id_column)
            code = codes[at:at + n] if keep else np.empty(n, code_dtype)
            np.take(np.array([ids.setdefault(u, len(ids)) for u in uniq], dtype=code_dtype), local, out=code)
            time = None
            if time_column is not None:
                time = times[at:at + n] if keep else np.empty(n)
                _finite_into(df, [time_column], time[:, None])
            if not keep:
                if not _in_order(np.concatenate([prev_code, code]),
                                 None if time is None else np.concatenate([prev_time, time])):
                    raise _Unordered()
                prev_code, prev_time = code[-1:], (time[-1:] if time is not None else prev_time)
                seen.append(np.stack(np.unique(code, return_counts=True)))
            if label_column is not None:
                lcode, labels = _codes(df, label_column)
                for pair in np.unique(code.astype(np.int64) * len(labels) + lcode).tolist():
                    c, lb = divmod(pair, len(labels))
                    if first_label.setdefault(c, labels[lb]) != labels[lb]:
                        raise _Declined("a label changes within a sequence")
            at += n
    if not ids:
        raise _Declined("no rows")
    values = values[:at]
    if keep:
        codes, times = codes[:at], times[:at]
        lengths = np.bincount(codes, minlength=len(ids))
        order = np.lexsort((times, codes)) if time_column is not None else np.argsort(codes, kind="stable")
        del times, codes
        values = values[order]
    else:
        both = np.concatenate(seen, axis=1)
        lengths = np.bincount(both[0], weights=both[1], minlength=len(ids)).astype(np.int64)
    out = {"values": values, "lengths": lengths, "ids": np.array(list(ids), dtype=str)}
    if label_column is not None:
        out["labels"] = np.array([first_label[i] for i in range(len(ids))], dtype=str)
    return out


def _in_order(codes: np.ndarray, times: Optional[np.ndarray]) -> bool:
    """Whether rows with these sequence codes (and times) are already grouped by code, ascending, times ascending.

    Then ``np.lexsort((times, codes))`` (``np.argsort(codes, kind="stable")`` without times) is the identity.
    """
    step = np.diff(codes)
    if (step < 0).any():
        return False
    return times is None or bool(((step > 0) | (np.diff(times) >= 0)).all())
