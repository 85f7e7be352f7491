"""Readers for the user's own data files: text, labelled tables (CSV/TSV/JSONL), series, sequences.

Every reader decodes strictly (UTF-8 by default, ``encoding=`` for others) and
names the file and line of any problem: malformed rows, missing columns,
values that are not numbers, empty files. With ``skip_bad=True`` bad rows are
skipped, counted in the returned :class:`~rnnkit.data.errors.ReadReport` and a
warning is issued; nothing is dropped silently. Fully blank lines are not rows
and are ignored. Labels are returned as strings exactly as written; turn them
into class indices with :func:`rnnkit.data.labels.encode_labels`.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from rnnkit.data.columnar_text import read_labelled_fast
from rnnkit.data.errors import DataFileError, PathLike, ProblemLog, ReadReport, decode_file
from rnnkit.data.numeric import read_sequences_csv, read_series_csv
from rnnkit.data.rows import check_column, scalar_text, table_rows
from rnnkit.data.tsfile import read_ts_file

__all__ = [
    "DataFileError",
    "ReadReport",
    "read_text_file",
    "read_labelled_table",
    "read_text_column",
    "read_series_csv",
    "read_sequences_csv",
    "read_ts_file",
]


def read_text_file(path: PathLike, *, encoding: str = "utf-8") -> str:
    """Read a whole text file (a corpus for a language model).

    Args:
        path: the file.
        encoding: its encoding (default UTF-8; any text, Chinese included).

    Returns:
        The text, with ``"\\r\\n"`` and ``"\\r"`` turned into ``"\\n"``.

    Raises:
        DataFileError: wrong encoding (with line and byte offset) or an empty file.
    """
    return decode_file(path, encoding)


def read_labelled_table(
    path: PathLike,
    text_column: str,
    label_column: str,
    *,
    skip_bad: bool = False,
    format: Optional[str] = None,
    encoding: str = "utf-8",
) -> Tuple[List[str], np.ndarray, ReadReport]:
    """Read ``(text, label)`` pairs from a CSV, TSV or JSONL file.

    CSV/TSV need a header row naming the columns; JSONL has one object per line.
    A row is bad when it is malformed, has the wrong number of fields, lacks a key,
    or its text or label is empty.

    Args:
        path: the file; the format follows the suffix (``.csv``, ``.tsv``, ``.jsonl``) or ``format``.
        text_column: the column/key holding the text.
        label_column: the column/key holding the label (any strings or numbers, binary or multi-class).
        skip_bad: skip bad rows (counted in the report, with a warning) instead of raising.
        format: ``"csv"``, ``"tsv"`` or ``"jsonl"`` to override the suffix.
        encoding: the file's encoding.

    Returns:
        ``(texts, labels, report)``: ``labels`` is an array of ``str`` (as written, stripped).

    Raises:
        DataFileError: with the file and line of the problem.
    """
    check_column("text_column", text_column)
    check_column("label_column", label_column)
    fast = read_labelled_fast(path, text_column, label_column, format=format, encoding=encoding)
    if fast is not None:  # pandas' parse of a clean CSV/TSV (or its cached arrays); else the strict reader below
        return fast
    log = ProblemLog(path, skip_bad)
    texts: List[str] = []
    labels: List[str] = []
    for line, row in table_rows(path, (text_column, label_column), format, encoding, log):
        text, label = row[text_column], scalar_text(row[label_column])
        if not isinstance(text, str) or not text.strip():
            log.bad(line, f"{text_column!r} must be non-empty text, got {text!r}")
            continue
        if label is None:
            log.bad(line, f"{label_column!r} (the label) is empty or not a scalar: {row[label_column]!r}")
            continue
        texts.append(text)
        labels.append(label)
    report = log.finish(len(texts))
    return texts, np.array(labels, dtype=str), report


def read_text_column(
    path: PathLike, text_column: str, *, skip_bad: bool = False, format: Optional[str] = None, encoding: str = "utf-8"
) -> Tuple[List[str], ReadReport]:
    """Read one text column of a CSV/TSV/JSONL file (inputs to predict on).

    Args:
        path: the file.
        text_column: the column/key holding the text.
        skip_bad: skip bad rows (counted, with a warning) instead of raising.
        format: ``"csv"``, ``"tsv"`` or ``"jsonl"`` to override the suffix.
        encoding: the file's encoding.

    Returns:
        ``(texts, report)``.
    """
    check_column("text_column", text_column)
    log = ProblemLog(path, skip_bad)
    texts: List[str] = []
    for line, row in table_rows(path, (text_column,), format, encoding, log):
        text = row[text_column]
        if not isinstance(text, str) or not text.strip():
            log.bad(line, f"{text_column!r} must be non-empty text, got {text!r}")
            continue
        texts.append(text)
    return texts, log.finish(len(texts))
