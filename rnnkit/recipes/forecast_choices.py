"""What ``forecast`` picks from a user's series (``--data``): test and validation lengths, the transform.

The rules were chosen on the forecasting battery (``benchmarks/forecast_battery.py``, ten offline
series); :data:`TUNING` keeps what was tried.
"""

from __future__ import annotations

import math

import numpy as np

TUNING = """
What was tried for forecast's --data defaults (December 2026), on benchmarks/forecast_battery.py (ten
offline series, each through `rnnkit train forecast --data ... --column value` with defaults; seed 0;
MASE scaled by the training part's in-sample seasonal-naive MAE; mean over the ten series):

| defaults | mean MASE | beats seasonal naive (test MAE) | notes |
|---|---|---|---|
| before: test = val = 2 points, season 1 | n/a | n/a | a 2-point test tail "beat" naive by chance |
| season from the time column, test = val = ~10% (>= 1 season, whole horizons), transform none | 0.795 | 8 of 10 | elnino 1.28 (naive 0.93), uschange 0.66 (naive 0.38) |
| + validation gate (keep the correction if it beats the base on validation at all) + log when r > 0.7 | n/a | n/a | airline 0.61 -> 0.47; elec_equip to logs (r = 0.76): 0.25 -> 0.53; elnino unchanged 1.28 (a 9% validation win that was luck) |
| + gate needs t >= 2 standard errors, log only when r > 0.9 | 0.773 | 6 of 10; elnino, nile, lynx fall back to naive (ties) | nile (t = 1.2) and lynx (t = 1.3) lost real gains |
| + gate at t >= 1 standard error (GATE_T): the defaults | 0.745 | 8 of 10; elnino ties (naive), uschange 1.73 | see benchmarks/README.md |

ETS (statsmodels, AIC over (A|Ad|N) trend x (A|N) season) averages 0.714 on the same points; ARIMA 0.649.
"""
"""The table of what was tried (kept as the sentiment recipe keeps its own)."""

__all__ = ["GATE_T", "TEST_SHARE", "TUNING", "WEIGHTS", "auto_transform", "choose_weight", "gate_passes",
           "split_sizes"]

TEST_SHARE = 0.10
"""For ``--data``: the test tail (and the validation stretch) each take about this share of the series."""

def auto_transform(train: np.ndarray, season: int) -> tuple[str, str]:
    """``("log", why)`` when a user's series looks multiplicative, else ``("none", why)``.

    Multiplicative: every value is positive, the series holds at least four whole seasons, the
    level (mean of each season-long block) changes by a factor of 1.5 or more, and the swing
    within a block (the standard deviation about the block's own linear trend) grows with the
    level (correlation > 0.9 across blocks; at 0.7, elec_equip (r = 0.76) went to logs and lost).
    """
    blocks = len(train) // season if season > 1 else 0
    if season <= 1 or blocks < 4 or (train <= 0).any():
        return "none", "no season, fewer than four seasons, or values <= 0"
    b = train[len(train) - blocks * season:].reshape(blocks, season)
    xc = np.arange(season) - (season - 1) / 2  # remove each block's own linear trend: the swing is seasonal only
    slope = (b - b.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    level, swing = b.mean(axis=1), (b - b.mean(axis=1, keepdims=True) - slope[:, None] * xc).std(axis=1)
    ratio = float(level.max() / level.min())
    corr = float(np.corrcoef(level, swing)[0, 1]) if swing.std() > 0 else 0.0
    if ratio >= 1.5 and corr > 0.9:
        return "log", f"the level changes {ratio:.1f}-fold and the seasonal swing grows with it (r = {corr:.2f})"
    return "none", f"level ratio {ratio:.2f}, swing-level correlation {corr:.2f}: additive"


def split_sizes(n: int, season: int, horizon: int, window: int, share: float = TEST_SHARE) -> tuple[int, int]:
    """The test and validation lengths picked for a series of ``n`` points (``--data`` defaults).

    Each is ``k`` whole horizons, ``k = max(ceil(season / horizon), round(share * n / horizon), 1)``:
    at least one season, about ``share`` of the series. When that leaves too little to train on
    (fewer than ``window + season + horizon`` points), ``k`` shrinks towards its minimum.

    Returns:
        ``(test_size, val_size)`` (equal).
    """
    k_min = max(math.ceil(season / horizon), 1)
    k = max(k_min, round(share * n / horizon))
    while k > k_min and n - 2 * k * horizon < window + season + horizon:
        k -= 1
    return k * horizon, k * horizon


GATE_T = 1.0
"""How many standard errors above 0 the validation gain must be for the network's correction to be kept."""


def gate_passes(gain: np.ndarray, t: float = GATE_T) -> bool:
    """Whether per-point gains in absolute error ``(n,)`` (base minus model) are clearly positive.

    ``mean(gain) >= t * std(gain) / sqrt(n)`` with ``mean > 0`` (a one-sided paired test at about
    ``t`` standard errors); fewer than two points never pass.
    """
    gain = np.asarray(gain, dtype=np.float64)
    if len(gain) < 2 or gain.mean() <= 0:
        return False
    return bool(gain.mean() >= t * gain.std(ddof=1) / math.sqrt(len(gain)))


WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
"""The shares of the network's correction that :func:`choose_weight` tries."""


def choose_weight(actual: np.ndarray, base: np.ndarray, full: np.ndarray,
                  weights: tuple[float, ...] = WEIGHTS, t: float = GATE_T) -> tuple[float, float]:
    """The share ``w`` of the correction to forecast with, ``base + w (full - base)``, chosen on validation.

    Args:
        actual: validation truth ``(n,)``.
        base: the base forecast there (seasonal naive) ``(n,)``.
        full: the forecast with the whole correction ``(n,)``.

    Returns:
        ``(w, t_stat)``: the ``w`` in ``weights`` with the lowest validation MAE (the smaller on a tie),
        or 0 when its gain over the base does not pass :func:`gate_passes`; ``t_stat`` is that gain's
        mean over its standard error (0 when undefined).
    """
    actual, base, full = (np.asarray(v, dtype=np.float64) for v in (actual, base, full))
    maes = [float(np.mean(np.abs(base + w * (full - base) - actual))) for w in weights]
    w = weights[int(np.argmin(maes))]
    gain = np.abs(base - actual) - np.abs(base + w * (full - base) - actual)
    sd = gain.std(ddof=1) if len(gain) > 1 else 0.0
    t_stat = float(gain.mean() / (sd / math.sqrt(len(gain)))) if sd > 0 else 0.0
    return (w, t_stat) if w > 0 and gate_passes(gain, t) else (0.0, t_stat)
