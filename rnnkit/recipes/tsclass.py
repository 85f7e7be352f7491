"""``tsclass``: classify variable-length multivariate time series (beyond the seeds).

Each example is a sequence of ``T_i`` steps with ``C`` channels; sequences
of different lengths share a batch, padded, with their lengths. The model: a
small convolutional front end (strided for long series, so the recurrent
layers read at most ``--rnn-steps`` steps), a bidirectional recurrent layer,
the mean of its outputs over each sequence's valid steps (never padding),
a linear head. Channels are standardised with the training split's mean and
standard deviation (``--normalize``; missing values, ``?``/``NaN``, become the mean).

Data: UEA JapaneseVowels (default; nine speakers, 12 LPC channels, lengths
7-29; the official 270 / 370 train/test split), or your own:

* ``--data FILE.csv``: one row per time step, a sequence id column
  (``--id-column``), a label column (``--label-column``, constant within a
  sequence) and numeric feature columns (``--feature-columns a,b,c``, default
  all others; ``--time-column`` orders the steps, default file order);
* ``--data FILE.ts``: the sktime/UEA ``.ts`` format; ``FILE.arff``: UCR/UEA ARFF
  (multivariate: one relational attribute); ``FILE.txt``/``FILE.tsv``: the classic
  UCR text, one series per line with the label first.

``--test-data`` gives a separate test file; without it a stratified
``--test-fraction`` of ``--data`` is held out.

Protocol: by default (``--val-fraction 0``) there is no validation split: the
model trains a fixed schedule (about ``--train-steps`` optimiser steps, cosine
decay) on all training sequences and the last epoch is kept, because a handful
of validation sequences must not choose the epoch. ``--val-fraction f > 0``
validates on that stratified share, stops early (``--patience``) and keeps the
best checkpoint (warned about when a class has fewer than 5 validation sequences).
``--folds K`` chooses the number of epochs by stratified K-fold cross-validation of the training
set and then refits on all of it (:mod:`rnnkit.train.kfold`): each fold trains the fixed schedule's
epochs on K-1 folds and validates on the held-out one every epoch; the best epoch of the validation
curve averaged over the folds (``--fold-metric``: accuracy, ties to the lower loss; or loss), E*, is
the refit's epoch count (cosine decay re-scaled to E* epochs, the last epoch kept).

Outputs: test accuracy, macro precision/recall/F1 (and, for two classes, the
positive class's, labelled as such), confusion matrix; a warning when one class
is predicted for a whole validation or test set.
``rnnkit predict RUN --input FILE`` reads any of the formats above (the label
is optional) and writes one row per sequence: its id, the predicted class and
the class probabilities (and the true label when the file has one).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.recipes.base import Recipe, RunConfig, opt
from rnnkit.recipes.models import RNNModel, SeriesClassifier
from rnnkit.recipes.sentiment import write_predictions
from rnnkit.data.seriesnorm import channel_stats, normalise, resolve_mode  # noqa: F401 (normalise: tstune)
from rnnkit.errors import UsageError


SMALL_VAL = 5
"""A validation split with a class of fewer examples than this gets a warning (its metrics are noise)."""

from rnnkit.recipes.tsclass_tuning import TUNING  # noqa: E402,F401 (the table of what was tried)


@dataclass
class Config(RunConfig):
    """tsclass options; the defaults were chosen on the UCR/UEA battery (see :data:`TUNING`)."""

    dataset: str = opt("japanese_vowels", "built-in data: UEA JapaneseVowels (sktime's .ts files)",
                       choices=("japanese_vowels",))
    data: str = opt("", "your own training data instead: .csv (one row per time step), .ts, .arff or UCR "
                        ".txt/.tsv (label first)")
    test_data: str = opt("", "your own test data (same format as --data); default: --test-fraction of --data")
    id_column: str = opt("id", "CSV: the sequence id column")
    label_column: str = opt("label", "CSV: the class label column")
    time_column: str = opt("", "CSV: order each sequence's rows by this column (default: file order)")
    feature_columns: str = opt("", "CSV: comma-separated feature columns (default: all other columns)")
    skip_bad: bool = opt(False, "skip malformed rows / cases of --data, --test-data and predict files (counted, "
                                "with a warning) instead of stopping")
    max_bad_share: float = opt(0.1, "with --skip-bad: stop when more than this share of a file's lines is bad")
    test_fraction: float = opt(0.2, "stratified share of --data held out for the test when there is no --test-data")
    val_fraction: float = opt(0.0, "0 (default): no validation split; train the fixed schedule (--train-steps, cosine "
                                    "decay) on all training data and keep the last epoch. > 0: this stratified "
                                    "share validates, stops early (--patience) and picks the checkpoint; only "
                                    "for large data (a class with < 5 validation examples warns)")
    folds: int = opt(0, "0 (default): off, the fixed schedule. K >= 2: choose the number of epochs by stratified "
                        "K-fold cross-validation of the training set (each fold trains the fixed schedule's epochs "
                        "on K-1 folds and validates on the held-out fold every epoch; E* = the best epoch of the "
                        "validation curve averaged over the folds, see --fold-metric), then refit on all training "
                        "data for E* epochs, the cosine decay re-scaled to E* epochs, and keep the last epoch; K is "
                        "capped at the smallest class's count. Folds in RUN/folds/fold-k/, curves and choice in "
                        "RUN/kfold.json and report.md; costs about K more runs")
    fold_metric: str = opt("acc", "--folds: the averaged validation curve whose best epoch is E*: acc (the highest "
                                  "mean accuracy; ties: the lower mean loss) or loss (the lowest mean loss)",
                           choices=("acc", "loss"))
    split_seed: int = opt(0, "seed of the validation (and test) split and of --folds, apart from --seed")
    normalize: str = opt("auto", "auto: series for univariate data, channel for multivariate; series: z-score "
                                 "each series per channel; channel: standardise channels with the training "
                                 "mean/std; both: series then channel; none",
                         choices=("auto", "series", "channel", "both", "none"))
    conv_channels: int = opt(64, "filters of the convolutional front end before the recurrent layers (0 = none)")
    conv_kernel: int = opt(7, "width of the front end's first (strided) convolution (odd)")
    rnn_steps: int = opt(64, "the front end's stride is ceil(longest training series / this), so the recurrent "
                             "layers read at most about this many steps")
    pool: str = opt("last", "features for the head: the last state of each direction (at each series' own "
                            "end), the mean of the top layer's outputs over valid steps, or both",
                    choices=("last", "mean", "both"))
    proj_size: int = opt(0, "linear input projection before the recurrent layer (0 = none; only without the "
                            "front end)")
    hidden_size: int = opt(64, "units per recurrent layer (per direction)")
    bidirectional: bool = opt(True, "read each sequence in both directions")
    dropout: float = opt(0.2, "dropout between layers and before the head")
    noise: float = opt(0.1, "std of Gaussian noise added to the normalised training inputs (0 = off)")
    epochs: int = opt(400, "at most this many passes over the training sequences (see --train-steps)")
    train_steps: int = opt(1500, "train about this many optimiser steps: ceil(train_steps / batches per epoch) "
                                 "epochs, at least 40 (or --epochs if smaller) and at most --epochs; 0 = exactly "
                                 "--epochs")
    patience: int = opt(0, "with --val-fraction > 0: stop after this many epochs without a better validation loss")
    batch_size: int = opt(16, "sequences per batch")
    lr: float = opt(3e-3, "peak learning rate (AdamW)")
    weight_decay: float = opt(1e-2, "AdamW weight decay")
    lr_schedule: str = opt("cosine", "learning-rate schedule", choices=("constant", "cosine", "plateau"))
    grad_clip: float = opt(1.0, "clip the global gradient norm (0 = off)")

    saved_defaults: ClassVar[dict[str, Any]] = {
        "normalize": "channel", "conv_channels": 0, "conv_kernel": 7, "rnn_steps": 64, "pool": "last",
        "weight_decay": 0.0, "train_steps": 0}
    """Runs saved before the battery-chosen defaults: per-channel scaling, no front end, the last state."""


MIN_EPOCHS = 40
"""``--train-steps``: at least this many epochs (unless ``--epochs`` is smaller)."""


JV_CHANNELS = [f"dim_{k}" for k in range(12)]
"""Column names of JapaneseVowels' channels in CSV files given to ``rnnkit predict``."""


from rnnkit.recipes.tsclass_files import CLI_HINTS, FORMATS, file_kind, read_sequence_file  # noqa: E402,F401


class TSClass(Recipe):
    """Variable-length multivariate time-series classification (see the module docstring)."""

    name = "tsclass"
    description = "variable-length multivariate series -> RNN -> class (JapaneseVowels, your CSV/.ts/.arff/UCR)"
    Config = Config
    datasets = {"japanese_vowels": "japanese_vowels"}
    monitor = "loss"
    monitor_mode = "min"
    cfg: Config
    fold: Optional[tuple[np.ndarray, np.ndarray]] = None
    """``--folds``: (train, held-out) indices into the training sequences (see :mod:`rnnkit.train.kfold`)."""
    refit_epochs: Optional[int] = None
    """``--folds``: the refit's epoch count, chosen on the folds."""

    # ---- data -----------------------------------------------------------------------------------
    def _check(self) -> None:
        cfg = self.cfg
        if not 0.0 < cfg.test_fraction < 1.0:
            raise ValueError(f"tsclass: --test-fraction must be in (0, 1), got {cfg.test_fraction}")
        if not 0.0 <= cfg.val_fraction < 1.0:
            raise ValueError(f"tsclass: --val-fraction must be in [0, 1) (0 = no validation split), got "
                             f"{cfg.val_fraction}")
        if cfg.noise < 0 or cfg.proj_size < 0 or cfg.split_seed < 0 or cfg.conv_channels < 0 or cfg.train_steps < 0:
            raise ValueError(f"tsclass: --noise, --proj-size, --split-seed, --conv-channels and --train-steps must "
                             f"be >= 0, got {cfg.noise}, {cfg.proj_size}, {cfg.split_seed}, {cfg.conv_channels}, "
                             f"{cfg.train_steps}")
        if cfg.conv_kernel < 1 or cfg.conv_kernel % 2 == 0 or cfg.rnn_steps < 1:
            raise ValueError(f"tsclass: --conv-kernel must be odd >= 1 and --rnn-steps >= 1, got {cfg.conv_kernel}, "
                             f"{cfg.rnn_steps}")
        if cfg.proj_size and cfg.conv_channels:
            raise ValueError("tsclass: --proj-size needs --conv-channels 0 (the front end already maps the "
                             f"channels), got --proj-size {cfg.proj_size} --conv-channels {cfg.conv_channels}")
        if cfg.folds < 0 or cfg.folds == 1:
            raise UsageError(f"tsclass: --folds must be 0 (off) or >= 2, got {cfg.folds}")
        if cfg.folds and cfg.val_fraction > 0:
            raise UsageError(f"tsclass: --folds {cfg.folds} validates on every held-out fold; it cannot be combined "
                             f"with --val-fraction {cfg.val_fraction} (use one or the other)")
        if cfg.patience and cfg.val_fraction == 0:
            raise ValueError(f"tsclass: --patience {cfg.patience} needs a validation split (--val-fraction > 0)")
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
        tseqs, tlabels, _, _ = read_sequence_file(Path(cfg.test_data), cfg, None if file_kind(Path(cfg.data)) != "csv"
                                                  else names, need_labels=True)
        if tseqs[0].shape[1] != seqs[0].shape[1]:
            raise ValueError(f"tsclass: --test-data must have {seqs[0].shape[1]} channels as --data, "
                             f"got {tseqs[0].shape[1]}")
        return seqs, list(labels), tseqs, list(tlabels), names, True

    def _train_test(self) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], np.ndarray, list[str], list[str]]:
        """Training and test sequences with encoded labels, the feature names and the classes."""
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
        return xtr, ytr, xte, yte, names, list(classes)

    def fold_labels(self) -> np.ndarray:
        """``--folds``: the class name of each training sequence (after the test split), to stratify the folds."""
        _, ytr, _, _, _, classes = self._train_test()
        return np.asarray(classes)[ytr]

    def _schedule_epochs(self, n_train: int) -> int:
        """The fixed schedule's epoch count for ``n_train`` sequences (``--train-steps``, ``--epochs``)."""
        cfg = self.cfg
        if cfg.train_steps <= 0:
            return cfg.epochs
        steps = math.ceil(n_train / cfg.batch_size)
        return int(np.clip(math.ceil(cfg.train_steps / steps), min(MIN_EPOCHS, cfg.epochs), cfg.epochs))

    def load_data(self) -> None:
        from rnnkit.data.splits import stratified_split
        from rnnkit.train.classification import small_class_warnings

        cfg = self.cfg
        xtr, ytr, xte, yte, names, classes = self._train_test()
        n_all = min(len(ytr), 64) if cfg.tiny else len(ytr)  # what a refit on all of them trains on
        if self.fold is not None:  # --folds: one fold's run; the held-out fold validates, no test
            fit_idx, val_idx = (np.asarray(i, dtype=np.int64) for i in self.fold)
            xte, yte = [], yte[:0]
        elif cfg.val_fraction > 0:
            fit_idx, val_idx = stratified_split(ytr, (1 - cfg.val_fraction, cfg.val_fraction), cfg.split_seed + 1)
        else:
            fit_idx, val_idx = np.arange(len(ytr)), np.zeros(0, np.int64)
        fit = [xtr[i] for i in fit_idx]
        if not self.assets:
            if len(classes) < 2:
                raise ValueError(f"tsclass: the training data must have at least 2 classes, got {classes}")
            mode = resolve_mode(cfg.normalize, int(fit[0].shape[1]))
            mean, std = channel_stats(fit, mode)
            longest = max(len(s) for s in fit)
            stride = max(1, math.ceil(longest / cfg.rnn_steps)) if cfg.conv_channels else 1
            self.assets = {"classes": list(classes), "features": names, "channels": int(fit[0].shape[1]),
                           "normalize": mode, "mean": mean.tolist(), "std": std.tolist(), "stride": stride}
            if stride > 1:
                print(f"tsclass: series up to {longest} steps: the front end's stride {stride} gives the recurrent "
                      f"layers at most {math.ceil(longest / stride)} steps (--rnn-steps {cfg.rnn_steps})")
        if cfg.val_fraction > 0:
            for msg in small_class_warnings(ytr[val_idx], self.assets["classes"], "validation split", SMALL_VAL):
                warnings.warn(f"tsclass: {msg}; with a small training set use --val-fraction 0 (a fixed schedule "
                              "on all of it)", UserWarning, stacklevel=2)
        elif self.fold is None:
            self.monitor = ""  # no validation split: the Trainer keeps the last epoch (a fixed schedule)
        parts = {"train": (fit, ytr[fit_idx]), "val": ([xtr[i] for i in val_idx], ytr[val_idx]), "test": (xte, yte)}
        if cfg.tiny:
            picks = {k: np.linspace(0, len(v[1]) - 1, min(n, len(v[1]))).astype(int)
                     for (k, v), n in zip(parts.items(), (64, 32, 32))}
            parts = {k: ([v[0][i] for i in picks[k]], v[1][picks[k]]) for k, v in parts.items()}
        self.splits = {k: self._tensors(x, torch.from_numpy(np.asarray(y, dtype=np.int64)))
                       for k, (x, y) in parts.items()}
        steps = math.ceil(len(self.splits["train"][2]) / cfg.batch_size)
        if self.refit_epochs is not None:  # --folds: the epoch count chosen on the folds
            print(f"tsclass: refit: {self.refit_epochs} epochs of {steps} batches on all {n_all} training sequences")
            cfg.epochs = int(self.refit_epochs)
        elif cfg.train_steps > 0:
            # a fold trains as many epochs as the schedule gives all training sequences (the curve it validates)
            epochs = self._schedule_epochs(n_all if self.fold is not None else len(self.splits["train"][2]))
            if epochs != cfg.epochs:
                print(f"tsclass: --train-steps {cfg.train_steps}: {epochs} epochs of {steps} batches"
                      + (f" (the schedule of all {n_all} training sequences)" if self.fold is not None else ""))
            cfg.epochs = epochs

    def _tensors(self, seqs: Sequence[np.ndarray], y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Normalised, zero-padded ``(N, T_max, C)`` inputs (NaN -> 0), lengths ``(N,)``, labels.

        Written straight into one preallocated array (:func:`rnnkit.data.seriesbatches.pad_normalised`).
        """
        from rnnkit.data.seriesbatches import pad_normalised

        channels = self.assets["channels"]
        if seqs and seqs[0].shape[1] != channels:
            raise ValueError(f"tsclass: sequences must have {channels} channels (as in training), "
                             f"got {seqs[0].shape[1]}")
        mode = self.assets.get("normalize", "channel")
        x, lengths = pad_normalised(seqs, mode, self.assets["mean"], self.assets["std"], channels)
        return x, lengths, y

    def train_batches(self, epoch: int) -> Sequence[tuple[Tensor, Tensor, Tensor]]:
        """This epoch's shuffled batches, each built when indexed, with ``--noise`` drawn per batch.

        Batch ``k``'s noise comes from ``(--seed, epoch, k)`` alone (:class:`~rnnkit.data.seriesbatches.NoisyBatches`),
        so ``--resume`` at batch ``k`` sees the same inputs, and no noisy copy of the training set is made.
        """
        from rnnkit.data.seriesbatches import NoisyBatches

        x, lengths, y = self.splits["train"]
        order = torch.randperm(len(y), generator=self.epoch_generator(epoch))
        return NoisyBatches(x, lengths, y, self.cfg.batch_size, order, self.cfg.noise, self.cfg.seed, epoch)

    # ---- model ----------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        if self.cfg.conv_channels == 0 and self.cfg.pool == "last":  # no front end: the model runs saved before it had
            return RNNModel(self.cfg, len(self.assets["classes"]), input_size=self.assets["channels"],
                            proj_size=self.cfg.proj_size)
        return SeriesClassifier(self.cfg, len(self.assets["classes"]), input_size=self.assets["channels"],
                                stride=int(self.assets.get("stride", 1)))

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
        from rnnkit.train.classification import class_metrics

        x, lengths, y = self.splits[split]
        if len(y) == 0:
            return {}
        logits = self._logits(model, x, lengths)
        m = class_metrics(logits.argmax(1).numpy(), y.numpy(), logits.shape[1])
        return {"loss": float(F.cross_entropy(logits, y)), "acc": m["acc"], "macro_f1": m["macro_f1"]}

    # ---- artefacts ------------------------------------------------------------------------------
    def finish(self, model: nn.Module, run_dir: Path, test_metrics: dict[str, float]) -> dict[str, Any]:
        from rnnkit.recipes.rowmnist import format_confusion
        from rnnkit.train.classification import class_metrics, confusion, format_metrics, prediction_warnings

        classes = self.assets["classes"]
        if len(self.splits["test"][2]) == 0:  # a --folds fold: validated every epoch, no test split
            return {}
        for split in ("val", "test"):
            x, lengths, y = self.splits[split]
            if len(y):
                pred = self._logits(model, x, lengths).argmax(1).numpy()
                for msg in prediction_warnings(pred, classes, "validation" if split == "val" else "test"):
                    warnings.warn(f"tsclass: {msg}", UserWarning, stacklevel=2)
        x, lengths, y = self.splits["test"]
        pred = self._logits(model, x, lengths).argmax(1).numpy()
        m = class_metrics(pred, y.numpy(), len(classes))
        table = confusion(pred, y.numpy(), len(classes)).tolist()
        text = format_confusion(table)
        legend = ", ".join(f"{i} = {c}" for i, c in enumerate(classes))
        print(f"tsclass: test {format_metrics(m, classes[1] if len(classes) == 2 else '')} on {len(y)} sequences\n"
              f"confusion matrix (rows: true, columns: predicted; {legend}):\n{text}")
        return {"test_accuracy": m["acc"], "test_metrics": m, "classes": classes, "confusion_matrix": table,
                "markdown": f"## Test confusion matrix (rows true, columns predicted; {legend})\n\n```\n{text}\n```"}

    def predict(self, model: nn.Module, input_path: Path, output_path: Optional[Path]) -> Path:
        features = None if file_kind(input_path) != "csv" else self.assets["features"]
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
