"""Readers for the UCR/UEA archive's other file formats: ``.arff`` and the classic ``TRAIN``/``TEST`` text.

**ARFF** (Weka), as the UCR and UEA archives write it. Univariate: one numeric
attribute per time step and the class attribute last::

    @relation GunPoint
    @attribute att1 numeric
    ...
    @attribute target {1,2}
    @data
    -0.64,-0.65,...,2

Multivariate (UEA): one relational attribute holding the channels, then the class::

    @attribute relationalAtt relational
      @attribute att1 numeric
      ...
    @end relationalAtt
    @attribute classAttribute {standing,running}
    @data
    '0.1,0.2,...\\n0.3,0.4,...',standing

(inside the quotes, channels are separated by the two characters ``\\n``). ``?``
is a missing value (NaN). Without a nominal class attribute the file is unlabelled.

**UCR text** (``*_TRAIN.txt``/``*_TEST.txt``, ``.tsv``): one univariate series per
line, no header, the class label first, values separated by whitespace, tabs or
commas (``NaN``/``?`` missing). Trailing NaN (how the 2018 archive pads its
variable-length series) shorten the series.

Both readers take the text (decoded by :func:`rnnkit.data.errors.decode_file`, which
also handles compressed files) and return what :func:`rnnkit.data.tsfile.read_ts_file`
returns: float32 arrays ``(T_i, C)`` and a ``str`` label array (or ``None``).
"""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

import numpy as np

from rnnkit.data.errors import DataFileError, PathLike, ProblemLog, decode_file

__all__ = ["read_arff_file", "read_ucr_text_file", "parse_arff", "parse_ucr_text"]

Sequences = Tuple[List[np.ndarray], Optional[np.ndarray]]

_ATTR = re.compile(r"@attribute\s+('[^']*'|\"[^\"]*\"|\S+)\s+(.*)$", re.IGNORECASE)


def _number(text: str) -> Optional[float]:
    s = text.strip()
    if s in ("?", "") or s.lower() == "nan":
        return float("nan") if s else None
    try:
        return float(s)
    except ValueError:
        return None


def _unquote(s: str) -> str:
    s = s.strip()
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"" else s


def parse_arff(
    path: PathLike, text: str, *, skip_bad: bool = False, max_skipped_share: Optional[float] = None
) -> Sequences:
    """Parse ARFF ``text`` (read from ``path``, named in messages); see the module docstring."""
    log = ProblemLog(path, skip_bad, max_skipped_share)
    attrs: List[str] = []  # kinds of top-level attributes: "numeric", "relational", "nominal", "other"
    classes: Optional[List[str]] = None
    inner = 0
    in_rel = False
    lines = text.split("\n")
    start = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        low = line.lower()
        if low.startswith("@relation"):
            continue
        if low.startswith("@end"):
            in_rel = False
            continue
        if low.startswith("@data"):
            start = number
            break
        m = _ATTR.match(line)
        if not m:
            raise DataFileError(path, number, f"expected '@relation', '@attribute', '@end' or '@data', got {line[:50]!r}")
        kind = m.group(2).strip()
        if in_rel:
            inner += 1
            continue
        if kind.lower().startswith("relational"):
            attrs.append("relational")
            in_rel = True
        elif kind.startswith("{"):
            attrs.append("nominal")
            classes = [_unquote(c) for c in kind.strip("{} ").split(",")]
        elif kind.lower().split()[0] in ("numeric", "real", "integer"):
            attrs.append("numeric")
        else:
            raise DataFileError(path, number, f"attribute type {kind!r} is not supported (numeric, relational or "
                                              "a nominal class {a,b,...})")
    if start is None:
        raise DataFileError(path, None, "no '@data' line: not an ARFF file")
    labelled = bool(attrs) and attrs[-1] == "nominal"
    if attrs.count("nominal") > int(labelled) or ("relational" in attrs and attrs.count("relational") != 1):
        raise DataFileError(path, None, "expected numeric attributes (or one relational attribute) and at most one "
                                        "nominal class attribute, last")
    multivariate = "relational" in attrs
    sequences: List[np.ndarray] = []
    labels: List[str] = []
    for number in range(start + 1, len(lines) + 1):
        line = lines[number - 1].strip()
        if not line or line.startswith("%"):
            continue
        label = None
        body = line
        if labelled:
            body, _, label = line.rpartition(",")
            label = _unquote(label)
            if classes is not None and label not in classes:
                log.bad(number, f"label {label!r} is not one of the declared classes {classes}")
                continue
        if multivariate:
            body = _unquote(body)
            channels = [[_number(v) for v in part.split(",")] for part in body.split("\\n")]
        else:
            channels = [[_number(v) for v in body.split(",")]]
        if any(v is None for c in channels for v in c):
            log.bad(number, "a value is not a number")
            continue
        if len({len(c) for c in channels}) != 1:
            log.bad(number, f"channels of one case must have equal lengths, got {sorted({len(c) for c in channels})}")
            continue
        sequences.append(np.array(channels, dtype=np.float32).T)
        if label is not None:
            labels.append(label)
    log.finish(len(sequences), what="cases after @data")
    return sequences, (np.array(labels, dtype=str) if labelled else None)


def parse_ucr_text(
    path: PathLike, text: str, *, skip_bad: bool = False, max_skipped_share: Optional[float] = None
) -> Sequences:
    """Parse UCR text (label first, then the values; see the module docstring)."""
    log = ProblemLog(path, skip_bad, max_skipped_share)
    sequences: List[np.ndarray] = []
    labels: List[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        items = [s for s in re.split(r"[\s,]+", line) if s]
        if len(items) < 2:
            log.bad(number, f"expected a label and at least one value, got {line[:40]!r}")
            continue
        values = [_number(v) for v in items[1:]]
        bad = [v for v, x in zip(items[1:], values) if x is None]
        if bad:
            log.bad(number, f"value {bad[0]!r} is not a number")
            continue
        series = np.array(values, dtype=np.float64)
        valid = np.flatnonzero(~np.isnan(series))
        if len(valid) == 0:
            log.bad(number, "the series has no values (all NaN)")
            continue
        label = items[0]
        if _number(label) is not None and float(label).is_integer():
            label = str(int(float(label)))  # "1.0000000e+00" (the 2015 archive) and "1" are one class
        sequences.append(series[: valid[-1] + 1].astype(np.float32)[:, None])
        labels.append(label)
    log.finish(len(sequences), what="series")
    return sequences, np.array(labels, dtype=str)


def read_arff_file(
    path: PathLike, *, skip_bad: bool = False, encoding: str = "utf-8", max_skipped_share: Optional[float] = None
) -> Sequences:
    """Read a UCR/UEA ``.arff`` file: ``(sequences (T_i, C), labels or None)``.

    Raises:
        DataFileError: naming the file and line of the problem.
    """
    return parse_arff(path, decode_file(path, encoding), skip_bad=skip_bad, max_skipped_share=max_skipped_share)


def read_ucr_text_file(
    path: PathLike, *, skip_bad: bool = False, encoding: str = "utf-8", max_skipped_share: Optional[float] = None
) -> Sequences:
    """Read a UCR ``*_TRAIN.txt``/``*_TEST.txt``/``.tsv`` file: ``(sequences (T_i, 1), labels)``.

    Raises:
        DataFileError: naming the file and line of the problem.
    """
    return parse_ucr_text(path, decode_file(path, encoding), skip_bad=skip_bad, max_skipped_share=max_skipped_share)
