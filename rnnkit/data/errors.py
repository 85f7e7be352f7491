"""Errors and reports for reading user data files, and strict decoding with line numbers.

Every problem in a user file is reported as ``"<file>, line <n>: <problem>"``.
Readers either raise :class:`DataFileError` at the first bad row or, with
``skip_bad=True``, skip bad rows and count them in a :class:`ReadReport`
(and warn), so nothing is ever dropped silently.
"""

from __future__ import annotations

import codecs
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]


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
    """

    path: str
    rows_read: int = 0
    rows_skipped: int = 0
    problems: List[Tuple[int, str]] = field(default_factory=list)

    def summary(self, limit: int = 3) -> str:
        """One line: rows kept, rows skipped and the first few reasons."""
        text = f"{self.path}: read {self.rows_read} rows"
        if self.rows_skipped:
            shown = "; ".join(f"line {ln}: {p}" for ln, p in self.problems[:limit])
            more = f"; and {self.rows_skipped - limit} more" if self.rows_skipped > limit else ""
            text += f", skipped {self.rows_skipped} bad rows ({shown}{more})"
        return text


class ProblemLog:
    """Collects bad rows: raises at the first one unless ``skip_bad``.

    Args:
        path: the file (for messages).
        skip_bad: skip and count bad rows instead of raising.
    """

    def __init__(self, path: PathLike, skip_bad: bool) -> None:
        if not isinstance(skip_bad, bool):
            raise TypeError(f"rnnkit.data: skip_bad must be a bool, got {type(skip_bad).__name__} {skip_bad!r}")
        self.report = ReadReport(path=str(path))
        self.skip_bad = skip_bad

    def bad(self, line: int, problem: str) -> None:
        """Record a bad row at ``line`` (or raise :class:`DataFileError`)."""
        if not self.skip_bad:
            raise DataFileError(self.report.path, line, problem + " (pass skip_bad=True to skip bad rows)")
        self.report.rows_skipped += 1
        self.report.problems.append((line, problem))

    def finish(self, rows_read: int, what: str = "data rows") -> ReadReport:
        """Close the log: error when nothing usable is left, warn when rows were skipped."""
        self.report.rows_read = rows_read
        if rows_read == 0:
            if self.report.rows_skipped:
                raise DataFileError(self.report.path, None, f"no usable {what}: all were bad. {self.report.summary()}")
            raise DataFileError(self.report.path, None, f"no {what} found")
        if self.report.rows_skipped:
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
            offset), the encoding is unknown, or the file is empty.
    """
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise DataFileError(path, None, f"unknown encoding {encoding!r}; use a Python codec name such as 'utf-8' or 'latin-1'") from None
    if Path(path).is_dir():
        raise DataFileError(path, None, "is a directory, expected a file")
    data = Path(path).read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        bad = data[err.start : err.end].hex(" ")
        raise DataFileError(
            path,
            line,
            f"not valid {encoding}: byte(s) {bad} at byte offset {err.start} (column {column}); "
            "if the file uses another encoding pass encoding=..., e.g. 'latin-1' or 'cp1252'",
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text and not allow_empty:
        raise DataFileError(path, None, "the file is empty")
    return text
