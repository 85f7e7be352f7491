r"""The compiled core around a :class:`rnnkit.wrappers.Dropout` wrapper.

Covered: a ``Dropout`` whose inner cell the compiled core runs, when the
wrapper is inactive (evaluation mode or every probability 0: the step is the
inner cell's) or *variational*, with input and output dropout around any
compiled family and state dropout around an :class:`~rnnkit.cells.LSTMCell`.
The masks are then constant over time and live in the state
(``DropoutState(cell, DropoutMasks(input, output, state))``), so

.. math::
    (\tilde y_t, \tilde s_t) &= \mathrm{cell}(m^x \odot x_t,\ s_{t-1}) \\
    y_t &= m^y \odot \tilde y_t, \qquad s_t = m^s \odot \tilde s_t

is the inner kernel on :math:`m^x \odot x` with its outputs times :math:`m^y`
(zero past each length stays zero) and, for state dropout, the LSTM kernel's
``DROPOUT`` state rule (:mod:`.compiled_lstm`): the masks of the leaves the
wrapper's state filter selects multiply ``h`` and/or ``c`` inside the
recurrence (the output is the undropped :math:`\tilde h_t`). Per-step masks
(``variational=False``) and state dropout around other cells are not
compiled: ``supports`` says so and the reference runner takes the call.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from torch import Tensor

from rnnkit.cells.lstm import LSTMCell
from rnnkit.fused.compiled_lstm import DROPOUT, StateRule
from rnnkit.fused.sorting import Kernel


def dropout_unsupported(cell: Any, inner_reason: Callable[[Any], Optional[str]]) -> Optional[str]:
    """Why the compiled core cannot run this ``Dropout`` wrapper (None if it can)."""
    if cell.passthrough:
        return inner_reason(cell.cell)
    if not cell.variational:
        return "per-step dropout masks (variational=False) are drawn inside each step; the compiled core does not draw them"
    if cell.state_dropout > 0 and type(cell.cell) is not LSTMCell:
        return (f"state (recurrent) dropout is compiled around LSTMCell only, not {type(cell.cell).__name__}; "
                "input and output dropout are")
    return inner_reason(cell.cell)


def _state_rule(cell: Any, masks: Any) -> StateRule:
    """The ``DROPOUT`` rule of an LSTM's state masks (leaves the state filter leaves out get None)."""
    use_h, use_c = cell.state_flags
    return StateRule(DROPOUT, masks.state.h if use_h else None, masks.state.c if use_c else None)


def dropout_kernel(cell: Any, inner: Kernel) -> Kernel:
    """A :data:`rnnkit.fused.sorting.Kernel` for ``Dropout(inner cell)`` given the inner cell's kernel."""
    from rnnkit.wrappers import DropoutState

    def kernel(x: Tensor, state: Any, batch_sizes: Tensor, total_steps: int) -> tuple[Tensor, Any]:
        inner_state, masks = state
        if cell.passthrough:
            y, final = inner(x, inner_state, batch_sizes, total_steps)
            return y, DropoutState(final, masks)
        if cell.input_dropout > 0:
            x = x * masks.input
        if cell.state_dropout > 0:
            y, final = inner(x, inner_state, batch_sizes, total_steps, _state_rule(cell, masks))
        else:
            y, final = inner(x, inner_state, batch_sizes, total_steps)
        if cell.output_dropout > 0:
            y = y * masks.output
        return y, DropoutState(final, masks)

    return kernel
