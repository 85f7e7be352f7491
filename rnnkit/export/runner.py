r"""Trace-friendly runners: :func:`rnnkit.unroll` semantics without host syncs.

:func:`rnnkit.unroll` reads ``int(lengths.max())`` to skip the steps no
sequence needs. That is a data-dependent host sync: a tracer bakes the value
into the graph (``torch.jit.trace``) or refuses it (``torch.export``). The
runners here instead run every one of the ``T`` steps and mask:

.. math::
    m_{t,b} = [t < L_b], \qquad s_t = m_t\, \mathrm{cell}(x_t, s_{t-1}) + (1 - m_t)\, s_{t-1},
    \qquad y_t = m_t\, y^{cell}_t

(a ``torch.where``, so no ``0 * inf``), which is exactly ``unroll``'s result:
outputs zero past each length, the state carried through unchanged, a
zero-length sequence returns its initial state. Lengths outside ``[0, T]``
act as if clamped to it (they are not validated inside a traced graph).

Two loop styles, picked by the export format:

* ``"loop"``: a Python loop over ``T``; a tracer unrolls it, so ``T`` is fixed
  in the artefact (TorchScript via ``torch.jit.trace``);
* ``"scan"``: ``torch._higher_order_ops.scan`` (the loop as one graph node),
  so ``T`` may vary at run time (``torch.export`` and the ONNX exporter, which
  writes an ONNX ``Scan``/``Loop``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils import _pytree as pytree

from rnnkit.checks import check_choice
from rnnkit.state import State, map_state
from rnnkit.unroll import reverse_padded

LOOP_STYLES = ("loop", "scan")


def batch_initial_state(cell: Any, x: Tensor) -> State:
    """The cell's initial state for ``x``'s batch without an ``int`` batch size.

    ``cell.initial_state(1)`` broadcast to ``B = x.shape[1]`` (which may be a
    symbolic size while exporting). Exact for every built-in cell and wrapper
    in evaluation mode, whose initial states are the same for every example.

    Args:
        cell: any cell.
        x: ``(T, B, ...)`` time-major input.

    Returns:
        A contiguous state with leaves ``(B, ...)`` in ``x``'s dtype and device.
    """
    one = cell.initial_state(1, device=x.device, dtype=x.dtype)
    batch = x.shape[1]
    return map_state(lambda s: s.expand(batch, *s.shape[1:]).contiguous(), one)


def _select(keep: Tensor | None, new: Any, old: Any) -> Any:
    """Per example ``new`` where ``keep`` else ``old``; fresh tensors (a scan carry must not alias)."""

    def pick(n: Tensor, o: Tensor) -> Tensor:
        if keep is None:
            return n.clone() if n is o else n
        return torch.where(keep.view((-1,) + (1,) * (n.dim() - 1)), n, o)

    return map_state(pick, new, old)


def _mask_output(keep: Tensor | None, y: Tensor) -> Tensor:
    if keep is None:
        return y
    return torch.where(keep.view((-1,) + (1,) * (y.dim() - 1)), y, torch.zeros((), dtype=y.dtype, device=y.device))


def traceable_unroll(
    cell: Any,
    x: Tensor,
    state: State | None,
    lengths: Tensor | None,
    reverse: bool,
    *,
    style: str = "loop",
) -> tuple[Tensor, State]:
    """:func:`rnnkit.unroll.unroll_unchecked` without data-dependent Python values.

    Args:
        cell: any cell (built-in, wrapper or user-defined).
        x: ``(T, B, I)`` time-major input.
        state: initial state, or None for :func:`batch_initial_state`.
        lengths: ``(B,)`` integer tensor on ``x``'s device, or None (all ``T``).
        reverse: process each sequence backwards within its own length.
        style: ``"loop"`` (``T`` unrolled by a tracer) or ``"scan"`` (``T`` dynamic).

    Returns:
        ``(outputs (T, B, O), final_state)``, equal to :func:`rnnkit.unroll`'s.
    """
    check_choice("traceable_unroll", "style", style, LOOP_STYLES)
    if state is None:
        state = batch_initial_state(cell, x)
    else:
        state = map_state(lambda s: s.contiguous(), state)
    if reverse:
        x = reverse_padded(x, lengths)
    project = getattr(cell, "input_projection", None)
    recur = getattr(cell, "recur", cell)
    xp = project(x) if project is not None else x
    mask = None
    if lengths is not None:
        mask = torch.arange(x.shape[0], device=x.device).unsqueeze(1) < lengths.unsqueeze(0)
    if style == "scan":
        out, state = _scan(recur, xp, state, mask)
    else:
        outs = []
        for t in range(x.shape[0]):
            keep = None if mask is None else mask[t]
            y, new_state = recur(xp[t], state)
            state = _select(keep, new_state, state)
            outs.append(_mask_output(keep, y))
        out = torch.stack(outs)
    if reverse:
        out = reverse_padded(out, lengths)
    return out, state


def _scan(recur: Any, xp: Tensor, state: State, mask: Tensor | None) -> tuple[Tensor, State]:
    """The time loop as one ``scan`` node (carry: the state's leaves)."""
    from torch._higher_order_ops.scan import scan

    leaves, spec = pytree.tree_flatten(state)

    def step(carry: list[Tensor], inputs: Any) -> tuple[list[Tensor], Tensor]:
        x_t, keep = inputs if mask is not None else (inputs, None)
        old = pytree.tree_unflatten(list(carry), spec)
        y, new = recur(x_t, old)
        new = _select(keep, new, old)
        new_leaves = [leaf.to(ref.dtype) for leaf, ref in zip(pytree.tree_leaves(new), carry)]
        y = _mask_output(keep, y)
        if any(y is leaf for leaf in new_leaves):  # e.g. an LSTM's y is its h: scan outputs must not alias
            y = y.clone()
        return new_leaves, y

    xs = (xp, mask) if mask is not None else xp
    final, out = scan(step, leaves, xs)
    return out, pytree.tree_unflatten(list(final), spec)
