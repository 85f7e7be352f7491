"""Dropout on a cell's input, output and state, per step or variational."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

from torch import Tensor

from rnnkit.checks import check_probability, describe, fail
from rnnkit.state import LSTMState, State, map_state, size_is_leaf
from rnnkit.wrappers.base import Wrapper, is_wrapper_state, keep_mask, map_size, ones_view, resolve_flags


class DropoutMasks(NamedTuple):
    """The masks of one step (per-step dropout) or of one sequence (variational).

    Every mask holds ``0`` and ``1 / (1 - p)`` (inverted dropout); a mask that
    is not in use (probability 0, a leaf the state filter excludes, or
    evaluation mode) is a stride-0 view of ones that takes no memory.

    Attributes:
        input: ``(B, I)``, multiplies ``x_t``.
        output: ``(B, O)``, multiplies ``y_t``.
        state: the structure of the cell's state, one mask per leaf.
    """

    input: Tensor
    output: Tensor
    state: State


class DropoutState(NamedTuple):
    """State of a :class:`Dropout` wrapper.

    Attributes:
        cell: the wrapped cell's state (e.g. an ``LSTMState``); this is what a
            caller who wants "the RNN state" reads, also through
            :meth:`Dropout.cell_state` or :func:`rnnkit.wrappers.unwrap_state`.
        masks: :class:`DropoutMasks` with ``variational=True`` (sampled in
            ``initial_state`` and carried unchanged through every step, so a
            sequence uses one mask throughout), else ``()``: per-step masks are
            drawn afresh at each step and never stored.
    """

    cell: State
    masks: Union[DropoutMasks, tuple]


def default_state_filter(size: Any, drop_lstm_c: bool = False) -> Any:
    """Which state leaves state dropout applies to: all, except the ``c`` of every ``LSTMState``.

    The masks an inner wrapper keeps in its state (the ``masks`` of a
    ``(cell, masks)`` wrapper state) are never dropped.

    Args:
        size: the cell's ``state_size``.
        drop_lstm_c: also drop ``LSTMState.c``.

    Returns:
        A bool or a structure of bools matching ``size`` (TF1's default
        ``dropout_state_filter_visitor``).
    """
    if size_is_leaf(size):
        return True
    if is_wrapper_state(size):
        return type(size)(default_state_filter(size.cell, drop_lstm_c), False)
    if isinstance(size, LSTMState):
        return LSTMState(h=default_state_filter(size.h, drop_lstm_c), c=bool(drop_lstm_c))
    return tuple(default_state_filter(s, drop_lstm_c) for s in size)


class Dropout(Wrapper):
    r"""Inverted dropout on a cell's input, output and state (TF1 ``DropoutWrapper``).

    .. math::
        (\tilde y_t, \tilde s_t) &= \mathrm{cell}(m^x_t \odot x_t,\ s_{t-1}) \\
        y_t &= m^y_t \odot \tilde y_t \\
        s_t &= m^s_t \odot \tilde s_t \quad\text{(leaves the state filter selects; others } s_t = \tilde s_t)

    with :math:`m = b / (1 - p)`, :math:`b \sim \mathrm{Bernoulli}(1 - p)`
    elementwise and ``p`` the ``input_dropout``, ``output_dropout`` or
    ``state_dropout`` probability. Per-step dropout (default) draws new masks
    at every step. ``variational=True`` (Gal & Ghahramani 2016; TF1
    ``DropoutWrapper(variational_recurrent=True)``) draws one mask per
    sequence in ``initial_state`` and carries it in the state, so
    :math:`m_t = m` for every step. Each sequence (example) gets its own
    variational mask, as in Gal & Ghahramani (TF1 draws one ``[1, ...]`` mask
    shared by the batch). State dropout acts on the state a step returns (as
    TF1 ``state_keep_prob``), so it also reaches the final state.

    In evaluation mode the wrapper is exactly the inner cell (no masks are
    sampled, ``initial_state`` holds ones). Variational masks are drawn in
    the mode the module is in when ``initial_state`` runs: a state made in
    evaluation mode carries ones.

    Speed: with input dropout in training mode the inner cell's input
    projection runs inside each step (on the dropped input) instead of once
    over all steps.

    Args:
        cell: the wrapped cell.
        input_dropout: drop probability of ``x_t`` in ``[0, 1)``.
        output_dropout: drop probability of ``y_t``.
        state_dropout: drop probability of the state leaves the filter selects.
        variational: one mask per sequence (carried in the state) instead of
            one per step.
        drop_lstm_c: with the default filter, also drop the ``c`` of an
            ``LSTMState`` (TF1 does not by default).
        state_filter: called once with the cell's ``state_size``; returns a
            bool or a structure of bools matching it (a bool stands for its
            whole sub-structure): True where state dropout applies. Default
            :func:`default_state_filter`.

    State: :class:`DropoutState` ``(cell, masks)``.
    """

    def __init__(
        self,
        cell: Any,
        *,
        input_dropout: float = 0.0,
        output_dropout: float = 0.0,
        state_dropout: float = 0.0,
        variational: bool = False,
        drop_lstm_c: bool = False,
        state_filter: Optional[Callable[[Any], Any]] = None,
    ) -> None:
        super().__init__(cell)
        owner = "Dropout"
        self.input_dropout = check_probability(owner, "input_dropout", input_dropout)
        self.output_dropout = check_probability(owner, "output_dropout", output_dropout)
        self.state_dropout = check_probability(owner, "state_dropout", state_dropout)
        for name, flag in (("variational", variational), ("drop_lstm_c", drop_lstm_c)):
            if not isinstance(flag, bool):
                fail(owner, name, "a bool", describe(flag), kind=TypeError)
        self.variational = variational
        self.drop_lstm_c = drop_lstm_c
        if state_filter is None:
            flags = default_state_filter(cell.state_size, self.drop_lstm_c)
        elif not callable(state_filter):
            fail(owner, "state_filter", "None or a callable taking the cell's state_size", type(state_filter).__name__,
                 kind=TypeError)
        else:
            flags = state_filter(cell.state_size)
        self.state_flags: list[bool] = resolve_flags(owner, "state_filter's result", flags, cell.state_size)

    @property
    def state_size(self) -> DropoutState:
        inner = self.cell.state_size
        masks = DropoutMasks(self.input_size, self.output_size, inner) if self.variational else ()
        return DropoutState(cell=inner, masks=masks)

    @property
    def passthrough(self) -> bool:
        """True in evaluation mode or with every probability 0: the step is the inner cell's."""
        return not self._active()

    def _active(self) -> bool:
        return self.training and (self.input_dropout > 0 or self.output_dropout > 0 or self.state_dropout > 0)

    def _sample(self, batch_size: int, device: Any, dtype: Any) -> DropoutMasks:
        def mask(shape: tuple[int, ...], p: float, use: bool = True) -> Tensor:
            if self.training and p > 0 and use:
                return keep_mask((batch_size, *shape), p, device=device, dtype=dtype)
            return ones_view(batch_size, shape, device=device, dtype=dtype)

        m_in = mask((self.input_size,), self.input_dropout)
        m_out = mask((self.output_size,), self.output_dropout)
        flags = iter(self.state_flags)
        m_state = map_size(lambda shape: mask(shape, self.state_dropout, next(flags)), self.cell.state_size)
        return DropoutMasks(m_in, m_out, m_state)

    def sample_masks(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> DropoutMasks:
        """Draw the masks of one step, or of one sequence when variational.

        Draws from the global RNG in the order input, output, state leaves; in
        evaluation mode returns ones. This is exactly what a step (per-step
        dropout) or ``initial_state`` (variational) draws, so seeding the RNG
        before both reproduces a step's masks.
        """
        if device is None or dtype is None:
            device, dtype = self.resolve_device_dtype(batch_size, device, dtype)
        return self._sample(batch_size, device, dtype)

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> DropoutState:
        """The inner cell's initial state, plus one mask per sequence when variational.

        Returns:
            ``DropoutState(cell=<inner initial state>, masks=DropoutMasks | ())``.
        """
        device, dtype = self.resolve_device_dtype(batch_size, device, dtype)
        inner = self.cell.initial_state(batch_size, device=device, dtype=dtype)
        masks = self.sample_masks(batch_size, device=device, dtype=dtype) if self.variational else ()
        return DropoutState(inner, masks)

    def input_projection(self, inputs: Tensor) -> Tensor:
        """The inner projection, or the identity when input dropout is active (applied in the step)."""
        if self.training and self.input_dropout > 0:
            return inputs
        return super().input_projection(inputs)

    def recur(self, projected: Tensor, state: DropoutState) -> tuple[Tensor, DropoutState]:
        inner_state, carried = state
        if not self._active():
            y, new = self.inner_step(projected, inner_state)
            return y, DropoutState(new, carried)
        if self.variational:
            masks = carried
        else:
            masks = self.sample_masks(projected.shape[0], device=projected.device, dtype=projected.dtype)
        if self.input_dropout > 0:
            y, new = self.inner_step_from_input(projected * masks.input, inner_state)
        else:
            y, new = self.inner_step(projected, inner_state)
        if self.output_dropout > 0:
            y = y * masks.output
        if self.state_dropout > 0:
            flags = iter(self.state_flags)
            new = map_state(lambda s, m: s * m if next(flags) else s, new, masks.state)
        return y, DropoutState(new, carried)

    def cell_state(self, state: DropoutState) -> State:
        """The wrapped cell's state (``state.cell``)."""
        return state.cell

    def with_cell_state(self, state: DropoutState, cell_state: State) -> DropoutState:
        return DropoutState(cell_state, state.masks)

    def extra_repr(self) -> str:
        parts = [f"{name}={getattr(self, name)}" for name in ("input_dropout", "output_dropout", "state_dropout")
                 if getattr(self, name) > 0]
        if self.variational:
            parts.append("variational=True")
        if self.drop_lstm_c:
            parts.append("drop_lstm_c=True")
        return ", ".join(parts)
