"""A series' own time column: its regular step, the season that step implies, and the times after its end.

Times are read as ISO dates/datetimes (``1949-01``, ``2020-03-07``, ``2020-03-07 13:00``) with
numpy's ``datetime64``, or as plain numbers (``1871``, ``0.5``). A step is *regular* when every
consecutive difference is the same in months (monthly, quarterly, yearly dates), or in seconds
(daily, weekly, hourly ...), or as numbers. Irregular or unparseable times are still shown as
labels, but no season is inferred from them and no future time is invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

__all__ = ["TimeStep", "infer_step", "future_times"]

_SEASON_BY_MONTHS = {1: (12, "monthly"), 3: (4, "quarterly"), 12: (1, "yearly")}
_SEASON_BY_SECONDS = {86400: (7, "daily"), 7 * 86400: (52, "weekly"), 3600: (24, "hourly")}


@dataclass(frozen=True)
class TimeStep:
    """The regular step of a time column.

    Attributes:
        kind: ``"months"``, ``"seconds"`` or ``"number"``.
        size: the step in that unit.
        name: ``"monthly"``, ``"weekly"`` ... or a description such as ``"every 5 seconds"``.
        season: the usual season for that step (12 for monthly, 4 quarterly, 52 weekly, 7 daily,
            24 hourly), or ``None`` when the step implies none (yearly: 1).
    """

    kind: str
    size: float
    name: str
    season: Optional[int]


def _as_datetimes(times: Sequence[str]) -> Optional[np.ndarray]:
    try:
        out = np.array([np.datetime64(t.strip().replace(" ", "T")) for t in times])
    except (ValueError, TypeError):
        return None
    return out if out.dtype.kind == "M" else None


def _as_numbers(times: Sequence[str]) -> Optional[np.ndarray]:
    try:
        out = np.array([float(t) for t in times], dtype=np.float64)
    except (ValueError, TypeError):
        return None
    return out if np.isfinite(out).all() else None


def infer_step(times: Sequence[str]) -> Optional[TimeStep]:
    """The regular step of ``times`` (strings as written), or ``None`` when it is irregular or unreadable."""
    if len(times) < 3:
        return None
    numbers = _as_numbers(times)
    if numbers is not None:
        d = np.diff(numbers)
        if d[0] > 0 and np.allclose(d, d[0], rtol=1e-9, atol=0):
            return TimeStep("number", float(d[0]), f"numbers {d[0]:g} apart", None)
        return None
    dates = _as_datetimes(times)
    if dates is None:
        return None
    months = dates.astype("datetime64[M]")
    if (months.astype("datetime64[s]") == dates.astype("datetime64[s]")).all() or _same_day_of_month(dates):
        dm = np.diff(months.astype(np.int64))
        if dm[0] > 0 and (dm == dm[0]).all():
            season, name = _SEASON_BY_MONTHS.get(int(dm[0]), (None, f"every {int(dm[0])} months"))
            return TimeStep("months", float(dm[0]), name, season if season != 1 else None)
    seconds = np.diff(dates.astype("datetime64[s]").astype(np.int64))
    if seconds[0] > 0 and (seconds == seconds[0]).all():
        season, name = _SEASON_BY_SECONDS.get(int(seconds[0]), (None, f"every {int(seconds[0])} seconds"))
        return TimeStep("seconds", float(seconds[0]), name, season)
    return None


def _same_day_of_month(dates: np.ndarray) -> bool:
    """Whether every date falls on the same day of its month at the same time (``2020-01-31`` style aside)."""
    offset = dates.astype("datetime64[s]") - dates.astype("datetime64[M]").astype("datetime64[s]")
    return bool((offset == offset[0]).all())


def future_times(times: Sequence[str], count: int) -> Optional[List[str]]:
    """The ``count`` times after the last of ``times``, written like them; ``None`` when the step is irregular."""
    step = infer_step(times)
    if step is None:
        return None
    last = times[-1].strip()
    if step.kind == "number":
        numbers = [float(last) + step.size * (k + 1) for k in range(count)]
        integral = all(float(t).is_integer() for t in times) and float(step.size).is_integer()
        return [str(int(x)) if integral else f"{x:g}" for x in numbers]
    dates = _as_datetimes(times)
    assert dates is not None  # infer_step parsed them
    unit = np.datetime_data(dates.dtype)[0]
    if step.kind == "months":
        months = dates[-1].astype("datetime64[M]") + np.arange(1, count + 1) * int(step.size)
        offset = dates[-1].astype("datetime64[s]") - dates[-1].astype("datetime64[M]").astype("datetime64[s]")
        out = (months.astype("datetime64[s]") + offset).astype(f"datetime64[{unit}]")
    else:
        out = (dates[-1].astype("datetime64[s]") + np.arange(1, count + 1) * np.timedelta64(int(step.size), "s")
               ).astype(f"datetime64[{unit}]")
    sep = " " if " " in last else "T"
    return [str(t).replace("T", sep) for t in out]
