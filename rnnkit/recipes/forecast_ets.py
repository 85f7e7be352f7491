"""``forecast``'s second opinion: statsmodels' ETS, and the per-point median that combines the forecasts.

The network's forecast (gated, see :mod:`rnnkit.recipes.forecast`) is combined with two classical
ones at every forecast point: **ETS** (exponential smoothing, statsmodels'
``ExponentialSmoothing``; the form, additive / damped additive / no trend x additive / no season,
chosen once by AIC on the training part, then refitted on the history before each forecast origin) and
**seasonal naive**. The forecast is the median of four values per point,

.. math::

    \\hat y = \\operatorname{median}\\big(f_{net}, f_{ets}, f_{naive}, (f_{net} + f_{ets}) / 2\\big),

the mean of the middle two: halfway between the network-ETS mean and the seasonal-naive forecast
clipped to the interval the network and ETS span. When the network and ETS agree it is their mean;
when one of them goes astray (the network on uschange's calm test tail) the naive forecast pulls it
back. Chosen on the forecasting battery (``forecast_choices.TUNING``).

ETS works on the series as it is (not log-transformed: on the log of the airline series AIC picks a
form without trend, which forecasts poorly; additive ETS on the raw series does well there).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional

import numpy as np

__all__ = ["announce_choice", "available", "choose", "combine", "ets_forecast", "rolling", "spec_name"]


def available() -> bool:
    """Whether statsmodels (the ``[data]`` extra) is installed."""
    try:
        import statsmodels.tsa.holtwinters  # noqa: F401
    except ImportError:
        return False
    return True


def _fit(a: np.ndarray, season: int, spec: dict[str, Any]) -> Any:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # statsmodels' chatter stays quiet; a failed fit raises (the caller says so)
        model = ExponentialSmoothing(np.asarray(a, dtype=np.float64), trend="add" if spec["trend"] else None,
                                     damped_trend=bool(spec["trend"] and spec.get("damped", True)),
                                     seasonal="add" if spec["seasonal"] else None,
                                     seasonal_periods=season if spec["seasonal"] else None,
                                     initialization_method="estimated")
        result = model.fit()
    # an optimiser that stopped short is counted and said by rolling(), not hidden
    result.rnnkit_converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return result


def spec_name(spec: dict[str, Any]) -> str:
    """``ETS(A,Ad,A)``-style name of a form (error, trend, season)."""
    trend = ("Ad" if spec.get("damped", True) else "A") if spec["trend"] else "N"
    return f"ETS(A,{trend},{'A' if spec['seasonal'] else 'N'})"


def choose(a: np.ndarray, season: int) -> Optional[dict[str, Any]]:
    """The ETS form with the lowest AIC on ``a`` ``(N,)``; ``None`` when none can be fitted.

    Candidates: additive trend, damped additive trend or none, x additive season (when
    ``season > 1`` and ``a`` holds at least two seasons and two points) or none. (With damped trends
    only, AIC picked no trend for weekly CO2, whose 52-step forecasts then missed the trend.)
    """
    seasonal = (False, True) if season > 1 and len(a) >= 2 * season + 2 else (False,)
    best, best_aic = None, math.inf
    for trend, damped in ((False, False), (True, True), (True, False)):
        for seas in seasonal:
            spec = {"trend": trend, "damped": damped, "seasonal": seas}
            try:
                aic = float(_fit(a, season, spec).aic)
            except Exception:  # noqa: BLE001 - a form that does not fit is left out; the others compete
                continue
            if math.isfinite(aic) and aic < best_aic:
                best, best_aic = spec, aic
    return best


def ets_forecast(a: np.ndarray, origin: int, horizon: int, season: int, spec: dict[str, Any],
                 notes: Optional[dict[str, int]] = None) -> Optional[np.ndarray]:
    """ETS ``spec`` fitted on ``a[: origin + 1]``: the next ``horizon`` values ``(horizon,)``, or ``None`` if it fails.

    ``notes["unconverged"]`` (when given) counts fits whose optimiser warned that it did not converge
    (their forecast is still used).
    """
    try:
        fit = _fit(a[: origin + 1], season, spec)
        out = np.asarray(fit.forecast(horizon), dtype=np.float64)
    except Exception:  # noqa: BLE001 - numerical failure at one origin: the caller substitutes and says so
        return None
    if notes is not None and not getattr(fit, "rnnkit_converged", True):
        notes["unconverged"] = notes.get("unconverged", 0) + 1
    return out if np.all(np.isfinite(out)) else None


def combine(net: np.ndarray, ets: np.ndarray, naive: np.ndarray) -> np.ndarray:
    """Per point, the median of ``net``, ``ets``, ``naive`` and ``(net + ets) / 2`` (all ``(n,)``)."""
    net, ets, naive = (np.asarray(v, dtype=np.float64) for v in (net, ets, naive))
    return np.median(np.stack([net, ets, naive, (net + ets) / 2]), axis=0)


def announce_choice(train: np.ndarray, season: int) -> Optional[dict[str, Any]]:
    """:func:`choose` on the training part, printed; ``None`` (said) when there is no ETS to combine with."""
    if not available():
        print("forecast: NOTE statsmodels is not installed (pip install 'rnnkit[data]'), so there is no ETS "
              "forecast to combine with: this run forecasts with the network alone (as --no-combine)")
        return None
    spec = choose(train, season)
    if spec is None:
        print("forecast: NOTE no ETS form could be fitted on the training part: this run forecasts with the "
              "network alone (as --no-combine)")
        return None
    print(f"forecast: combining per point the network, {spec_name(spec)} (chosen by AIC on the training part, "
          "refitted at every origin), seasonal naive and the network-ETS mean: the median of the four "
          "(--no-combine: the network alone)")
    return spec


def rolling(a: np.ndarray, origins: list[tuple[int, int]], season: int, spec: dict[str, Any],
            what: str = "") -> np.ndarray:
    """ETS forecasts of ``k`` steps from each ``(origin, k)``, refitted on ``a[: origin + 1]``; concatenated.

    Where a fit fails the seasonal-naive forecast stands in, and a note says at how many origins; fits whose
    optimiser did not converge are counted in another note.
    """
    out, failed, notes = [], 0, {"unconverged": 0}
    for o, k in origins:
        fc = ets_forecast(a, o, k, season, spec, notes)
        if fc is None:
            failed += 1
            fc = a[o + 1 + np.arange(k) % season - season]  # seasonal naive
        out.append(fc)
    if failed:
        print(f"forecast: NOTE ETS could not be fitted at {failed} of {len(origins)} {what} origin(s): seasonal "
              "naive stands in for it there")
    if notes["unconverged"]:
        print(f"forecast: NOTE ETS's optimiser stopped before converging at {notes['unconverged']} of {len(origins)} "
              f"{what} origin(s) (statsmodels' ConvergenceWarning); its forecasts there are used as they are")
    return np.concatenate(out)
