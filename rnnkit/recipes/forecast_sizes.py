"""``forecast``'s sizes for a run: season, horizon, window, the test and validation split and the transform.

The options left at 0 / ``auto`` are resolved here, per built-in dataset or, for ``--data``, from the
user's series (its time column's step, its length, its shape) by the rules of
:mod:`rnnkit.recipes.forecast_choices`; :func:`picked_note` is the line that tells the user what was
picked and why.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from rnnkit.recipes.forecast_choices import TEST_SHARE, auto_transform, split_sizes

if TYPE_CHECKING:
    from rnnkit.recipes.forecast import Config

__all__ = ["SEASONS", "TRANSFORMS", "picked_note", "resolve_sizes", "run_lengths"]

SEASONS = {"co2": 52, "airline": 12}
"""The built-in datasets' seasons (weekly CO2, monthly airline)."""
TRANSFORMS = {"co2": "none", "airline": "log"}
"""The built-in datasets' transforms under ``--transform auto``."""


def resolve_sizes(cfg: Config, n: int, times: Optional[list[str]] = None,
                  y: Optional[np.ndarray] = None) -> dict[str, Any]:
    """Season, horizon, window, split sizes and transform for a series of ``n`` points (0 / auto resolved).

    Args:
        cfg: the run's options.
        n: the series' length.
        times: its time column as written (``None`` without one): the season of ``--data`` comes from its step.
        y: the series ``(n,)``: ``--transform auto`` looks at its training part.

    Returns:
        ``season``, ``horizon``, ``window``, ``test_size``, ``val_size``, ``transform`` and ``why``
        (for ``season`` / ``transform`` when picked from the series: why, in words).

    Raises:
        ValueError: a negative size, or a series too short for the sizes.
    """
    for name in ("season", "horizon", "window", "test_size", "val_size"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"forecast: --{name.replace('_', '-')} must be >= 0, got {getattr(cfg, name)}")
    why: dict[str, str] = {}
    season = cfg.season
    if not season and cfg.data:
        from rnnkit.data.timeindex import infer_step
        step = infer_step(times) if times else None
        season = (step.season or 1) if step else 1
        why["season"] = (f"the time column's step is {step.name}" if step else
                         "the time column's step is irregular: no season (--season to set one)" if times else
                         "no time column: no season (--season to set one)")
        if season > 1 and n < run_lengths(cfg, n, season)[-1]:
            why["season"] = (f"the time column's step is {step.name}, but {n} points are too few for season "
                             f"{season} ({run_lengths(cfg, n, season)[-1]} needed): no season (--season to insist)")
            season = 1
    season = season or SEASONS[cfg.dataset]
    horizon, window, test, val, need = run_lengths(cfg, n, season)
    transform = cfg.transform if cfg.transform != "auto" else ("none" if cfg.data else TRANSFORMS[cfg.dataset])
    if cfg.transform == "auto" and cfg.data and y is not None:
        transform, why["transform"] = auto_transform(y[: n - test - val], season)
    if n < need:
        raise ValueError(f"forecast: the series must have at least window + season + horizon + val + test = "
                         f"{window} + {season} + {horizon} + {val} + {test} = {need} points, got {n}; "
                         "lower --window/--horizon/--test-size/--val-size")
    return {"season": season, "horizon": horizon, "window": window, "test_size": test, "val_size": val,
            "transform": transform, "why": why}


def run_lengths(cfg: Config, n: int, season: int) -> tuple[int, int, int, int, int]:
    """``(horizon, window, test, val, points needed)`` for ``season`` (0 / auto resolved)."""
    horizon = cfg.horizon or season
    window = cfg.window or max(2 * season, 8)
    if cfg.data:
        test, val = split_sizes(n, season, horizon, window)
        test, val = cfg.test_size or test, cfg.val_size or cfg.test_size or val
    else:
        test = cfg.test_size or (2 * horizon if n >= 20 * horizon else horizon)
        val = cfg.val_size or test
    return horizon, window, test, val, window + season + horizon + val + test


def picked_note(cfg: Config, sizes: dict[str, Any], n: int, time_col: str) -> str:
    """The line that tells the ``sizes`` (:func:`resolve_sizes`' result) chosen for a user's series, and why."""
    season_why = sizes.get("why", {}).get("season")
    picked = [] if cfg.test_size else ["--test-size"]
    picked += [] if (cfg.val_size or cfg.test_size) else ["--val-size"]
    source = f"time column {time_col!r}" if time_col else "no time column"
    rule = (f" ({' and '.join(picked)} picked from the series: about {TEST_SHARE:.0%} each, at least one "
            "season, in whole horizons)") if picked else ""
    tf_why = sizes.get("why", {}).get("transform")
    source += f"; transform {sizes['transform']}" + (f" ({tf_why})" if tf_why else "")
    return (f"forecast: {n} points, {source}; season {sizes['season']}{f' ({season_why})' if season_why else ''}, "
            f"horizon {sizes['horizon']}, window {sizes['window']}; test = the last {sizes['test_size']} points "
            f"({math.ceil(sizes['test_size'] / sizes['horizon'])} forecast origin(s)), validation = the "
            f"{sizes['val_size']} before them{rule}")
