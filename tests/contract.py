"""Shared harness every cell's tests use: the cell contract, an independent
per-sequence reference loop, and float64 gradcheck.

The reference deliberately avoids :func:`rnnkit.unroll`: it slices each
sequence to its own length, runs it alone through ``cell(x_t, state)`` in a
plain Python loop and pads the result, so it shares no code with the runner.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor

from rnnkit.state import map_state, state_leaves


def slice_state(state: Any, b: int) -> Any:
    """Example ``b`` of a batched state, keeping a batch dimension of 1."""
    return map_state(lambda s: s[b : b + 1], state)


def cat_states(states: list) -> Any:
    """Concatenate single-example states along the batch."""
    return map_state(lambda *leaves: torch.cat(leaves, 0), states[0], *states[1:])


def manual_loop(
    cell: Any, x: Tensor, state: Any = None, lengths: Optional[list] = None, reverse: bool = False
) -> tuple[Tensor, Any]:
    """Reference: each sequence alone, unpadded, step by step. ``x``: ``(T, B, I)``."""
    T, B = x.shape[0], x.shape[1]
    if state is None:
        state = cell.initial_state(B, dtype=x.dtype, device=x.device)
    lengths = [T] * B if lengths is None else [int(v) for v in lengths]
    if B == 0:
        return x.new_zeros((T, 0, cell.output_size)), state
    outs, finals = [], []
    for b in range(B):
        s = slice_state(state, b)
        seq = x[: lengths[b], b : b + 1]
        if reverse:
            seq = seq.flip(0)
        ys = []
        for t in range(seq.shape[0]):
            y, s = cell(seq[t], s)
            ys.append(y)
        out_size = cell.output_size
        y_seq = torch.cat(ys, 0) if ys else x.new_zeros((0, out_size))
        if reverse:
            y_seq = y_seq.flip(0)
        padded = torch.cat([y_seq, x.new_zeros((T - lengths[b], out_size))], 0)
        outs.append(padded)
        finals.append(s)
    return torch.stack(outs, 1), cat_states(finals)


def assert_states_close(a: Any, b: Any, **tol: float) -> None:
    for la, lb in zip(state_leaves(a), state_leaves(b), strict=True):
        torch.testing.assert_close(la, lb, **tol)


def assert_runner_matches_reference(cell: Any, input_size: int, *, T: int = 5, dtype=torch.float64, seed: int = 0,
                                    check_reverse: bool = True) -> None:
    """unroll == manual per-sequence loop, for lengths 0, 1, T and between, any order."""
    from rnnkit import unroll

    g = torch.Generator().manual_seed(seed)
    B = 5
    x = torch.randn(T, B, input_size, generator=g, dtype=dtype)
    lengths = [3, 0, T, 1, 2]
    state = map_state(lambda s: torch.randn(s.shape, generator=g, dtype=dtype), cell.initial_state(B, dtype=dtype))
    for reverse in ((False, True) if check_reverse else (False,)):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            out, final = unroll(cell, x, state, lengths=torch.tensor(lengths), reverse=reverse)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            ref_out, ref_final = manual_loop(cell, x, state, lengths, reverse=reverse)
        torch.testing.assert_close(out, ref_out)
        assert_states_close(final, ref_final)
        # past each length the outputs are exactly zero
        for b, length in enumerate(lengths):
            assert torch.count_nonzero(out[length:, b]) == 0


def assert_shapes(cell: Any, input_size: int) -> None:
    """initial_state follows state_size; a step gives (B, output_size); batch 1 works."""
    from rnnkit.state import leaf_shape, size_is_leaf

    def expected_shapes(size: Any, B: int) -> list:
        if size_is_leaf(size):
            return [(B, *leaf_shape(size))]
        return [s for sub in size for s in expected_shapes(sub, B)]

    for B in (1, 4):
        state = cell.initial_state(B)
        assert [tuple(s.shape) for s in state_leaves(state)] == expected_shapes(cell.state_size, B)
        y, new_state = cell(torch.randn(B, input_size), state)
        assert y.shape == (B, cell.output_size)
        assert [s.shape for s in state_leaves(new_state)] == [s.shape for s in state_leaves(state)]


def assert_gradcheck(make_cell: Callable[[], Any], input_size: int, *, T: int = 3, B: int = 2) -> None:
    """float64 gradcheck of unroll (with lengths) w.r.t. inputs, state and every parameter."""
    from torch.func import functional_call

    from rnnkit import Recurrent

    cell = make_cell().double()
    names = [n for n, _ in cell.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for _, p in cell.named_parameters())
    x = torch.randn(T, B, input_size, dtype=torch.float64, requires_grad=True)
    state0 = cell.initial_state(B, dtype=torch.float64)
    leaves0 = [torch.randn_like(s).requires_grad_(True) for s in state_leaves(state0)]
    lengths = torch.tensor([T, 1][:B])

    def rebuild(leaves: list) -> Any:
        it = iter(leaves)
        return map_state(lambda _s: next(it), state0)

    layer = Recurrent(cell)

    def fn(x: Tensor, *rest: Tensor) -> tuple:
        p, leaves = rest[: len(params)], rest[len(params) :]
        with torch.random.fork_rng():
            torch.manual_seed(0)
            weights = {"cell." + n: v for n, v in zip(names, p)}
            out, final = functional_call(layer, weights, (x, rebuild(list(leaves))), {"lengths": lengths})
        return (out, *state_leaves(final))

    assert torch.autograd.gradcheck(fn, (x, *params, *leaves0), eps=1e-6, atol=1e-5)
