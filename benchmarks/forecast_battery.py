"""Forecasting battery: rnnkit's ``forecast`` defaults on every offline series, beside seasonal naive, ETS, ARIMA.

Each series (shipped inside statsmodels and sktime; no loader that downloads) is written
to a CSV with a ``date`` and a ``value`` column and trained through the user path::

    rnnkit train forecast --data SERIES.csv --column value

with every other option at its default (the season comes from the date column's step, the
test and validation lengths are picked from the series). On exactly the test points and
origins of that run (its ``forecasts.csv``), statsmodels' ETS and ARIMA are fitted on the
history before each origin (the model choice, by AIC, is made once on the history before
the first test origin and refitted at every origin) and forecast the same steps. MASE's
scale is the in-sample seasonal-naive MAE of the run's training part for every method.

Usage::

    python benchmarks/forecast_battery.py [--series airline,nile] [--out benchmarks/forecast_battery.json]
                                          [--threads 1] [--extra "--epochs 300"]

Prints a Markdown table (the one in ``benchmarks/README.md``) and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnnkit.recipes.forecast_metrics import mase_scale, point_metrics  # noqa: E402

Series = Tuple[List[str], np.ndarray]


def _pkg(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"forecast_battery: {name} is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def _rows(path: Path) -> List[Dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _sm(name: str) -> Path:
    return _pkg("statsmodels") / "datasets" / name / f"{name}.csv"


def _skt(name: str) -> Path:
    return _pkg("sktime") / "datasets" / "data" / name / f"{name}.csv"


def airline() -> Series:
    r = _rows(_skt("Airline"))
    return [x["Date"] for x in r], np.array([float(x["Passengers"]) for x in r])


def co2_monthly() -> Series:
    """Mauna Loa weekly CO2 averaged per month, 1958-03 .. 2001-12 (5 months without data interpolated)."""
    r = _rows(_sm("co2"))
    months: Dict[str, List[float]] = {}
    for x in r:
        if x["co2"].strip():
            months.setdefault(f"{x['date'][:4]}-{x['date'][4:6]}", []).append(float(x["co2"]))
    keys = [str(m) for m in np.arange(np.datetime64(min(months), "M"), np.datetime64(max(months), "M") + 1)]
    values = np.array([np.mean(months[k]) if k in months else np.nan for k in keys])
    gaps = np.isnan(values)
    values[gaps] = np.interp(np.flatnonzero(gaps), np.flatnonzero(~gaps), values[~gaps])
    return keys, values


def elnino() -> Series:
    r = _rows(_sm("elnino"))
    names = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    dates, values = [], []
    for x in r:
        for m, key in enumerate(names, 1):
            dates.append(f"{int(float(x['YEAR']))}-{m:02d}")
            values.append(float(x[key]))
    return dates, np.array(values)


def elec_equip() -> Series:
    r = _rows(_sm("elec_equip"))
    month = {m: i for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                         "Dec"], 1)}
    dates = []
    for x in r:
        mon, _, year = x["DATE"].split("-")
        dates.append(f"{year}-{month[mon]:02d}")
    return dates, np.array([float(x["STS.M.I7.W.TOVT.NS0016.4.000"]) for x in r])


def macro_realgdp() -> Series:
    r = _rows(_sm("macrodata"))
    dates = [f"{int(float(x['year']))}-{3 * int(float(x['quarter'])) - 2:02d}" for x in r]
    return dates, np.array([float(x["realgdp"]) for x in r])


def uschange() -> Series:
    r = _rows(_skt("Uschange"))
    dates = []
    for x in r:
        year, q = x["Quarter"].split(" Q")
        dates.append(f"{year}-{3 * int(q) - 2:02d}")
    return dates, np.array([float(x["Consumption"]) for x in r])


def nile() -> Series:
    r = _rows(_sm("nile"))
    return [x["year"] for x in r], np.array([float(x["volume"]) for x in r])


def sunspots() -> Series:
    r = _rows(_sm("sunspots"))
    return [str(int(float(x["YEAR"]))) for x in r], np.array([float(x["SUNACTIVITY"]) for x in r])


def lynx() -> Series:
    r = _rows(_skt("Lynx"))
    return [x[""] for x in r], np.array([float(x["0"]) for x in r])


def shampoo() -> Series:
    r = _rows(_skt("ShampooSales"))
    return [x["Time"] for x in r], np.array([float(x["Sales"]) for x in r])


BATTERY: Dict[str, Tuple[Callable[[], Series], str]] = {
    "airline": (airline, "sktime Airline, monthly passengers 1949-1960"),
    "co2": (co2_monthly, "statsmodels co2, weekly Mauna Loa averaged per month"),
    "elnino": (elnino, "statsmodels elnino, monthly sea surface temperature 1950-2010"),
    "elec_equip": (elec_equip, "statsmodels elec_equip, monthly orders index 1995-2012"),
    "realgdp": (macro_realgdp, "statsmodels macrodata realgdp, quarterly 1959-2009"),
    "uschange": (uschange, "sktime Uschange Consumption, quarterly % change 1970-2016"),
    "nile": (nile, "statsmodels nile, yearly flow 1871-1970"),
    "sunspots": (sunspots, "statsmodels sunspots, yearly 1700-2008"),
    "lynx": (lynx, "sktime Lynx, yearly trappings 1821-1934"),
    "shampoo": (shampoo, "sktime ShampooSales, monthly, 36 points"),
}


# ------------------------------------------------------------------ statsmodels baselines

def _ets_fit(y: np.ndarray, season: int, config: Tuple[bool, bool]):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    trend, seasonal = config
    model = ExponentialSmoothing(y, trend="add" if trend else None, damped_trend=trend,
                                 seasonal="add" if seasonal else None, seasonal_periods=season if seasonal else None,
                                 initialization_method="estimated")
    return model.fit()


def _ets_configs(season: int, n: int) -> List[Tuple[bool, bool]]:
    seasonal = [False, True] if season > 1 and n >= 2 * season + 2 else [False]
    return [(t, s) for t in (False, True) for s in seasonal]


def _arima_fit(y: np.ndarray, season: int, order: Tuple[Tuple[int, int, int], Tuple[int, int, int, int]]):
    from statsmodels.tsa.arima.model import ARIMA

    trend = "t" if order[0][1] == 1 and order[1][1] == 0 else ("c" if order[0][1] == 0 and order[1][1] == 0 else "n")
    return ARIMA(y, order=order[0], seasonal_order=order[1], trend=trend).fit()


def _arima_orders(season: int, n: int) -> List[Tuple[Tuple[int, int, int], Tuple[int, int, int, int]]]:
    """Candidates: (p, d, q) with p <= 2, d <= 1, q <= 1; with a season, (p, 1, q)(0, 1, 1) (the airline model family)."""
    if season > 1 and n >= 3 * season:
        return [((p, 1, q), (0, 1, 1, season)) for p in (0, 1, 2) for q in (0, 1)]
    return [((p, d, q), (0, 0, 0, 0)) for p in (0, 1, 2) for d in (0, 1) for q in (0, 1)]


def _select(fit: Callable, options: list, y: np.ndarray):
    best, best_aic = None, math.inf
    for opt in options:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = fit(y, opt)
            aic = float(res.aic)
        except Exception:  # noqa: BLE001 - a candidate that does not fit is skipped, the others compete
            continue
        if math.isfinite(aic) and aic < best_aic:
            best, best_aic = opt, aic
    if best is None:
        raise RuntimeError("no candidate model could be fitted")
    return best


def rolling_forecasts(y: np.ndarray, origins: List[Tuple[int, int]], season: int, kind: str) -> Tuple[np.ndarray, str]:
    """Forecasts of ``k`` steps from each ``(origin, k)``, fitting on ``y[: origin + 1]``."""
    first = origins[0][0]
    if kind == "ets":
        choice = _select(lambda v, c: _ets_fit(v, season, c), _ets_configs(season, first + 1), y[: first + 1])
        fit = lambda v: _ets_fit(v, season, choice)  # noqa: E731
        name = f"ETS(A,{'Ad' if choice[0] else 'N'},{'A' if choice[1] else 'N'})"
    else:
        choice = _select(lambda v, o: _arima_fit(v, season, o), _arima_orders(season, first + 1), y[: first + 1])
        fit = lambda v: _arima_fit(v, season, choice)  # noqa: E731
        name = f"ARIMA{choice[0]}" + (f"{choice[1][:3]}[{season}]" if choice[1][3] else "")
    out = []
    first_fit = None
    for o, k in origins:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = fit(y[: o + 1])
            except Exception:  # noqa: BLE001 - a refit that fails numerically keeps the first fit's parameters
                if kind != "arima":
                    raise
                first_fit = first_fit or fit(y[: first + 1])
                res = first_fit.apply(y[: o + 1])
                name += " (kept parameters at some origins)" if "kept" not in name else ""
            out.append(np.asarray(res.forecast(k), dtype=np.float64))
    return np.concatenate(out), name


# ------------------------------------------------------------------ one series

def write_series_csv(name: str, workdir: Path) -> tuple[Path, list, np.ndarray]:
    """The battery series ``name`` as ``workdir/<name>.csv`` (``date,value``), with its dates and values."""
    dates, y = BATTERY[name][0]()
    data = workdir / f"{name}.csv"
    with open(data, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["date", "value"])
        w.writerows(zip(dates, (f"{v:.10g}" for v in y)))
    return data, dates, y


def run_series(name: str, workdir: Path, threads: int, extra: List[str], baselines: bool = True) -> dict:
    data, dates, y = write_series_csv(name, workdir)
    run = workdir / f"run-{name}"
    cmd = [sys.executable, "-m", "rnnkit", "train", "forecast", "--data", str(data), "--column", "value",
           "--run-dir", str(run), "--no-progress", "--threads", str(threads), *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"series": name, "n": len(y), "error": (proc.stderr or proc.stdout).strip()[-500:]}
    picked = next((ln for ln in proc.stdout.splitlines() if ln.startswith("forecast: ") and "points" in ln), "")
    assets = json.loads((run / "assets.json").read_text())
    rows = _rows(run / "forecasts.csv")
    pos = np.array([int(r["target"]) for r in rows])
    actual = np.array([float(r["actual"]) for r in rows])
    ours = np.array([float(r["predicted"]) for r in rows])
    naive = np.array([float(r["baseline"]) for r in rows])
    origins: List[Tuple[int, int]] = []
    for r in rows:
        o = int(r["origin"])
        if origins and origins[-1][0] == o:
            origins[-1] = (o, origins[-1][1] + 1)
        else:
            origins.append((o, 1))
    assert np.allclose(actual, y[pos], rtol=1e-5), "forecasts.csv must score the series' own points"
    season = int(assets["season"])
    train_end = len(y) - int(assets["test_size"]) - int(assets["val_size"])
    q = mase_scale(y[:train_end], season)
    result = {"series": name, "n": len(y), "season": season, "horizon": int(assets["horizon"]),
              "test": int(assets["test_size"]), "val": int(assets["val_size"]), "origins": len(origins),
              "wall_s": round(wall, 1), "picked": picked,
              "rnnkit": point_metrics(actual, ours, q), "naive": point_metrics(actual, naive, q)}
    for kind in ("ets", "arima") if baselines else ():
        t0 = time.perf_counter()
        try:
            fc, model_name = rolling_forecasts(y, origins, season, kind)
            result[kind] = {**point_metrics(actual, fc, q), "model": model_name,
                            "wall_s": round(time.perf_counter() - t0, 1)}
        except Exception as err:  # noqa: BLE001 - reported in the table, not hidden
            result[kind] = {"error": f"{type(err).__name__}: {err}"}
    return result


def reuse_baselines(r: dict, earlier: Dict[str, dict]) -> None:
    """Copy ETS/ARIMA from an earlier run of the same series when its test points are the same.

    ETS and ARIMA depend only on the series and the origins, so an earlier run's numbers hold
    when ``n``, season, horizon, test, validation and origins all match (and the naive MAE
    agrees, a check that the same points were scored); otherwise they are left out.
    """
    old = earlier.get(r["series"])
    keys = ("n", "season", "horizon", "test", "val", "origins")
    if old is None or "error" in r or any(old.get(k) != r.get(k) for k in keys):
        return
    if not math.isclose(old["naive"]["mae"], r["naive"]["mae"], rel_tol=1e-9):
        return
    r["ets"], r["arima"] = old["ets"], old["arima"]
    r["baselines_from"] = "earlier run (same test points)"


def table(results: List[dict]) -> str:
    head = ("| series | n | season | test (origins x horizon) | rnnkit MAE | RMSE | MASE | rel. MAE vs naive | "
            "naive MASE | ETS MASE | ARIMA MASE | rnnkit wall s |\n|" + "---|" * 12)
    lines = [head]
    f = lambda d, k: "n/a" if k not in d or not math.isfinite(d[k]) else f"{d[k]:.3f}"  # noqa: E731
    for r in results:
        if "error" in r:
            lines.append(f"| {r['series']} | {r['n']} | | **failed**: {r['error'][:120]} | | | | | | | | |")
            continue
        rel = r["rnnkit"]["mae"] / r["naive"]["mae"]
        mark = "" if rel < 1 else " **(not < 1)**"
        lines.append(
            f"| {r['series']} | {r['n']} | {r['season']} | {r['test']} ({r['origins']} x {r['horizon']}) | "
            f"{r['rnnkit']['mae']:.4g} | {r['rnnkit']['rmse']:.4g} | {f(r['rnnkit'], 'mase')} | {rel:.3f}{mark} | "
            f"{f(r['naive'], 'mase')} | {f(r['ets'], 'mase')} {r['ets'].get('model', '')} | "
            f"{f(r['arima'], 'mase')} {r['arima'].get('model', '')} | {r['wall_s']} |")
    ok = [r for r in results if "error" not in r]
    if ok:
        mean = lambda key: float(np.mean([r[key]["mase"] for r in ok if math.isfinite(r[key].get("mase", math.nan))]))  # noqa: E731
        lines.append(f"| **mean** | | | | | | {mean('rnnkit'):.3f} | | {mean('naive'):.3f} | {mean('ets'):.3f} | "
                     f"{mean('arima'):.3f} | |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--series", default=",".join(BATTERY), help="comma-separated subset of " + ", ".join(BATTERY))
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "forecast_battery.json")
    p.add_argument("--threads", type=int, default=1, help="torch threads for each rnnkit run")
    p.add_argument("--extra", default="", help="extra flags for every rnnkit run (to try other settings)")
    p.add_argument("--workdir", type=Path, default=None, help="keep the CSVs and runs here (default: a temp dir)")
    p.add_argument("--no-baselines", action="store_true", help="skip ETS and ARIMA (quick tuning runs)")
    p.add_argument("--baselines-from", type=Path, default=None,
                   help="reuse ETS/ARIMA from an earlier JSON where the series' test points match exactly")
    args = p.parse_args()
    names = [s.strip() for s in args.series.split(",") if s.strip()]
    unknown = [s for s in names if s not in BATTERY]
    if unknown:
        raise SystemExit(f"forecast_battery: unknown series {unknown}; known: {', '.join(BATTERY)}")
    earlier = {} if args.baselines_from is None else {
        r["series"]: r for r in json.loads(args.baselines_from.read_text())["results"] if "error" not in r}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in names:
            r = run_series(name, work, args.threads, args.extra.split(), not (args.no_baselines or earlier))
            reuse_baselines(r, earlier)
            results.append(r)
            print(f"{name}: " + (r.get("error") or f"rnnkit MASE {r['rnnkit']['mase']:.3f}, naive "
                                 f"{r['naive']['mase']:.3f}, ETS {r.get('ets', {}).get('mase', math.nan):.3f}, ARIMA "
                                 f"{r.get('arima', {}).get('mase', math.nan):.3f} ({r['wall_s']} s)\n  {r['picked']}"),
                  flush=True)
    args.out.write_text(json.dumps({"extra": args.extra, "results": results}, indent=1) + "\n")
    if not args.no_baselines and all("ets" in r or "error" in r for r in results):
        print(table(results))


if __name__ == "__main__":
    main()
