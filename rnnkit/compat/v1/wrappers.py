r"""TF1 ``DropoutWrapper`` and ``ResidualWrapper`` on ``rnnkit.wrappers``.

Both keep TF's face: ``state_size``, ``zero_state`` and the state a call
returns are the wrapped cell's TF state (e.g. ``LSTMStateTuple(c, h)``).
Their rnnkit face is ``rnnkit.wrappers.Dropout`` / ``rnnkit.wrappers.Residual``
around the wrapped cell's rnnkit face, built afresh at each call (they own no
parameters), so changing ``output_keep_prob`` between calls takes effect.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
from torch import Tensor

from rnnkit.checks import describe, fail
from rnnkit.compat.v1.base import EngineCell, RNNCell, what, input_shape_size
from rnnkit.compat.v1.dtypes import as_dtype, is_array
from rnnkit.state import State, map_state, state_leaves
from rnnkit.wrappers import Dropout, DropoutState, Residual


KeepProb = Union[float, Tensor]


def _keep_prob(name: str, value: Any) -> KeepProb:
    """Validate a keep probability; a one-element tensor is kept as is (read at every call)."""
    if is_array(value) and np.size(value) == 1 and np.asarray(value).dtype.kind == "f":
        value = float(np.asarray(value).reshape(()))
    if isinstance(value, Tensor):
        if value.numel() != 1 or not value.is_floating_point():
            fail("DropoutWrapper", name, "a float in (0, 1] or a one-element floating tensor", describe(value),
                 kind=TypeError)
        _keep_value(name, value)
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail("DropoutWrapper", name, "a float in (0, 1] or a one-element floating tensor", describe(value),
             kind=TypeError)
    return _keep_value(name, value)


def _keep_value(name: str, value: KeepProb) -> float:
    """The current value of a keep probability, checked to lie in (0, 1]."""
    current = float(value.detach().reshape(())) if isinstance(value, Tensor) else float(value)
    if not 0.0 < current <= 1.0:
        shown = f"{current} (the current value of the tensor)" if isinstance(value, Tensor) else current
        fail("DropoutWrapper", name, "in (0, 1]", shown)
    return current


def default_dropout_state_filter_visitor(substate: Any) -> Any:
    """TF1's default: drop every state tensor except the ``c`` of an ``LSTMStateTuple``."""
    from rnnkit.compat.v1.base import LSTMStateTuple

    if isinstance(substate, LSTMStateTuple):
        return LSTMStateTuple(c=False, h=True)
    return True


def traverse_shallow(visitor: Callable[[Any], Any], structure: Any, path: str = "state") -> Any:
    """TF's ``nest.get_traverse_shallow_structure``: a bool per (sub)structure.

    ``visitor(s)`` returns a bool (True: descend into / drop all of ``s``;
    False: leave ``s`` alone) or a depth-1 structure of bools like ``s``.
    """
    decision = visitor(structure)
    if not isinstance(structure, tuple):
        if not isinstance(decision, bool):
            fail("DropoutWrapper", "dropout_state_filter_visitor", f"to return a bool for the tensor at {path}",
                 describe(decision), kind=TypeError)
        return decision
    if isinstance(decision, bool):
        if not decision:
            return False
        items = [traverse_shallow(visitor, s, f"{path}[{i}]") for i, s in enumerate(structure)]
    else:
        if not isinstance(decision, tuple) or len(decision) != len(structure):
            fail("DropoutWrapper", "dropout_state_filter_visitor", f"to return a bool or {len(structure)} bools for "
                 f"{path}", describe(decision), kind=TypeError)
        items = []
        for i, (d, s) in enumerate(zip(decision, structure)):
            if not isinstance(d, bool):
                fail("DropoutWrapper", "dropout_state_filter_visitor", f"to return bools for {path}", describe(d),
                     kind=TypeError)
            items.append(traverse_shallow(visitor, s, f"{path}[{i}]") if d else False)
    return type(structure)(*items) if hasattr(structure, "_fields") else tuple(items)


class DropoutWrapper(EngineCell):
    r"""TF1 ``DropoutWrapper``: inverted dropout on a cell's inputs, outputs and state.

    .. math::
        (\tilde y_t, \tilde s_t) = \mathrm{cell}(m^x \odot x_t, s_{t-1}),\quad
        y_t = m^y \odot \tilde y_t,\quad s_t = m^s \odot \tilde s_t

    with masks :math:`m = b / k`, :math:`b \sim \mathrm{Bernoulli}(k)`, ``k``
    the keep probability. State dropout acts on the state the cell returns,
    on the leaves ``dropout_state_filter_visitor`` selects (by default every
    tensor except the ``c`` of an ``LSTMStateTuple``). Per-step masks by
    default (one per example and step); ``variational_recurrent=True`` draws
    one mask for each ``dynamic_rnn`` / ``static_rnn`` /
    ``bidirectional_dynamic_rnn`` call and uses it at every step and, as TF1
    does (its noise has shape ``[1, size]``), for every example of the batch
    (Gal & Ghahramani 2016).

    A keep probability may be a one-element tensor, as TF1's placeholder
    pattern (``keep_prob = 0.5`` for training, ``1.0`` for evaluation): its
    value is read at every call, so ``keep_prob.fill_(1.0)`` turns dropout
    off. Assigning ``wrapper.output_keep_prob = 1.0`` works too. A Python
    float is copied: rebinding the variable you passed has no effect.

    Differences from TF1, by design:

    * dropout follows ``module.training``: after ``.eval()`` the wrapper is
      the identity (TF code feeds ``keep_prob = 1.0`` instead; that works too);
    * ``dtype`` and ``input_size`` are not needed for ``variational_recurrent``
      (TF1 requires them);
    * a direct ``cell(x, state)`` call is a one-step run: with
      ``variational_recurrent`` each direct call draws new masks. Use
      ``dynamic_rnn``/``static_rnn`` (or ``rnnkit.unroll`` on
      :meth:`rnnkit_cell`, whose ``DropoutState`` carries the masks) for one
      mask across time;
    * ``seed`` is accepted and ignored: masks come from torch's global RNG
      (``torch.manual_seed``). ``dtype`` is only checked (masks take the
      state's dtype); ``input_size``, if given, must match the input.

    Args:
        cell: the compat cell to wrap.
        input_keep_prob, output_keep_prob, state_keep_prob: in ``(0, 1]``, a
            float or a one-element tensor (read at every call).
        variational_recurrent: one mask per sequence instead of per step.
        input_size: optional, checked against the input size.
        dtype: optional floating dtype (checked).
        seed: ignored (see above).
        dropout_state_filter_visitor: ``f(substate) -> bool | structure of
            bools`` as in TF; called once at construction on a zero state of
            batch size 1 (TF layout).
    """

    def __init__(self, cell: RNNCell, input_keep_prob: float = 1.0, output_keep_prob: float = 1.0,
                 state_keep_prob: float = 1.0, variational_recurrent: bool = False, input_size: Any = None,
                 dtype: Any = None, seed: Optional[int] = None,
                 dropout_state_filter_visitor: Optional[Callable[[Any], Any]] = None) -> None:
        super().__init__()
        owner = "DropoutWrapper"
        if not isinstance(cell, RNNCell):
            fail(owner, "cell", "a cell from rnnkit.compat.v1 (e.g. BasicLSTMCell)", what(cell), kind=TypeError)
        if dropout_state_filter_visitor is not None and not callable(dropout_state_filter_visitor):
            fail(owner, "dropout_state_filter_visitor", "None or a callable", describe(dropout_state_filter_visitor),
                 kind=TypeError)
        self.cell = cell
        self.input_keep_prob = _keep_prob("input_keep_prob", input_keep_prob)
        self.output_keep_prob = _keep_prob("output_keep_prob", output_keep_prob)
        self.state_keep_prob = _keep_prob("state_keep_prob", state_keep_prob)
        self.variational_recurrent = bool(variational_recurrent)
        self.expected_input_size = None if input_size is None else input_shape_size(owner, input_size)
        self.dtype_hint = as_dtype(owner, "dtype", dtype)
        self.seed = seed
        visitor = dropout_state_filter_visitor or default_dropout_state_filter_visitor
        self.tf_state_flags = traverse_shallow(visitor, cell.zero_state(1, torch.float32))

    @property
    def wrapped_cell(self) -> RNNCell:
        return self.cell

    @property
    def state_size(self) -> Any:
        return self.cell.state_size

    @property
    def output_size(self) -> int:
        return self.cell.output_size

    def _build(self, input_size: int, dtype: torch.dtype, device: torch.device) -> None:
        if self.expected_input_size is not None and self.expected_input_size != input_size:
            fail("DropoutWrapper", "input_size", f"the size of the inputs ({input_size})", self.expected_input_size)
        self.cell.build(input_size, dtype=dtype, device=device)

    def rnnkit_cell(self) -> Dropout:
        """A fresh ``rnnkit.wrappers.Dropout`` around the wrapped cell's rnnkit face."""
        if self.input_size is None:
            raise RuntimeError("DropoutWrapper: the cell is not built yet; call it once or call build(input_size)")
        flags = self.cell.rnnkit_flags(self.tf_state_flags)
        keep = {k: _keep_value(k, getattr(self, k)) for k in ("input_keep_prob", "output_keep_prob",
                                                              "state_keep_prob")}
        engine = Dropout(self.cell.rnnkit_cell(), input_dropout=1.0 - keep["input_keep_prob"],
                         output_dropout=1.0 - keep["output_keep_prob"], state_dropout=1.0 - keep["state_keep_prob"],
                         variational=self.variational_recurrent, state_filter=lambda _size: flags)
        engine.training = self.training
        return engine

    def to_rnnkit_state(self, state: State) -> DropoutState:
        """TF state -> ``DropoutState(cell=<wrapped cell's rnnkit state>, masks)``.

        With ``variational_recurrent`` the masks are drawn here, once for the
        whole batch (shape ``(1, size)`` expanded to ``(B, size)``, as TF1).
        """
        inner = self.cell.to_rnnkit_state(state)
        if not self.variational_recurrent:
            return DropoutState(inner, ())
        leaf = state_leaves(state)[0]
        batch = leaf.shape[0]
        masks = self.rnnkit_cell().sample_masks(1, device=leaf.device, dtype=leaf.dtype)

        def to_batch(mask: Tensor) -> Tensor:
            wide = mask.expand(batch, *mask.shape[1:])
            return wide if mask.stride(0) == 0 else wide.contiguous()

        return DropoutState(inner, map_state(to_batch, masks))

    def from_rnnkit_state(self, state: DropoutState) -> State:
        return self.cell.from_rnnkit_state(state.cell)

    def rnnkit_flags(self, flags: Any) -> Any:
        return DropoutState(cell=self.cell.rnnkit_flags(flags), masks=False)

    def extra_repr(self) -> str:
        parts = [f"{k}={getattr(self, k)}" for k in ("input_keep_prob", "output_keep_prob", "state_keep_prob")
                 if isinstance(getattr(self, k), Tensor) or getattr(self, k) < 1.0]
        if self.variational_recurrent:
            parts.append("variational_recurrent=True")
        return ", ".join(parts)


class ResidualWrapper(EngineCell):
    r"""TF1 ``ResidualWrapper``: :math:`y_t = x_t + \tilde y_t` (or ``residual_fn(x_t, \tilde y_t)``).

    The state is the wrapped cell's, untouched. Runs on
    ``rnnkit.wrappers.Residual``.

    Args:
        cell: the compat cell to wrap; without ``residual_fn`` its output
            size must equal its input size.
        residual_fn: ``f(inputs, outputs) -> outputs``; default ``inputs + outputs``.
    """

    def __init__(self, cell: RNNCell, residual_fn: Optional[Callable[[Tensor, Tensor], Tensor]] = None) -> None:
        super().__init__()
        if not isinstance(cell, RNNCell):
            fail("ResidualWrapper", "cell", "a cell from rnnkit.compat.v1 (e.g. GRUCell)", what(cell),
                 kind=TypeError)
        if residual_fn is not None and not callable(residual_fn):
            fail("ResidualWrapper", "residual_fn", "None or a callable f(inputs, outputs)", describe(residual_fn),
                 kind=TypeError)
        self.cell = cell
        self.residual_fn = residual_fn

    @property
    def wrapped_cell(self) -> RNNCell:
        return self.cell

    @property
    def state_size(self) -> Any:
        return self.cell.state_size

    @property
    def output_size(self) -> int:
        return self.cell.output_size

    def _build(self, input_size: int, dtype: torch.dtype, device: torch.device) -> None:
        if self.residual_fn is None and self.cell.output_size != input_size:
            fail("ResidualWrapper", "inputs", f"of size {self.cell.output_size} (the wrapped cell's output_size, "
                 "to add inputs to outputs; or pass residual_fn)", f"size {input_size}")
        self.cell.build(input_size, dtype=dtype, device=device)

    def rnnkit_cell(self) -> Residual:
        """A fresh ``rnnkit.wrappers.Residual`` around the wrapped cell's rnnkit face."""
        engine = Residual(self.cell.rnnkit_cell(), self.residual_fn)
        engine.training = self.training
        return engine

    def to_rnnkit_state(self, state: State) -> State:
        return self.cell.to_rnnkit_state(state)

    def from_rnnkit_state(self, state: State) -> State:
        return self.cell.from_rnnkit_state(state)

    def rnnkit_flags(self, flags: Any) -> Any:
        return self.cell.rnnkit_flags(flags)


__all__ = ["DropoutWrapper", "ResidualWrapper", "default_dropout_state_filter_visitor"]
