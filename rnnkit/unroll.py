"""The runner: unroll any cell over time with per-sequence lengths.

Semantics follow TF1 ``dynamic_rnn``: past ``lengths[b]`` the state is carried
through unchanged and the outputs are exactly zero, so the final state is the
state after step ``lengths[b] - 1`` and a zero-length sequence returns its
initial state. ``reverse=True`` reverses every sequence within its own length
(padding stays at the end) and returns outputs in the original order, which is
what a correct bidirectional layer needs.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from rnnkit.checks import check_lengths, check_matches_parameters, check_sequence_input, check_state, fail
from rnnkit.state import State, select_state


def reverse_padded(x: Tensor, lengths: Optional[Tensor]) -> Tensor:
    """Reverse each sequence of a time-major batch within its own length.

    Args:
        x: ``(T, B, ...)``.
        lengths: ``(B,)`` int64 on ``x``'s device, or None (reverse all of T).

    Returns:
        ``(T, B, ...)`` where ``out[t, b] = x[L_b - 1 - t, b]`` for ``t < L_b``
        and ``out[t, b] = x[t, b]`` past the length.
    """
    if lengths is None:
        return x.flip(0)
    T, B = x.shape[0], x.shape[1]
    t = torch.arange(T, device=x.device).unsqueeze(1)
    src = torch.where(t < lengths.unsqueeze(0), lengths.unsqueeze(0) - 1 - t, t)
    return x[src, torch.arange(B, device=x.device).unsqueeze(0)]


def _check_cell(owner: str, cell: Any) -> None:
    if not callable(cell) or not callable(getattr(cell, "initial_state", None)):
        fail(owner, "cell", "a cell (callable with an initial_state method, e.g. rnnkit.cells.LSTMCell)",
             type(cell).__name__, kind=TypeError)


def check_unroll_args(
    owner: str, cell: Any, inputs: Any, state: Any, lengths: Any, batch_first: bool
) -> tuple[Tensor, Optional[Tensor]]:
    """Validate :func:`unroll`'s arguments; return time-major inputs and lengths."""
    _check_cell(owner, cell)
    check_sequence_input(owner, inputs, getattr(cell, "input_size", None), batch_first=batch_first)
    check_matches_parameters(owner, "inputs", inputs, cell)
    x = inputs.transpose(0, 1) if batch_first else inputs
    T, B = x.shape[0], x.shape[1]
    if lengths is not None:
        lengths = check_lengths(owner, lengths, B, T, x.device)
    if state is not None and hasattr(cell, "state_size"):
        check_state(owner, state, cell.state_size, B, x)
    return x, lengths


def unroll(
    cell: Any,
    inputs: Tensor,
    state: Optional[State] = None,
    *,
    lengths: Any = None,
    reverse: bool = False,
    batch_first: bool = False,
) -> tuple[Tensor, State]:
    """Run ``cell`` over a batch of sequences.

    Args:
        cell: any cell (see :class:`rnnkit.cells.Cell`).
        inputs: ``(T, B, I)``, or ``(B, T, I)`` with ``batch_first``.
        state: initial state; default ``cell.initial_state(B)`` on the input's
            device and dtype.
        lengths: ``(B,)`` ints in ``[0, T]``, any order, any device, as a
            Tensor or list. None means every sequence has length ``T``.
        reverse: process each sequence from its last valid step to its first.
        batch_first: inputs and outputs are ``(B, T, ...)``.

    Returns:
        ``(outputs, final_state)``: outputs ``(T, B, O)`` (or ``(B, T, O)``),
        exactly zero past each length; final_state the state after each
        sequence's last valid step.

    Raises:
        TypeError, ValueError: on malformed arguments (message names which).
    """
    x, lengths = check_unroll_args("unroll", cell, inputs, state, lengths, batch_first)
    outputs, final = unroll_unchecked(cell, x, state, lengths, reverse)
    return (outputs.transpose(0, 1) if batch_first else outputs), final


def unroll_unchecked(
    cell: Any, x: Tensor, state: Optional[State], lengths: Optional[Tensor], reverse: bool
) -> tuple[Tensor, State]:
    """:func:`unroll` on validated, time-major arguments (lengths int64 on x's device)."""
    T, B = x.shape[0], x.shape[1]
    if state is None:
        state = cell.initial_state(B, device=x.device, dtype=x.dtype)
    steps, min_len = T, T
    if lengths is not None and B > 0:
        steps, min_len = int(lengths.max()), int(lengths.min())
    elif B == 0:
        steps = 0
    if reverse:
        x = reverse_padded(x, lengths)
    project = getattr(cell, "input_projection", None)
    recur = getattr(cell, "recur", cell)
    xp = project(x[:steps]) if project is not None else x[:steps]
    outs = []
    mask = None
    if lengths is not None and min_len < steps:
        mask = torch.arange(steps, device=x.device).unsqueeze(1) < lengths.unsqueeze(0)
    for t in range(steps):
        y, new_state = recur(xp[t], state)
        if t >= min_len:
            keep = mask[t]
            state = select_state(keep, new_state, state)
            y = torch.where(keep.view((-1,) + (1,) * (y.dim() - 1)), y, torch.zeros((), dtype=y.dtype, device=y.device))
        else:
            state = new_state
        outs.append(y)
    out_size = getattr(cell, "output_size", None)
    if outs:
        out = torch.stack(outs)
        if steps < T:
            out = torch.cat([out, out.new_zeros((T - steps, *out.shape[1:]))])
    else:
        if out_size is None:
            fail("unroll", "cell", "a cell with an output_size attribute when no step runs (T = 0 or B = 0)",
                 type(cell).__name__, kind=TypeError)
        out = x.new_zeros((T, B, out_size))
    if reverse:
        out = reverse_padded(out, lengths)
    return out, state
