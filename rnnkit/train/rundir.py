"""The run directory: where a run's files live and how to reopen a run.

Layout::

    runs/<recipe>-<YYYYmmdd-HHMMSS>/
      config.json         {"recipe": ..., "rnnkit_version": ..., "config": {every option}}
      assets.json         what besides the config rebuilds the model (vocabulary, classes, scaler ...)
      metrics.jsonl       one JSON line per epoch (and per --log-every interval)
      checkpoints/        step-<N>/{model,trainer}.safetensors + trainer.json + manifest.json; index.json
      learning_curves.png
      report.md, report.json
      ...                 recipe artefacts (confusion matrix, misclassified.png, prediction.png ...)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

from torch import nn

import rnnkit
from rnnkit.recipes import get_recipe
from rnnkit.recipes.base import Recipe
from rnnkit.train.atomic import atomic_write_json
from rnnkit.errors import MissingFileError, UsageError
from rnnkit.train.checkpoint import CheckpointDir, CheckpointError, apply_weights, load_checkpoint

RUNS_ROOT = Path("runs")


def default_run_dir(recipe_name: str) -> Path:
    """``runs/<recipe>-<date>-<time>`` (a suffix is added if it exists)."""
    base = RUNS_ROOT / f"{recipe_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = base, 1
    while path.exists():
        path, k = Path(f"{base}-{k}"), k + 1
    return path


def newest_run_dir(recipe_name: str) -> Optional[Path]:
    """The most recently modified ``runs/<recipe>-*`` directory with a config.json, or None."""
    runs = [p for p in RUNS_ROOT.glob(f"{recipe_name}-*") if (p / "config.json").is_file()]
    return max(runs, key=lambda p: (p / "config.json").stat().st_mtime) if runs else None


def write_run_files(run_dir: Path, recipe: Recipe) -> None:
    """Write ``config.json`` and ``assets.json`` atomically."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "config.json", {"recipe": recipe.name, "rnnkit_version": rnnkit.__version__,
                                                "config": recipe.cfg.to_dict()})
    atomic_write_json(run_dir / "assets.json", recipe.assets)


def read_json(path: Path, what: str) -> Any:
    """Read a JSON file with an error that names it."""
    if not path.is_file():
        raise MissingFileError(f"rnnkit: {path} does not exist; is {path.parent} a run directory ({what})?")
    try:
        return json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError(f"rnnkit: {path} is not valid JSON ({err})") from err


def read_run_config(run_dir: Path, why: str) -> dict[str, Any]:
    """A run's ``config.json``, checked to be ``{"recipe": str, "config": {...}}`` as ``rnnkit train`` writes it."""
    path = Path(run_dir) / "config.json"
    saved = read_json(path, why)
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict) \
            or not isinstance(saved.get("recipe"), str):
        raise UsageError(f"rnnkit: {path} must be an object with 'recipe' and 'config' keys (as rnnkit train "
                         f"writes it), got {type(saved).__name__}"
                         + (f" with keys {sorted(saved)}" if isinstance(saved, dict) else ""))
    return saved


def saved_values(config_cls: Any, saved: dict[str, Any]) -> dict[str, Any]:
    """A saved ``config.json``'s options, with ``config_cls.saved_defaults`` for the fields it predates."""
    return {**config_cls.saved_defaults, **saved["config"]}


def open_config(run_dir: Path, saved: dict[str, Any], overrides: Optional[dict[str, Any]] = None) -> Any:
    """The validated config of a run from its saved ``config.json`` (plus ``overrides``).

    Every value is checked as a flag would be (type, range, choices), and an error names the file:
    a hand-edited or damaged ``config.json`` stops here, not deep inside training or a model.

    Raises:
        UsageError: an unknown recipe, an unknown option or a value the recipe cannot use.
    """
    source = str(Path(run_dir) / "config.json")
    cls = get_recipe(saved["recipe"])
    values = saved_values(cls.Config, saved)
    values.update(overrides or {})
    try:
        cfg = cls.Config.from_dict(values, source)
        cfg.validate(source)
    except (ValueError, TypeError) as err:
        msg = str(err)
        raise UsageError(msg if source in msg else f"{source}: {msg}") from err
    return cfg


def open_recipe(run_dir: Path, overrides: Optional[dict[str, Any]] = None) -> Recipe:
    """The recipe of a run, with its saved config (plus ``overrides``, validated) and assets."""
    run_dir = Path(run_dir)
    saved = read_run_config(run_dir, "it should hold config.json")
    cfg = open_config(run_dir, saved, overrides)
    cls = get_recipe(saved["recipe"])
    recipe = cls(cfg)
    assets_path = run_dir / "assets.json"
    recipe.assets = read_json(assets_path, "it should hold assets.json") if assets_path.is_file() else {}
    return recipe


def load_weights(recipe: Recipe, run_dir: Path, which: str = "best", *,
                 trust_unverified: bool = False) -> tuple[nn.Module, Path]:
    """Build the recipe's model and load the ``best`` (or ``last``) checkpoint's weights into it.

    The files are verified against the checkpoint's manifest
    (:func:`~rnnkit.train.checkpoint.load_checkpoint`); ``trust_unverified`` loads one without a manifest.

    Raises:
        CheckpointError: no checkpoint, no manifest, an unsafe/corrupted file, or weights that do not fit.
    """
    ckdir = CheckpointDir(Path(run_dir) / "checkpoints")
    path = ckdir.path(which) or (ckdir.path("last") if which == "best" else None)
    if path is None:
        raise CheckpointError(f"rnnkit: {run_dir} has no {which!r} checkpoint (checkpoints/index.json); "
                              "did the run save one?")
    state, _, _ = load_checkpoint(path, weights_only=True, trust_unverified=trust_unverified)
    model = recipe.build_model()
    apply_weights(model, state, path)
    return model.to(recipe.cfg.device).eval(), path
