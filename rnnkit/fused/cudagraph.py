"""CUDA-graph fallback for any cell on a GPU: the reference runner's whole loop as one graph.

A user's own cell runs on a GPU through :func:`rnnkit.unroll`'s Python loop: a
handful of kernel launches per step, each paying launch latency. This path
captures the whole unrolled loop (forward, and backward when autograd is on) in
CUDA graphs with :func:`torch.cuda.make_graphed_callables` (or
:class:`torch.cuda.CUDAGraph` without autograd), once per call signature, and
replays it: one launch for the loop instead of dozens per step. The math is the
reference runner's, step for step.

Opt-in (off by default): capturing runs the cell a few times to warm up, holds
static buffers per signature, and fails for cells that synchronise with the host
(``.item()``, data-dependent Python control flow). Turn it on with
:func:`enable` (or ``RNNKIT_CUDA_GRAPHS=1``). It takes calls without ``lengths``
(the runner reads ``lengths.max()`` on the host, which a graph cannot), outside
autocast, on CUDA.

Cache: one entry per (cell, ``(T, B, I)``, dtype, device, ``reverse``, which
inputs need gradients, training mode, grad mode); at most :data:`MAX_ENTRIES`,
oldest dropped first. A cell's parameters are graph inputs (read in place), so an
optimiser step is seen; replacing a parameter tensor (``cell.weight = ...``) is not:
call :func:`clear`.

Not yet measured on a GPU (no GPU was available when this was written); the
tests that need one skip with that reason elsewhere.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from rnnkit.fused import register
from rnnkit.state import State, map_state, state_leaves
from rnnkit.unroll import unroll_unchecked

MAX_ENTRIES = 16
_enabled = os.environ.get("RNNKIT_CUDA_GRAPHS", "0") == "1"
_cache: "OrderedDict[tuple, Callable[..., tuple]]" = OrderedDict()


def enable(on: bool = True) -> None:
    """Turn the CUDA-graph path on (or off) for this process."""
    global _enabled
    _enabled = bool(on)
    if not on:
        clear()


def enabled() -> bool:
    """Whether the CUDA-graph path takes calls."""
    return _enabled


def clear() -> None:
    """Drop every captured graph."""
    _cache.clear()


class _Unrolled(nn.Module):
    """``(x, *state leaves) -> (outputs, *final leaves)`` of the reference runner (a Module so that
    ``make_graphed_callables`` treats the cell's parameters as graph inputs)."""

    def __init__(self, cell: nn.Module, structure: State, reverse: bool) -> None:
        super().__init__()
        self.cell = cell
        self.structure = structure
        self.reverse = reverse

    def forward(self, x: Tensor, *leaves: Tensor) -> tuple[Tensor, ...]:
        it = iter(leaves)
        state = map_state(lambda _s: next(it), self.structure)
        out, final = unroll_unchecked(self.cell, x, state, None, self.reverse)
        return (out, *state_leaves(final))


def cache_key(cell: Any, x: Tensor, leaves: list[Tensor], reverse: bool) -> tuple:
    """The signature a captured graph is valid for (see the module docstring)."""
    return (id(cell), tuple(x.shape), x.dtype, x.device, reverse, x.requires_grad,
            tuple((tuple(s.shape), s.dtype, s.requires_grad) for s in leaves), bool(getattr(cell, "training", False)),
            torch.is_grad_enabled())


def _capture_inference(module: _Unrolled, x: Tensor, leaves: list[Tensor]) -> Callable[..., tuple]:
    """A replaying callable for calls without autograd: static inputs copied in, outputs cloned out."""
    static_in = [x.clone(), *[s.clone() for s in leaves]]
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # warm-up outside the graph (lazy initialisation, cuBLAS workspaces)
            module(*static_in)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = module(*static_in)

    def replay(*args: Tensor) -> tuple:
        for dst, src in zip(static_in, args):
            dst.copy_(src)
        graph.replay()
        return static_out  # the caller copies

    return replay


def _graphed(cell: Any, x: Tensor, leaves: list[Tensor], structure: State, reverse: bool) -> Callable[..., tuple]:
    key = cache_key(cell, x, leaves, reverse)
    entry = _cache.get(key)
    if entry is not None:
        _cache.move_to_end(key)
        return entry
    module = _Unrolled(cell, map_state(lambda _s: None, structure), reverse)  # the structure, no tensors kept
    if torch.is_grad_enabled():
        samples = (x.detach().clone().requires_grad_(x.requires_grad),
                   *[s.detach().clone().requires_grad_(s.requires_grad) for s in leaves])
        entry = torch.cuda.make_graphed_callables(module, samples, allow_unused_input=True)
    else:
        entry = _capture_inference(module, x, leaves)
    _cache[key] = entry  # holds the cell alive, so its id stays unique while cached
    while len(_cache) > MAX_ENTRIES:
        _cache.popitem(last=False)
    return entry


class CudaGraphPath:
    """Fast path replaying the reference runner's loop from a CUDA graph (opt-in, see :func:`enable`)."""

    name = "cuda-graph"

    def supports(self, cell: Any, x: Tensor, lengths: Optional[Tensor]) -> Optional[str]:
        """None if this path runs the call, else the reason it cannot."""
        if not _enabled:
            return "CUDA-graph capture is off by default (rnnkit.fused.cudagraph.enable() or RNNKIT_CUDA_GRAPHS=1)"
        if lengths is not None:
            return "CUDA graphs capture calls without lengths (the runner reads lengths.max() on the host)"
        if not isinstance(cell, nn.Module):
            return f"CUDA-graph capture needs the cell to be an nn.Module, not {type(cell).__name__}"
        if x.device.type != "cuda":
            return f"CUDA graphs need a CUDA input, not {x.device}"
        if torch.is_autocast_enabled("cuda"):
            return "CUDA-graph capture does not run under autocast"
        if x.shape[0] == 0 or x.shape[1] == 0:
            return "an empty batch or sequence is left to the reference runner"
        return None

    def run(
        self, cell: Any, x: Tensor, state: Optional[State], lengths: Optional[Tensor], reverse: bool
    ) -> tuple[Tensor, State]:
        """:func:`rnnkit.unroll` on validated, time-major arguments, replayed from a captured graph."""
        if state is None:
            state = cell.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
        leaves = state_leaves(state)
        fn = _graphed(cell, x, leaves, state, reverse)
        # a graph's outputs live in its static buffers and the next replay overwrites them: hand out copies
        out, *final = (t.clone() for t in fn(x, *leaves))
        it = iter(final)
        return out, map_state(lambda _s: next(it), state)


PATH = CudaGraphPath()
register(PATH)
