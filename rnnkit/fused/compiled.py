"""The compiled fast path: built-in cells with the whole time loop in C++.

Registered with :mod:`rnnkit.fused` on import (after the native path, which
takes the plain cells torch's own kernels compute). It runs, on CPU in
float32/float64:

* :class:`~rnnkit.cells.LSTMCell` with any ``forget_bias``, peepholes,
  ``cell_clip``, projection and ``proj_clip`` (activation tanh),
* :class:`~rnnkit.cells.GRUCell`, ``reset_after`` True or False,
* :class:`~rnnkit.cells.ElmanCell`, tanh or relu,
* :class:`~rnnkit.cells.layernorm.LayerNormLSTMCell`, every option,
* :class:`~rnnkit.wrappers.Dropout` around any of these when inactive or
  variational (state dropout around an LSTMCell only; see :mod:`.compiled_dropout`),
* :class:`~rnnkit.wrappers.Zoneout` around an LSTMCell, training and
  evaluation (see :mod:`.compiled_zoneout`),

with lengths (shrinking batch, no work past a sequence's end), ``reverse``
and an initial state, with exactly :func:`rnnkit.unroll`'s semantics. The
C++ code is built on first use (see :mod:`rnnkit.fused.build`); without a
compiler ``supports`` gives the reason and the reference runner takes over.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor

from rnnkit.cells.elman import ElmanCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.layernorm import LayerNormLSTMCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.fused import register
from rnnkit.fused.build import unavailable_reason
from rnnkit.fused.compiled_dropout import dropout_kernel, dropout_unsupported
from rnnkit.fused.compiled_elman import elman_kernel, elman_unsupported
from rnnkit.fused.compiled_gru import gru_kernel, gru_unsupported
from rnnkit.fused.compiled_layernorm import layernorm_lstm_kernel, layernorm_lstm_unsupported
from rnnkit.fused.compiled_lstm import lstm_kernel, lstm_unsupported
from rnnkit.fused.compiled_zoneout import zoneout_family
from rnnkit.fused.sorting import contiguous_state, run_sorted
from rnnkit.state import State

DTYPES = (torch.float32, torch.float64)

# exact cell class -> (why unsupported or None, kernel factory)
FAMILIES: dict[type, tuple[Callable[[Any], Optional[str]], Callable[[Any], Any]]] = {
    LSTMCell: (lstm_unsupported, lstm_kernel),
    GRUCell: (gru_unsupported, gru_kernel),
    ElmanCell: (elman_unsupported, elman_kernel),
}
FAMILIES[LayerNormLSTMCell] = (layernorm_lstm_unsupported, layernorm_lstm_kernel)


def _family(cell: Any) -> Optional[tuple[Callable[[Any], Optional[str]], Callable[[Any], Any]]]:
    """``(unsupported reason, kernel factory)`` for ``cell``, including a Dropout wrapper around a family."""
    family = FAMILIES.get(type(cell))
    if family is not None:
        return family
    from rnnkit.wrappers import Dropout  # here, not at the top: rnnkit.wrappers imports rnnkit.fused
    if type(cell) is Dropout and type(cell.cell) in FAMILIES:
        inner_reason, inner_kernel = FAMILIES[type(cell.cell)]
        return (lambda c: dropout_unsupported(c, inner_reason)), (lambda c: dropout_kernel(c, inner_kernel(c.cell)))
    return zoneout_family(cell)



def operand_reason(cell: Any, x: Tensor) -> Optional[str]:
    """Why a fused path cannot take this input with this cell's parameters (None: it can).

    Shared by the compiled core and the Triton path: every parameter must have the input's dtype and
    device, and an empty batch or sequence is left to the reference runner.
    """
    for p in cell.parameters():
        if p.dtype != x.dtype or p.device != x.device:
            return f"the parameters ({p.dtype} on {p.device}) must match the input ({x.dtype} on {x.device})"
    if x.shape[0] == 0 or x.shape[1] == 0:
        return "an empty batch or sequence is left to the reference runner"
    return None

class CompiledPath:
    """Fast path running built-in cells' whole time loop in compiled C++."""

    name = "compiled"

    def supports(self, cell: Any, x: Tensor, lengths: Optional[Tensor]) -> Optional[str]:
        """None if this path runs the call, else the reason it cannot."""
        family = _family(cell)
        if family is None:
            names = ", ".join(sorted(k.__name__ for k in FAMILIES))
            return (f"the compiled core runs {names} (and Dropout around them, Zoneout around LSTMCell), "
                    f"not {type(cell).__name__}")
        if x.device.type != "cpu":
            return f"the compiled core runs on the CPU, not on {x.device}"
        if torch.is_autocast_enabled(x.device.type):
            return "the compiled core does not run under autocast (the reference runner takes the call)"
        if x.dtype not in DTYPES:
            return f"the compiled core computes float32 and float64, not {x.dtype}"
        reason = operand_reason(cell, x)
        if reason is not None:
            return reason
        reason = family[0](cell)
        if reason is not None:
            return reason
        return unavailable_reason()

    def run(
        self, cell: Any, x: Tensor, state: Optional[State], lengths: Optional[Tensor], reverse: bool
    ) -> tuple[Tensor, State]:
        """:func:`rnnkit.unroll` on validated, time-major arguments."""
        if state is None:
            state = cell.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
        kernel = _family(cell)[1](cell)
        prepare = getattr(kernel, "prepare", None)  # e.g. draws per-step masks in the caller's order
        if prepare is not None:
            state = prepare(x, state, lengths)
        return run_sorted(kernel, x, contiguous_state(state), lengths, reverse)


PATH = CompiledPath()
register(PATH)
