"""A learned initial state for any cell."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rnnkit.state import State, leaf_shape, map_state
from rnnkit.wrappers.base import (
    Wrapper,
    innermost_cell,
    replace_innermost_state,
    size_leaves,
    unwrap_state,
)


class LearnedInitialState(Wrapper):
    r"""Learns the state before the first step instead of starting from zeros.

    .. math::
        s_0 = \theta \quad\text{(broadcast to the batch)}, \qquad (y_t, s_t) = \mathrm{cell}(x_t, s_{t-1})

    One parameter per leaf of the cell's state, shaped like one example's
    leaf and initialised to zeros (so a fresh wrapper starts where the plain
    cell does); ``initial_state(B)`` expands them to ``(B, ...)`` without a
    copy, and gradients reach them through the runner. Works for any state
    structure (a tensor, an ``LSTMState``, a user cell's tuple).

    If ``cell`` is itself a wrapper (e.g. variational :class:`Dropout`), only
    the innermost cell's state is learned; the wrapper's masks are sampled as
    usual. A state passed explicitly to the runner replaces the learned one.

    Args:
        cell: the wrapped cell.

    Attributes:
        initial: ``nn.ParameterList``, one ``(*leaf_shape)`` parameter per
            state leaf in depth-first order (``h`` then ``c`` for an LSTM).
    """

    def __init__(self, cell: Any) -> None:
        super().__init__(cell)
        device, dtype = self._default_device_dtype(None, None)
        leaves = size_leaves(innermost_cell(cell).state_size)
        self.initial = nn.ParameterList(
            [nn.Parameter(torch.zeros(leaf_shape(s), device=device, dtype=dtype)) for s in leaves]
        )

    @property
    def passthrough(self) -> bool:
        """Always True: only the initial state is learned, every step is the inner cell's."""
        return True

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> State:
        """The learned state expanded to ``batch_size`` (inside any masks the inner wrappers add)."""
        device, dtype = self.resolve_device_dtype(batch_size, device, dtype)
        base = self.cell.initial_state(batch_size, device=device, dtype=dtype)
        params = iter(self.initial)

        def learned(leaf: torch.Tensor) -> torch.Tensor:
            p = next(params)
            return p.to(device=leaf.device, dtype=leaf.dtype).expand(leaf.shape)

        inner = map_state(learned, unwrap_state(self.cell, base))
        return replace_innermost_state(self.cell, base, inner)
