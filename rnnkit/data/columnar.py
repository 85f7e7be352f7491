"""The fast path for numeric tables: pandas' C parser, results cached as ``.npy`` and memory-mapped on reuse.

:func:`rnnkit.data.files.read_sequences_csv` and
:func:`~rnnkit.data.files.read_series_csv` first ask this module. It reads the
file with pandas' C parser (in chunks, so memory stays bounded) and returns
exactly what the strict reader would return, or ``None``, and the strict
reader then reads the file itself. ``None`` whenever anything is not plainly
clean: a value that is not a finite number, an empty cell, a ragged row, a
quote character anywhere (malformed quoting is the strict reader's to
report), a byte-order mark, a NUL byte, a label that changes within a
sequence, a missing column, pandas not installed. So every error message,
line number and ``skip_bad`` behaviour stays the strict reader's, and the
fast path never accepts what the strict reader would refuse.

Parsed arrays are cached under ``<cache dir>/tables/<key>/`` (``.npy``
files and ``meta.json``; see :func:`rnnkit.data.cache.cache_dir`), the key a
SHA-256 of the file's bytes and the reader's arguments; a second read
memory-maps them instead of parsing. ``.gz`` files are read through gzip.
``RNNKIT_FAST_TABLES=0`` turns the fast path off.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import shutil
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from rnnkit.data.cache import PathLike, cache_dir

__all__ = ["read_sequences_fast", "read_series_fast", "TABLES_DIR", "last_read"]

TABLES_DIR = "tables"
#: Bump when what is cached changes, so stale entries are ignored.
TABLE_FORMAT = 1
CHUNK_ROWS = 100_000
"""Rows per pandas chunk (its Python string objects for the id and label columns are the bulk of a chunk)."""
SCAN_BYTES = 1 << 22
"""Bytes per block of the pre-scan."""
CACHE_MIN_BYTES = 1 << 20
"""Files smaller than this are parsed every time (parsing them is quicker than hashing and mapping)."""
_MISSING = ("", "na", "nan", "null", "none", "?")
_MISSING_SPELLINGS = sorted({"".join(c.upper() if (k >> i) & 1 else c for i, c in enumerate(word))
                             for word in _MISSING for k in range(1 << len(word))})
"""Every upper/lower-case spelling of the strict reader's missing-value words (pandas compares exactly)."""

ENABLED = os.environ.get("RNNKIT_FAST_TABLES", "1") != "0"
"""``RNNKIT_FAST_TABLES=0`` turns the fast path off (every table is read by the strict reader)."""

last_read: Dict[str, Any] = {}
"""What the last fast-path call did: ``{"path", "status": "parsed" | "cached" | "declined", "why", "folder"}``
(for ``rnnkit prepare`` and the tests)."""


class _Declined(Exception):
    """The fast path cannot vouch for this file; the strict reader takes over."""


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise _Declined("pandas is not installed") from None
    return pd


def _open_bytes(path: PathLike) -> Any:
    return gzip.open(path, "rb") if str(path).lower().endswith(".gz") else open(path, "rb")


def _line_problem(buf: np.ndarray, fields: int, sep: int = 44) -> str:
    """Why complete lines ``buf`` (bytes ending in ``\n``) are not plain rows of ``fields`` fields, or ``""``.

    Every line must be blank (only spaces/tabs) or hold exactly ``fields - 1`` commas and something
    besides commas and spaces: the strict reader skips comma-only lines and refuses ragged rows,
    which pandas would fill with NaN.
    """
    ends = np.flatnonzero(buf == 10)
    not_solid_bytes = np.zeros(256, dtype=bool)
    not_solid_bytes[[9, 10, 13, 32, sep]] = True
    where = np.flatnonzero(buf <= max(32, sep))  # candidates (one cheap pass), then the exact set:
    where = where[not_solid_bytes[buf[where]]]  # spaces, tabs, \r, separators, \n: a few per line
    seps = where[buf[where] == sep]
    bounds = np.concatenate([[-1], ends])  # line k is (bounds[k], bounds[k + 1]]
    not_solid = np.diff(np.searchsorted(where, bounds, side="right"))
    commas = np.diff(np.searchsorted(seps, bounds, side="right"))
    content = np.diff(bounds) - not_solid
    blank = (content == 0) & (commas == 0)
    if ((content == 0) & (commas > 0)).any():
        return "a line of only commas"
    if (commas[~blank] != fields - 1).any():
        return "rows with a different number of fields than the header"
    return ""


def _scan(path: PathLike, fields: int, sep: str = ",", lines: bool = True) -> Tuple[str, Tuple[int, int]]:
    """One pass over the (decompressed) bytes: why the fast path must decline (or ``""``), and two counts.

    The counts: the number of ``\n`` plus one (at least the number of rows) and the number of
    separator bytes in the file.

    Always checked: a byte-order mark, quote characters, NUL bytes, carriage returns that do not end
    lines as ``\r\n``. With ``lines``, also every line's fields (:func:`_line_problem`); a caller that
    checks every column of every row for missing values (a short row leaves one) can skip that.
    """
    cr = crlf = newlines = seps = 0
    carry = last = b""
    sep_byte = sep.encode("ascii")
    with _open_bytes(path) as fh:
        while True:
            block = fh.read(SCAN_BYTES)
            if not last and block.startswith(codecs.BOM_UTF8):
                return "a byte-order mark", (0, 0)
            if b'"' in block:
                return "quote characters", (0, 0)
            if b"\x00" in block:
                return "a NUL byte", (0, 0)
            newlines += block.count(b"\n")
            seps += block.count(sep_byte)
            if b"\r" in block:
                cr += block.count(b"\r")
                crlf += (last + block).count(b"\r\n")  # a \r\n may straddle two blocks
            last = block[-1:] or last
            if lines:
                data = carry + block if block else (carry + b"\n" if carry else b"")
                cut = data.rfind(b"\n") + 1
                done, carry = data[:cut], data[cut:]
                why = _line_problem(np.frombuffer(done, dtype=np.uint8), fields, ord(sep)) if done else ""
                if why:
                    return why, (0, 0)
            if not block:
                break
    return ("" if cr == crlf else "carriage returns that do not end lines as \\r\\n"), (newlines + 1, seps)


def _digest(path: PathLike, *extra: object) -> str:
    from rnnkit.data.tokens import file_digest

    return file_digest(path, "table", TABLE_FORMAT, *extra, index_dir=cache_dir() / TABLES_DIR / "stat")


def _load(folder: Path, names: Sequence[str]) -> Optional[Dict[str, np.ndarray]]:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != TABLE_FORMAT:
            return None
        return {n: np.load(folder / f"{n}.npy", mmap_mode="r", allow_pickle=False) for n in names}
    except (OSError, ValueError, KeyError):
        return None


def _save(folder: Path, arrays: Dict[str, np.ndarray], meta: Dict[str, Any]) -> None:
    """Write the arrays and ``meta.json`` to a temporary folder, then rename it into place (no partial entries)."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", suffix=".tmp", dir=folder.parent))
    except OSError:
        return  # an unwritable cache only costs the speed-up
    try:
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        meta = {**meta, "format": TABLE_FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError:
        pass
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _check_source(path: PathLike, encoding: str) -> None:
    if not ENABLED:
        raise _Declined("RNNKIT_FAST_TABLES=0")
    if not os.path.isfile(path):
        raise _Declined("not a file")
    try:
        name = codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise _Declined("unknown encoding") from None
    if name not in ("utf-8", "ascii"):
        raise _Declined(f"encoding {name}")


def _header(path: PathLike, encoding: str, sep: str = ",") -> List[str]:
    """The stripped header names (the first non-blank line), or decline when they are not plain and distinct."""
    with _open_bytes(path) as fh:
        for raw in fh:
            line = raw.decode(encoding).rstrip("\r\n")
            if line.strip(" \t" + sep):
                names = [f.strip() for f in line.split(sep)]
                if "" in names or len(set(names)) != len(names):
                    raise _Declined("empty or duplicate column names")
                return names
            if sep in line:  # pandas would take it for the header; the strict reader skips it
                raise _Declined("a line of only separators before the header")
    raise _Declined("no header")


def _read_chunks(path: PathLike, header: List[str], strings: Sequence[str], encoding: str,
                 sep: str = ",") -> Iterator[Any]:
    """pandas DataFrames of ``CHUNK_ROWS`` rows; ``strings`` columns as raw text, the others as numbers."""
    pd = _pandas()
    kw: Dict[str, Any] = {}
    if int(pd.__version__.split(".")[0]) < 3:
        kw["float_precision"] = "round_trip"  # Python's float() to the last bit (pandas 3's default)
    try:
        with pd.read_csv(path, sep=sep, header=0, names=header, usecols=None, encoding=encoding,
                             encoding_errors="strict", dtype={c: object for c in strings}, keep_default_na=False,
                             na_values={c: _MISSING_SPELLINGS for c in header if c not in strings}, engine="c",
                             skip_blank_lines=True, on_bad_lines="error", chunksize=CHUNK_ROWS, quoting=3,
                             **kw) as reader:
            yield from reader
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise _Declined(f"pandas: {str(err)[:80]}") from None


def _codes(df: Any, column: str) -> Tuple[np.ndarray, List[str]]:
    """``column`` factorised after stripping: codes ``(n,)`` into the distinct stripped values (first-seen order).

    Strips only the distinct raw values (few, for ids and labels); declines on an empty cell or a short row.
    """
    pd = _pandas()
    local, uniques = pd.factorize(df[column].to_numpy(dtype=object))
    if (local < 0).any():
        raise _Declined(f"short rows or empty {column!r}")
    index: Dict[str, int] = {}
    remap = np.array([index.setdefault(str(u).strip(), len(index)) for u in uniques], dtype=np.int64)
    if "" in index:
        raise _Declined(f"empty {column!r}")
    return remap[local], list(index)


def _text(df: Any, column: str) -> np.ndarray:
    """The stripped text of ``column`` (object array); decline on an empty cell or a short row."""
    codes, values = _codes(df, column)
    return np.array(values, dtype=object)[codes]


def _run(path: PathLike, kind: str, args: tuple, names: Sequence[str], parse: Any,
         fields: int, sep: str = ",", lines: bool = True) -> Optional[Dict[str, np.ndarray]]:
    """Cached arrays for ``(path, kind, args)``, parsing with ``parse(counts)`` on a miss; None when declined.

    ``counts``: :func:`_scan`'s line and separator counts.

    ``lines=False`` skips the pre-scan's per-line field count (see :func:`_scan`): only for a ``parse``
    that finds a short row itself (every column checked for a missing value).
    """
    global last_read
    try:
        folder = None
        if os.path.getsize(path) >= CACHE_MIN_BYTES:
            folder = cache_dir() / TABLES_DIR / _digest(path, kind, *args)
            found = _load(folder, names)
            if found is not None:
                last_read = {"path": str(path), "status": "cached", "why": "", "folder": str(folder)}
                return found
        why, counts = _scan(path, fields, sep, lines)
        if why:
            raise _Declined(why)
        arrays = parse(counts)
        if folder is not None:
            _save(folder, arrays, {"reader": kind, "source": os.path.abspath(path), "args": [repr(a) for a in args]})
        last_read = {"path": str(path), "status": "parsed", "why": "", "folder": str(folder or "")}
        return arrays
    except (_Declined, OSError, EOFError, UnicodeDecodeError) as err:  # a damaged .gz ...: the strict reader says
        last_read = {"path": str(path), "status": "declined", "why": str(err), "folder": ""}
        return None



def _checked_header(path: PathLike, encoding: str) -> Optional[List[str]]:
    """The file's header once its bytes pass the fast path's checks; None (recorded in ``last_read``) if declined."""
    try:
        _check_source(path, encoding)
        return _header(path, encoding)
    except (_Declined, UnicodeDecodeError, OSError) as err:
        global last_read
        last_read = {"path": str(path), "status": "declined", "why": str(err), "folder": ""}
        return None


def read_sequences_fast(path: PathLike, id_column: str, label_column: Optional[str],
                        feature_columns: Optional[Sequence[str]] = None, *, time_column: Optional[str] = None,
                        encoding: str = "utf-8", return_ids: bool = False) -> Optional[tuple]:
    """:func:`rnnkit.data.files.read_sequences_csv`'s result through pandas and the cache, or None (see the module).

    Returns:
        ``(sequences, labels)`` exactly as the strict reader gives them (float32 ``(T_i, C)`` views of one
        array, memory-mapped on reuse), with ``return_ids`` also the sequences' ids (``list[str]``, one per
        sequence); or ``None``: read the file strictly.
    """
    header = _checked_header(path, encoding)
    if header is None:
        return None
    special = [c for c in (id_column, label_column, time_column) if c is not None]
    features = list(feature_columns) if feature_columns is not None else [c for c in header if c not in special]
    args = (id_column, label_column, tuple(features), time_column, encoding)
    every_column = set(header) <= set(special) | set(features)  # then a short row leaves a missing value: no line scan

    def parse(counts: Tuple[int, int]) -> Dict[str, np.ndarray]:
        if not features or any(c not in header for c in special + features) or set(features) & set(special):
            raise _Declined("columns")
        from rnnkit.data.columnar_parse import parse_sequences

        out = parse_sequences(path, header, features, id_column, label_column, time_column, encoding, counts[0])
        if every_column and counts[1] != (len(header) - 1) * (len(out["values"]) + 1):
            # no short row (each leaves a missing value, refused above), so a row has more fields than the header
            # (pandas reads a first row's extra leading fields as an index instead of refusing it)
            raise _Declined("rows with a different number of fields than the header")
        return out

    names = ["values", "lengths", "ids"] + (["labels"] if label_column is not None else [])
    arrays = _run(path, "sequences", args, names, parse, len(header), lines=not every_column)
    if arrays is None:
        return None
    bounds = np.concatenate([[0], np.cumsum(arrays["lengths"])])
    values = arrays["values"]
    sequences = [values[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]
    labels = np.asarray(arrays["labels"]) if label_column is not None else None
    if return_ids:
        return sequences, labels, np.asarray(arrays["ids"]).tolist()  # stored as str
    return sequences, labels


def read_series_fast(path: PathLike, column: Optional[str] = None, *, interpolate_missing: bool = False,
                     encoding: str = "utf-8") -> Optional[np.ndarray]:
    """:func:`rnnkit.data.files.read_series_csv`'s result through pandas and the cache, or None (see the module)."""
    header = _checked_header(path, encoding)
    if header is None:
        return None
    col = column if column is not None else (header[0] if len(header) == 1 else None)
    args = (col, bool(interpolate_missing), encoding)

    def parse(counts: Tuple[int, int]) -> Dict[str, np.ndarray]:  # noqa: ARG001 (scan counts, unused)
        if col is None or col not in header:
            raise _Declined("columns")
        parts = []
        with closing(_read_chunks(path, header, [c for c in header if c != col], encoding)) as chunks:
            for df in chunks:
                if df[col].dtype.kind not in "if":
                    raise _Declined(f"column {col!r} is not all numbers")
                parts.append(df[col].to_numpy(dtype=np.float64))
        if not parts:
            raise _Declined("no rows")
        series = np.concatenate(parts)
        gaps = np.isnan(series)
        if np.isinf(series).any() or (gaps.any() and not interpolate_missing) or gaps.all():
            raise _Declined("missing or non-finite values")
        if gaps.any():  # as the strict reader: linear interpolation, ends take the nearest value
            idx = np.arange(len(series))
            series[gaps] = np.interp(idx[gaps], idx[~gaps], series[~gaps])
        return {"series": series}

    arrays = _run(path, "series", args, ["series"], parse, len(header))
    return None if arrays is None else np.array(arrays["series"])
