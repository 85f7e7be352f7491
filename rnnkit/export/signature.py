"""What an exported file's outputs are called, and the TorchScript guard on its fixed ``T``.

Output names (ONNX graph outputs, :attr:`~rnnkit.export.ExportInfo.output_names`):

* a model returning ``(output, state)`` (rnnkit layers, recipe models, drop-ins):
  ``output``, then the final state's tensors depth-first;
* a drop-in (``rnnkit.LSTM`` / ``GRU`` / ``RNN``): ``h_n`` (and ``c_n``), each
  ``(num_layers * directions, B, H)`` as in torch.nn;
* any other state: ``<field>_n`` for each tensor (``h_n``, ``c_n`` for an
  ``LSTMState``; ``h_n`` for a plain tensor state), followed by its position in
  the state's nesting: ``h_n_0_1`` is layer 0's backward direction in a
  ``Stacked`` of ``Bidirectional`` layers, ``h_n_1`` layer 1;
* any other result: ``out_<position>`` depth-first.

A TorchScript file is traced, so its loop is unrolled for the example's ``T``;
:func:`fixed_time_guard` wraps it in a scripted module that refuses any other
``T`` with an error naming both, instead of a silently truncated result.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils import _pytree as pytree

from rnnkit.dropin.base import DropInRNN


def _tokens(path: Any) -> tuple[list[str], list[str]]:
    fields, index = [], []
    for key in path:
        if isinstance(key, pytree.SequenceKey):
            index.append(str(key.idx))
        elif isinstance(key, pytree.GetAttrKey):
            fields.append(key.name)
        else:
            fields.append(re.sub(r"[^0-9A-Za-z]+", "_", str(getattr(key, "key", key))).strip("_"))
    return fields, index


def output_names(outputs: Any, model: nn.Module | None = None) -> list[str]:
    """The names of a result's flat tensors (see the module docstring), unique and in flattening order."""
    if isinstance(outputs, Tensor):
        return ["output"]
    if not (isinstance(outputs, tuple) and len(outputs) == 2 and isinstance(outputs[0], Tensor)):
        names = []
        for path, _ in pytree.tree_flatten_with_path(outputs)[0]:
            key = re.sub(r"[^0-9A-Za-z]+", "_", pytree.keystr(path)).strip("_")
            names.append(f"out_{key}" if key else "out")
        return names
    state = outputs[1]
    leaves = pytree.tree_flatten_with_path(state)[0]
    if isinstance(model, DropInRNN) and isinstance(state, tuple) and all(isinstance(s, Tensor) for s in state):
        names = ["output", *("h_n", "c_n")[:len(state)]]
    else:
        names = ["output"]
        for path, _ in leaves:
            fields, index = _tokens(path)
            names.append("_".join(fields or ["h"]) + "_n" + "".join(f"_{i}" for i in index))
    if len(set(names)) != len(names):  # e.g. a custom state with repeated field names: positions disambiguate
        names = ["output"] + [f"{n}_{k}" for k, n in enumerate(names[1:])]
    return names


@torch.jit.script
def _check_time(x: Tensor, dim: int, time: int) -> None:
    if x.size(dim) != time:
        raise RuntimeError("rnnkit TorchScript export: this file was traced for T = " + str(time)
                           + " time steps (its loop is unrolled) and cannot run T = " + str(x.size(dim))
                           + "; pad or cut the sequence to T = " + str(time)
                           + ", or export with --format onnx or exported, where T varies")


class _Fixed1(nn.Module):
    def __init__(self, inner: Any, dim: int, time: int) -> None:
        super().__init__()
        self.inner, self.dim, self.time = inner, dim, time

    def forward(self, a: Tensor):
        _check_time(a, self.dim, self.time)
        return self.inner(a)


class _Fixed2(_Fixed1):
    def forward(self, a: Tensor, b: Tensor):
        _check_time(a, self.dim, self.time)
        return self.inner(a, b)


class _Fixed3(_Fixed1):
    def forward(self, a: Tensor, b: Tensor, c: Tensor):
        _check_time(a, self.dim, self.time)
        return self.inner(a, b, c)


class _Fixed4(_Fixed1):
    def forward(self, a: Tensor, b: Tensor, c: Tensor, d: Tensor):
        _check_time(a, self.dim, self.time)
        return self.inner(a, b, c, d)


GUARDS = {1: _Fixed1, 2: _Fixed2, 3: _Fixed3, 4: _Fixed4}


def fixed_time_guard(traced: Any, n_inputs: int, time_dim: int, time: int) -> Any:
    """A scripted module that checks the first input's ``T`` (dim ``time_dim``) equals ``time``, then runs ``traced``.

    Raises:
        ValueError: more than 4 inputs (no guard for them; use ``format="exported"`` or ``"onnx"``).
    """
    if n_inputs not in GUARDS:
        from rnnkit.errors import UsageError

        raise UsageError(f"export_model: format='torchscript' takes 1 to 4 inputs (its fixed T is checked on the "
                         f"first), got {n_inputs}; use format='exported' or 'onnx'")
    return torch.jit.script(GUARDS[n_inputs](traced, time_dim, time))
