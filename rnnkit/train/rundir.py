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
from rnnkit.train.checkpoint import CheckpointDir, CheckpointError, apply_weights, read_safetensors, MODEL_FILE

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
        raise FileNotFoundError(f"rnnkit: {path} does not exist; is {path.parent} a run directory ({what})?")
    try:
        return json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"rnnkit: {path} is not valid JSON ({err})") from err


def read_run_config(run_dir: Path, why: str) -> dict[str, Any]:
    """A run's ``config.json``, checked to be ``{"recipe": str, "config": {...}}`` as ``rnnkit train`` writes it."""
    path = Path(run_dir) / "config.json"
    saved = read_json(path, why)
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        raise ValueError(f"rnnkit: {path} must be an object with 'recipe' and 'config' keys (as rnnkit train "
                         f"writes it), got {type(saved).__name__}"
                         + (f" with keys {sorted(saved)}" if isinstance(saved, dict) else ""))
    return saved


def saved_values(config_cls: Any, saved: dict[str, Any]) -> dict[str, Any]:
    """A saved ``config.json``'s options, with ``config_cls.saved_defaults`` for the fields it predates."""
    return {**config_cls.saved_defaults, **saved["config"]}


def open_recipe(run_dir: Path, overrides: Optional[dict[str, Any]] = None) -> Recipe:
    """The recipe of a run, with its saved config (plus ``overrides``) and assets."""
    run_dir = Path(run_dir)
    saved = read_run_config(run_dir, "it should hold config.json")
    cls = get_recipe(saved.get("recipe", ""))
    values = saved_values(cls.Config, saved)
    values.update(overrides or {})
    cfg = cls.Config.from_dict(values, str(run_dir / "config.json"))
    cfg.validate(cls.name)
    recipe = cls(cfg)
    assets_path = run_dir / "assets.json"
    recipe.assets = read_json(assets_path, "it should hold assets.json") if assets_path.is_file() else {}
    return recipe


def load_weights(recipe: Recipe, run_dir: Path, which: str = "best") -> tuple[nn.Module, Path]:
    """Build the recipe's model and load the ``best`` (or ``last``) checkpoint's weights into it.

    Raises:
        CheckpointError: no checkpoint, an unsafe/corrupted file, or weights that do not fit.
    """
    ckdir = CheckpointDir(Path(run_dir) / "checkpoints")
    path = ckdir.path(which) or (ckdir.path("last") if which == "best" else None)
    if path is None:
        raise CheckpointError(f"rnnkit: {run_dir} has no {which!r} checkpoint (checkpoints/index.json); "
                              "did the run save one?")
    model = recipe.build_model()
    state, _ = read_safetensors(path / MODEL_FILE)
    apply_weights(model, state, path / MODEL_FILE)
    return model.to(recipe.cfg.device).eval(), path
