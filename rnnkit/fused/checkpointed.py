r"""Segment-wise gradient checkpointing for long sequences.

:func:`unroll_checkpointed` runs the sequence in segments of ``L`` steps.
The forward pass runs without autograd (the compiled kernels then keep only
rolling buffers) and keeps each segment's initial state; backward recomputes
one segment at a time, last first, with autograd on, and backpropagates
through it. With ``L = sqrt(T)`` the saved
activations are ``O(sqrt(T))`` segments' worth plus ``T / L`` boundary
states, i.e. ``O(sqrt(T))`` instead of ``O(T)`` (the inputs and the outputs
themselves are still ``(T, B, ...)``). The price is one extra forward pass.

Inside a segment the fastest path that supports the call runs (native,
compiled, or the reference runner), so the results and gradients equal the
unsegmented run's. The RNG states at each segment's start (the CPU
generator, and the generator of ``x``'s device when it is a GPU: CUDA, MPS,
XPU) are restored on recomputation, so dropout and zoneout masks drawn inside
steps are the same in both passes; the recomputation runs inside
``fork_rng``, so the caller's generators are left as the forward pass left them. Gradients reach the cell's parameters as its own ``parameters()``
(so ``torch.func.functional_call`` substitutes are not seen).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator, NamedTuple, Optional

import torch
from torch import Tensor

from rnnkit.checks import check_positive_int
from rnnkit.fused import FusedMode, check_fused_mode, choose
from rnnkit.state import State, map_state, state_leaves
from rnnkit.unroll import reverse_padded, unroll_unchecked


def default_segment_length(steps: int) -> int:
    """``ceil(sqrt(steps))``: the segment length that minimises memory."""
    return max(1, math.isqrt(max(steps - 1, 0)) + 1)


def unroll_checkpointed(
    cell: Any,
    x: Tensor,
    state: Optional[State],
    lengths: Optional[Tensor],
    reverse: bool,
    segment_length: Optional[int] = None,
    fused: FusedMode = "auto",
) -> tuple[Tensor, State]:
    """:func:`rnnkit.unroll` semantics with activation memory ``O(sqrt(T))``.

    Args:
        cell: any cell.
        x: ``(T, B, I)`` time-major inputs (validated).
        state: initial state, or None for ``cell.initial_state(B)``.
        lengths: ``(B,)`` int64 on ``x``'s device, or None.
        reverse: process each sequence backwards within its own length.
        segment_length: steps per segment; default
            :func:`default_segment_length` of the longest length.
        fused: how each segment runs, as ``Recurrent(fused=...)``.

    Returns:
        ``(outputs (T, B, O), final_state)``, equal to :func:`rnnkit.unroll`'s.

    Raises:
        TypeError, ValueError: a ``segment_length`` that is not a positive int;
            ``fused=True`` when no fast path supports the call.
    """
    T, B = x.shape[0], x.shape[1]
    fused = check_fused_mode("unroll_checkpointed", fused)
    if segment_length is not None:
        check_positive_int("unroll_checkpointed", "segment_length", segment_length)
    if state is None:
        state = cell.initial_state(B, device=x.device, dtype=x.dtype)
    steps = T if lengths is None or B == 0 else int(lengths.max())
    seg = segment_length or default_segment_length(steps)
    if not torch.is_grad_enabled() or steps <= seg:
        return _run(cell, x, state, lengths, reverse, fused)
    if reverse:
        x = reverse_padded(x, lengths)
    leaves = state_leaves(state)
    params = [p for p in cell.parameters() if p.requires_grad]
    meta = _Meta(cell, state, lengths, seg, steps, len(leaves), len(params), fused)
    out, *final = _Segmented.apply(meta, x, *leaves, *params)
    it = iter(final)
    final_state = map_state(lambda _s: next(it), state)
    if reverse:
        out = reverse_padded(out, lengths)
    return out, final_state


class _Meta(NamedTuple):
    cell: Any
    template: State
    lengths: Optional[Tensor]
    seg: int
    steps: int
    n_leaves: int
    n_params: int
    fused: FusedMode

    def segments(self) -> list[tuple[int, int, Optional[Tensor]]]:
        """``(start, stop, lengths within the segment)`` for every segment."""
        result = []
        for start in range(0, self.steps, self.seg):
            stop = min(start + self.seg, self.steps)
            lens = None if self.lengths is None else (self.lengths - start).clamp(0, stop - start)
            result.append((start, stop, lens))
        return result

    def rebuild(self, leaves: list) -> State:
        it = iter(leaves)
        return map_state(lambda _s: next(it), self.template)


class _Segmented(torch.autograd.Function):
    """Forward without autograd, keeping segment boundaries; backward recomputes each segment."""

    @staticmethod
    def forward(ctx: Any, meta: _Meta, x: Tensor, *rest: Tensor) -> tuple:
        state = meta.rebuild(list(rest[: meta.n_leaves]))
        outs, bounds, rng = [], [], []
        for start, stop, lens in meta.segments():
            bounds.extend(state_leaves(state))
            rng.append(_rng_state(x.device))
            out, state = _run(meta.cell, x[start:stop], state, lens, False, meta.fused)
            outs.append(out)
        T = x.shape[0]
        if meta.steps < T:
            outs.append(outs[0].new_zeros((T - meta.steps, *outs[0].shape[1:])))
        ctx.save_for_backward(x, *bounds)
        ctx.meta, ctx.rng = meta, rng
        ctx.params = rest[meta.n_leaves:]
        return (torch.cat(outs), *state_leaves(state))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, d_out: Tensor, *d_final: Tensor) -> tuple:
        meta: _Meta = ctx.meta
        x, *bounds = ctx.saved_tensors
        n = meta.n_leaves
        d_x = torch.zeros_like(x)
        d_params = [torch.zeros_like(p) for p in ctx.params]
        d_state = list(d_final)
        for k, (start, stop, lens) in reversed(list(enumerate(meta.segments()))):
            with torch.enable_grad(), _replaying(x.device, ctx.rng[k]):
                xs = x[start:stop].detach().requires_grad_(True)
                leaves = [b.detach().requires_grad_(b.is_floating_point()) for b in bounds[k * n:(k + 1) * n]]
                out, final = _run(meta.cell, xs, meta.rebuild(leaves), lens, False, meta.fused)
                outputs = [out, *state_leaves(final)]
                inputs = [xs, *[v for v in leaves if v.requires_grad], *ctx.params]
                pairs = [(o, g) for o, g in zip(outputs, [d_out[start:stop], *d_state]) if o.requires_grad]
                grads = torch.autograd.grad([o for o, _ in pairs], inputs, [g for _, g in pairs], allow_unused=True)
            d_x[start:stop] = grads[0] if grads[0] is not None else 0
            it = iter(grads[1:])
            d_state = [(_zero_if_none(next(it), v)) if v.requires_grad else torch.zeros_like(v) for v in leaves]
            for acc, g in zip(d_params, grads[1 + sum(v.requires_grad for v in leaves):]):
                if g is not None:
                    acc += g
        return (None, d_x, *d_state, *d_params)


def _rng_state(device: torch.device) -> tuple[Tensor, Optional[Tensor]]:
    """The CPU generator's state and, for an accelerator, that device's generator state."""
    if device.type == "cpu":
        return torch.get_rng_state(), None
    module = torch.get_device_module(device.type)
    return torch.get_rng_state(), module.get_rng_state(device.index if device.index is not None else
                                                        module.current_device())


@contextlib.contextmanager
def _replaying(device: torch.device, state: tuple[Tensor, Optional[Tensor]]) -> Iterator[None]:
    """Inside: the generators as :func:`_rng_state` saw them; after: as they were before (``fork_rng``)."""
    cpu, dev = state
    if dev is None:
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(cpu)
            yield
        return
    module = torch.get_device_module(device.type)
    index = device.index if device.index is not None else module.current_device()
    with torch.random.fork_rng(devices=[index], device_type=device.type):
        torch.set_rng_state(cpu)
        module.set_rng_state(dev, index)
        yield


def _zero_if_none(g: Optional[Tensor], like: Tensor) -> Tensor:
    return torch.zeros_like(like) if g is None else g


def _run(cell: Any, x: Tensor, state: State, lengths: Optional[Tensor], reverse: bool,
         fused: FusedMode) -> tuple[Tensor, State]:
    """The path ``fused`` picks (see :func:`rnnkit.fused.choose`), else the reference runner."""
    path = choose("unroll_checkpointed", cell, x, lengths, fused)
    if path is not None:
        return path.run(cell, x, state, lengths, reverse)
    return unroll_unchecked(cell, x, state, lengths, reverse)
