"""Point-forecast accuracy: MAE, MSE, RMSE, MAPE, sMAPE and MASE (Hyndman & Koehler, 2006).

With errors ``e_t = f_t - y_t`` over the ``n`` scored points:

* ``MAE = mean |e|``, ``MSE = mean e^2``, ``RMSE = sqrt(MSE)``;
* ``MAPE = 100 mean |e / y|`` (undefined, ``nan``, when some ``y = 0``);
* ``sMAPE = 100 mean 2|e| / (|y| + |f|)`` (terms with ``y = f = 0`` count 0);
* ``MASE = MAE / Q`` with ``Q = mean_{t >= s} |y_t - y_{t-s}|`` over the *training* part of the
  series: the in-sample one-step seasonal-naive MAE. MASE < 1 means better than that in-sample
  benchmark; it is comparable across series of any scale.

``relative MAE`` (``mae_vs_naive``) is the model's MAE over the seasonal-naive forecast's MAE on
the same test points: below 1 the model beats the baseline there.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["mase_scale", "point_metrics"]


def mase_scale(train: np.ndarray, season: int) -> float:
    """``Q``: the in-sample seasonal-naive MAE of ``train`` ``(N,)`` at lag ``season`` (``nan`` if too short or 0)."""
    train = np.asarray(train, dtype=np.float64)
    if season < 1 or len(train) <= season:
        return math.nan
    q = float(np.mean(np.abs(train[season:] - train[:-season])))
    return q if q > 0 else math.nan


def point_metrics(actual: np.ndarray, predicted: np.ndarray, scale: float) -> dict[str, float]:
    """MAE, MSE, RMSE, MAPE (%), sMAPE (%) and MASE of ``predicted`` against ``actual`` (both ``(n,)``).

    Args:
        actual: the true values.
        predicted: the forecasts, same shape.
        scale: MASE's ``Q`` (:func:`mase_scale`); ``nan`` gives ``mase = nan``.
    """
    y = np.asarray(actual, dtype=np.float64)
    f = np.asarray(predicted, dtype=np.float64)
    if y.shape != f.shape or y.ndim != 1 or len(y) == 0:
        raise ValueError(f"point_metrics: actual and predicted must be equal non-empty 1-D arrays, got shapes "
                         f"{y.shape} and {f.shape}")
    e = f - y
    mae = float(np.mean(np.abs(e)))
    mse = float(np.mean(e ** 2))
    mape = float(100 * np.mean(np.abs(e / y))) if np.all(y != 0) else math.nan
    denom = np.abs(y) + np.abs(f)
    smape = float(100 * np.mean(np.where(denom > 0, 2 * np.abs(e) / np.where(denom > 0, denom, 1.0), 0.0)))
    return {"mae": mae, "mse": mse, "rmse": math.sqrt(mse), "mape": mape, "smape": smape,
            "mase": mae / scale if math.isfinite(scale) and scale > 0 else math.nan}
