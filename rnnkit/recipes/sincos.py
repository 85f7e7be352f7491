"""``sincos``: predict cos from sin at every time step (seed tutorial 002).

The input is ``sin(x_t)``, the target ``cos(x_t)`` with ``x_t = t / (10 pi)``.
One sin value is ambiguous (cos = +-sqrt(1 - sin^2)), so the model must keep
track of the phase in its state. As in the seed, the series is cut into
``--streams`` parallel contiguous streams and each stream into windows of
``--window`` steps; batch ``k`` holds window ``k`` of every stream, so the
state at the end of one batch is exactly the state the next batch starts from.
It is carried across batches (detached: truncated backpropagation through
time) and reset at the start of each epoch.

Model (the PyTorch sin-to-cos tutorial with the cell size of this repo's issue): an LSTM(32) and a
linear head on every step; MSE loss; Adam.

Splits: three disjoint, consecutive stretches of the series (train,
validation, test). Outputs: ``prediction.png`` (prediction against target on
the test stretch). ``rnnkit predict RUN --input FILE`` reads one series of sin
values (``.npy`` 1-D, or CSV/text, ``.gz`` too, with an optional header: one
number per line, or several columns and ``--column`` naming the one to read)
and writes the predicted cos per step as CSV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.recipes.base import Recipe, RunConfig, opt
from rnnkit.recipes.models import RNNModel
from rnnkit.train.plots import new_figure


@dataclass
class Config(RunConfig):
    """sincos options; the defaults follow the PyTorch sin-to-cos tutorial (20-step windows, 50 streams, lr 0.006)."""

    hidden_size: int = opt(32, "units in the LSTM")
    window: int = opt(20, "time steps per window (truncated-BPTT length)")
    batch_size: int = opt(50, "parallel contiguous streams per batch")
    train_windows: int = opt(100, "windows per stream in the training stretch (one epoch = this many batches)")
    eval_windows: int = opt(20, "windows per stream in each of the validation and test stretches")
    noise: float = opt(0.0, "std of Gaussian noise added to the sin inputs (training only)")
    epochs: int = opt(15, "passes over the training stretch (the fit \"clicks\" after ~600 steps)")
    lr: float = opt(0.006, "Adam learning rate (the PyTorch sin-to-cos tutorial)")
    column: str = opt("", "predict files with several columns: the one holding the sin values (a header name, "
                          "or its 1-based position when there is no header)")
    skip_bad: bool = opt(False, "predict files: skip rows that are not a number (counted, with a warning)")
    max_bad_share: float = opt(0.1, "with --skip-bad: stop when more than this share of the file's lines is bad")


def series(start: int, streams: int, length: int) -> tuple[Tensor, Tensor]:
    """Inputs ``sin`` and targets ``cos``, ``(streams, length, 1)``, from position ``start`` on.

    Stream ``b`` covers positions ``start + b * length + [0, length)``.
    """
    pos = start + torch.arange(streams * length, dtype=torch.float64).reshape(streams, length)
    x = pos / (10 * math.pi)
    return torch.sin(x).float().unsqueeze(-1), torch.cos(x).float().unsqueeze(-1)


class SinCos(Recipe):
    """Stateful per-step regression (see the module docstring)."""

    name = "sincos"
    description = "predict cos(t) from sin(t) per step, state carried across windows (the PyTorch sin-to-cos tutorial)"
    Config = Config
    datasets = {}
    monitor = "loss"
    monitor_mode = "min"
    cfg: Config

    def load_data(self) -> None:
        cfg = self.cfg
        if cfg.window <= 0 or cfg.train_windows <= 0 or cfg.eval_windows <= 0:
            raise ValueError(f"sincos: --window, --train-windows and --eval-windows must be > 0, got "
                             f"{cfg.window}, {cfg.train_windows}, {cfg.eval_windows}")
        if cfg.noise < 0:
            raise ValueError(f"sincos: --noise must be >= 0, got {cfg.noise}")
        streams = min(cfg.batch_size, 8) if cfg.tiny else cfg.batch_size
        n_train = (20 if cfg.tiny else cfg.train_windows) * cfg.window
        n_eval = (4 if cfg.tiny else cfg.eval_windows) * cfg.window
        train = series(0, streams, n_train)
        val = series(streams * n_train, streams, n_eval)
        test = series(streams * (n_train + n_eval), streams, n_eval)
        if cfg.noise > 0:  # fixed noise: a pure function of the seed
            g = self.epoch_generator(0, stream=1)
            train = (train[0] + cfg.noise * torch.randn(train[0].shape, generator=g), train[1])
        self.splits = {"train": train, "val": val, "test": test}
        if not self.assets:
            self.assets = {"input_size": 1, "output_size": 1}

    def _windows(self, split: str) -> list[tuple[Tensor, Tensor]]:
        x, y = self.splits[split]
        w = self.cfg.window
        return [(x[:, k:k + w], y[:, k:k + w]) for k in range(0, x.shape[1], w)]

    def train_batches(self, epoch: int) -> Sequence[tuple[Tensor, Tensor]]:
        return self._windows("train")  # the order matters (the state is carried): the same every epoch

    def build_model(self) -> nn.Module:
        return RNNModel(self.cfg, self.assets["output_size"], input_size=self.assets["input_size"], per_step=True)

    def training_loss(self, model: nn.Module, batch: Any, carry: Any) -> tuple[Tensor, Any]:
        x, y = batch
        pred, state = model(x, state=carry)
        return F.mse_loss(pred, y), state

    def _predict_streams(self, model: nn.Module, x: Tensor) -> Tensor:
        """Run ``(S, L, 1)`` window by window with the state carried; returns ``(S, L, 1)``."""
        device = next(model.parameters()).device
        state, outs = None, []
        for k in range(0, x.shape[1], self.cfg.window):
            out, state = model(x[:, k:k + self.cfg.window].to(device), state=state)
            outs.append(out.cpu())
        return torch.cat(outs, dim=1)

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        x, y = self.splits[split]
        pred = self._predict_streams(model, x)
        return {"loss": float(F.mse_loss(pred, y)), "mae": float((pred - y).abs().mean())}

    def finish(self, model: nn.Module, run_dir: Path, test_metrics: dict[str, float]) -> dict[str, Any]:
        x, y = self.splits["test"]
        pred = self._predict_streams(model, x[:1])
        fig = new_figure(9, 3.5)
        ax = fig.subplots()
        n = min(400, x.shape[1])
        ax.plot(y[0, :n, 0].numpy(), label="target cos", color="tab:red")
        ax.plot(pred[0, :n, 0].numpy(), "--", label="prediction", color="tab:blue")
        ax.plot(x[0, :n, 0].numpy(), label="input sin", color="tab:gray", alpha=0.5)
        ax.set_xlabel("time step (test stretch, stream 0)")
        ax.legend(loc="upper right")
        fig.tight_layout()
        fig.savefig(run_dir / "prediction.png")
        print(f"sincos: test MSE {test_metrics['loss']:.5f}, MAE {test_metrics['mae']:.5f}")
        return {"test_mse": test_metrics["loss"], "files": ["prediction.png"],
                "markdown": "Prediction against target on the test stretch: `prediction.png`."}

    def predict(self, model: nn.Module, input_path: Path, output_path: Optional[Path]) -> Path:
        from rnnkit.data.errors import option_spelling

        with option_spelling(skip_bad="add --skip-bad", column="add --column NAME",
                             max_skipped_share="raise --max-bad-share", encoding=None):
            x = read_series(input_path, self.cfg.column or None, skip_bad=self.cfg.skip_bad,
                            max_skipped_share=self.cfg.max_bad_share)
        model.eval()
        with torch.no_grad():
            pred = self._predict_streams(model, x.reshape(1, -1, 1))[0, :, 0]
        out = output_path or input_path.with_name(input_path.stem + ".predictions.csv")
        out.write_text("index,input,prediction\n" + "".join(
            f"{i},{a:.6f},{b:.6f}\n" for i, (a, b) in enumerate(zip(x.tolist(), pred.tolist()))), encoding="utf-8")
        return out


def read_series(path: Path, column: Optional[str] = None, *, skip_bad: bool = False,
                max_skipped_share: Optional[float] = None) -> Tensor:
    """A 1-D float series from ``.npy``, or from a CSV/text file (``.gz`` too; optional header).

    A text file holds one number per line, or several comma-separated columns of which
    ``column`` names the one to read (a header name, or a 1-based position without a header).

    Args:
        path: the file.
        column: the column of a file with several (required then; an error lists them).
        skip_bad: skip rows that are not a number or have the wrong number of fields (counted, warned).
        max_skipped_share: with ``skip_bad``, the largest share of lines that may be skipped.

    Raises:
        ValueError: unreadable, empty, not 1-D, or non-finite (the message names the file);
            :class:`~rnnkit.data.errors.DataFileError` (a ValueError) for a bad line or column.
    """
    if path.suffix.lower() == ".npy":
        if column:
            raise ValueError(f"sincos predict: --column {column!r} applies to CSV/text files, not to {path} (.npy)")
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"sincos predict: {path} is not a plain numeric .npy array ({err})") from None
    else:
        arr = _read_text_series(path, column, skip_bad, max_skipped_share)
    arr = np.asarray(arr)
    if arr.ndim == 2 and 1 in arr.shape:  # a column or a row
        arr = arr.reshape(-1)
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"sincos predict: {path} must hold a non-empty 1-D series of numbers, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"sincos predict: {path} contains NaN or inf values")
    return torch.from_numpy(arr.astype(np.float32))


def _read_text_series(path: Path, column: Optional[str], skip_bad: bool,
                      max_skipped_share: Optional[float]) -> np.ndarray:
    """The chosen column of a comma-separated text file (first line: header unless all numbers)."""
    from rnnkit.data.errors import DataFileError, ProblemLog, decode_file, hint

    lines = [(no, ln) for no, ln in enumerate(decode_file(path, allow_empty=True).split("\n"), 1) if ln.strip()]
    if not lines:
        return np.zeros(0)
    first = [c.strip() for c in lines[0][1].split(",")]
    has_header = not all(_parses(c) for c in first)
    names = first if has_header else [str(k) for k in range(1, len(first) + 1)]
    if column is None:
        if len(names) != 1:
            shown = names if has_header else f"{len(names)} unnamed columns (positions 1..{len(names)})"
            raise DataFileError(path, lines[0][0], f"the file has several columns: {shown}; "
                                                   f"{hint('column') or 'name one'} to choose the sin values")
        col = 0
    elif column in names:
        col = names.index(column)
    else:
        raise DataFileError(path, lines[0][0], f"no column {column!r}; columns are {names}"
                                               + ("" if has_header else " (1-based positions: no header)"))
    log = ProblemLog(path, skip_bad, max_skipped_share)
    log.lines_total = len(lines) - has_header
    values = []
    for no, line in lines[1:] if has_header else lines:
        cells = line.split(",")
        if len(cells) != len(names):
            log.bad(no, f"expected {len(names)} comma-separated fields, got {len(cells)}")
            continue
        if not _parses(cells[col]):
            log.bad(no, f"expected a number{f' in column {names[col]!r}' if len(names) > 1 else ''}, "
                        f"got {cells[col].strip()[:40]!r}")
            continue
        values.append(float(cells[col]))  # NaN / inf pass here and are refused by read_series, naming the file
    if values or log.report.rows_skipped:
        log.finish(len(values))
    return np.asarray(values, dtype=np.float64)


def _parses(cell: str) -> bool:
    """Whether ``cell`` reads as a float (``nan`` and ``inf`` included)."""
    try:
        float(cell)
    except ValueError:
        return False
    return True
