"""Making the lazy-parameter pitfall loud.

A TF1 cell learns its input size at its first call, so it has no parameters
before it. In TF that never mattered (``minimize`` collected the variables
when the graph was complete); in eager PyTorch an optimizer created before
the first call holds none of the cell's parameters, and the cell silently
never learns. Two checks say so:

* ``parameters()`` / ``named_parameters()`` on a cell that is not built yet
  warns at once (:func:`warn_unbuilt`);
* every cell built lazily (at its first call) is watched: when an optimizer
  steps for the second time (so every optimizer of a training loop has
  stepped once) and the cell's parameters have gradients but no optimizer
  that has stepped holds any of them, :class:`UntrainedCellWarning` is raised
  once for that cell (:func:`watch`). The check costs nothing once every
  watched cell is accounted for.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any, Optional

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

_FIX = ("create the optimizer after the cell's first call (or after dynamic_rnn's), or call "
        "cell.build(input_size) before creating it")


class UntrainedCellWarning(UserWarning):
    """A TF1-face cell's parameters get gradients but no optimizer updates them."""


_watched: "weakref.WeakSet[torch.nn.Module]" = weakref.WeakSet()
_stepped: "weakref.WeakSet[torch.optim.Optimizer]" = weakref.WeakSet()
_handle: Optional[Any] = None


def warn_unbuilt(cell: torch.nn.Module, what: str) -> None:
    """Warn that ``cell.<what>()`` is asked before the cell has parameters."""
    name = type(cell).__name__
    warnings.warn(f"{name}: {what}() was called before the cell's first call, when it has no parameters yet "
                  f"(it learns its input size from its first input); an optimizer made from them will not train "
                  f"the cell: {_FIX}", UntrainedCellWarning, stacklevel=3)


def watch(cell: torch.nn.Module) -> None:
    """Watch a cell that was just built lazily (see the module docstring)."""
    global _handle
    _watched.add(cell)
    if _handle is None:
        _handle = register_optimizer_step_pre_hook(_before_step)


def _before_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    first_step = optimizer not in _stepped
    _stepped.add(optimizer)
    if first_step or not len(_watched):
        return
    held = {id(p) for opt in list(_stepped) for group in opt.param_groups for p in group["params"]}
    for cell in list(_watched):
        params = [p for _, p in torch.nn.Module.named_parameters(cell) if p.requires_grad]
        if not params or any(id(p) in held for p in params):
            _watched.discard(cell)
        elif any(p.grad is not None for p in params):
            _watched.discard(cell)
            warnings.warn(f"{type(cell).__name__}: its parameters receive gradients, but no optimizer that has "
                          f"stepped holds any of them, so the cell does not learn. The optimizer was probably "
                          f"created before the cell's first call, when the cell had no parameters: {_FIX}",
                          UntrainedCellWarning, stacklevel=3)
