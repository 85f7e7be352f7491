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

import csv
import io
import json
import math
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from rnnkit.data.errors import DataFileError, PathLike, ProblemLog, ReadReport, decode_file
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

Row = Tuple[int, Dict[str, object]]
_FORMATS = ("csv", "tsv", "jsonl")


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


def _detect_format(path: PathLike, text: str, fmt: Optional[str]) -> str:
    if fmt is not None:
        if fmt not in _FORMATS:
            raise ValueError(f"rnnkit.data: format must be one of {', '.join(map(repr, _FORMATS))} or None, got {fmt!r}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".tsv", ".tab"):
        return "tsv"
    if suffix == ".csv":
        return "csv"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def _csv_rows(path: PathLike, text: str, delimiter: str, log: ProblemLog) -> Tuple[List[str], Iterator[Row]]:
    """The header and an iterator of ``(line, {column: value})`` for well-formed rows."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: Optional[List[str]] = None
    start = 1
    while header is None:
        try:
            record = next(reader)
        except StopIteration:
            raise DataFileError(path, None, "the file has no header row (it is empty or blank)") from None
        except csv.Error as err:
            raise DataFileError(path, start, f"malformed header: {err}") from None
        if record and any(f.strip() for f in record):
            header = [f.strip() for f in record]
        start = reader.line_num + 1
    seen = set()
    for name in header:
        if name in seen:
            raise DataFileError(path, start - 1, f"duplicate column name {name!r} in the header")
        seen.add(name)

    def rows() -> Iterator[Row]:
        line = start
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                log.bad(line, f"malformed CSV: {err}")
                line = reader.line_num + 1
                continue
            if record and any(f.strip() for f in record):
                if len(record) != len(header):
                    log.bad(line, f"expected {len(header)} fields (as the header), got {len(record)}")
                else:
                    yield line, dict(zip(header, record))
            line = reader.line_num + 1

    return header, rows()


def _jsonl_rows(path: PathLike, text: str, log: ProblemLog) -> Iterator[Row]:
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            log.bad(number, f"malformed JSON: {err.msg} at column {err.colno}")
            continue
        if not isinstance(obj, dict):
            log.bad(number, f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield number, obj


def _table(
    path: PathLike, columns: Sequence[str], fmt: Optional[str], encoding: str, log: ProblemLog
) -> Iterator[Row]:
    """Rows of a CSV/TSV/JSONL file that have all ``columns`` (missing CSV columns raise)."""
    text = decode_file(path, encoding)
    kind = _detect_format(path, text, fmt)
    if kind == "jsonl":
        for line, obj in _jsonl_rows(path, text, log):
            missing = [c for c in columns if c not in obj]
            if missing:
                log.bad(line, f"missing key(s) {', '.join(map(repr, missing))}; keys present: {sorted(obj)}")
                continue
            yield line, obj
        return
    header, rows = _csv_rows(path, text, "\t" if kind == "tsv" else ",", log)
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataFileError(
            path, 1, f"no column(s) {', '.join(map(repr, missing))} in the header; columns are {header}"
        )
    yield from rows


def _scalar_text(value: object) -> Optional[str]:
    """A JSON/CSV cell as text, or None when it is missing or not a scalar."""
    if value is None or isinstance(value, (list, dict)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    text = str(value).strip()
    return text or None


def _check_column(name: str, value: object, *, optional: bool = False) -> None:
    if (optional and value is None) or isinstance(value, str):
        return
    raise TypeError(f"rnnkit.data: {name} must be a column name (str), got {type(value).__name__} {value!r}")


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
    _check_column("text_column", text_column)
    _check_column("label_column", label_column)
    log = ProblemLog(path, skip_bad)
    texts: List[str] = []
    labels: List[str] = []
    for line, row in _table(path, (text_column, label_column), format, encoding, log):
        text, label = row[text_column], _scalar_text(row[label_column])
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
    _check_column("text_column", text_column)
    log = ProblemLog(path, skip_bad)
    texts: List[str] = []
    for line, row in _table(path, (text_column,), format, encoding, log):
        text = row[text_column]
        if not isinstance(text, str) or not text.strip():
            log.bad(line, f"{text_column!r} must be non-empty text, got {text!r}")
            continue
        texts.append(text)
    return texts, log.finish(len(texts))


def _number(value: object) -> Optional[float]:
    """``value`` as a finite float, or None."""
    if isinstance(value, bool):
        return None
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


_MISSING = {"", "na", "nan", "null", "none", "?"}


def read_series_csv(
    path: PathLike,
    column: Optional[str] = None,
    *,
    skip_bad: bool = False,
    interpolate_missing: bool = False,
    encoding: str = "utf-8",
) -> np.ndarray:
    """Read one numeric column of a CSV file as a time series, in file order.

    Args:
        path: a CSV file with a header row.
        column: the column; ``None`` is allowed when the file has a single column.
        skip_bad: skip rows whose value is not a number (counted, with a warning).
        interpolate_missing: fill empty/``NA``/``nan`` cells by linear interpolation
            (ends take the nearest value); otherwise a missing value is a bad row.
        encoding: the file's encoding.

    Returns:
        ``(N,)`` float64 array.

    Raises:
        DataFileError: with the file and line of the problem.
    """
    _check_column("column", column, optional=True)
    log = ProblemLog(path, skip_bad)
    text = decode_file(path, encoding)
    header, rows = _csv_rows(path, text, ",", log)
    if column is None:
        if len(header) != 1:
            raise DataFileError(path, 1, f"the file has {len(header)} columns {header}; pass column=... to choose one")
        column = header[0]
    if column not in header:
        raise DataFileError(path, 1, f"no column {column!r} in the header; columns are {header}")
    values: List[float] = []
    for line, row in rows:
        raw = str(row[column]).strip()
        if interpolate_missing and raw.lower() in _MISSING:
            values.append(math.nan)
            continue
        x = _number(raw)
        if x is None:
            hint = " (pass interpolate_missing=True to fill gaps)" if raw.lower() in _MISSING else ""
            log.bad(line, f"{column!r} must be a finite number, got {raw!r}{hint}")
            continue
        values.append(x)
    log.finish(len(values))
    series = np.array(values, dtype=np.float64)
    gaps = np.isnan(series)
    if gaps.all():
        raise DataFileError(path, None, f"column {column!r} has no numeric values")
    if gaps.any():
        idx = np.arange(len(series))
        series[gaps] = np.interp(idx[gaps], idx[~gaps], series[~gaps])
    return series


def read_sequences_csv(
    path: PathLike,
    id_column: str,
    label_column: Optional[str],
    feature_columns: Optional[Sequence[str]] = None,
    *,
    time_column: Optional[str] = None,
    skip_bad: bool = False,
    encoding: str = "utf-8",
) -> Tuple[List[np.ndarray], Optional[np.ndarray]]:
    """Read variable-length multivariate sequences stored one time step per row.

    Rows with the same id form one sequence, in file order (or sorted by
    ``time_column``); sequences come out in order of first appearance.

    Args:
        path: a CSV file with a header row.
        id_column: the sequence id column.
        label_column: the label column (constant within a sequence), or ``None`` for unlabelled data.
        feature_columns: the numeric feature columns; default all other columns.
        time_column: sort each sequence's rows by this numeric column (it is not a feature by default).
        skip_bad: skip bad rows (non-numeric features, empty ids, a label that changes
            within a sequence), counted with a warning, instead of raising.
        encoding: the file's encoding.

    Returns:
        ``(sequences, labels)``: float32 arrays ``(T_i, C)`` and a ``str`` array of labels (or ``None``).

    Raises:
        DataFileError: with the file and line of the problem.
    """
    _check_column("id_column", id_column)
    _check_column("label_column", label_column, optional=True)
    _check_column("time_column", time_column, optional=True)
    if feature_columns is not None:
        if isinstance(feature_columns, str) or not all(isinstance(c, str) for c in feature_columns):
            raise TypeError(f"read_sequences_csv: feature_columns must be a list of column names, got {feature_columns!r}")
    log = ProblemLog(path, skip_bad)
    text = decode_file(path, encoding)
    header, rows = _csv_rows(path, text, ",", log)
    special = [c for c in (id_column, label_column, time_column) if c is not None]
    features = list(feature_columns) if feature_columns is not None else [c for c in header if c not in special]
    missing = [c for c in special + features if c not in header]
    if missing:
        raise DataFileError(path, 1, f"no column(s) {', '.join(map(repr, missing))} in the header; columns are {header}")
    if not features:
        raise DataFileError(path, 1, f"no feature columns left besides {special}; columns are {header}")
    steps: Dict[str, List[Tuple[float, List[float]]]] = {}
    seq_labels: Dict[str, Tuple[str, int]] = {}
    kept = 0
    for line, row in rows:
        sid = str(row[id_column]).strip()
        if not sid:
            log.bad(line, f"{id_column!r} (the sequence id) is empty")
            continue
        vec = [_number(row[c]) for c in features]
        bad = [c for c, v in zip(features, vec) if v is None]
        if bad:
            log.bad(line, f"feature {bad[0]!r} must be a finite number, got {row[bad[0]]!r}")
            continue
        t = float(kept)
        if time_column is not None:
            tt = _number(row[time_column])
            if tt is None:
                log.bad(line, f"{time_column!r} (the time) must be a number, got {row[time_column]!r}")
                continue
            t = tt
        if label_column is not None:
            label = _scalar_text(row[label_column])
            if label is None:
                log.bad(line, f"{label_column!r} (the label) is empty")
                continue
            first = seq_labels.setdefault(sid, (label, line))
            if first[0] != label:
                log.bad(line, f"sequence {sid!r} has label {label!r} here but {first[0]!r} on line {first[1]}")
                continue
        steps.setdefault(sid, []).append((t, vec))  # type: ignore[arg-type]
        kept += 1
    log.finish(kept)
    sequences: List[np.ndarray] = []
    for sid, items in steps.items():
        if time_column is not None:
            items = sorted(items, key=lambda item: item[0])
        sequences.append(np.array([v for _, v in items], dtype=np.float32))
    labels = np.array([seq_labels[s][0] for s in steps], dtype=str) if label_column is not None else None
    return sequences, labels
