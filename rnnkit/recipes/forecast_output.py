"""What ``forecast`` writes: the metrics table, ``forecasts.csv`` and ``predict``'s CSV."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from rnnkit.data.timeindex import future_times
from rnnkit.train.plots import new_figure

METRICS = (("MAE", "mae"), ("RMSE", "rmse"), ("MSE", "mse"), ("MAPE %", "mape"), ("sMAPE %", "smape"),
           ("MASE", "mase"))


def _fmt(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.4g}" if abs(x) >= 1e4 else f"{x:.4f}"


def metrics_table(m: dict[str, float], season: int, ets: str = "") -> str:
    """A Markdown table: model and seasonal naive on the test tail, one column per metric.

    With ``ets`` (the ETS form's name; the run combined forecasts) the combination's members get rows too:
    the network alone (``net_*``) and ETS (``ets_*``).
    """
    def row(label: str, prefix: str) -> str:
        return f"| {label} | " + " | ".join(_fmt(m.get(prefix + key, math.nan)) for _, key in METRICS) + " |"

    head = "| on the test tail | " + " | ".join(name for name, _ in METRICS) + " |"
    rule = "|---" * (len(METRICS) + 1) + "|"
    rows = [row("model (median of network, ETS, naive, network-ETS mean)" if ets else "model", "")]
    rows += [row("network alone", "net_"), row(ets, "ets_")] if ets else []
    rows.append(row(f"seasonal naive (season {season})", "naive_"))
    note = ("\n\nMASE divides the MAE by the in-sample seasonal-naive MAE of the training part; "
            "MAPE is n/a when a true value is 0.")
    return "\n".join([head, rule, *rows]) + note


def write_forecasts_csv(path: Path, r: dict[str, np.ndarray], times: Optional[Sequence[str]]) -> None:
    """One row per forecast point of the test tail.

    Columns: ``origin`` (index of the last observed point), ``origin_time``, ``step_ahead``,
    ``target`` (index of the forecast point), ``target_time``, ``actual``, ``predicted``,
    ``baseline`` (seasonal naive) and, when the run combines forecasts, ``network`` and ``ets`` (the
    members). Times are the series' own (its time column); without one they repeat the index.
    """
    extra = [k for k in ("network", "ets") if "ets" in r and k in r]
    def when(i: int) -> str:
        return times[i] if times is not None else str(i)

    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["origin", "origin_time", "step_ahead", "target", "target_time", "actual", "predicted", "baseline",
                    *extra])
        for i, (o, k, p, y, f, b) in enumerate(zip(r["origin"], r["step"], r["pos"], r["actual"], r["predicted"],
                                                   r["baseline"])):
            w.writerow([int(o), when(int(o)), int(k), int(p), when(int(p)), f"{y:.6g}", f"{f:.6f}", f"{b:.6f}",
                        *(f"{r[c][i]:.6f}" for c in extra)])


def write_prediction_csv(path: Path, n: int, forecast: np.ndarray, naive: np.ndarray,
                         times: Optional[Sequence[str]], time_col: str) -> str:
    """``predict``'s CSV: the ``h`` steps after the input's end; returns a note for the user ("" if none).

    Columns: ``time`` (named after the input's time column, when it has one with a regular step),
    ``index`` (position after the input's last row, 0-based), ``step_ahead``, ``forecast``,
    ``seasonal_naive``.
    """
    h = len(forecast)
    future = future_times(list(times), h) if times else None
    note = ""
    if times and future is None:
        note = (f"the time column {time_col!r} has no regular step (or dates that numpy cannot read), so the "
                "forecast rows are indexed by position only")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(([time_col] if future else []) + ["index", "step_ahead", "forecast", "seasonal_naive"])
        for k in range(h):
            w.writerow(([future[k]] if future else []) + [n + k, k + 1, f"{forecast[k]:.6f}", f"{naive[k]:.6f}"])
    return note


def plot_test_tail(path: Path, y: np.ndarray, r: dict[str, np.ndarray], season: int, m: dict[str, float],
                   title: str) -> None:
    """``forecast.png``: the history before the test tail, the truth, the forecast and seasonal naive."""
    pos = r["pos"]
    fig = new_figure(10, 4)
    ax = fig.subplots()
    hist = np.arange(max(0, pos[0] - 3 * max(season, 8)), pos[0])
    ax.plot(hist, y[hist], color="tab:gray", label="history")
    ax.plot(pos, r["actual"], color="black", label="truth (held-out tail)")
    ax.plot(pos, r["predicted"], color="tab:blue", label=f"model (MAE {m['mae']:.3g})")
    ax.plot(pos, r["baseline"], "--", color="tab:orange", label=f"seasonal naive (MAE {m['naive_mae']:.3g})")
    ax.set_xlabel("time step")
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
