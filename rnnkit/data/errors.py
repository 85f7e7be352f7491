"""Errors and reports for reading user data files, and strict decoding with line numbers.

Every problem in a user file is reported as ``"<file>, line <n>: <problem>"``.
Readers either raise :class:`DataFileError` at the first bad row or, with
``skip_bad=True``, skip bad rows and count them in a :class:`ReadReport`
(and warn with the share of lines dropped), so nothing is ever dropped
silently; when the skipped lines pass :data:`MAX_SKIPPED_SHARE` of the file
(one stray quote can swallow the rest of a CSV) the reader stops instead.

Files ending in ``.gz`` are decompressed transparently (:func:`read_bytes`).

Hints in messages name the option the user typed: the Python keyword
(``skip_bad=True``) by default, or the command-line flag (``--skip-bad``)
inside :func:`option_spelling`, which the recipes open around their reads.
"""

from __future__ import annotations

import codecs
import contextlib
import contextvars
import gzip
import os
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]

MAX_SKIPPED_SHARE = 0.10
"""With ``skip_bad``, the largest share of a file's data lines that may be skipped before the
reader stops (a stray quote that swallowed most of the file is an error, not a warning)."""

PYTHON_SPELLING: Dict[str, str] = {
    "skip_bad": "pass skip_bad=True",
    "column": "pass column=...",
    "encoding": "pass encoding=..., e.g. 'latin-1' or 'cp1252'",
    "interpolate_missing": "pass interpolate_missing=True",
    "max_skipped_share": "pass a larger max_skipped_share (up to 1.0)",
    "time_column": "pass time_column=...",
    "feature_columns": "pass feature_columns=[...]",
}
"""How hints name each option for Python callers of :mod:`rnnkit.data`."""

_SPELLING: contextvars.ContextVar[Dict[str, Optional[str]]] = contextvars.ContextVar("rnnkit_data_spelling",
                                                                                    default={})


@contextlib.contextmanager
def option_spelling(**hints: Optional[str]) -> Iterator[None]:
    """Within the block, hints name options as given, e.g. ``skip_bad="add --skip-bad"``.

    A recipe opens this around its reads so that a command-line user reads the flag to type,
    not the Python keyword. ``None`` means the caller has no such option: the hint is left out.

    Args:
        **hints: option name (a key of :data:`PYTHON_SPELLING`) -> the hint's wording, or None.
    """
    token = _SPELLING.set({**_SPELLING.get(), **hints})
    try:
        yield
    finally:
        _SPELLING.reset(token)


def hint(option: str) -> str:
    """The hint naming ``option`` for the current caller (``""`` when it has no such option)."""
    current = _SPELLING.get()
    text = current[option] if option in current else PYTHON_SPELLING.get(option, f"pass {option}=...")
    return text or ""


def with_hint(problem: str, option: str, purpose: str) -> str:
    """``problem`` followed by ``" (<hint> to <purpose>)"``, or alone when the caller has no such option."""
    text = hint(option)
    return f"{problem} ({text} to {purpose})" if text else problem


def data_suffix(path: PathLike) -> str:
    """The lower-case suffix that names the format, ignoring a trailing ``.gz`` (``a.csv.gz`` -> ``.csv``)."""
    p = Path(path)
    if p.suffix.lower() == ".gz":
        p = p.with_suffix("")
    return p.suffix.lower()


def read_bytes(path: PathLike) -> bytes:
    """The file's bytes, decompressed when it is gzip (a ``.gz`` name or the gzip magic bytes).

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        DataFileError: a directory, or a damaged gzip file.
    """
    p = Path(path)
    if p.is_dir():
        raise DataFileError(path, None, "is a directory, expected a file")
    if not p.exists():
        raise FileNotFoundError(f"{path}: no such file")
    data = p.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise DataFileError(path, None, f"damaged gzip file ({err})") from None
    if p.suffix.lower() == ".gz" and data:
        raise DataFileError(path, None, "is named .gz but is not gzip-compressed (its first bytes are "
                                        f"{data[:2].hex(' ')}, gzip starts with 1f 8b); rename it")
    return data


class DataFileError(ValueError):
    """A user data file cannot be read as asked; the message names the file and line.

    Attributes:
        path: the file.
        line: the 1-based line number, or ``None`` when the problem is the whole file.
    """

    def __init__(self, path: PathLike, line: Optional[int], problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


@dataclass
class ReadReport:
    """What a reader did with a file.

    Attributes:
        path: the file read.
        rows_read: data rows kept.
        rows_skipped: bad rows skipped (only with ``skip_bad=True``; otherwise the reader raised).
        problems: ``(line, problem)`` for every skipped row, in file order.
        lines_skipped: file lines the skipped rows covered (a malformed quoted field spans many).
        lines_total: data lines in the file (after the header; 0 when the reader does not count them).
    """

    path: str
    rows_read: int = 0
    rows_skipped: int = 0
    problems: List[Tuple[int, str]] = field(default_factory=list)
    lines_skipped: int = 0
    lines_total: int = 0

    @property
    def skipped_share(self) -> float:
        """Share of the data lines skipped (of rows when lines were not counted)."""
        if self.lines_total:
            return self.lines_skipped / self.lines_total
        total = self.rows_read + self.rows_skipped
        return self.rows_skipped / total if total else 0.0

    def summary(self, limit: int = 3) -> str:
        """One line: rows kept, rows skipped, the share of the file dropped and the first few reasons."""
        text = f"{self.path}: read {self.rows_read} rows"
        if self.rows_skipped:
            shown = "; ".join(f"line {ln}: {p}" for ln, p in self.problems[:limit])
            more = f"; and {self.rows_skipped - limit} more" if self.rows_skipped > limit else ""
            span = (f", covering {self.lines_skipped} of {self.lines_total} data lines"
                    if self.lines_total and self.lines_skipped != self.rows_skipped else "")
            text += (f", skipped {self.rows_skipped} bad rows{span} ({100 * self.skipped_share:.1f}% of the file "
                     f"dropped; {shown}{more})")
        return text


class ProblemLog:
    """Collects bad rows: raises at the first one unless ``skip_bad``.

    Args:
        path: the file (for messages).
        skip_bad: skip and count bad rows instead of raising.
        max_skipped_share: with ``skip_bad``, stop (raise) when the skipped lines pass this share
            of the file's data lines (default :data:`MAX_SKIPPED_SHARE`; 1.0 never stops).
    """

    def __init__(self, path: PathLike, skip_bad: bool, max_skipped_share: Optional[float] = None) -> None:
        if not isinstance(skip_bad, bool):
            raise TypeError(f"rnnkit.data: skip_bad must be a bool, got {type(skip_bad).__name__} {skip_bad!r}")
        share = MAX_SKIPPED_SHARE if max_skipped_share is None else max_skipped_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
            raise ValueError(f"rnnkit.data: max_skipped_share must be a number in [0, 1], got {share!r}")
        self.report = ReadReport(path=str(path))
        self.skip_bad = skip_bad
        self.max_skipped_share = float(share)
        self.lines_total = 0  # set by the row iterators once they have read the file

    def bad(self, line: int, problem: str, last_line: Optional[int] = None) -> None:
        """Record a bad row at ``line`` (spanning to ``last_line``), or raise :class:`DataFileError`."""
        if not self.skip_bad:
            raise DataFileError(self.report.path, line, with_hint(problem, "skip_bad", "skip bad rows"))
        self.report.rows_skipped += 1
        self.report.lines_skipped += max(1, (last_line or line) - line + 1)
        self.report.problems.append((line, problem))

    def finish(self, rows_read: int, what: str = "data rows") -> ReadReport:
        """Close the log: error when nothing usable is left or too much was skipped, warn when rows were skipped.

        Args:
            rows_read: rows kept.
            what: what a row is, for messages.
        """
        self.report.rows_read = rows_read
        total = self.lines_total  # 0 = not counted: the share is counted in rows
        self.report.lines_total = max(total, self.report.lines_skipped) if total else 0
        if rows_read == 0:
            if self.report.rows_skipped:
                raise DataFileError(self.report.path, None, f"no usable {what}: all were bad. {self.report.summary()}")
            raise DataFileError(self.report.path, None, f"no {what} found")
        if self.report.rows_skipped:
            share = self.report.skipped_share
            if share > self.max_skipped_share:
                raise DataFileError(self.report.path, None, with_hint(
                    f"too much of the file is bad: {100 * share:.1f}% skipped, more than the "
                    f"{100 * self.max_skipped_share:g}% allowed; check the first problems (a stray quote "
                    f"swallows the lines after it). {self.report.summary()}",
                    "max_skipped_share", "allow more"))
            warnings.warn(self.report.summary(), UserWarning, stacklevel=3)
        return self.report


def decode_file(path: PathLike, encoding: str = "utf-8", *, allow_empty: bool = False) -> str:
    """Read ``path`` and decode it strictly; newlines become ``"\\n"``.

    Args:
        path: the file.
        encoding: a Python codec name; a UTF-8 byte-order mark is removed.
        allow_empty: return ``""`` for an empty file instead of raising.

    Returns:
        The text.

    Raises:
        FileNotFoundError: the file does not exist.
        DataFileError: the bytes are not valid ``encoding`` (names line, column and byte
            offset), the encoding is unknown, or the file is empty. A ``.gz`` file is
            decompressed first (:func:`read_bytes`).
    """
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise DataFileError(path, None, f"unknown encoding {encoding!r}; use a Python codec name such as 'utf-8' or 'latin-1'") from None
    data = read_bytes(path)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        bad = data[err.start : err.end].hex(" ")
        problem = f"not valid {encoding}: byte(s) {bad} at byte offset {err.start} (column {column})"
        text_hint = hint("encoding")
        raise DataFileError(
            path, line, f"{problem}; if the file uses another encoding {text_hint}" if text_hint
            else f"{problem}; save the file as {encoding}",
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text and not allow_empty:
        raise DataFileError(path, None, "the file is empty")
    return text
