"""``tsclass``: classify variable-length multivariate time series (beyond the seeds).

Each example is a sequence of ``T_i`` steps with ``C`` channels; sequences
of different lengths share a batch, padded, with their lengths, so the
classifier reads each sequence's state at its own last step (never padding).
Channels are standardised with the training split's mean and standard
deviation (missing values, ``?`` in ``.ts`` files, become the mean).

Data: UEA JapaneseVowels (default; nine speakers, 12 LPC channels, lengths
7-29; the official 270 / 370 train/test split, with a stratified validation
split carved from train), or your own:

* ``--data FILE.csv``: one row per time step, a sequence id column
  (``--id-column``), a label column (``--label-column``, constant within a
  sequence) and numeric feature columns (``--feature-columns a,b,c``, default
  all others; ``--time-column`` orders the steps, default file order);
* ``--data FILE.ts``: the sktime/UEA ``.ts`` format.

``--test-data`` gives a separate test file; without it a stratified
``--test-fraction`` of ``--data`` is held out. Defaults were chosen on the
validation split only.

Outputs: test accuracy, macro precision/recall/F1, confusion matrix.
``rnnkit predict RUN --input FILE`` reads a CSV (same columns; the label
column is optional) or a ``.ts`` file and writes one row per sequence: its id,
the predicted class and the class probabilities (and the true label when the
file has one).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.recipes.base import Recipe, RunConfig, opt, shuffled_batches
from rnnkit.recipes.models import RNNModel
from rnnkit.recipes.sentiment import classification_metrics, confusion_matrix, write_predictions


@dataclass
class Config(RunConfig):
    """tsclass options; the defaults were tuned on JapaneseVowels' validation split."""

    dataset: str = opt("japanese_vowels", "built-in data: UEA JapaneseVowels (sktime's .ts files)",
                       choices=("japanese_vowels",))
    data: str = opt("", "your own training data instead: a .csv (one row per time step) or .ts file")
    test_data: str = opt("", "your own test data (same format as --data); default: --test-fraction of --data")
    id_column: str = opt("id", "CSV: the sequence id column")
    label_column: str = opt("label", "CSV: the class label column")
    time_column: str = opt("", "CSV: order each sequence's rows by this column (default: file order)")
    feature_columns: str = opt("", "CSV: comma-separated feature columns (default: all other columns)")
    test_fraction: float = opt(0.2, "stratified share of --data held out for the test when there is no --test-data")
    val_fraction: float = opt(0.2, "stratified share of the training sequences used for validation")
    split_seed: int = opt(0, "seed of the validation (and test) split, apart from --seed")
    proj_size: int = opt(0, "linear input projection before the recurrent layer (0 = none)")
    hidden_size: int = opt(64, "units per recurrent layer (per direction)")
    bidirectional: bool = opt(True, "read each sequence in both directions")
    dropout: float = opt(0.2, "dropout between layers and before the head")
    noise: float = opt(0.1, "std of Gaussian noise added to the standardised training inputs (0 = off)")
    epochs: int = opt(60, "maximum passes over the training sequences")
    patience: int = opt(15, "stop after this many epochs without a better validation loss")
    batch_size: int = opt(16, "sequences per batch")
    lr: float = opt(3e-3, "Adam learning rate")
    grad_clip: float = opt(1.0, "clip the global gradient norm (0 = off)")


JV_CHANNELS = [f"dim_{k}" for k in range(12)]
"""Column names of JapaneseVowels' channels in CSV files given to ``rnnkit predict``."""


def read_sequence_file(path: Path, cfg: Config, features: Optional[list[str]], *,
                       need_labels: bool) -> tuple[list[np.ndarray], Optional[np.ndarray], list[str], list[str]]:
    """Sequences ``(T_i, C)``, labels (str, or None), sequence ids and feature names from a CSV or ``.ts`` file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable data or, with ``need_labels``, no labels.
    """
    from rnnkit.data.files import read_sequences_csv, read_ts_file

    if not path.is_file():
        raise FileNotFoundError(f"tsclass: file {path} does not exist")
    if path.suffix.lower() == ".ts":
        seqs, labels = read_ts_file(path)
        names = features or [f"dim_{k}" for k in range(seqs[0].shape[1] if seqs else 0)]
        ids = [str(i) for i in range(len(seqs))]
    else:
        with open(path, encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), [])
        header = [h.strip() for h in header]
        label_col = cfg.label_column if (need_labels or cfg.label_column in header) else None
        if features is None and cfg.feature_columns:
            features = [c.strip() for c in cfg.feature_columns.split(",") if c.strip()]
        seqs, labels = read_sequences_csv(path, cfg.id_column, label_col, features,
                                          time_column=cfg.time_column or None)
        special = {cfg.id_column, cfg.label_column, cfg.time_column}
        names = features or [c for c in header if c not in special]
        from rnnkit.data.columnar import sequence_ids
        ids = sequence_ids(path, cfg.id_column)  # the fast reader's, when it read this file; else one pass:
        if ids is None:
            with open(path, encoding="utf-8", newline="") as fh:
                ids = list(dict.fromkeys(row[cfg.id_column].strip() for row in csv.DictReader(fh)
                                         if row.get(cfg.id_column, "").strip()))
    if not seqs:
        raise ValueError(f"tsclass: {path} holds no sequences")
    if need_labels and labels is None:
        raise ValueError(f"tsclass: {path} has no class labels (a .ts file needs '@classLabel true')")
    empty = [i for i, s in enumerate(seqs) if len(s) == 0]
    if empty:
        raise ValueError(f"tsclass: {path}: sequence {ids[empty[0]]!r} has no time steps")
    return seqs, labels, ids, names


class TSClass(Recipe):
    """Variable-length multivariate time-series classification (see the module docstring)."""

    name = "tsclass"
    description = "variable-length multivariate series -> RNN -> class (JapaneseVowels, your CSV/.ts)"
    Config = Config
    datasets = {"japanese_vowels": "japanese_vowels"}
    monitor = "loss"
    monitor_mode = "min"
    cfg: Config

    # ---- data -----------------------------------------------------------------------------------
    def _check(self) -> None:
        cfg = self.cfg
        for name in ("test_fraction", "val_fraction"):
            if not 0.0 < getattr(cfg, name) < 1.0:
                raise ValueError(f"tsclass: --{name.replace('_', '-')} must be in (0, 1), got {getattr(cfg, name)}")
        if cfg.noise < 0 or cfg.proj_size < 0 or cfg.split_seed < 0:
            raise ValueError(f"tsclass: --noise, --proj-size and --split-seed must be >= 0, got {cfg.noise}, "
                             f"{cfg.proj_size}, {cfg.split_seed}")
        if cfg.test_data and not cfg.data:
            raise ValueError("tsclass: --test-data needs --data (the training file)")
        for flag, value in (("--data", cfg.data), ("--test-data", cfg.test_data)):
            if value and not Path(value).is_file():
                raise FileNotFoundError(f"tsclass: {flag} file {value} does not exist")

    def _raw(self) -> tuple[list[np.ndarray], list[str], list[np.ndarray], list[str], list[str], bool]:
        """Train and test sequences with string labels, feature names, and whether the test set is separate."""
        cfg = self.cfg
        if not cfg.data:
            from rnnkit.data.datasets import load_japanese_vowels
            (xtr, ytr), (xte, yte) = load_japanese_vowels("train"), load_japanese_vowels("test")
            return (xtr, [str(v + 1) for v in ytr.tolist()], xte, [str(v + 1) for v in yte.tolist()], JV_CHANNELS,
                    True)
        seqs, labels, _, names = read_sequence_file(Path(cfg.data), cfg, None, need_labels=True)
        if not cfg.test_data:
            return seqs, list(labels), [], [], names, False
        tseqs, tlabels, _, _ = read_sequence_file(Path(cfg.test_data), cfg, None if cfg.data.endswith(".ts")
                                                  else names, need_labels=True)
        if tseqs[0].shape[1] != seqs[0].shape[1]:
            raise ValueError(f"tsclass: --test-data must have {seqs[0].shape[1]} channels as --data, "
                             f"got {tseqs[0].shape[1]}")
        return seqs, list(labels), tseqs, list(tlabels), names, True

    def load_data(self) -> None:
        from rnnkit.data.labels import encode_labels
        from rnnkit.data.splits import stratified_split

        cfg = self.cfg
        self._check()
        xtr, ltr, xte, lte, names, separate = self._raw()
        y_all, classes = encode_labels(ltr + lte, self.assets.get("classes"))
        ytr, yte = y_all[:len(ltr)], y_all[len(ltr):]
        if not separate:
            train_idx, test_idx = stratified_split(ytr, (1 - cfg.test_fraction, cfg.test_fraction), cfg.split_seed)
            xte, yte = [xtr[i] for i in test_idx], ytr[test_idx]
            xtr, ytr = [xtr[i] for i in train_idx], ytr[train_idx]
        fit_idx, val_idx = stratified_split(ytr, (1 - cfg.val_fraction, cfg.val_fraction), cfg.split_seed + 1)
        fit = [xtr[i] for i in fit_idx]
        if not self.assets:
            if len(classes) < 2:
                raise ValueError(f"tsclass: the training data must have at least 2 classes, got {classes}")
            steps = np.concatenate(fit).astype(np.float64)
            mean, std = np.nanmean(steps, 0), np.nanstd(steps, 0)
            self.assets = {"classes": list(classes), "features": names, "channels": int(steps.shape[1]),
                           "mean": mean.tolist(), "std": np.where(std > 0, std, 1.0).tolist()}
        parts = {"train": (fit, ytr[fit_idx]), "val": ([xtr[i] for i in val_idx], ytr[val_idx]), "test": (xte, yte)}
        if cfg.tiny:
            picks = {k: np.linspace(0, len(v[1]) - 1, n).astype(int) for (k, v), n in zip(parts.items(), (64, 32, 32))}
            parts = {k: ([v[0][i] for i in picks[k]], v[1][picks[k]]) for k, v in parts.items()}
        self.splits = {k: self._tensors(x, torch.from_numpy(np.asarray(y, dtype=np.int64)))
                       for k, (x, y) in parts.items()}

    def _tensors(self, seqs: Sequence[np.ndarray], y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Standardised, zero-padded ``(N, T_max, C)`` inputs (NaN -> 0, the mean), lengths ``(N,)``, labels."""
        from rnnkit.data.batching import pad_sequences

        mean = np.asarray(self.assets["mean"], dtype=np.float32)
        std = np.asarray(self.assets["std"], dtype=np.float32)
        if seqs and seqs[0].shape[1] != len(mean):
            raise ValueError(f"tsclass: sequences must have {len(mean)} channels (as in training), "
                             f"got {seqs[0].shape[1]}")
        scaled = [torch.from_numpy(np.nan_to_num((np.asarray(s, np.float32) - mean) / std)) for s in seqs]
        x, lengths = pad_sequences(scaled, padding_value=0.0, dtype=torch.float32) if scaled else \
            (torch.zeros(0, 1, len(mean)), torch.zeros(0, dtype=torch.long))
        return x, lengths, y

    def train_batches(self, epoch: int) -> Sequence[tuple[Tensor, Tensor, Tensor]]:
        x, lengths, y = self.splits["train"]
        if self.cfg.noise > 0:
            valid = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)
            noise = torch.randn(x.shape, generator=self.epoch_generator(epoch, stream=1))
            x = x + self.cfg.noise * noise * valid
        return shuffled_batches((x, lengths, y), self.cfg.batch_size, self.epoch_generator(epoch))

    # ---- model ----------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        return RNNModel(self.cfg, len(self.assets["classes"]), input_size=self.assets["channels"],
                        proj_size=self.cfg.proj_size)

    def training_loss(self, model: nn.Module, batch: Any, carry: Any) -> tuple[Tensor, None]:
        x, lengths, y = batch
        logits, _ = model(x, lengths)
        return F.cross_entropy(logits, y), None

    def _logits(self, model: nn.Module, x: Tensor, lengths: Tensor) -> Tensor:
        device = next(model.parameters()).device
        out = [model(x[i:i + 256].to(device), lengths[i:i + 256].to(device))[0].float().cpu()
               for i in range(0, len(x), 256)]
        return torch.cat(out) if out else torch.zeros(0, len(self.assets["classes"]))

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        x, lengths, y = self.splits[split]
        logits = self._logits(model, x, lengths)
        metrics = classification_metrics(logits.argmax(1), y, logits.shape[1])
        return {"loss": float(F.cross_entropy(logits, y)), "acc": metrics["acc"], "f1": metrics["f1"]}

    # ---- artefacts ------------------------------------------------------------------------------
    def finish(self, model: nn.Module, run_dir: Path, test_metrics: dict[str, float]) -> dict[str, Any]:
        from rnnkit.recipes.rowmnist import format_confusion

        x, lengths, y = self.splits["test"]
        pred = self._logits(model, x, lengths).argmax(1)
        classes = self.assets["classes"]
        m = classification_metrics(pred, y, len(classes))
        confusion = confusion_matrix(pred, y, len(classes)).tolist()
        table = format_confusion(confusion)
        legend = ", ".join(f"{i} = {c}" for i, c in enumerate(classes))
        print(f"tsclass: test accuracy {m['acc']:.4f}, macro precision {m['precision']:.4f}, recall "
              f"{m['recall']:.4f}, F1 {m['f1']:.4f} on {len(y)} sequences\n"
              f"confusion matrix (rows: true, columns: predicted; {legend}):\n{table}")
        return {"test_accuracy": m["acc"], "test_macro": m, "classes": classes, "confusion_matrix": confusion,
                "markdown": f"## Test confusion matrix (rows true, columns predicted; {legend})\n\n```\n{table}\n```"}

    def predict(self, model: nn.Module, input_path: Path, output_path: Optional[Path]) -> Path:
        features = None if input_path.suffix.lower() == ".ts" else self.assets["features"]
        seqs, labels, ids, _ = read_sequence_file(input_path, self.cfg, features, need_labels=False)
        x, lengths, _ = self._tensors(seqs, torch.zeros(len(seqs), dtype=torch.long))
        model.eval()
        with torch.no_grad():
            probs = torch.softmax(self._logits(model, x, lengths), 1)
        out = output_path or input_path.with_name(input_path.stem + ".predictions.csv")
        extra = {}
        if labels is not None:
            extra["label"] = list(labels)
            classes = self.assets["classes"]
            hits = [classes[int(p)] == t for p, t in zip(probs.argmax(1).tolist(), labels)]
            print(f"tsclass predict: accuracy {np.mean(hits):.4f} on {len(hits)} labelled sequences")
        return write_predictions(out, ids, probs, self.assets["classes"], extra)
