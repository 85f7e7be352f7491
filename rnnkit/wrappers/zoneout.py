"""Zoneout (Krueger et al., 2016): units keep their previous value at random."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.checks import check_probability, fail
from rnnkit.state import LSTMState, State, map_state, size_is_leaf, state_leaves
from rnnkit.wrappers.base import Wrapper, is_wrapper_state, size_leaves


def _leaf_rates(size: Any, h: float, c: float) -> list[float]:
    """One rate per state leaf: ``c`` for the ``c`` of an LSTMState, 0 for an inner wrapper's masks, else ``h``."""
    if size_is_leaf(size):
        return [h]
    if is_wrapper_state(size):
        return _leaf_rates(size.cell, h, c) + [0.0] * len(size_leaves(size.masks))
    if isinstance(size, LSTMState):
        return _leaf_rates(size.h, h, c) + [c] * len(size_leaves(size.c))
    return [rate for s in size for rate in _leaf_rates(s, h, c)]


def _has_lstm_state(size: Any) -> bool:
    if size_is_leaf(size):
        return False
    if is_wrapper_state(size):
        return _has_lstm_state(size.cell)
    return isinstance(size, LSTMState) or any(_has_lstm_state(s) for s in size)


class Zoneout(Wrapper):
    r"""Zoneout on the state of any cell (Krueger et al., 2016).

    In training mode each unit keeps its previous value with probability
    ``rate``, drawn afresh at every step (the paper's per-step masks):

    .. math::
        (\tilde y_t, \tilde s_t) &= \mathrm{cell}(x_t, s_{t-1}) \\
        d_t &\sim \mathrm{Bernoulli}(\mathrm{rate}) \\
        s_t &= d_t \odot s_{t-1} + (1 - d_t) \odot \tilde s_t

    In evaluation mode the expectation is used:
    :math:`s_t = \mathrm{rate}\, s_{t-1} + (1 - \mathrm{rate})\, \tilde s_t`.

    Rates: the ``c`` of an ``LSTMState`` uses ``c``; every other state leaf
    (the ``h`` of an ``LSTMState``, a plain tensor state such as a GRU's, the
    leaves of a user cell's state) uses ``h``, except the masks an inner
    wrapper keeps in its state, which pass through untouched.

    Output: when the inner cell returns one of its state tensors as its output
    (every built-in cell does, :math:`y_t = h_t`), the output is that tensor
    after zoneout, :math:`y_t = h_t`; otherwise the inner output
    :math:`\tilde y_t` passes through unchanged. For an LSTM with a projection
    (``proj_size``) ``h`` is the projected state ``(B, P)``, so zoneout mixes
    the previous and new *projected* outputs, and ``c`` is zoned out before
    the projection only through its own rate.

    Args:
        cell: the wrapped cell.
        h: zoneout rate of ``h`` (and of every non-``c`` leaf) in ``[0, 1)``.
        c: zoneout rate of the LSTM cell state ``c``; must be 0 for a cell
            whose state has no ``LSTMState``.

    State: the inner cell's state, unchanged in structure.
    """

    def __init__(self, cell: Any, *, h: float = 0.0, c: float = 0.0) -> None:
        super().__init__(cell)
        self.h = check_probability("Zoneout", "h", h)
        self.c = check_probability("Zoneout", "c", c)
        if self.c > 0 and not _has_lstm_state(cell.state_size):
            fail("Zoneout", "c", f"0.0 for {type(cell).__name__}, whose state has no LSTMState (use h)", c)
        self.rates: list[float] = _leaf_rates(cell.state_size, self.h, self.c)

    def sample_masks(self, state: State) -> State:
        """Draw one step's keep-previous masks :math:`d_t` (bool, True = keep ``s_{t-1}``).

        Args:
            state: the state before the step (gives structure, shapes, device).

        Returns:
            A structure like ``state`` of bool tensors; leaves whose rate is 0
            are all False (a stride-0 view). Draws from the global RNG, leaf by
            leaf, exactly as a training step does.
        """
        rates = iter(self.rates)

        def draw(leaf: Tensor) -> Tensor:
            rate = next(rates)
            if rate == 0.0:
                return torch.zeros((), dtype=torch.bool, device=leaf.device).expand(leaf.shape)
            return torch.rand(leaf.shape, device=leaf.device, dtype=leaf.dtype) < rate

        return map_state(draw, state)

    def recur(self, projected: Tensor, state: State) -> tuple[Tensor, State]:
        y, new = self.inner_step(projected, state)
        if self.h == 0.0 and self.c == 0.0:
            return y, new
        new_leaves = state_leaves(new)
        hit = next((i for i, leaf in enumerate(new_leaves) if leaf is y), None)
        rates = iter(self.rates)
        if self.training:
            keep = self.sample_masks(state)
            zoned = map_state(lambda n, o, d: n if next(rates) == 0.0 else torch.where(d, o, n), new, state, keep)
        else:
            zoned = map_state(lambda n, o: _expect(n, o, next(rates)), new, state)
        if hit is not None:
            y = state_leaves(zoned)[hit]
        return y, zoned

    @property
    def passthrough(self) -> bool:
        """True with both rates 0 (in evaluation mode zoneout is an expectation, not the identity)."""
        return self.h == 0.0 and self.c == 0.0

    def extra_repr(self) -> str:
        return f"h={self.h}, c={self.c}"


def _expect(new: Tensor, old: Tensor, rate: float) -> Tensor:
    """``rate * old + (1 - rate) * new`` (the expectation of zoneout)."""
    return new if rate == 0.0 else torch.lerp(new, old, rate)

