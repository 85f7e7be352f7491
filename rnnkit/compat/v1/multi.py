r"""TF1 ``MultiRNNCell``: cells composed in depth within one time step."""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from rnnkit.cells.base import Cell
from rnnkit.checks import fail
from rnnkit.compat.v1.base import EngineCell, RNNCell, what
from rnnkit.state import size_is_leaf


class StackedStep(Cell):
    r"""rnnkit cell running several cells one after another within a step.

    .. math::
        y^{(0)}_t = x_t,\quad (y^{(k)}_t, s^{(k)}_t) = \mathrm{cell}_k(y^{(k-1)}_t, s^{(k)}_{t-1}),
        \quad y_t = y^{(K)}_t

    State: a tuple with one entry per cell. Built per call by
    :class:`MultiRNNCell` from its cells' rnnkit faces (it owns no parameters).
    """

    def __init__(self, cells: Sequence[Any]) -> None:
        super().__init__()
        self.cells = nn.ModuleList(cells) if all(isinstance(c, nn.Module) for c in cells) else list(cells)
        self.input_size = getattr(cells[0], "input_size", None)
        self.hidden_size = getattr(cells[-1], "output_size", None)

    @property
    def state_size(self) -> tuple:
        return tuple(c.state_size for c in self.cells)

    @property
    def output_size(self) -> int:
        return self.cells[-1].output_size

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> tuple:
        return tuple(c.initial_state(batch_size, device=device, dtype=dtype) for c in self.cells)

    def input_projection(self, inputs: Tensor) -> Tensor:
        """The first cell's input-only part, for all steps at once."""
        project = getattr(self.cells[0], "input_projection", None)
        return inputs if project is None else project(inputs)

    def recur(self, projected: Tensor, state: tuple) -> tuple[Tensor, tuple]:
        new_states = []
        y = projected
        for k, (cell, s) in enumerate(zip(self.cells, state)):
            recur = getattr(cell, "recur", cell)
            if k > 0:
                project = getattr(cell, "input_projection", None)
                y = y if project is None else project(y)
            y, s = recur(y, s)
            new_states.append(s)
        return y, tuple(new_states)

    def forward(self, x: Tensor, state: tuple) -> tuple[Tensor, tuple]:
        """One step through every cell. x: ``(B, I)``."""
        return self.recur(self.input_projection(x), state)


class MultiRNNCell(EngineCell):
    """TF1 ``MultiRNNCell``: the output of cell ``k`` is the input of cell ``k+1``.

    Args:
        cells: non-empty list of compat cells, in order. Passing the same cell
            object twice shares its weights (TF warns, so do we); then its
            input and output sizes must agree.
        state_is_tuple: True: the state is a tuple with one entry per cell;
            False: the cells' (non-tuple) states concatenated along dim 1.

    Shapes:
        inputs ``(B, I)``; output ``(B, cells[-1].output_size)``.
    """

    def __init__(self, cells: Sequence[RNNCell], state_is_tuple: bool = True) -> None:
        super().__init__()
        owner = "MultiRNNCell"
        if not isinstance(cells, (list, tuple)):
            fail(owner, "cells", "a list or tuple of cells", what(cells), kind=TypeError)
        if len(cells) == 0:
            fail(owner, "cells", "a non-empty list of cells", "an empty list")
        for i, c in enumerate(cells):
            if not isinstance(c, RNNCell):
                fail(owner, f"cells[{i}]", "a cell from rnnkit.compat.v1 (e.g. BasicLSTMCell)", what(c),
                     kind=TypeError)
        if len({id(c) for c in cells}) < len(cells):
            warnings.warn("MultiRNNCell: at least two cells are the same object and will share weights", stacklevel=2)
        if not state_is_tuple and not all(size_is_leaf(c.state_size) for c in cells):
            fail(owner, "state_is_tuple", "True when a cell has a tuple state (state sizes: "
                 + str([c.state_size for c in cells]) + ")", state_is_tuple)
        self.cells = nn.ModuleList(cells)
        self.state_is_tuple = bool(state_is_tuple)

    @property
    def state_size(self) -> Any:
        sizes = tuple(c.state_size for c in self.cells)
        return sizes if self.state_is_tuple else sum(sizes)

    @property
    def output_size(self) -> int:
        return self.cells[-1].output_size

    def _build(self, input_size: int, dtype: torch.dtype, device: torch.device) -> None:
        size = input_size
        for i, cell in enumerate(self.cells):
            if cell.built and cell.input_size != size:
                fail("MultiRNNCell", f"cells[{i}]", f"a cell for inputs of size {size} (the output size of the "
                     "cell before it)", f"a cell built for input size {cell.input_size}")
            cell.build(size, dtype=dtype, device=device)
            size = cell.output_size

    def rnnkit_cell(self) -> StackedStep:
        """A fresh :class:`StackedStep` over the cells' rnnkit faces."""
        return StackedStep([c.rnnkit_cell() for c in self.cells])

    def _parts(self, state: Any) -> Sequence[Any]:
        if self.state_is_tuple:
            return state
        return torch.split(state, [c.state_size for c in self.cells], dim=1)

    def to_rnnkit_state(self, state: Any) -> tuple:
        return tuple(c.to_rnnkit_state(s) for c, s in zip(self.cells, self._parts(state)))

    def from_rnnkit_state(self, state: tuple) -> Any:
        parts = tuple(c.from_rnnkit_state(s) for c, s in zip(self.cells, state))
        return parts if self.state_is_tuple else torch.cat(parts, 1)

    def rnnkit_flags(self, flags: Any) -> tuple:
        parts = [flags] * len(self.cells) if isinstance(flags, bool) else list(flags)
        return tuple(c.rnnkit_flags(f) for c, f in zip(self.cells, parts))

    def extra_repr(self) -> str:
        return f"state_is_tuple={self.state_is_tuple}"

