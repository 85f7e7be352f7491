"""Recipes: the classic sequence tasks end to end (``rnnkit train <name>``).

``RECIPES`` maps a recipe name to ``"module:Class"``; classes are imported
lazily by :func:`get_recipe` so that ``rnnkit list`` and ``--help`` stay fast
and a recipe whose optional dependency is missing does not break the others.
See :mod:`rnnkit.recipes.base` for the API a recipe implements.
"""

from __future__ import annotations

import importlib
import importlib.util

from rnnkit.recipes.base import Recipe, RunConfig, opt, shuffled_batches

RECIPES: dict[str, str] = {
    "rowmnist": "rnnkit.recipes.rowmnist:RowMNIST",
    "sincos": "rnnkit.recipes.sincos:SinCos",
    "charlm": "rnnkit.recipes.charlm:CharLM",
    "sentiment": "rnnkit.recipes.sentiment:Sentiment",
    "tsclass": "rnnkit.recipes.tsclass:TSClass",
    "forecast": "rnnkit.recipes.forecast:Forecast",
}


def available() -> list[str]:
    """Names of the registered recipes whose module exists in this installation."""
    return [name for name, target in RECIPES.items()
            if importlib.util.find_spec(target.split(":")[0]) is not None]


def get_recipe(name: str) -> type[Recipe]:
    """The recipe class registered as ``name``.

    Raises:
        UsageError: unknown name (a ValueError; the message lists the known ones and suggests a close one).
    """
    from rnnkit.cli_options import did_you_mean
    from rnnkit.errors import UsageError

    names = available()
    if name not in names:
        raise UsageError(f"rnnkit: recipe must be one of {', '.join(names)}, got {name!r}{did_you_mean(name, names)}")
    module_name, cls_name = RECIPES[name].split(":")
    return getattr(importlib.import_module(module_name), cls_name)


__all__ = ["RECIPES", "Recipe", "RunConfig", "available", "get_recipe", "opt", "shuffled_batches"]
