"""A series' time column: regular steps, the season they imply, and the times after the end."""

from __future__ import annotations

import pandas as pd
import pytest

from rnnkit.data.timeindex import future_times, infer_step


@pytest.mark.parametrize(
    "freq,fmt,season,name",
    [("MS", "%Y-%m", 12, "monthly"), ("QS", "%Y-%m-%d", 4, "quarterly"), ("W-SAT", "%Y-%m-%d", 52, "weekly"),
     ("D", "%Y-%m-%d", 7, "daily"), ("h", "%Y-%m-%d %H:%M", 24, "hourly"), ("YS", "%Y-%m-%d", None, "yearly")],
)
def test_steps_and_future_times_match_pandas(freq, fmt, season, name):
    index = pd.date_range("1999-11-06", periods=15, freq=freq)  # pandas as the independent calendar
    text = [t.strftime(fmt) for t in index]
    step = infer_step(text[:10])
    assert (step.season, step.name) == (season, name)
    assert future_times(text[:10], 5) == text[10:]


def test_numbers_irregular_and_unreadable():
    assert infer_step(["1871", "1872", "1873"]).season is None
    assert future_times(["1871", "1872", "1873"], 2) == ["1874", "1875"]
    assert future_times(["0.5", "1.0", "1.5"], 2) == ["2", "2.5"]
    assert infer_step(["2020-01-01", "2020-01-02", "2020-01-04"]) is None  # irregular
    assert future_times(["a", "b", "c"], 2) is None and infer_step(["1", "2"]) is None
