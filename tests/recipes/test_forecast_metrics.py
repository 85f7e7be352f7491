"""forecast's metrics against sklearn and hand loops; the split sizes picked for a user's series."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, mean_squared_error

from rnnkit.recipes.forecast import split_sizes
from rnnkit.recipes.forecast_metrics import mase_scale, point_metrics


def test_point_metrics_match_sklearn_and_hand_loops():
    rng = np.random.default_rng(0)
    y = rng.uniform(5, 50, 40)
    f = y + rng.normal(0, 3, 40)
    train = rng.uniform(0, 100, 60)
    q = mase_scale(train, 12)
    manual_q = sum(abs(train[t] - train[t - 12]) for t in range(12, 60)) / 48
    assert q == pytest.approx(manual_q, rel=1e-12)
    m = point_metrics(y, f, q)
    assert m["mae"] == pytest.approx(mean_absolute_error(y, f), rel=1e-12)
    assert m["mse"] == pytest.approx(mean_squared_error(y, f), rel=1e-12)
    assert m["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, f)), rel=1e-12)
    assert m["mape"] == pytest.approx(100 * mean_absolute_percentage_error(y, f), rel=1e-12)
    smape = 100 * sum(2 * abs(a - b) / (abs(a) + abs(b)) for a, b in zip(y, f)) / len(y)
    assert m["smape"] == pytest.approx(smape, rel=1e-12)
    assert m["mase"] == pytest.approx(mean_absolute_error(y, f) / manual_q, rel=1e-12)


def test_point_metrics_edge_cases():
    m = point_metrics(np.array([0.0, 2.0]), np.array([0.0, 1.0]), math.nan)
    assert math.isnan(m["mape"]) and math.isnan(m["mase"])  # MAPE undefined at y = 0; no MASE scale
    assert m["smape"] == pytest.approx(100 * (0 + 2 * 1 / 3) / 2)  # the 0/0 term counts 0
    assert math.isnan(mase_scale(np.ones(20), 1)) and math.isnan(mase_scale(np.arange(5.0), 12))
    with pytest.raises(ValueError, match="equal non-empty 1-D arrays"):
        point_metrics(np.ones(3), np.ones(4), 1.0)


@pytest.mark.parametrize(
    "n,season,horizon,window,want",
    [
        (200, 12, 12, 24, 24),   # 10% of 200 = 20 -> two horizons of 12
        (144, 12, 12, 24, 12),   # 14.4 -> one horizon: one season
        (100, 1, 1, 8, 10),      # yearly: 10 one-step origins
        (36, 1, 1, 8, 4),
        (526, 12, 12, 24, 48),
        (60, 12, 12, 24, 12),    # 10% is 6 < one season: one season
        (200, 12, 5, 24, 20),    # horizon 5 < season: at least ceil(12 / 5) = 3 horizons, here round(20 / 5) = 4
    ],
)
def test_split_sizes(n, season, horizon, window, want):
    test, val = split_sizes(n, season, horizon, window)
    assert test == val == want
    assert test >= season and test % horizon == 0  # never 2 points: at least a season, whole horizons


def test_split_sizes_shrink_for_a_short_series():
    # 10% of 120 is one season; with a long window the share would leave nothing to train on
    assert split_sizes(120, 12, 12, 24, share=0.3) == (36, 36)
    assert split_sizes(100, 12, 12, 24, share=0.3) == (24, 24)  # shrunk: 100 - 72 < 24 + 12 + 12


def test_auto_transform_logs_only_multiplicative_series():
    from rnnkit.recipes.forecast import auto_transform

    t = np.arange(120)
    level = 100 * 1.02 ** t
    multiplicative = level * (1 + 0.2 * np.sin(2 * np.pi * t / 12))
    additive = level + 20 * np.sin(2 * np.pi * t / 12)
    assert auto_transform(multiplicative, 12)[0] == "log"
    assert auto_transform(additive, 12)[0] == "none"  # the swing does not grow with the level
    assert auto_transform(multiplicative - 150, 12)[0] == "none"  # values <= 0
    assert auto_transform(multiplicative, 1)[0] == "none" and auto_transform(multiplicative[:40], 12)[0] == "none"


def test_gate_passes_is_a_paired_test_at_gate_t_standard_errors():
    from rnnkit.recipes.forecast_choices import gate_passes

    gain = np.array([1.0, 2.0, 0.5, 1.5, -0.5, 1.0])  # mean 0.9167, sd 0.861 -> t = 2.61
    assert gain.mean() / (gain.std(ddof=1) / math.sqrt(6)) == pytest.approx(2.608, abs=1e-3)
    assert gate_passes(gain, t=2.0) and not gate_passes(gain, t=2.7)
    assert not gate_passes(np.array([3.0, -2.0, 0.5, -0.5]))  # mean 0.25, t = 0.23 < GATE_T = 1: a lucky win
    assert not gate_passes(-gain) and not gate_passes(np.array([5.0]))
    assert gate_passes(np.full(4, 0.1))  # a constant gain: sd 0
