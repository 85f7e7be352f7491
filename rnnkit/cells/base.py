"""The cell contract shared by every recurrent cell in rnnkit.

A cell computes one time step. It never knows about time, lengths or
direction: that is the runner's job (:func:`rnnkit.unroll`).

Contract::

    cell.input_size, cell.hidden_size, cell.output_size, cell.state_size
    state = cell.initial_state(batch_size, device=None, dtype=None)
    y_t, state = cell(x_t, state)        # x_t: (B, I) -> y_t: (B, output_size)

Optional speed hooks the runner uses when a cell provides them:

* ``input_projection(inputs)`` maps ``(..., I)`` to ``(..., G)``: the part of a
  step that depends on the input only (e.g. ``x W_ih^T + b_ih``), so the runner
  can compute it for all steps in one GEMM.
* ``recur(projected_t, state)`` finishes a step from the projected input.

By default ``input_projection`` is the identity and ``recur`` calls ``forward``,
so a user cell only has to implement ``forward`` and ``state_size``.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
from torch import Tensor, nn

from rnnkit.checks import check_matches_parameters, check_positive_int, check_state, check_step_input
from rnnkit.state import State, zeros_like_size


class Cell(nn.Module):
    """Base class of all cells.

    Subclasses set ``input_size`` and ``hidden_size``, define ``state_size``
    and implement ``forward(x, state) -> (y, state)`` (or, for speed,
    ``input_projection`` and ``recur``).
    """

    input_size: int
    hidden_size: int

    @property
    def state_size(self) -> Any:
        """Per-example size of the state: an int, a shape, or a (Named)tuple of them."""
        return self.hidden_size

    @property
    def output_size(self) -> int:
        """Size of ``y_t``."""
        return self.hidden_size

    def _default_device_dtype(self, device: Any, dtype: Any) -> tuple[Any, Any]:
        param = next(iter(self.parameters()), None)
        if device is None:
            device = param.device if param is not None else torch.device("cpu")
        if dtype is None:
            dtype = param.dtype if param is not None and param.is_floating_point() else torch.get_default_dtype()
        return device, dtype

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> State:
        """The state before the first step: zeros shaped by ``state_size``.

        Args:
            batch_size: ``B``.
            device: defaults to the cell's parameters' device.
            dtype: defaults to the cell's parameters' dtype.

        Returns:
            A state whose leaves are ``(B, ...)``.
        """
        check_positive_int(type(self).__name__, "batch_size", batch_size, allow_zero=True)
        device, dtype = self._default_device_dtype(device, dtype)
        return zeros_like_size(self.state_size, batch_size, device=device, dtype=dtype)

    def input_projection(self, inputs: Tensor) -> Tensor:
        """Input-only part of a step, for any leading shape ``(..., I)``."""
        return inputs

    def recur(self, projected: Tensor, state: State) -> tuple[Tensor, State]:
        """Finish one step from ``input_projection(x_t)``. Defaults to ``forward``."""
        return self(projected, state)

    def check_step(self, x: Any, state: Any) -> None:
        """Validate a direct single-step call (used by built-in ``forward``)."""
        owner = type(self).__name__
        check_step_input(owner, x, self.input_size)
        check_matches_parameters(owner, "x", x, self)
        check_state(owner, state, self.state_size, x.shape[0], x)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class ProjectedCell(Cell):
    """A cell whose step is ``recur(input_projection(x), state)``.

    Built-in cells derive from this: ``forward`` validates its arguments once,
    then runs the two halves, so a direct call and the runner compute the same.
    """

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """One step.

        Args:
            x: ``(B, I)``.
            state: as returned by ``initial_state``.

        Returns:
            ``(y, new_state)`` with ``y`` of shape ``(B, output_size)``.
        """
        self.check_step(x, state)
        return self.recur(self.input_projection(x), state)

    def recur(self, projected: Tensor, state: State) -> tuple[Tensor, State]:  # pragma: no cover - abstract
        raise NotImplementedError


def uniform_init_(module: nn.Module, hidden_size: int) -> None:
    """``U(-1/sqrt(H), 1/sqrt(H))`` for every parameter, as ``torch.nn`` RNNs do."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    for p in module.parameters(recurse=False):
        nn.init.uniform_(p, -bound, bound)


def linear(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    """``x W^T + b`` for any leading shape."""
    return torch.nn.functional.linear(x, weight, bias)
