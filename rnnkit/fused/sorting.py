"""Length sorting shared by the compiled kernels: the "shrinking batch".

The kernels want sequences sorted by length, longest first, so that at step
``t`` the active sequences are the first ``batch_sizes[t]`` rows and no work
is done past a sequence's end (as a ``PackedSequence``). :func:`run_sorted`
does the bookkeeping around a kernel: reverse within lengths, sort, run,
restore the caller's order, reverse back. Every step here is an autograd-aware
torch op, so gradients flow back through the reordering.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor

from rnnkit.state import State, map_state
from rnnkit.unroll import reverse_padded

Kernel = Callable[[Tensor, State, Tensor, int], tuple[Tensor, State]]
"""``kernel(x, state, batch_sizes, T) -> (outputs (T, B, O), final_state)`` on a
batch sorted by length; ``x`` holds only the ``len(batch_sizes)`` steps that run."""


def batch_sizes_for(sorted_lengths: Tensor, steps: int) -> Tensor:
    """``(steps,)`` int64 on the CPU: how many sequences are active at each step.

    Args:
        sorted_lengths: ``(B,)`` lengths in descending order.
        steps: the longest length.
    """
    t = torch.arange(steps, device=sorted_lengths.device).unsqueeze(1)
    return (t < sorted_lengths.unsqueeze(0)).sum(1).cpu()


def run_sorted(kernel: Kernel, x: Tensor, state: State, lengths: Optional[Tensor], reverse: bool) -> tuple[Tensor, State]:
    """Run ``kernel`` with :func:`rnnkit.unroll`'s lengths and reverse semantics.

    Args:
        kernel: see :data:`Kernel`.
        x: ``(T, B, I)`` time-major inputs.
        state: initial state, leaves ``(B, ...)``.
        lengths: ``(B,)`` int64 on ``x``'s device, or None (all ``T``).
        reverse: process each sequence backwards within its own length.

    Returns:
        ``(outputs (T, B, O), final_state)`` in the caller's order.
    """
    T, B = x.shape[0], x.shape[1]
    if reverse:
        x = reverse_padded(x, lengths)
    inverse = None
    if lengths is None or bool((lengths == T).all()):
        steps, batch_sizes = T, torch.full((T,), B, dtype=torch.long)
    else:
        sorted_lengths, perm = torch.sort(lengths, descending=True, stable=True)
        if not bool((perm == torch.arange(B, device=perm.device)).all()):
            inverse = torch.argsort(perm)
            x = x.index_select(1, perm)
            state = map_state(lambda s: s.index_select(0, perm), state)
        steps = int(sorted_lengths[0])
        batch_sizes = batch_sizes_for(sorted_lengths, steps)
    out, final = kernel(x[:steps], state, batch_sizes, T)
    if inverse is not None:
        out = out.index_select(1, inverse)
        final = map_state(lambda s: s.index_select(0, inverse), final)
    if reverse:
        out = reverse_padded(out, lengths)
    return out, final


def contiguous_state(state: Any) -> Any:
    """Every leaf made contiguous (the kernels read raw memory)."""
    return map_state(lambda s: s.contiguous(), state)


def needs_grad(*tensors: Any) -> bool:
    """True when autograd is on and any of ``tensors`` requires a gradient: then a
    kernel saves its activations (else it keeps rolling buffers only)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
