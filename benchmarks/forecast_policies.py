"""How forecast turns the network's correction into a forecast, compared on the forecasting battery.

For every battery series (``forecast_battery.BATTERY``) and seed, ``forecast`` is trained with its
``--data`` defaults (in process, the same code path as the CLI). Its best checkpoint's *raw*
forecasts (the correction applied in full) are then taken on the validation stretch and on the test
tail, beside the base forecast (seasonal naive) and ETS (``forecast_ets``: the form chosen by AIC on
the training part, refitted at every origin). Each policy below decides from the validation stretch
alone (or not at all), and is scored on the test tail; nothing looks at the test tail to decide.
Policies (``net`` is the network's forecast, gated: the correction in full if its validation gain
over seasonal naive passes the paired test at t >= 1, else seasonal naive):

* ``net``: forecast's rule before the combination;
* ``weight``: a weight ``w`` in {0, 0.25, 0.5, 0.75, 1} on the correction, the one with the lowest
  validation MAE, kept only if that gain passes the same test;
* ``ets``: ETS alone; ``avg``: ``(net + ets) / 2``;
* ``median3``: per point, the median of net, ETS and seasonal naive;
* ``median4``: per point, the median of net, ETS, seasonal naive and ``(net + ets) / 2`` (the mean of
  the middle two; forecast's ``--combine``);
* each over the seeds one by one, and over their mean correction (``ens``).

Usage::

    python benchmarks/forecast_policies.py --seeds 0,1,2 [--series airline,nile] [--cache DIR]

The raw forecasts are cached per (series, seed) under ``--cache``, so policies can be changed and
re-scored without training again. Prints one table (MASE per series and policy, mean, wins over
seasonal naive by test MAE).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from forecast_battery import BATTERY, write_series_csv  # noqa: E402

from rnnkit.recipes.forecast_choices import GATE_T, gate_passes  # noqa: E402
from rnnkit.recipes.forecast_ets import combine  # noqa: E402
from rnnkit.recipes.forecast_metrics import mase_scale  # noqa: E402


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


def raw_forecasts(name: str, seed: int, work: Path, extra: Dict[str, object]) -> dict:
    """Train ``name`` with seed ``seed``; the best checkpoint's raw validation and test forecasts."""
    import torch

    from rnnkit.recipes.forecast import Forecast
    from rnnkit.train.loop import Trainer

    data, dates, y = write_series_csv(name, work)
    cfg = Forecast.Config.from_dict({"data": str(data), "column": "value", "seed": seed, "threads": 1, "combine": True,
                                     "progress": False, "run_dir": str(work / f"run-{name}-{seed}"), **extra},
                                    "forecast_policies")
    cfg.validate("forecast_policies")
    recipe = Forecast(cfg)
    trainer = Trainer(recipe, work / f"run-{name}-{seed}", log=lambda *_: None)
    trainer.fit()
    model = trainer.model
    gate_used = float(model.base_gate) if hasattr(model, "base_gate") else 1.0
    if hasattr(model, "base_gate"):
        model.base_gate.fill_(1.0)
    out: dict = {"series": name, "seed": seed, "gate_used": gate_used, "n": len(y),
                 "season": recipe.assets["season"], "train_end": recipe.bounds["train"][1]}
    model.eval()
    with torch.no_grad():
        for split in ("val", "test"):
            r = recipe._rolling(model, split)
            out[split] = {k: np.asarray(r[k], dtype=np.float64).tolist()
                          for k in ("actual", "network", "baseline_in_use", "origin", "ets")}
    return out


def _net(runs: List[dict], split: str, w: float = 1.0) -> np.ndarray:
    base = np.asarray(runs[0][split]["baseline_in_use"])
    corr = np.mean([np.asarray(r[split]["network"]) - base for r in runs], axis=0)
    return base + w * corr


def score(runs: List[dict], policy: str) -> dict:
    """Test MASE and relative MAE of one series under ``policy``, decided on validation only."""
    r0 = runs[0]
    val_y, test_y = np.asarray(r0["val"]["actual"]), np.asarray(r0["test"]["actual"])
    base_val, base_test = np.asarray(r0["val"]["baseline_in_use"]), np.asarray(r0["test"]["baseline_in_use"])
    full_val = _net(runs, "val")
    w = 1.0 if gate_passes(np.abs(base_val - val_y) - np.abs(full_val - val_y)) else 0.0
    if policy == "weight":
        w = choose_weight(val_y, base_val, full_val)[0]
    net, ets = _net(runs, "test", w), np.asarray(r0["test"]["ets"])
    fc = {"net": net, "weight": net, "ets": ets, "avg": (net + ets) / 2,
          "median3": np.median(np.stack([net, ets, base_test]), axis=0),
          "median4": combine(net, ets, base_test)}[policy]
    y_all = BATTERY[r0["series"]][0]()[1]
    q = mase_scale(y_all[: r0["train_end"]], r0["season"])
    mae = float(np.mean(np.abs(fc - test_y)))
    return {"w": w, "mase": mae / q, "rel": mae / float(np.mean(np.abs(base_test - test_y)))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--series", default=",".join(BATTERY))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--cache", type=Path, default=None, help="keep the raw forecasts here (default: a temp dir)")
    p.add_argument("--extra", default="{}", help="JSON of config overrides for every run, e.g. '{\"epochs\": 300}'")
    args = p.parse_args()
    names = [s for s in args.series.split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",")]
    extra = json.loads(args.extra)
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        tag = "".join(f"-{k}{v}" for k, v in sorted(extra.items()))
        runs: Dict[str, List[dict]] = {}
        for name in names:
            for seed in seeds:
                f = cache / f"{name}-seed{seed}{tag}.json"
                if not f.is_file():
                    work = Path(tempfile.mkdtemp(dir=cache))
                    f.write_text(json.dumps(raw_forecasts(name, seed, work, extra)))
                runs.setdefault(name, []).append(json.loads(f.read_text()))
                print(f"{name} seed {seed}: done", flush=True)
    policies: Dict[str, Callable[[List[dict]], dict]] = {}
    for pol in ("net", "weight", "ets", "avg", "median3", "median4"):
        for i, seed in enumerate(seeds):
            policies[f"{pol} (seed {seed})"] = lambda rs, pol=pol, i=i: score(rs[i:i + 1], pol)
        if len(seeds) > 1:
            policies[f"{pol} (ens {len(seeds)})"] = lambda rs, pol=pol: score(rs, pol)
    print("weights " + str(WEIGHTS))
    table: Dict[str, List[dict]] = {k: [] for k in policies}
    for name in names:
        for k, fn in policies.items():
            table[k].append(fn(runs[name]))
    print("| policy | mean MASE | beats seasonal naive (test MAE) | losses (rel. MAE) |\n|---|---|---|---|")
    for k, v in table.items():
        lost = ", ".join(f"{n} {r['rel']:.3f}" for n, r in zip(names, v) if r["rel"] >= 1)
        print(f"| {k} | {np.mean([r['mase'] for r in v]):.3f} | {sum(r['rel'] < 1 for r in v)} of {len(v)} | "
              f"{lost} |")


if __name__ == "__main__":
    main()
