"""A residual connection around a cell (TF1 ``ResidualWrapper``)."""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor

from rnnkit.checks import describe, fail
from rnnkit.state import State
from rnnkit.wrappers.base import Wrapper


class Residual(Wrapper):
    r"""Adds the step's input to the cell's output (TF1 ``ResidualWrapper``).

    .. math::
        (\tilde y_t, s_t) = \mathrm{cell}(x_t, s_{t-1}), \qquad y_t = x_t + \tilde y_t

    or :math:`y_t = f(x_t, \tilde y_t)` with a custom ``residual_fn``. The
    state is the inner cell's, untouched.

    The runner still projects the inputs of all steps at once: the wrapper's
    ``input_projection`` returns ``[x, inner.input_projection(x)]`` concatenated
    on the last dimension and each step splits it.

    Args:
        cell: the wrapped cell. Without ``residual_fn`` its ``output_size``
            must equal its ``input_size``.
        residual_fn: ``f(x_t, y_t) -> (B, output_size)``; default ``x + y``.

    Shapes:
        x: ``(B, I)``; y: ``(B, O)`` (``O = I`` by default); state: the cell's.
    """

    def __init__(self, cell: Any, residual_fn: Optional[Callable[[Tensor, Tensor], Tensor]] = None) -> None:
        super().__init__(cell)
        if residual_fn is not None and not callable(residual_fn):
            fail("Residual", "residual_fn", "None or a callable f(x, y)", describe(residual_fn), kind=TypeError)
        if residual_fn is None and self.output_size != self.input_size:
            fail("Residual", "cell.output_size", f"equal to cell.input_size ({self.input_size}) to add the input "
                 "to the output (or pass residual_fn)", self.output_size)
        self.residual_fn = residual_fn

    def input_projection(self, inputs: Tensor) -> Tensor:
        """``[x, inner.input_projection(x)]`` on the last dimension: ``(..., I + G)``."""
        return torch.cat([inputs, super().input_projection(inputs)], -1)

    def recur(self, projected: Tensor, state: State) -> tuple[Tensor, State]:
        x, inner_projected = projected[:, : self.input_size], projected[:, self.input_size :]
        y, new = self.inner_step(inner_projected, state)
        y = x + y if self.residual_fn is None else self.residual_fn(x, y)
        return y, new

    def extra_repr(self) -> str:
        return "" if self.residual_fn is None else f"residual_fn={getattr(self.residual_fn, '__name__', 'custom')}"
