"""The TF1 ``RNNCell`` face on a ``torch.nn.Module``, and ``LSTMStateTuple``.

Every compat cell has two faces:

* the **TF face** users see: ``state_size``, ``output_size``,
  ``zero_state(batch_size, dtype)`` and ``(output, next_state) =
  cell(inputs, state)`` with TF's state layout (``LSTMStateTuple(c, h)``);
* the **rnnkit face** the runners use: :meth:`RNNCell.rnnkit_cell` returns an
  rnnkit cell (``rnnkit.cells.LSTMCell``, a dropout wrapper, ...) and
  :meth:`RNNCell.to_rnnkit_state` / :meth:`RNNCell.from_rnnkit_state` convert
  states at the boundary (``LSTMStateTuple(c, h)`` <-> ``LSTMState(h, c)``).
  ``dynamic_rnn`` converts once, runs :func:`rnnkit.unroll` on the rnnkit cell
  and converts the final state back.

Parameters are created lazily, like ``torch.nn.LazyLinear``: the input size
(and the parameters' dtype and device) come from the first call. Create the
optimizer after that first call, or call ``cell.build(input_size)`` first;
:mod:`rnnkit.compat.v1.lazy` warns when that rule is broken.

Numpy arrays are accepted wherever TF1 code fed them (inputs, states, dtypes);
see :mod:`rnnkit.compat.v1.dtypes` for the dtype rules.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import numpy as np
import torch
from torch import Tensor

from rnnkit.cells.base import Cell
from rnnkit.checks import check_positive_int, check_state, check_tensor, describe, fail
from rnnkit.compat.v1 import lazy
from rnnkit.compat.v1.dtypes import as_dtype, from_array, is_array, state_from_arrays
from rnnkit.state import State, zeros_like_size


class LSTMStateTuple(NamedTuple):
    """TF's LSTM state, **cell state first**: ``(c, h)`` with ``.c`` and ``.h``.

    Attributes:
        c: cell state ``(B, num_units)``.
        h: output ``(B, num_proj or num_units)``.

    In ``state_size`` the fields hold ints instead of tensors. rnnkit itself
    keeps ``rnnkit.LSTMState(h, c)``; compat cells convert at the boundary.
    """

    c: Any
    h: Any

    @property
    def dtype(self) -> torch.dtype:
        """The common dtype of ``c`` and ``h`` (TypeError if they differ)."""
        if self.c.dtype != self.h.dtype:
            raise TypeError(f"LSTMStateTuple: c and h must have one dtype, got {self.c.dtype} and {self.h.dtype}")
        return self.c.dtype


def input_shape_size(owner: str, input_size: Any) -> int:
    """The feature size from an int or a TF-style input shape ``(B, I)``."""
    if isinstance(input_size, (tuple, list, torch.Size)) and len(input_size) > 0:
        input_size = input_size[-1]
    return check_positive_int(owner, "input_size", input_size)


class RNNCell(Cell):
    """Base class of the TF1 cells (``tf.nn.rnn_cell.RNNCell``).

    Built-in subclasses implement ``_build`` and the rnnkit face. A user cell
    may subclass this directly as in TF: define ``state_size``,
    ``output_size`` and ``call(inputs, state) -> (output, new_state)`` and
    create its modules in ``__init__`` (or in ``_build(input_size, dtype,
    device)`` to infer the input size lazily); it then runs in
    ``dynamic_rnn``, ``MultiRNNCell`` and the wrappers.

    Args:
        name: accepted for TF compatibility (kept as ``tf_name``).
        dtype: dtype of the parameters; default the first input's dtype.
    """

    def __init__(self, *, name: Optional[str] = None, dtype: Any = None) -> None:
        super().__init__()
        self.input_size: Optional[int] = None  # type: ignore[assignment]
        self.tf_name = name
        self.param_dtype = as_dtype(type(self).__name__, "dtype", dtype)

    # ----------------------------------------------------------------- TF face
    @property
    def state_size(self) -> Any:  # pragma: no cover - abstract
        """TF state size: an int, ``LSTMStateTuple`` of ints, or a tuple of them."""
        raise NotImplementedError(f"{type(self).__name__} must define state_size")

    @property
    def output_size(self) -> int:  # pragma: no cover - abstract
        """Size of the output of one step."""
        raise NotImplementedError(f"{type(self).__name__} must define output_size")

    @property
    def hidden_size(self) -> int:  # type: ignore[override]
        return self.output_size

    @property
    def built(self) -> bool:
        """True once the input size is known and the parameters exist."""
        return self.input_size is not None

    def build(self, input_size: Any, *, dtype: Any = None, device: Any = None) -> "RNNCell":
        """Create the parameters now (instead of at the first call).

        Args:
            input_size: the input feature size ``I``, or a shape ``(B, I)``.
            dtype: parameter dtype (default: the ``dtype`` given to the
                constructor, else ``torch.get_default_dtype()``).
            device: parameter device (default CPU).

        Returns:
            ``self``, so ``opt = Adam(cell.build(32).parameters())`` works.

        Raises:
            ValueError: if the cell was already built for another input size.
        """
        owner = type(self).__name__
        size = input_shape_size(owner, input_size)
        if self.input_size is not None:
            if size != self.input_size:
                fail(owner, "input_size", f"{self.input_size} (the size the cell was built with at its first call)",
                     size)
            return self
        dt = self.param_dtype or as_dtype(owner, "dtype", dtype) or torch.get_default_dtype()
        self._build(size, dt, torch.device("cpu") if device is None else torch.device(device))
        self.input_size = size
        return self

    def _build(self, input_size: int, dtype: torch.dtype, device: torch.device) -> None:
        """Create parameters for ``input_size`` features (override in subclasses)."""

    def parameters(self, recurse: bool = True) -> Any:
        """As ``torch.nn.Module.parameters``; warns when the cell is not built yet (it has none then)."""
        if not self.built:
            lazy.warn_unbuilt(self, "parameters")
        return (p for _, p in torch.nn.Module.named_parameters(self, recurse=recurse))

    def named_parameters(self, *args: Any, **kwargs: Any) -> Any:
        """As ``torch.nn.Module.named_parameters``; warns when the cell is not built yet."""
        if not self.built:
            lazy.warn_unbuilt(self, "named_parameters")
        return super().named_parameters(*args, **kwargs)

    def _first_parameter(self) -> Optional[Tensor]:
        return next((p for _, p in torch.nn.Module.named_parameters(self)), None)

    def _default_device_dtype(self, device: Any, dtype: Any) -> tuple[Any, Any]:
        param = self._first_parameter()
        if device is None:
            device = param.device if param is not None else torch.device("cpu")
        if dtype is None:
            dtype = param.dtype if param is not None else (self.param_dtype or torch.get_default_dtype())
        return device, dtype

    def array_dtype(self, dtype: Any = None) -> torch.dtype:
        """The dtype a numpy array fed to this cell becomes (see :mod:`rnnkit.compat.v1.dtypes`).

        The parameters' dtype once built, else ``dtype``, else the
        constructor's ``dtype``, else float32 (TF's default).
        """
        param = self._first_parameter()
        if param is not None:
            return param.dtype
        return as_dtype(type(self).__name__, "dtype", dtype) or self.param_dtype or torch.float32

    def zero_state(self, batch_size: Any, dtype: Any = None, *, device: Any = None) -> State:
        """Zero-filled state, structured as ``state_size``.

        Args:
            batch_size: ``B`` (an int or a 0-d integer tensor).
            dtype: ``v1.float32``, ``torch.float64``, ``"float32"``, ...;
                default the parameters' dtype.
            device: default the parameters' device (CPU before the first call).

        Returns:
            Tensors ``(B, s)`` for every ``s`` in ``state_size``.
        """
        owner = type(self).__name__
        if isinstance(batch_size, Tensor) and batch_size.dim() == 0 and not batch_size.is_floating_point():
            batch_size = int(batch_size)
        if is_array(batch_size) and np.ndim(batch_size) == 0 and np.asarray(batch_size).dtype.kind in "iu":
            batch_size = int(batch_size)
        check_positive_int(owner, "batch_size", batch_size, allow_zero=True)
        dev, dt = self._default_device_dtype(device, as_dtype(owner, "dtype", dtype))
        return zeros_like_size(self.state_size, batch_size, device=dev, dtype=dt)

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> State:
        """rnnkit's cell contract: the same as :meth:`zero_state`."""
        return self.zero_state(batch_size, dtype, device=device)

    def forward(self, inputs: Tensor, state: State, scope: Any = None) -> tuple[Tensor, State]:
        """One step: ``(output, next_state) = cell(inputs, state)``.

        Args:
            inputs: ``(B, I)`` tensor or numpy array; the first call fixes
                ``I`` and creates the parameters with the input's dtype and
                device (an array becomes :meth:`array_dtype`).
            state: TF layout, structured as ``state_size`` (tensors or arrays).
            scope: accepted for TF compatibility and ignored.

        Returns:
            ``(output (B, output_size), next_state)``.
        """
        owner = type(self).__name__
        inputs = from_array(owner, "inputs", inputs, self.array_dtype())
        check_tensor(owner, "inputs", inputs)
        if inputs.dim() != 2:
            fail(owner, "inputs", "of shape (batch_size, input_size)", tuple(inputs.shape))
        self.build_for(owner, inputs)
        state = state_from_arrays(owner, "state", state, inputs.dtype)
        check_state(owner, state, self.state_size, inputs.shape[0], inputs, "state")
        return self._step(inputs, state)

    def _step(self, inputs: Tensor, state: State) -> tuple[Tensor, State]:
        """The step on validated arguments: a user subclass's :meth:`call`."""
        return self.call(inputs, state)

    def build_for(self, owner: str, x: Tensor) -> None:
        """Build lazily from ``x`` (``(..., I)``), then check ``x`` against the cell.

        Raises:
            ValueError: when ``x``'s feature size differs from the built one.
            TypeError: when ``x``'s dtype differs from the parameters'.
        """
        if self.input_size is None:
            self.build(x.shape[-1], dtype=x.dtype, device=x.device)
            lazy.watch(self)
        if x.shape[-1] != self.input_size:
            shape = "(batch_size, {})" if x.dim() == 2 else "(..., {})"
            fail(owner, "inputs", f"of shape {shape.format(self.input_size)} (input size of {type(self).__name__})",
                 tuple(x.shape))
        param = self._first_parameter()
        if param is not None and param.dtype != x.dtype:
            fail(owner, "inputs", f"of dtype {param.dtype} (the dtype of {type(self).__name__}'s parameters)",
                 x.dtype, kind=TypeError)

    def call(self, inputs: Tensor, state: State) -> tuple[Tensor, State]:
        """The step on validated arguments; user subclasses implement this."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(inputs, state)")

    # ------------------------------------------------------------- rnnkit face
    def rnnkit_cell(self) -> Any:
        """The rnnkit cell that runs this cell (here: the cell itself)."""
        return self

    def to_rnnkit_state(self, state: State) -> State:
        """TF-layout state -> the state :meth:`rnnkit_cell` expects."""
        return state

    def from_rnnkit_state(self, state: State) -> State:
        """Inverse of :meth:`to_rnnkit_state`."""
        return state

    def rnnkit_flags(self, flags: Any) -> Any:
        """Per-leaf bools laid out like the TF state -> laid out like the rnnkit state.

        A bool stands for a whole sub-structure (it is broadcast). Used to give
        ``DropoutWrapper``'s state filter to ``rnnkit.wrappers.Dropout``.
        """
        return flags if isinstance(flags, bool) else self.to_rnnkit_state(flags)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, output_size={self.output_size}"


class EngineCell(RNNCell):
    """A compat cell whose step runs through its rnnkit face."""

    def call(self, inputs: Tensor, state: State) -> tuple[Tensor, State]:
        """TF's ``cell.call(inputs, state)``: the same as ``cell(inputs, state)``.

        Builds the cell at the first call (TF tutorials call ``call`` on a
        fresh cell) and accepts numpy arrays, as :meth:`forward`.
        """
        return self.forward(inputs, state)

    def _step(self, inputs: Tensor, state: State) -> tuple[Tensor, State]:
        y, new_state = self.rnnkit_cell()(inputs, self.to_rnnkit_state(state))
        return y, self.from_rnnkit_state(new_state)


def what(value: Any) -> str:
    """Like :func:`rnnkit.checks.describe`, but a module is named by its class only."""
    if isinstance(value, torch.nn.Module):
        return f"a {type(value).__module__}.{type(value).__qualname__} module"
    return describe(value)


def check_rnn_cell(owner: str, name: str, cell: Any) -> None:
    """TF's ``assert_like_rnncell``: a compat cell (or any rnnkit cell)."""
    if not isinstance(cell, RNNCell) and not (callable(cell) and callable(getattr(cell, "initial_state", None))
                                               and hasattr(cell, "state_size")):
        fail(owner, name, "an RNN cell (e.g. rnnkit.compat.v1.BasicLSTMCell)", what(cell), kind=TypeError)
