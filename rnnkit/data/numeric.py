"""Readers for numeric user files: one series per CSV column, or sequences stored one step per row."""

from __future__ import annotations

import math
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from rnnkit.data.columnar import read_sequences_fast, read_series_fast
from rnnkit.data.errors import DataFileError, PathLike, ProblemLog, decode_file, hint, with_hint
from rnnkit.data.rows import MISSING, check_column, csv_rows, looks_like_time, number, scalar_text

__all__ = ["read_series_csv", "read_timed_series_csv", "read_sequences_csv"]


def read_series_csv(
    path: PathLike,
    column: Optional[str] = None,
    *,
    skip_bad: bool = False,
    interpolate_missing: bool = False,
    encoding: str = "utf-8",
    max_skipped_share: Optional[float] = None,
) -> np.ndarray:
    """Read one numeric column of a CSV file as a time series, in file order.

    Args:
        path: a CSV file with a header row (``.gz`` accepted).
        column: the column; ``None`` is allowed when the file has a single column.
        skip_bad: skip rows whose value is not a number (counted, with a warning).
        interpolate_missing: fill empty/``NA``/``nan`` cells by linear interpolation
            (ends take the nearest value); otherwise a missing value is a bad row.
            Fully blank lines are not rows: in a one-column file write ``NA`` for a gap.
        encoding: the file's encoding.
        max_skipped_share: with ``skip_bad``, the largest share of lines that may be skipped
            (default :data:`rnnkit.data.errors.MAX_SKIPPED_SHARE`).

    Returns:
        ``(N,)`` float64 array.

    Raises:
        DataFileError: with the file and line of the problem.
    """
    return read_timed_series_csv(path, column, None, skip_bad=skip_bad, interpolate_missing=interpolate_missing,
                                 encoding=encoding, max_skipped_share=max_skipped_share)[1]


def read_timed_series_csv(
    path: PathLike,
    column: Optional[str] = None,
    time_column: Optional[str] = None,
    *,
    skip_bad: bool = False,
    interpolate_missing: bool = False,
    encoding: str = "utf-8",
    max_skipped_share: Optional[float] = None,
) -> Tuple[Optional[List[str]], np.ndarray]:
    """:func:`read_series_csv` and, row for row, the file's time column (as written).

    Args:
        path, column, skip_bad, interpolate_missing, encoding, max_skipped_share: as :func:`read_series_csv`
            (``column=None`` also allowed when the only other column is ``time_column``).
        time_column: the column holding each row's time (kept as text, stripped; it must not
            be empty), or ``None``.

    Returns:
        ``(times, values)``: a list of ``N`` strings (``None`` without ``time_column``) and ``(N,)`` float64.

    Raises:
        DataFileError: with the file and line of the problem.
    """
    check_column("column", column, optional=True)
    check_column("time_column", time_column, optional=True)
    if time_column is None:
        fast = read_series_fast(path, column, interpolate_missing=interpolate_missing, encoding=encoding)
        if fast is not None:  # pandas' parse of a clean file (or its cached arrays); else the strict reader below
            return None, fast
    log = ProblemLog(path, skip_bad, max_skipped_share)
    text = decode_file(path, encoding)
    header, rows = csv_rows(path, text, ",", log)
    if time_column is not None and time_column not in header:
        raise DataFileError(path, 1, f"no time column {time_column!r} in the header; columns are {header}")
    if column is None:
        candidates = [c for c in header if c != time_column]
        if len(candidates) != 1:
            raise DataFileError(path, 1, f"the file has {len(header)} columns {header}; "
                                         f"{hint('column') or 'name one'} to choose one")
        column = candidates[0]
    if column not in header:
        raise DataFileError(path, 1, f"no column {column!r} in the header; columns are {header}")
    values: List[float] = []
    times: List[str] = []
    for line, row in rows:
        if time_column is not None:
            stamp = str(row[time_column]).strip()
            if not stamp:
                log.bad(line, f"{time_column!r} (the time) is empty")
                continue
        raw = str(row[column]).strip()
        if interpolate_missing and raw.lower() in MISSING:
            x: Optional[float] = math.nan
        else:
            x = number(raw)
        if x is None:
            problem = f"{column!r} must be a finite number, got {raw!r}"
            log.bad(line, with_hint(problem, "interpolate_missing", "fill gaps") if raw.lower() in MISSING
                    else problem)
            continue
        values.append(x)
        if time_column is not None:
            times.append(stamp)
    log.finish(len(values))
    series = np.array(values, dtype=np.float64)
    gaps = np.isnan(series)
    if gaps.all():
        raise DataFileError(path, None, f"column {column!r} has no numeric values")
    if gaps.any():
        idx = np.arange(len(series))
        series[gaps] = np.interp(idx[gaps], idx[~gaps], series[~gaps])
    return (times if time_column is not None else None), series


def read_sequences_csv(
    path: PathLike,
    id_column: str,
    label_column: Optional[str],
    feature_columns: Optional[Sequence[str]] = None,
    *,
    time_column: Optional[str] = None,
    skip_bad: bool = False,
    encoding: str = "utf-8",
    max_skipped_share: Optional[float] = None,
    return_ids: bool = False,
) -> tuple:
    """Read variable-length multivariate sequences stored one time step per row.

    Rows with the same id form one sequence, in file order (or sorted by
    ``time_column``); sequences come out in order of first appearance.

    Args:
        path: a CSV file with a header row (``.gz`` accepted).
        id_column: the sequence id column.
        label_column: the label column (constant within a sequence), or ``None`` for unlabelled data.
        feature_columns: the numeric feature columns; default all other columns (with a warning
            when one of them is named like a time index, e.g. ``t`` or ``date``, and no
            ``time_column`` is given: it probably should not be a feature).
        time_column: sort each sequence's rows by this numeric column (it is not a feature by default).
        skip_bad: skip bad rows (non-numeric features, empty ids, a label that changes
            within a sequence), counted with a warning, instead of raising.
        encoding: the file's encoding.
        max_skipped_share: with ``skip_bad``, the largest share of lines that may be skipped
            (default :data:`rnnkit.data.errors.MAX_SKIPPED_SHARE`).
        return_ids: also return the sequences' ids, one per returned sequence (with ``skip_bad`` a
            sequence whose every row was skipped is gone, and so is its id).

    Returns:
        ``(sequences, labels)``: float32 arrays ``(T_i, C)`` and a ``str`` array of labels (or ``None``);
        ``(sequences, labels, ids)`` with ``return_ids``.

    Raises:
        DataFileError: with the file and line of the problem.
    """
    check_column("id_column", id_column)
    check_column("label_column", label_column, optional=True)
    check_column("time_column", time_column, optional=True)
    if feature_columns is not None:
        if isinstance(feature_columns, str) or not all(isinstance(c, str) for c in feature_columns):
            raise TypeError(f"read_sequences_csv: feature_columns must be a list of column names, got {feature_columns!r}")
    special = [c for c in (id_column, label_column, time_column) if c is not None]
    early = _fast_header(path, encoding) if feature_columns is None else []
    if early:  # warned once, before either reader, so both give the same warnings in the same order
        _warn_time_like(path, early, special)
    fast = read_sequences_fast(path, id_column, label_column, feature_columns, time_column=time_column,
                               encoding=encoding, return_ids=return_ids)
    if fast is not None:  # pandas' parse of a clean file (or its cached arrays); else the strict reader below
        return fast
    log = ProblemLog(path, skip_bad, max_skipped_share)
    text = decode_file(path, encoding)
    header, rows = csv_rows(path, text, ",", log)
    special = [c for c in (id_column, label_column, time_column) if c is not None]
    features = list(feature_columns) if feature_columns is not None else [c for c in header if c not in special]
    missing = [c for c in special + features if c not in header]
    if missing:
        raise DataFileError(path, 1, f"no column(s) {', '.join(map(repr, missing))} in the header; columns are {header}")
    if not features:
        raise DataFileError(path, 1, f"no feature columns left besides {special}; columns are {header}")
    if feature_columns is None and not early:
        _warn_time_like(path, header, special)
    steps: Dict[str, List[Tuple[float, List[float]]]] = {}
    seq_labels: Dict[str, Tuple[str, int]] = {}
    kept = 0
    seen: Dict[str, None] = {}  # every non-empty id, also of rows skipped as bad
    for line, row in rows:
        sid = str(row[id_column]).strip()
        if not sid:
            log.bad(line, f"{id_column!r} (the sequence id) is empty")
            continue
        seen.setdefault(sid)
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
    gone = [sid for sid in seen if sid not in steps]
    if gone:
        more = f" and {len(gone) - 3} more" if len(gone) > 3 else ""
        warnings.warn(f"{path}: {len(gone)} sequence(s) had every row skipped as bad and are left out: "
                      f"{', '.join(map(repr, gone[:3]))}{more}", UserWarning, stacklevel=2)
    sequences: List[np.ndarray] = []
    for sid, items in steps.items():
        if time_column is not None:
            items = sorted(items, key=lambda item: item[0])
        sequences.append(np.array([v for _, v in items], dtype=np.float32))
    labels = np.array([seq_labels[s][0] for s in steps], dtype=str) if label_column is not None else None
    if return_ids:
        return sequences, labels, list(steps)
    return sequences, labels


def _warn_time_like(path: PathLike, header: Sequence[str], special: Sequence[str]) -> None:
    """Warn when a column that becomes a feature by default is named like a time index (``t``, ``date`` ...)."""
    timelike = [c for c in header if c not in special and looks_like_time(c)]
    if timelike:
        fixes = " or ".join(h for h in (hint("time_column"), hint("feature_columns")) if h)
        warnings.warn(f"{path}: column(s) {', '.join(map(repr, timelike))} look like a time index but are read as "
                      f"feature(s){'; ' + fixes + ' to say otherwise' if fixes else ''}", UserWarning, stacklevel=3)


def _fast_header(path: PathLike, encoding: str) -> List[str]:
    """The header as the columnar reader saw it (it parsed the file already); [] if it cannot be read."""
    from rnnkit.data import columnar

    try:
        return columnar._header(path, encoding)
    except Exception:  # noqa: BLE001 - only for a warning; the file was read successfully
        return []
