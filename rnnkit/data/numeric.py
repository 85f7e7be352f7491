"""Readers for numeric user files: one series per CSV column, or sequences stored one step per row."""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from rnnkit.data.columnar import read_sequences_fast, read_series_fast
from rnnkit.data.errors import DataFileError, PathLike, ProblemLog, decode_file
from rnnkit.data.rows import MISSING, check_column, csv_rows, number, scalar_text

__all__ = ["read_series_csv", "read_sequences_csv"]


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
            Fully blank lines are not rows: in a one-column file write ``NA`` for a gap.
        encoding: the file's encoding.

    Returns:
        ``(N,)`` float64 array.

    Raises:
        DataFileError: with the file and line of the problem.
    """
    check_column("column", column, optional=True)
    fast = read_series_fast(path, column, interpolate_missing=interpolate_missing, encoding=encoding)
    if fast is not None:  # pandas' parse of a clean file (or its cached arrays); else the strict reader below
        return fast
    log = ProblemLog(path, skip_bad)
    text = decode_file(path, encoding)
    header, rows = csv_rows(path, text, ",", log)
    if column is None:
        if len(header) != 1:
            raise DataFileError(path, 1, f"the file has {len(header)} columns {header}; pass column=... to choose one")
        column = header[0]
    if column not in header:
        raise DataFileError(path, 1, f"no column {column!r} in the header; columns are {header}")
    values: List[float] = []
    for line, row in rows:
        raw = str(row[column]).strip()
        if interpolate_missing and raw.lower() in MISSING:
            values.append(math.nan)
            continue
        x = number(raw)
        if x is None:
            hint = " (pass interpolate_missing=True to fill gaps)" if raw.lower() in MISSING else ""
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
    check_column("id_column", id_column)
    check_column("label_column", label_column, optional=True)
    check_column("time_column", time_column, optional=True)
    if feature_columns is not None:
        if isinstance(feature_columns, str) or not all(isinstance(c, str) for c in feature_columns):
            raise TypeError(f"read_sequences_csv: feature_columns must be a list of column names, got {feature_columns!r}")
    fast = read_sequences_fast(path, id_column, label_column, feature_columns, time_column=time_column,
                               encoding=encoding)
    if fast is not None:  # pandas' parse of a clean file (or its cached arrays); else the strict reader below
        return fast
    log = ProblemLog(path, skip_bad)
    text = decode_file(path, encoding)
    header, rows = csv_rows(path, text, ",", log)
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
        vec = [number(row[c]) for c in features]
        bad = [c for c, v in zip(features, vec) if v is None]
        if bad:
            log.bad(line, f"feature {bad[0]!r} must be a finite number, got {row[bad[0]]!r}")
            continue
        t = float(kept)
        if time_column is not None:
            tt = number(row[time_column])
            if tt is None:
                log.bad(line, f"{time_column!r} (the time) must be a number, got {row[time_column]!r}")
                continue
            t = tt
        if label_column is not None:
            label = scalar_text(row[label_column])
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
