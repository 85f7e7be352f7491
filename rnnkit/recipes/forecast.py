"""``forecast``: multi-step forecasting of a real series from a sliding window (beyond the seeds).

From the last ``--window`` observations the model forecasts the next
``--horizon`` values at once (one head output per step ahead). The series is
first transformed (``log`` for the multiplicative airline series) and the
network reads two scaled, level-free features per step: the change from the
previous step and from the same step one season before. With ``--residual``
(default) it predicts the correction to the seasonal-naive forecast, its head
starts at zero, so training starts exactly at the baseline and learns what the
baseline misses (trend, changing seasonality); ``--no-residual`` predicts the
change from the last observed value instead.

Splits, in time order: train | validation (``--val-size``) | test
(``--test-size``, the held-out tail). Validation and test are forecast in
consecutive blocks of ``--horizon`` steps, each from the true history before
it (rolling origin). The **seasonal-naive baseline** (each step takes the
value one season earlier, ``y[t - season]``, repeated for horizons beyond a
season) is scored on exactly the same points and printed beside the model.

Data: Mauna Loa CO2 (default; weekly, season 52, forecast a year from two
years; test = the last two years), ``--dataset airline`` (monthly, season 12;
test = 1960, as in Box & Jenkins), or your own ``--data FILE.csv --column
NAME --season N``. Outputs: MAE/RMSE of model and baseline, ``forecast.png``
(forecast against truth on the test tail). ``rnnkit predict RUN --input
FILE.csv`` forecasts the ``horizon`` steps after the end of a series in the
same format and writes them, beside the seasonal-naive forecast, as CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.recipes.base import Recipe, RunConfig, opt, shuffled_batches
from rnnkit.recipes.models import RNNModel
from rnnkit.train.plots import new_figure

SEASONS = {"co2": 52, "airline": 12}
TRANSFORMS = {"co2": "none", "airline": "log"}


@dataclass
class Config(RunConfig):
    """forecast options; 0 / "auto" pick per-dataset values (see the module docstring)."""

    dataset: str = opt("co2", "built-in series: co2 (Mauna Loa, weekly; statsmodels) or airline (monthly; sktime)",
                       choices=("co2", "airline"))
    data: str = opt("", "your own series instead: a CSV file with a header")
    column: str = opt("", "the CSV column holding the series (default: the file's only column)")
    season: int = opt(0, "season length in steps (0 = 52 for co2, 12 for airline, 1 (none) for --data)")
    horizon: int = opt(0, "steps forecast at once (0 = one season)")
    window: int = opt(0, "past steps the model reads (0 = two seasons)")
    test_size: int = opt(0, "held-out tail length (0 = two horizons if the series is long, else one)")
    val_size: int = opt(0, "validation stretch just before the test tail (0 = --test-size)")
    transform: str = opt("auto", "transform before scaling (auto = log for airline, none otherwise)",
                         choices=("auto", "none", "log"))
    residual: bool = opt(True, "predict the correction to the seasonal-naive forecast (else the change "
                               "from the last value)")
    hidden_size: int = opt(32, "units per recurrent layer")
    epochs: int = opt(150, "maximum passes over the training windows")
    patience: int = opt(30, "stop after this many epochs without a better validation MAE")
    batch_size: int = opt(32, "windows per batch")
    lr: float = opt(3e-3, "Adam learning rate")
    grad_clip: float = opt(1.0, "clip the global gradient norm (0 = off)")


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
        cfg = self.cfg
        if path is not None or cfg.data:
            from rnnkit.data.files import read_series_csv
            path = Path(path or cfg.data)
            if not path.is_file():
                raise FileNotFoundError(f"forecast: file {path} does not exist")
            return read_series_csv(path, cfg.column or None, interpolate_missing=True)
        from rnnkit.data.datasets import load_airline, load_co2
        return (load_co2 if cfg.dataset == "co2" else load_airline)()[1]

    def _sizes(self, n: int) -> dict[str, Any]:
        """Season, horizon, window, split sizes and transform, from the config (0 / auto resolved)."""
        cfg = self.cfg
        for name in ("season", "horizon", "window", "test_size", "val_size"):
            if getattr(cfg, name) < 0:
                raise ValueError(f"forecast: --{name.replace('_', '-')} must be >= 0, got {getattr(cfg, name)}")
        season = cfg.season or (1 if cfg.data else SEASONS[cfg.dataset])
        horizon = cfg.horizon or season
        window = cfg.window or max(2 * season, 8)
        test = cfg.test_size or (2 * horizon if n >= 20 * horizon else horizon)
        val = cfg.val_size or test
        transform = cfg.transform if cfg.transform != "auto" else ("none" if cfg.data else TRANSFORMS[cfg.dataset])
        need = window + season + horizon + val + test
        if n < need:
            raise ValueError(f"forecast: the series must have at least window + season + horizon + val + test = "
                             f"{window} + {season} + {horizon} + {val} + {test} = {need} points, got {n}; "
                             "lower --window/--horizon/--test-size/--val-size")
        return {"season": season, "horizon": horizon, "window": window, "test_size": test, "val_size": val,
                "transform": transform}

    def _transform(self, y: np.ndarray) -> np.ndarray:
        if self.assets["transform"] == "log":
            if (y <= 0).any():
                raise ValueError(f"forecast: --transform log needs positive values, got minimum {y.min()}")
            return np.log(y)
        return y.astype(np.float64)

    def _untransform(self, a: np.ndarray) -> np.ndarray:
        return np.exp(a) if self.assets["transform"] == "log" else a

    def load_data(self) -> None:
        y = self._read()
        n = len(y)
        if not self.assets:
            self.assets = self._sizes(n)
            a = self._transform(y)
            s = self.assets["season"]
            head = a[: n - self.assets["test_size"] - self.assets["val_size"]]
            self.assets["scale1"] = float(np.std(np.diff(head))) or 1.0
            self.assets["scale"] = float(np.std(head[s:] - head[:-s])) or 1.0
        self.y = y
        self.a = self._transform(y)
        self.x = torch.from_numpy(features(self.a, self.assets["season"], self.assets["scale1"],
                                           self.assets["scale"]).astype(np.float32))
        test, val = self.assets["test_size"], self.assets["val_size"]
        self.bounds = {"train": (0, n - test - val), "val": (n - test - val, n - test), "test": (n - test, n)}
        w, s, h = self.assets["window"], self.assets["season"], self.assets["horizon"]
        origins = np.arange(w + s - 1, self.bounds["train"][1] - h)
        if self.cfg.tiny:
            origins = origins[-64:]
        inputs, targets = self._windows(origins)
        self.train_set = (inputs, targets)

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
        return self._untransform(self._base(a, origin, h) + step)

    def _rolling(self, model: nn.Module, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Forecast a split in blocks of ``horizon`` from the true history: positions, truth, model, naive."""
        start, end = self.bounds[split]
        h, s = self.assets["horizon"], self.assets["season"]
        pos, model_fc, naive = [], [], []
        for o in range(start - 1, end - 1, h):
            k = min(h, end - 1 - o)
            pos.append(np.arange(o + 1, o + 1 + k))
            model_fc.append(self._forecast(model, self.x, self.a, o, k))
            naive.append(self._untransform(seasonal_base(self.a, o, k, s)))
        p = np.concatenate(pos)
        return p, self.y[p], np.concatenate(model_fc), np.concatenate(naive)

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        _, truth, fc, naive = self._rolling(model, split)
        mae, naive_mae = float(np.abs(fc - truth).mean()), float(np.abs(naive - truth).mean())
        scaled = (self._transform(fc) - self._transform(truth)) / self.assets["scale"]  # as the training loss
        return {"loss": float(np.mean(scaled ** 2)), "mae": mae,
                "rmse": float(np.sqrt(np.mean((fc - truth) ** 2))), "naive_mae": naive_mae,
                "naive_rmse": float(np.sqrt(np.mean((naive - truth) ** 2))),
                "mae_vs_naive": mae / max(naive_mae, 1e-12)}

    # ---- artefacts ------------------------------------------------------------------------------
    def finish(self, model: nn.Module, run_dir: Path, test_metrics: dict[str, float]) -> dict[str, Any]:
        pos, truth, fc, naive = self._rolling(model, "test")
        s = self.assets["season"]
        fig = new_figure(10, 4)
        ax = fig.subplots()
        hist = np.arange(max(0, pos[0] - 3 * max(s, 8)), pos[0])
        ax.plot(hist, self.y[hist], color="tab:gray", label="history")
        ax.plot(pos, truth, color="black", label="truth (held-out tail)")
        ax.plot(pos, fc, color="tab:blue", label=f"model (MAE {test_metrics['mae']:.3g})")
        ax.plot(pos, naive, "--", color="tab:orange", label=f"seasonal naive (MAE {test_metrics['naive_mae']:.3g})")
        ax.set_xlabel("time step")
        ax.set_title(f"forecast ({self.cfg.data or self.cfg.dataset}), horizon {self.assets['horizon']}")
        ax.legend(loc="upper left")
        fig.tight_layout()
        fig.savefig(run_dir / "forecast.png")
        beats = test_metrics["mae"] < test_metrics["naive_mae"]
        table = ("| on the test tail | MAE | RMSE |\n|---|---|---|\n"
                 f"| model | {test_metrics['mae']:.4f} | {test_metrics['rmse']:.4f} |\n"
                 f"| seasonal naive (season {s}) | {test_metrics['naive_mae']:.4f} | "
                 f"{test_metrics['naive_rmse']:.4f} |")
        print(f"forecast: test tail of {len(pos)} points\n{table}\n"
              f"the model {'beats' if beats else 'does NOT beat'} the seasonal-naive MAE")
        return {"test_mae": test_metrics["mae"], "naive_mae": test_metrics["naive_mae"], "beats_naive": beats,
                "files": ["forecast.png"], "markdown": table + "\n\nForecast against truth: `forecast.png`."}

    def predict(self, model: nn.Module, input_path: Path, output_path: Optional[Path]) -> Path:
        y = self._read(input_path)
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
        out = output_path or input_path.with_name(input_path.stem + ".forecast.csv")
        rows = [f"{len(y) + k},{k + 1},{fc[k]:.6f},{naive[k]:.6f}" for k in range(h)]
        out.write_text("index,step_ahead,forecast,seasonal_naive\n" + "\n".join(rows) + "\n", encoding="utf-8")
        return out
