"""Reader for the sktime/UEA ``.ts`` time-series format (multivariate, variable length).

The format: ``#`` comment lines, a header of ``@key value`` lines
(``@problemName``, ``@univariate``, ``@dimensions``, ``@equalLength``,
``@classLabel true 1 2 3``, ...), then ``@data`` and one case per line::

    v11,v12,...,v1T:v21,v22,...,v2T:...:label

with one colon-separated part per channel (all of the same length within a
case) and the class label last when ``@classLabel true``. ``?`` marks a
missing value (read as NaN). Time-stamped series (``@timeStamps true``) and
regression targets are not supported and say so.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from rnnkit.data.errors import DataFileError, PathLike, ProblemLog, decode_file

__all__ = ["read_ts_file"]


def _flag(path: PathLike, line: int, key: str, value: str) -> bool:
    low = value.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    raise DataFileError(path, line, f"@{key} must be 'true' or 'false', got {value.strip()!r}")


def _parse_channel(part: str) -> Optional[np.ndarray]:
    """One channel's comma-separated values (``?`` = NaN), or None when malformed."""
    items = part.split(",")
    if any(not s.strip() for s in items):
        return None
    try:
        return np.array([float("nan") if s.strip() == "?" else float(s) for s in items], dtype=np.float64)
    except ValueError:
        return None


def read_ts_file(
    path: PathLike, *, skip_bad: bool = False, encoding: str = "utf-8", max_skipped_share: Optional[float] = None
) -> Tuple[List[np.ndarray], Optional[np.ndarray]]:
    """Read a ``.ts`` file into variable-length multivariate sequences.

    Args:
        path: the file.
        skip_bad: skip malformed cases (counted, with a warning) instead of raising.
        encoding: the file's encoding.
        max_skipped_share: with ``skip_bad``, the largest share of cases that may be skipped.

    Returns:
        ``(sequences, labels)``: float32 arrays ``(T_i, C)`` (time first, one column per
        channel; NaN where the file has ``?``), and the labels as a ``str`` array, or
        ``None`` when the file has ``@classLabel false``.

    Raises:
        DataFileError: naming the file and line of the problem.
    """
    text = decode_file(path, encoding)
    log = ProblemLog(path, skip_bad, max_skipped_share)
    has_labels: Optional[bool] = None
    class_labels: Optional[List[str]] = None
    dims: Optional[int] = None
    in_data = False
    sequences: List[np.ndarray] = []
    labels: List[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "%")):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise DataFileError(path, number, f"expected a '@key value' header line or '@data' before the data, got {line[:40]!r}")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
                if has_labels is None:
                    raise DataFileError(path, number, "the header has no @classLabel line (write '@classLabel false' for unlabelled data)")
            elif key == "timestamps" and _flag(path, number, key, value):
                raise DataFileError(path, number, "time-stamped .ts files (@timeStamps true) are not supported")
            elif key in ("targetlabel",) and _flag(path, number, key, value.split()[0] if value.split() else ""):
                raise DataFileError(path, number, "regression .ts files (@targetLabel true) are not supported")
            elif key == "classlabel":
                words = value.split()
                has_labels = _flag(path, number, key, words[0] if words else "")
                class_labels = words[1:] if has_labels and len(words) > 1 else None
            elif key in ("dimension", "dimensions"):
                try:
                    dims = int(value)
                except ValueError:
                    raise DataFileError(path, number, f"@{key} must be an integer, got {value.strip()!r}") from None
            continue
        parts = line.split(":")
        label = None
        if has_labels:
            label = parts.pop().strip()
            if not parts or not label:
                log.bad(number, "expected channel values followed by ':<label>'")
                continue
            if class_labels is not None and label not in class_labels:
                log.bad(number, f"label {label!r} is not one of the declared class labels {class_labels}")
                continue
        if dims is not None and len(parts) != dims:
            log.bad(number, f"expected {dims} channels (as @dimensions), got {len(parts)}")
            continue
        channels = [_parse_channel(p) for p in parts]
        bad = [i for i, c in enumerate(channels) if c is None]
        if bad:
            log.bad(number, f"channel {bad[0] + 1} has a value that is not a number: {parts[bad[0]][:60]!r}")
            continue
        lengths = {len(c) for c in channels}  # type: ignore[arg-type]
        if len(lengths) != 1:
            log.bad(number, f"channels of one case must have equal lengths, got {sorted(lengths)}")
            continue
        if dims is None:
            dims = len(parts)
        sequences.append(np.stack(channels, axis=1).astype(np.float32))  # type: ignore[arg-type]
        if label is not None:
            labels.append(label)
    if not in_data:
        raise DataFileError(path, None, "no '@data' line: not a .ts file")
    log.finish(len(sequences), what="cases after @data")
    return sequences, (np.array(labels, dtype=str) if has_labels else None)
