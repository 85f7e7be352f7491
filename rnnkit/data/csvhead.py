"""A CSV file's header and one column's distinct values, read as a stream (not the whole decoded text).

``csv_header(path)`` equals ``next(csv.reader(io.StringIO(decode_file(path))), [])`` stripped, and
``csv_distinct(path, column)`` the first-seen distinct stripped non-empty values of
``csv.DictReader(io.StringIO(decode_file(path)))``, without holding the file's text (and
``StringIO``'s four bytes per character copy of it) in memory. Newlines and a leading
byte-order mark are treated as :func:`~rnnkit.data.errors.decode_file` treats them; on any
problem reading the stream (a decoding error, a damaged ``.gz``, an empty file) they fall back
to ``decode_file``, so the errors are exactly its errors.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from typing import Iterator, List

from rnnkit.data.errors import PathLike, decode_file

__all__ = ["csv_header", "csv_distinct"]


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


def csv_header(path: PathLike, encoding: str = "utf-8") -> List[str]:
    """The stripped fields of the file's first CSV row (``[]`` when it has none)."""
    try:
        row = next(csv.reader(_lines(path, encoding)), None)
    except (UnicodeDecodeError, OSError, EOFError, zlib.error, LookupError):
        row = None
    if row is None:  # decode_file's error (empty file, bad bytes, damaged .gz ...), or its text's first row
        row = next(csv.reader(io.StringIO(decode_file(path, encoding))), [])
    return [h.strip() for h in row]


def csv_distinct(path: PathLike, column: str, encoding: str = "utf-8") -> List[str]:
    """The distinct stripped non-empty values of ``column`` (rows as ``csv.DictReader``), in order of first appearance."""
    try:
        return list(dict.fromkeys(row[column].strip() for row in csv.DictReader(_lines(path, encoding))
                                  if (row.get(column) or "").strip()))
    except (UnicodeDecodeError, OSError, EOFError, zlib.error, LookupError):
        text = decode_file(path, encoding)
        return list(dict.fromkeys(row[column].strip() for row in csv.DictReader(io.StringIO(text))
                                  if (row.get(column) or "").strip()))
