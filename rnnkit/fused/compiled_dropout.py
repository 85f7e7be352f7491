r"""The compiled core around a :class:`rnnkit.wrappers.Dropout` wrapper.

Covered: a ``Dropout`` whose inner cell the compiled core runs, when the
wrapper is inactive (evaluation mode or every probability 0: the step is the
inner cell's) or *variational with input and output dropout only*. The masks
are then constant over time and live in the state
(``DropoutState(cell, DropoutMasks(input, output, state))``), so

.. math::
    y_t = m^y \odot \mathrm{cell}(m^x \odot x_t,\ s_{t-1})

is the inner kernel on :math:`m^x \odot x` with its outputs times :math:`m^y`
(zero past each length stays zero). State (recurrent) dropout and per-step
masks are not compiled yet: ``supports`` says so and the reference runner
takes the call.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from torch import Tensor

from rnnkit.fused.sorting import Kernel


def dropout_unsupported(cell: Any, inner_reason: Callable[[Any], Optional[str]]) -> Optional[str]:
    """Why the compiled core cannot run this ``Dropout`` wrapper (None if it can)."""
    if cell.passthrough:
        return inner_reason(cell.cell)
    if not cell.variational:
        return "per-step dropout masks (variational=False) are drawn inside each step; the compiled core does not draw them"
    if cell.state_dropout > 0:
        return "state (recurrent) dropout is not compiled yet; input and output dropout are"
    return inner_reason(cell.cell)


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
        y, final = inner(x, inner_state, batch_sizes, total_steps)
        if cell.output_dropout > 0:
            y = y * masks.output
        return y, DropoutState(final, masks)

    return kernel
