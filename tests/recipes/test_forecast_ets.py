"""forecast_ets: the median-of-four combination, the ETS form chosen by AIC, failures said and substituted."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.recipes import forecast_ets


def test_combine_is_the_mean_of_the_middle_two_of_four():
    rng = np.random.default_rng(0)
    net, ets, naive = rng.normal(size=(3, 50))
    want = []
    for n, e, b in zip(net, ets, naive):
        v = sorted([n, e, b, (n + e) / 2])
        want.append((v[1] + v[2]) / 2)
    assert forecast_ets.combine(net, ets, naive) == pytest.approx(want, rel=1e-12)
    # naive between the two: halfway between it and their mean; naive outside: pulled to the nearer one
    assert forecast_ets.combine(np.array([0.0]), np.array([4.0]), np.array([1.0]))[0] == pytest.approx(1.5)
    assert forecast_ets.combine(np.array([0.0]), np.array([4.0]), np.array([-9.0]))[0] == pytest.approx(1.0)


def test_choose_finds_the_season_and_rolling_refits():
    t = np.arange(96)
    a = 10 + 3 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(1).normal(0, 0.1, 96)
    spec = forecast_ets.choose(a[:72], 12)
    assert spec is not None and spec["seasonal"] and forecast_ets.spec_name(spec).endswith(",A)")
    fc = forecast_ets.rolling(a, [(71, 12), (83, 12)], 12, spec, "test")
    assert fc.shape == (24,) and np.abs(fc - a[72:]).mean() < 0.5 * np.abs(a[60:84] - a[72:]).mean() + 0.2
    assert not forecast_ets.choose(a[:20], 12)["seasonal"]  # under two seasons: no seasonal form is tried
    trend = 0.3 * t + np.random.default_rng(2).normal(0, 0.2, 96)  # a straight trend: the undamped form
    assert forecast_ets.spec_name(forecast_ets.choose(trend, 1)) == "ETS(A,A,N)"


def test_failures_are_said_and_seasonal_naive_stands_in(monkeypatch, capsys):
    a = np.arange(40, dtype=float)
    monkeypatch.setattr(forecast_ets, "ets_forecast", lambda *args: None)
    fc = forecast_ets.rolling(a, [(29, 4), (33, 4)], 4, {"trend": False, "damped": False, "seasonal": False}, "val")
    assert fc.tolist() == [26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0, 33.0]  # a[o + 1 + h % 4 - 4]
    assert "ETS could not be fitted at 2 of 2 val origin(s): seasonal naive stands in" in capsys.readouterr().out
    monkeypatch.setattr(forecast_ets, "available", lambda: False)
    assert forecast_ets.announce_choice(a, 4) is None
    assert "statsmodels is not installed" in capsys.readouterr().out


def test_unconverged_fits_are_counted_and_said(monkeypatch, capsys):
    class Fit:
        def __init__(self, converged):
            self.rnnkit_converged = converged

        def forecast(self, k):
            return np.full(k, 7.0)

    calls = iter([False, True, False])
    monkeypatch.setattr(forecast_ets, "_fit", lambda a, season, spec: Fit(next(calls)))
    spec = {"trend": False, "damped": False, "seasonal": False}
    fc = forecast_ets.rolling(np.arange(40, dtype=float), [(29, 2), (31, 2), (33, 2)], 4, spec, "test")
    assert fc.tolist() == [7.0] * 6  # the unconverged fits' forecasts are used
    out = capsys.readouterr().out
    assert "stopped before converging at 2 of 3 test origin(s)" in out


def test_fit_flags_a_convergence_warning(monkeypatch):
    from statsmodels.tools.sm_exceptions import ConvergenceWarning
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    real_fit = ExponentialSmoothing.fit

    def warn_then_fit(self, *args, **kwargs):
        import warnings
        warnings.warn("optimisation failed to converge", ConvergenceWarning)
        return real_fit(self, *args, **kwargs)

    a = 10 + np.sin(np.arange(48) / 3.0)
    spec = {"trend": False, "damped": False, "seasonal": False}
    assert forecast_ets._fit(a, 1, spec).rnnkit_converged
    monkeypatch.setattr(ExponentialSmoothing, "fit", warn_then_fit)
    assert not forecast_ets._fit(a, 1, spec).rnnkit_converged
