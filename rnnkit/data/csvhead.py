"""A CSV file's header, read as a stream (not the whole decoded text).

``csv_header(path)`` is the header :func:`~rnnkit.data.rows.csv_rows` reads from
``decode_file(path)``'s text (the strict readers' and so the fast reader's: blank leading lines
skipped, names stripped, a duplicate name or a malformed header an error), reading only the lines
up to it, without holding the file's text (and ``StringIO``'s four bytes per character copy of it)
in memory. It runs ``csv_rows``' code (:func:`~rnnkit.data.rows.csv_line_rows`) over the decoded
lines; newlines and a leading byte-order mark are treated as :func:`~rnnkit.data.errors.decode_file`
treats them. On any problem (a decoding error, a damaged ``.gz``, an empty file, no header, a
duplicate name ...) it does the whole read instead, so the errors are exactly those of
``csv_rows(decode_file(path))``; a problem after the header (a bad byte further on) is not its to
find: ``csv_header`` reads no further, and the reader of the rows reports it.
"""

from __future__ import annotations

import gzip
import io
import zlib
from typing import Iterator, List

from rnnkit.data.errors import DataFileError, PathLike, ProblemLog, decode_file
from rnnkit.data.rows import csv_line_rows, csv_rows

__all__ = ["csv_header"]


def _lines(path: PathLike, encoding: str) -> Iterator[str]:
    """The decoded lines (universal newlines, as ``decode_file``; a leading BOM removed); gzip by its magic bytes."""
    raw = open(path, "rb")
    try:
        magic = raw.peek(2)[:2]
        if magic != b"\x1f\x8b" and str(path).lower().endswith(".gz") and magic:
            raise OSError("named .gz but not gzip")  # decode_file says so
        stream = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw
        with io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline=None) as text:
            first = True
            for line in text:
                if first:
                    first = False
                    line = line[1:] if line.startswith("\ufeff") else line
                yield line
    finally:
        raw.close()


_STREAM_PROBLEMS = (UnicodeDecodeError, OSError, EOFError, zlib.error, LookupError, DataFileError)
"""What sends a stream read to the whole-text read (which raises :func:`decode_file`'s or ``csv_rows``' error)."""


def csv_header(path: PathLike, encoding: str = "utf-8", delimiter: str = ",") -> List[str]:
    """The header ``csv_rows(path, decode_file(path, encoding), delimiter, ...)`` gives, reading only up to it.

    Raises:
        DataFileError: as ``decode_file`` or ``csv_rows`` (empty file, bad bytes, no header row, a
            malformed header, a duplicate column name).
    """
    lines = _lines(path, encoding)
    try:
        try:
            return csv_line_rows(path, lines, delimiter, ProblemLog(path, True))[0]
        finally:
            lines.close()
    except _STREAM_PROBLEMS:
        return csv_rows(path, decode_file(path, encoding), delimiter, ProblemLog(path, True))[0]
