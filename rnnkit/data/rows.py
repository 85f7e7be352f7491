"""Low-level row iteration for CSV, TSV and JSONL user files, with line numbers."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from rnnkit.data.errors import DataFileError, PathLike, ProblemLog, data_suffix, decode_file

Row = Tuple[int, Dict[str, object]]
_FORMATS = ("csv", "tsv", "jsonl")


def detect_format(path: PathLike, text: str, fmt: Optional[str]) -> str:
    """``fmt``, else the format the suffix names (``.gz`` ignored), else JSONL when the text starts with ``{``, else CSV."""
    if fmt is not None:
        if fmt not in _FORMATS:
            raise ValueError(f"rnnkit.data: format must be one of {', '.join(map(repr, _FORMATS))} or None, got {fmt!r}")
        return fmt
    suffix = data_suffix(path)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".tsv", ".tab"):
        return "tsv"
    if suffix == ".csv":
        return "csv"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def csv_rows(path: PathLike, text: str, delimiter: str, log: ProblemLog) -> Tuple[List[str], Iterator[Row]]:
    """The header and an iterator of ``(line, {column: value})`` for well-formed rows."""
    return csv_line_rows(path, io.StringIO(text, newline=""), delimiter, log)


def csv_line_rows(path: PathLike, lines: Iterable[str], delimiter: str,
                  log: ProblemLog) -> Tuple[List[str], Iterator[Row]]:
    """:func:`csv_rows` over the text's lines (each ending in ``"\\n"``, as :func:`decode_file` writes them).

    The header (the first row with a non-blank field; its names stripped and distinct) is read at
    once, so only the lines up to it are consumed until the rows are iterated: a stream of lines
    (:mod:`rnnkit.data.csvhead`) gives the header without reading the rest of the file.

    Raises:
        DataFileError: no header row, a malformed header, or a duplicate column name.
    """
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
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
                log.lines_total = max(0, reader.line_num - start + 1)
                return
            except csv.Error as err:
                log.bad(line, f"malformed CSV: {err}{_span(line, reader.line_num)}", reader.line_num)
                line = reader.line_num + 1
                continue
            if record and any(f.strip() for f in record):
                if len(record) != len(header):
                    log.bad(line, f"expected {len(header)} fields (as the header), got {len(record)}"
                                  f"{_span(line, reader.line_num)}", reader.line_num)
                else:
                    yield line, dict(zip(header, record))
            line = reader.line_num + 1

    return header, rows()


def _span(line: int, last: int) -> str:
    """A note when one row runs over lines ``line..last`` (an unclosed quote), else ``""``."""
    if last <= line:
        return ""
    return f" (this row runs over lines {line}-{last}: an unclosed quote swallows the lines after it)"


def jsonl_rows(path: PathLike, text: str, log: ProblemLog) -> Iterator[Row]:
    """``(line, object)`` for each non-blank line that is a JSON object; other lines are bad rows."""
    lines = text.split("\n")
    log.lines_total = sum(1 for raw in lines if raw.strip())
    for line_no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            log.bad(line_no, f"malformed JSON: {err.msg} at column {err.colno}")
            continue
        except RecursionError:
            log.bad(line_no, "malformed JSON: nested too deeply")
            continue
        if not isinstance(obj, dict):
            log.bad(line_no, f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield line_no, obj


def table_rows(
    path: PathLike, columns: Sequence[str], fmt: Optional[str], encoding: str, log: ProblemLog
) -> Iterator[Row]:
    """Rows of a CSV/TSV/JSONL file that have all ``columns`` (missing CSV columns raise)."""
    text = decode_file(path, encoding)
    kind = detect_format(path, text, fmt)
    if kind == "jsonl":
        for line, obj in jsonl_rows(path, text, log):
            missing = [c for c in columns if c not in obj]
            if missing:
                log.bad(line, f"missing key(s) {', '.join(map(repr, missing))}; keys present: {sorted(obj)}")
                continue
            yield line, obj
        return
    header, rows = csv_rows(path, text, "\t" if kind == "tsv" else ",", log)
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataFileError(
            path, 1, f"no column(s) {', '.join(map(repr, missing))} in the header; columns are {header}"
        )
    yield from rows


def scalar_text(value: object) -> Optional[str]:
    """A JSON/CSV cell as text, or None when it is missing or not a scalar."""
    if value is None or isinstance(value, (list, dict)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    text = str(value).strip()
    return text or None


def check_column(name: str, value: object, *, optional: bool = False) -> None:
    """Raise TypeError unless ``value`` is a column name (or None when ``optional``)."""
    if (optional and value is None) or isinstance(value, str):
        return
    raise TypeError(f"rnnkit.data: {name} must be a column name (str), got {type(value).__name__} {value!r}")


def number(value: object) -> Optional[float]:
    """``value`` as a finite float, or None."""
    if isinstance(value, bool):
        return None
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


MISSING = {"", "na", "nan", "null", "none", "?"}

TIME_NAMES = ("t", "time", "date", "datetime", "timestamp", "ts", "step", "time_step", "timestep", "index",
              "idx", "year", "month", "day", "week", "hour", "minute", "second", "period", "frame", "tick")
"""Column names (compared lower-case, with ``-`` and spaces as ``_``) that look like a time index."""


def looks_like_time(name: str) -> bool:
    """Whether a column name looks like a time index (:data:`TIME_NAMES`, or ending in ``_time``/``_date``)."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return key in TIME_NAMES or key.endswith(("_time", "_date", "_timestamp"))
