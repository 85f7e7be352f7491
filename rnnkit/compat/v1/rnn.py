"""TF1 ``tf.nn.dynamic_rnn``, ``bidirectional_dynamic_rnn``, ``static_rnn`` and
``static_bidirectional_rnn`` on :func:`rnnkit.unroll`.

Semantics are TF1's: past ``sequence_length[b]`` the state is copied through
and outputs are zero, so the final state is the state after each sequence's
last valid step; the backward direction reverses each sequence within its own
length. Each call converts the TF state to the cell's rnnkit state once (this
is also when variational dropout masks are drawn), runs the rnnkit cell and
converts the final state back.

Inputs, ``initial_state`` and ``sequence_length`` may be numpy arrays, as in
TF1 feeds; an input array becomes the cell's dtype (its parameters', else
``dtype``, else float32) and a state array the inputs' dtype. Tensors are
never cast.

Differences from TF1: ``dtype`` may be left out (the inputs' dtype is used);
``parallel_iterations``, ``swap_memory`` and ``scope`` are accepted and ignored.
Any rnnkit cell (e.g. ``rnnkit.cells.LSTMCell``) may be passed as well; its
state is then rnnkit's.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor

from rnnkit.checks import check_lengths, check_state, check_tensor, describe, fail
from rnnkit.compat.v1.base import RNNCell, check_rnn_cell
from rnnkit.compat.v1.dtypes import as_dtype, from_array, is_array, state_from_arrays
from rnnkit.state import State, select_state
from rnnkit.unroll import reverse_padded, unroll


def _identity(state: State) -> State:
    return state


def _faces(cell: Any) -> tuple[Any, Callable[[State], State], Callable[[State], State]]:
    """``(rnnkit cell, TF state -> rnnkit state, rnnkit state -> TF state)``."""
    if isinstance(cell, RNNCell):
        return cell.rnnkit_cell(), cell.to_rnnkit_state, cell.from_rnnkit_state
    return cell, _identity, _identity


def _sequence_length(owner: str, value: Any, batch_size: int, max_time: int, device: torch.device) -> Optional[Tensor]:
    """Validate TF's ``sequence_length`` (list, tensor or numpy array) as int64 on ``device``."""
    if value is None:
        return None
    if not isinstance(value, (Tensor, list, tuple)) and hasattr(value, "__array__"):
        try:
            value = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError):  # e.g. an array of strings or objects
            fail(owner, "sequence_length", "a list, tensor or array of ints", describe(value), kind=TypeError)
    try:
        return check_lengths(owner, value, batch_size, max_time, device)
    except (TypeError, ValueError) as err:
        raise type(err)(str(err).replace(f"{owner}: lengths", f"{owner}: sequence_length", 1)) from None


def _check_dtype(owner: str, dtype: Any, like: Tensor) -> None:
    dt = as_dtype(owner, "dtype", dtype)
    if dt is not None and dt != like.dtype:
        fail(owner, "dtype", f"None or the inputs' dtype ({like.dtype})", dt, kind=TypeError)


def _array_dtype(owner: str, cell: Any, dtype: Any) -> torch.dtype:
    """The dtype a numpy input becomes: the cell's (see ``RNNCell.array_dtype``), else ``dtype``, else float32."""
    if isinstance(cell, RNNCell):
        return cell.array_dtype(dtype)
    param = next(iter(cell.parameters()), None) if isinstance(cell, torch.nn.Module) else None
    return param.dtype if param is not None else (as_dtype(owner, "dtype", dtype) or torch.float32)


def _prepare(owner: str, name: str, cell: Any, x: Tensor, layout: str, shown: tuple, initial_state: Any,
             state_name: str) -> State:
    """Check ``cell`` against time-major ``x``, build it lazily; return the initial TF state.

    ``layout`` and ``shown`` (the user's input shape) word the size message.
    """
    check_rnn_cell(owner, name, cell)
    initial_state = state_from_arrays(owner, state_name, initial_state, x.dtype)
    size = getattr(cell, "input_size", None)
    if size is not None and x.shape[-1] != size:
        fail(owner, "inputs", f"of shape {layout.format(size)} ({name} has input size {size})", shown)
    if isinstance(cell, RNNCell):
        cell.build_for(owner, x)
    B = x.shape[1]
    if initial_state is None:
        if isinstance(cell, RNNCell):
            return cell.zero_state(B, x.dtype, device=x.device)
        return cell.initial_state(B, device=x.device, dtype=x.dtype)
    check_state(owner, initial_state, cell.state_size, B, x, state_name)
    return initial_state


def _sequence_input(owner: str, inputs: Any, time_major: bool, cell: Any = None, dtype: Any = None
                    ) -> tuple[Tensor, str]:
    """Validate a 3-D input (a numpy array becomes a tensor); return it time-major with its layout."""
    if is_array(inputs):
        check_rnn_cell(owner, "cell" if cell is not None else "cell_fw", cell)
        inputs = from_array(owner, "inputs", inputs, _array_dtype(owner, cell, dtype))
    check_tensor(owner, "inputs", inputs)
    layout = "(max_time, batch_size, {})" if time_major else "(batch_size, max_time, {})"
    if inputs.dim() != 3:
        fail(owner, "inputs", "of shape " + layout.format("input_size"), tuple(inputs.shape))
    return (inputs if time_major else inputs.transpose(0, 1)), layout


def _run(cell: Any, x: Tensor, lengths: Optional[Tensor], state: State, reverse: bool) -> tuple[Tensor, State]:
    engine, to_rnnkit, from_rnnkit = _faces(cell)
    out, final = unroll(engine, x, to_rnnkit(state), lengths=lengths, reverse=reverse)
    return out, from_rnnkit(final)


def dynamic_rnn(cell: Any, inputs: Tensor, sequence_length: Any = None, initial_state: Any = None, dtype: Any = None,
                parallel_iterations: Optional[int] = None, swap_memory: bool = False, time_major: bool = False,
                scope: Any = None) -> tuple[Tensor, State]:
    """TF1 ``tf.nn.dynamic_rnn``: run ``cell`` over ``inputs``.

    Args:
        cell: a compat cell (built at the first call from ``inputs``).
        inputs: ``(B, T, I)``, or ``(T, B, I)`` with ``time_major``.
        sequence_length: ``(B,)`` ints in ``[0, T]`` (list, tensor or array).
        initial_state: TF-layout state; default ``cell.zero_state``.
        dtype: optional; must equal the inputs' dtype.
        parallel_iterations, swap_memory, scope: ignored.
        time_major: layout of ``inputs`` and outputs.

    Returns:
        ``(outputs, state)``: outputs ``(B, T, output_size)`` (or time-major),
        zero past each length; state the TF-layout final state.
    """
    owner = "dynamic_rnn"
    x, layout = _sequence_input(owner, inputs, time_major, cell, dtype)
    _check_dtype(owner, dtype, x)
    state = _prepare(owner, "cell", cell, x, layout, tuple(inputs.shape), initial_state, "initial_state")
    lengths = _sequence_length(owner, sequence_length, x.shape[1], x.shape[0], x.device)
    out, final = _run(cell, x, lengths, state, reverse=False)
    return (out if time_major else out.transpose(0, 1)), final



def bidirectional_dynamic_rnn(cell_fw: Any, cell_bw: Any, inputs: Tensor, sequence_length: Any = None,
                              initial_state_fw: Any = None, initial_state_bw: Any = None, dtype: Any = None,
                              parallel_iterations: Optional[int] = None, swap_memory: bool = False,
                              time_major: bool = False, scope: Any = None) -> tuple[tuple[Tensor, Tensor], tuple]:
    """TF1 ``tf.nn.bidirectional_dynamic_rnn``.

    The backward cell reads each sequence reversed within its own length
    (TF's ``reverse_sequence``); its outputs come back in input order.

    Returns:
        ``((outputs_fw, outputs_bw), (state_fw, state_bw))``, outputs shaped
        like ``inputs`` with the cells' output sizes.
    """
    owner = "bidirectional_dynamic_rnn"
    x, layout = _sequence_input(owner, inputs, time_major, cell_fw, dtype)
    _check_dtype(owner, dtype, x)
    shown = tuple(x.shape) if time_major else tuple(x.transpose(0, 1).shape)
    state_fw = _prepare(owner, "cell_fw", cell_fw, x, layout, shown, initial_state_fw, "initial_state_fw")
    state_bw = _prepare(owner, "cell_bw", cell_bw, x, layout, shown, initial_state_bw, "initial_state_bw")
    lengths = _sequence_length(owner, sequence_length, x.shape[1], x.shape[0], x.device)
    out_fw, final_fw = _run(cell_fw, x, lengths, state_fw, reverse=False)
    out_bw, final_bw = _run(cell_bw, x, lengths, state_bw, reverse=True)
    if not time_major:
        out_fw, out_bw = out_fw.transpose(0, 1), out_bw.transpose(0, 1)
    return (out_fw, out_bw), (final_fw, final_bw)


_STEP_LAYOUT = "[(batch_size, {}), ...] (one tensor per step)"


def _step_inputs(owner: str, inputs: Any, cell: Any, dtype: Any) -> Tensor:
    """Validate TF's list of ``(B, I)`` step inputs (tensors or arrays); return them stacked ``(T, B, I)``."""
    if isinstance(inputs, (list, tuple)) and any(is_array(x) for x in inputs):
        check_rnn_cell(owner, "cell" if cell is not None else "cell_fw", cell)
        dt = _array_dtype(owner, cell, dtype)
        inputs = [from_array(owner, f"inputs[{t}]", x, dt) for t, x in enumerate(inputs)]
    if isinstance(inputs, Tensor) or not isinstance(inputs, (list, tuple)):
        fail(owner, "inputs", "a list of (batch_size, input_size) tensors, one per step", describe(inputs),
             kind=TypeError)
    if len(inputs) == 0:
        fail(owner, "inputs", "a non-empty list of tensors", "an empty list")
    for t, x in enumerate(inputs):
        check_tensor(owner, f"inputs[{t}]", x)
        if x.dim() != 2 or x.shape != inputs[0].shape or x.dtype != inputs[0].dtype:
            fail(owner, f"inputs[{t}]", f"of shape (batch_size, input_size) = {tuple(inputs[0].shape)} and dtype "
                 f"{inputs[0].dtype}, like inputs[0]", f"{tuple(x.shape)}, {x.dtype}")
    return torch.stack(list(inputs))


def _static_loop(cell: Any, steps: Sequence[Tensor], lengths: Optional[Tensor], state: State) -> tuple[list, State]:
    """TF's ``static_rnn`` loop: one cell call per step; copy state / zero outputs past each length."""
    engine, to_rnnkit, from_rnnkit = _faces(cell)
    s = to_rnnkit(state)
    outputs = []
    for t, x_t in enumerate(steps):
        y, new = engine(x_t, s)
        if lengths is None:
            s = new
        else:
            keep = t < lengths
            s = select_state(keep, new, s)
            y = torch.where(keep.unsqueeze(1), y, torch.zeros((), dtype=y.dtype, device=y.device))
        outputs.append(y)
    return outputs, from_rnnkit(s)


def static_rnn(cell: Any, inputs: Sequence[Tensor], initial_state: Any = None, dtype: Any = None,
               sequence_length: Any = None, scope: Any = None) -> tuple[list[Tensor], State]:
    """TF1 ``tf.nn.static_rnn`` (``tf.contrib.rnn.static_rnn``): the RNN over a list of steps.

    Args:
        cell: a compat cell.
        inputs: list of ``T`` tensors ``(B, I)``.
        initial_state, dtype, sequence_length: as :func:`dynamic_rnn`.
        scope: ignored.

    Returns:
        ``(outputs, state)``: a list of ``T`` tensors ``(B, output_size)``
        (zero past each length) and the TF-layout final state.
    """
    owner = "static_rnn"
    x = _step_inputs(owner, inputs, cell, dtype)
    _check_dtype(owner, dtype, x)
    state = _prepare(owner, "cell", cell, x, _STEP_LAYOUT, tuple(x.shape[1:]), initial_state, "initial_state")
    lengths = _sequence_length(owner, sequence_length, x.shape[1], x.shape[0], x.device)
    return _static_loop(cell, list(x.unbind(0)), lengths, state)


def static_bidirectional_rnn(cell_fw: Any, cell_bw: Any, inputs: Sequence[Tensor], initial_state_fw: Any = None,
                             initial_state_bw: Any = None, dtype: Any = None, sequence_length: Any = None,
                             scope: Any = None) -> tuple[list[Tensor], State, State]:
    """TF1 ``tf.nn.static_bidirectional_rnn``.

    Returns:
        ``(outputs, state_fw, state_bw)``: outputs a list of ``T`` tensors
        ``(B, out_fw + out_bw)`` (forward and backward concatenated).
    """
    owner = "static_bidirectional_rnn"
    x = _step_inputs(owner, inputs, cell_fw, dtype)
    _check_dtype(owner, dtype, x)
    shown = tuple(x.shape[1:])
    state_fw = _prepare(owner, "cell_fw", cell_fw, x, _STEP_LAYOUT, shown, initial_state_fw, "initial_state_fw")
    state_bw = _prepare(owner, "cell_bw", cell_bw, x, _STEP_LAYOUT, shown, initial_state_bw, "initial_state_bw")
    lengths = _sequence_length(owner, sequence_length, x.shape[1], x.shape[0], x.device)
    out_fw, final_fw = _static_loop(cell_fw, list(x.unbind(0)), lengths, state_fw)
    out_bw, final_bw = _static_loop(cell_bw, list(reverse_padded(x, lengths).unbind(0)), lengths, state_bw)
    out_bw = list(reverse_padded(torch.stack(out_bw), lengths).unbind(0))
    return [torch.cat([f, b], 1) for f, b in zip(out_fw, out_bw)], final_fw, final_bw
