"""``forecast``: multi-step forecasting of a real series from a sliding window (beyond the seeds).

From the last ``--window`` observations the model forecasts the next
``--horizon`` values at once (one head output per step ahead). The series is
first transformed (``log`` for the multiplicative airline series) and the
network reads two scaled, level-free features per step: the change from the
previous step and from the same step one season before. With ``--residual``
(default) it predicts the correction to the seasonal-naive forecast, its head
starts at zero, so training starts exactly at the baseline and learns what the
baseline misses (trend, changing seasonality); ``--no-residual`` predicts the
change from the last observed value instead. Each validation keeps the network's
correction only if it beats the base forecast there (``base_gate``, stored
with the weights); otherwise the network forecasts with the base alone and says so.
With ``--combine`` (default) the run's forecast is, per point, the median of the network's, an ETS
model's (statsmodels, refitted at every origin), the seasonal-naive one and the network-ETS mean
(:mod:`rnnkit.recipes.forecast_ets`); the report shows each member beside the combination.

Splits, in time order: train | validation (``--val-size``) | test
(``--test-size``, the held-out tail). Validation and test are forecast in
consecutive blocks of ``--horizon`` steps, each from the true history before
it (rolling origin). The **seasonal-naive baseline** (each step takes the
value one season earlier, ``y[t - season]``, repeated for horizons beyond a
season) is scored on exactly the same points and printed beside the model.

Data: Mauna Loa CO2 (default; weekly, season 52, forecast a year from two
years; test = the last two years), ``--dataset airline`` (monthly, season 12;
test = 1960, as in Box & Jenkins), or your own ``--data FILE.csv[.gz] --column
NAME``. For your own file the season comes from ``--season``, else from the
step of its time column (``--time-column``, or a column named like ``date`` /
``time`` / ``month``: monthly 12, quarterly 4, weekly 52, daily 7, hourly 24),
else 1 (none); the test tail and the validation stretch are each picked from
the series (:func:`split_sizes`: about 10% of it, at least one season, in
whole horizons) and printed (:mod:`rnnkit.recipes.forecast_sizes`).

Outputs: MAE, MSE, RMSE, MAPE, sMAPE and MASE (:mod:`rnnkit.recipes.forecast_metrics`) of
the model and of the baseline, ``forecast.png`` (forecast against truth on the
test tail) and ``forecasts.csv`` (one row per forecast point: origin, target
time, actual, predicted, baseline). ``rnnkit predict RUN --input FILE.csv``
forecasts the ``horizon`` steps after the end of a series in the same format
and writes them, beside the seasonal-naive forecast, as CSV, with the times
that follow the input's own time column when its step is regular.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.recipes import forecast_ets
from rnnkit.recipes.base import Recipe, RunConfig, opt, shuffled_batches
from rnnkit.recipes.forecast_choices import gate_passes
from rnnkit.recipes.forecast_choices import auto_transform, split_sizes  # noqa: F401 (imported from here)
from rnnkit.recipes.forecast_metrics import mase_scale, point_metrics
from rnnkit.recipes.forecast_output import metrics_table, plot_test_tail, write_forecasts_csv, write_prediction_csv
from rnnkit.recipes.forecast_sizes import picked_note, resolve_sizes
from rnnkit.recipes.forecast_sizes import SEASONS, TRANSFORMS  # noqa: F401 (were defined here)
from rnnkit.recipes.models import RNNModel

CLI_HINTS = {"skip_bad": "add --skip-bad", "column": "add --column NAME", "encoding": "add --encoding NAME",
             "interpolate_missing": None, "max_skipped_share": "raise --max-bad-share",
             "time_column": "add --time-column NAME", "feature_columns": None}
"""How :mod:`rnnkit.data`'s hints name this recipe's options (its flags)."""


@dataclass
class Config(RunConfig):
    """forecast options; 0 / "auto" pick per-dataset values (see the module docstring)."""

    dataset: str = opt("co2", "built-in series: co2 (Mauna Loa, weekly; statsmodels) or airline (monthly; sktime)",
                       choices=("co2", "airline"))
    data: str = opt("", "your own series instead: a CSV file (.csv or .csv.gz) with a header")
    column: str = opt("", "the CSV column holding the series (default: the file's only column besides the time)")
    time_column: str = opt("", "the CSV column holding the time, used for the season, forecasts.csv and predict's "
                               "times (default: a column named like date/time/month/t, if any)")
    season: int = opt(0, "season length in steps (0 = 52 for co2, 12 for airline; for --data: from the time "
                         "column's step, monthly 12, quarterly 4, weekly 52, daily 7, hourly 24, else 1 (none))")
    horizon: int = opt(0, "steps forecast at once (0 = one season)")
    window: int = opt(0, "past steps the model reads (0 = two seasons, at least 8)")
    test_size: int = opt(0, "held-out tail length (0 = co2: two years, airline: 1960; --data: about a tenth of the "
                            "series, at least one season, in whole horizons)")
    val_size: int = opt(0, "validation stretch just before the test tail (0 = --test-size)")
    skip_bad: bool = opt(False, "skip rows of --data / predict files whose value is not a number (counted, with a "
                                "warning; empty cells are interpolated anyway)")
    max_bad_share: float = opt(0.1, "with --skip-bad: stop when more than this share of the file's lines is bad")
    encoding: str = opt("utf-8", "encoding of --data / predict files")
    transform: str = opt("auto", "transform before scaling (auto = log for airline; for --data, log when every "
                                 "value is positive and the seasonal swing grows with the level; else none)",
                         choices=("auto", "none", "log"))
    residual: bool = opt(True, "predict the correction to the seasonal-naive forecast (else the change "
                               "from the last value)")
    combine: bool = opt(True, "forecast the per-point median of the network's, ETS's (statsmodels), the seasonal-"
                              "naive forecast and the network-ETS mean (--no-combine: the network alone)")
    hidden_size: int = opt(32, "units per recurrent layer")
    epochs: int = opt(150, "maximum passes over the training windows")
    patience: int = opt(30, "stop after this many epochs without a better validation MAE")
    batch_size: int = opt(32, "windows per batch")
    lr: float = opt(3e-3, "Adam learning rate")
    grad_clip: float = opt(1.0, "clip the global gradient norm (0 = off)")

    saved_defaults: ClassVar[dict[str, Any]] = {"combine": False}  # runs from before the combination


def seasonal_base(a: np.ndarray, origin: int, horizon: int, season: int) -> np.ndarray:
    """The seasonal-naive forecast of steps ``origin + 1 .. origin + horizon`` from ``a[: origin + 1]``.

    Step ``h`` takes ``a[origin + 1 + (h - 1) % season - season]``: the value one
    season before, repeating the last observed season for horizons beyond it.
    """
    h = np.arange(horizon)
    return a[origin + 1 + h % season - season]


def features(a: np.ndarray, season: int, scale1: float, scale: float) -> np.ndarray:
    """Per-step inputs ``(N, 2)``: ``(a_t - a_{t-1}) / scale1`` and ``(a_t - a_{t-season}) / scale``.

    Steps before ``season`` (where a difference is undefined) are zero.
    """
    out = np.zeros((len(a), 2), dtype=np.float64)
    out[1:, 0] = np.diff(a) / scale1
    out[season:, 1] = (a[season:] - a[:-season]) / scale
    return out


class Forecast(Recipe):
    """Sliding-window multi-step forecasting (see the module docstring)."""

    name = "forecast"
    description = "multi-step forecast of a series from a window, beside a seasonal-naive baseline (CO2, airline)"
    Config = Config
    datasets = {"co2": "co2", "airline": "airline"}
    monitor = "mae"
    monitor_mode = "min"
    cfg: Config

    # ---- data -----------------------------------------------------------------------------------
    def _read(self, path: Optional[Path] = None) -> np.ndarray:
        """The raw series: ``path`` (a CSV), else ``--data``, else the built-in dataset."""
        return self._read_timed(path)[1]

    def _read_timed(self, path: Optional[Path] = None) -> tuple[Optional[list[str]], np.ndarray, str]:
        """``(times, values, time column)``: times as written (``None`` without a time column)."""
        cfg = self.cfg
        if path is None and not cfg.data:
            from rnnkit.data.datasets import load_airline, load_co2
            dates, values = (load_co2 if cfg.dataset == "co2" else load_airline)()
            return [str(d) for d in dates], values, "date"
        from rnnkit.data.errors import option_spelling
        from rnnkit.data.numeric import read_timed_series_csv
        path = Path(path or cfg.data)
        if not path.is_file():
            raise FileNotFoundError(f"forecast: file {path} does not exist")
        with option_spelling(**CLI_HINTS):
            time_col = cfg.time_column or self._guess_time_column(path)
            times, y = read_timed_series_csv(path, cfg.column or None, time_col or None, interpolate_missing=True,
                                             skip_bad=cfg.skip_bad, encoding=cfg.encoding,
                                             max_skipped_share=cfg.max_bad_share)
        return times, y, time_col

    def _guess_time_column(self, path: Path) -> str:
        """The header's one column named like a time index (not ``--column``), or ``""``.

        The header is the one the reader then finds (``csv_rows``' header), read without the rest of the file.
        """
        from rnnkit.data.csvhead import csv_header
        from rnnkit.data.rows import looks_like_time
        header = csv_header(path, self.cfg.encoding)
        found = [c for c in header if looks_like_time(c) and c != self.cfg.column]
        return found[0] if len(found) == 1 else ""

    def _transform(self, y: np.ndarray) -> np.ndarray:
        if self.assets["transform"] == "log":
            if (y <= 0).any():
                raise ValueError(f"forecast: --transform log needs positive values, got minimum {y.min()}")
            return np.log(y)
        return y.astype(np.float64)

    def _untransform(self, a: np.ndarray) -> np.ndarray:
        return np.exp(a) if self.assets["transform"] == "log" else a

    def load_data(self) -> None:
        times, y, time_col = self._read_timed()
        n = len(y)
        if not self.assets:
            self.assets = {**resolve_sizes(self.cfg, n, times, y), "gate": True}
            if self.cfg.data:
                print(picked_note(self.cfg, self.assets, n, time_col))
            a = self._transform(y)
            s = self.assets["season"]
            head = a[: n - self.assets["test_size"] - self.assets["val_size"]]
            self.assets["scale1"] = float(np.std(np.diff(head))) or 1.0
            self.assets["scale"] = float(np.std(head[s:] - head[:-s])) or 1.0
            train = y[: n - self.assets["test_size"] - self.assets["val_size"]].astype(np.float64)
            self.assets["ets"] = forecast_ets.announce_choice(train, s) if self.cfg.combine else None
        self.monitor = "net_mae" if self.assets.get("ets") else "mae"  # the network is selected on its own
        self._ets_cache: dict[str, np.ndarray] = {}
        self.y, self.times = y, times
        self.a = self._transform(y)
        self.x = torch.from_numpy(features(self.a, self.assets["season"], self.assets["scale1"],
                                           self.assets["scale"]).astype(np.float32))
        test, val = self.assets["test_size"], self.assets["val_size"]
        self.bounds = {"train": (0, n - test - val), "val": (n - test - val, n - test), "test": (n - test, n)}
        w, s, h = self.assets["window"], self.assets["season"], self.assets["horizon"]
        self.mase_q = mase_scale(y[:self.bounds["train"][1]], s)  # MASE's scale: in-sample seasonal naive, train part
        origins = np.arange(w + s - 1, self.bounds["train"][1] - h)
        if self.cfg.tiny:
            origins = origins[-64:]
        inputs, targets = self._windows(origins)
        self.train_set = (inputs, targets)

    def _ets_points(self, split: str, origins: list[tuple[int, int]]) -> np.ndarray:
        """ETS forecasts of a split's points, fitted on the series (untransformed) before each origin (cached)."""
        if split not in self._ets_cache:
            y = self.y.astype(np.float64)
            self._ets_cache[split] = forecast_ets.rolling(y, origins, self.assets["season"], self.assets["ets"], split)
        return self._ets_cache[split]

    def _windows(self, origins: np.ndarray) -> tuple[Tensor, Tensor]:
        """Inputs ``(N, window, 2)`` ending at each origin and scaled targets ``(N, horizon)``."""
        w, h = self.assets["window"], self.assets["horizon"]
        idx = torch.from_numpy(origins)[:, None] + torch.arange(-w + 1, 1)[None, :]
        targets = np.stack([self._target(int(o), self.a[o + 1:o + 1 + h]) for o in origins])
        return self.x[idx], torch.from_numpy(targets.astype(np.float32))

    def _base(self, a: np.ndarray, origin: int, h: int) -> np.ndarray:
        """What the network's output is added to: the seasonal-naive forecast, or the last value."""
        if self.cfg.residual:
            return seasonal_base(a, origin, h, self.assets["season"])
        return np.full(h, a[origin])

    def _target(self, origin: int, future: np.ndarray) -> np.ndarray:
        return (future - self._base(self.a, origin, len(future))) / self.assets["scale"]

    def train_batches(self, epoch: int) -> Sequence[tuple[Tensor, Tensor]]:
        return shuffled_batches(self.train_set, self.cfg.batch_size, self.epoch_generator(epoch))

    # ---- model ----------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        model = RNNModel(self.cfg, self.assets["horizon"], input_size=2)
        nn.init.zeros_(model.head.weight)  # start at the base forecast (the seasonal-naive one with --residual)
        nn.init.zeros_(model.head.bias)
        if self.assets.get("gate"):  # runs since the forecasting battery: see _gated_val
            model.register_buffer("base_gate", torch.ones(()))
        return model

    def training_loss(self, model: nn.Module, batch: Any, carry: Any) -> tuple[Tensor, None]:
        x, y = batch
        pred, _ = model(x)
        return F.mse_loss(pred, y), None

    def _forecast(self, model: nn.Module, x: Tensor, a: np.ndarray, origin: int, h: int) -> np.ndarray:
        """Model forecast (original units) of ``h`` steps after ``origin``, reading inputs ``x`` up to it."""
        w = self.assets["window"]
        device = next(model.parameters()).device
        out, _ = model(x[origin - w + 1:origin + 1][None].to(device))
        step = out[0, :h].double().cpu().numpy() * self.assets["scale"]
        gate = float(model.base_gate) if hasattr(model, "base_gate") else 1.0
        return self._untransform(self._base(a, origin, h) + gate * step)

    def _rolling(self, model: nn.Module, split: str) -> dict[str, np.ndarray]:
        """Forecast a split in blocks of ``horizon`` from the true history.

        Returns:
            ``origin`` (last observed index), ``step`` (1-based steps ahead), ``pos`` (target index),
            ``actual``, ``predicted`` (the run's forecast), ``network`` (the network's, gated), ``baseline``
            (seasonal naive), ``baseline_in_use`` (what the network corrects: seasonal naive, or the last value
            with ``--no-residual``) and, when combining, ``ets``: one entry per scored point.
        """
        start, end = self.bounds[split]
        h, s = self.assets["horizon"], self.assets["season"]
        origin, step, pos, model_fc, naive, in_use = [], [], [], [], [], []
        for o in range(start - 1, end - 1, h):
            k = min(h, end - 1 - o)
            origin.append(np.full(k, o))
            step.append(np.arange(1, k + 1))
            pos.append(np.arange(o + 1, o + 1 + k))
            model_fc.append(self._forecast(model, self.x, self.a, o, k))
            naive.append(self._untransform(seasonal_base(self.a, o, k, s)))
            in_use.append(self._untransform(self._base(self.a, o, k)))
        p, net, base = np.concatenate(pos), np.concatenate(model_fc), np.concatenate(naive)
        out = {"origin": np.concatenate(origin), "step": np.concatenate(step), "pos": p, "actual": self.y[p],
               "predicted": net, "network": net, "baseline": base, "baseline_in_use": np.concatenate(in_use)}
        if self.assets.get("ets"):
            out["ets"] = self._ets_points(split, [(int(o[0]), len(o)) for o in origin])
            out["predicted"] = forecast_ets.combine(net, out["ets"], base)
        return out

    def _gated_val(self, model: nn.Module) -> None:
        """Set ``model.base_gate``: 1 when the network's validation MAE beats its base forecast's, else 0.

        The network only corrects a base forecast (seasonal naive with ``--residual``). Unless its
        correction beats the base on the validation stretch clearly (:func:`gate_passes`: the mean
        gain in absolute error at least ``GATE_T`` standard errors above 0), the run forecasts with
        the base alone: on a noisy series a small validation win is luck (elnino's 9% win on
        72 validation points, t = 0.9, lost on the test tail). The gate is stored with the weights (so
        ``predict`` and ``eval`` use it) and ``finish`` says so.
        """
        model.base_gate.fill_(1.0)
        r = self._rolling(model, "val")
        gain = np.abs(r["baseline_in_use"] - r["actual"]) - np.abs(r["network"] - r["actual"])  # per point
        model.base_gate.fill_(1.0 if gate_passes(gain) else 0.0)

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        if split == "val" and hasattr(model, "base_gate"):
            self._gated_val(model)
        r = self._rolling(model, split)
        truth, fc = r["actual"], r["predicted"]
        scaled = (self._transform(fc) - self._transform(truth)) / self.assets["scale"]  # as the training loss
        ours = point_metrics(truth, fc, self.mase_q)
        naive = point_metrics(truth, r["baseline"], self.mase_q)
        gate = {"base_gate": float(model.base_gate)} if hasattr(model, "base_gate") else {}
        members = {f"{who}_{k}": v for who in ("network", "ets") if who in r and "ets" in r
                   for k, v in point_metrics(truth, r[who], self.mase_q).items()}
        members = {k.replace("network_", "net_"): v for k, v in members.items()}
        return {"loss": float(np.mean(scaled ** 2)), **ours, **{f"naive_{k}": v for k, v in naive.items()},
                "mae_vs_naive": ours["mae"] / max(naive["mae"], 1e-12), **members, **gate}

    # ---- artefacts ------------------------------------------------------------------------------
    def finish(self, model: nn.Module, run_dir: Path, test_metrics: dict[str, float]) -> dict[str, Any]:
        r = self._rolling(model, "test")
        pos, s = r["pos"], self.assets["season"]
        plot_test_tail(run_dir / "forecast.png", self.y, r, s, test_metrics,
                       f"forecast ({self.cfg.data or self.cfg.dataset}), horizon {self.assets['horizon']}")
        write_forecasts_csv(run_dir / "forecasts.csv", r, self.times)
        beats = test_metrics["mae"] < test_metrics["naive_mae"]
        ets = self.assets.get("ets")
        table = metrics_table(test_metrics, s, forecast_ets.spec_name(ets) if ets else "")
        if hasattr(model, "base_gate") and float(model.base_gate) == 0.0:
            base = "seasonal-naive" if self.cfg.residual else "last-value"
            gate_note = (f"the network's corrections did not beat the {base} forecast on the validation stretch, so "
                         f"{'the network member' if ets else 'this run'} forecasts with the {base} forecast alone "
                         "(base_gate 0; more data, another --season or --window may help)")
            print(f"forecast: NOTE {gate_note}")
            table += f"\n\nNote: {gate_note}."
        print(f"forecast: test tail of {len(pos)} points\n{table}\n"
              f"the model {'beats' if beats else 'does NOT beat'} the seasonal-naive MAE "
              f"(relative MAE {test_metrics['mae_vs_naive']:.3f}); every forecast: forecasts.csv")
        return {"test_mae": test_metrics["mae"], "naive_mae": test_metrics["naive_mae"], "beats_naive": beats,
                "test_mase": test_metrics["mase"], "files": ["forecast.png", "forecasts.csv"],
                "markdown": table + "\n\nForecast against truth: `forecast.png`; every forecast point: "
                                    "`forecasts.csv`."}

    def predict(self, model: nn.Module, input_path: Path, output_path: Optional[Path]) -> Path:
        times, y, time_col = self._read_timed(input_path)
        w, s, h = self.assets["window"], self.assets["season"], self.assets["horizon"]
        if len(y) < w + s:
            raise ValueError(f"forecast predict: {input_path} must hold at least window + season = {w + s} values, "
                             f"got {len(y)}")
        a = self._transform(y)
        x = torch.from_numpy(features(a, s, self.assets["scale1"], self.assets["scale"]).astype(np.float32))
        model.eval()
        with torch.no_grad():
            fc = self._forecast(model, x, a, len(a) - 1, h)
        naive = self._untransform(seasonal_base(a, len(a) - 1, h, s))
        if self.assets.get("ets"):  # the same combination as the run's (seasonal naive stands in if ETS fails)
            ets = forecast_ets.rolling(y.astype(np.float64), [(len(y) - 1, h)], s, self.assets["ets"], "predict")
            fc = forecast_ets.combine(fc, ets, naive)
        out = output_path or input_path.with_name(input_path.name.removesuffix(".gz").rsplit(".", 1)[0]
                                                  + ".forecast.csv")
        note = write_prediction_csv(out, len(y), fc, naive, times, time_col)
        if note:
            print(f"forecast predict: {note}")
        return out
