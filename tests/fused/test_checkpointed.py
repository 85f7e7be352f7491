"""unroll_checkpointed equals the unsegmented run: outputs, final state and
every gradient, with lengths, reverse and per-step dropout (RNG replay)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch

from rnnkit.cells import GRUCell, LSTMCell
from rnnkit.fused.checkpointed import default_segment_length, unroll_checkpointed
from rnnkit.state import map_state, state_leaves
from rnnkit.unroll import unroll_unchecked


def _dropout_lstm() -> Any:
    from rnnkit.wrappers import Dropout

    return Dropout(LSTMCell(3, 4), output_dropout=0.3, state_dropout=0.2)


CELLS: dict[str, Callable[[], Any]] = {
    "lstm-peephole": lambda: LSTMCell(3, 4, use_peepholes=True, cell_clip=1.0),
    "gru": lambda: GRUCell(3, 4),
    "dropout-lstm": _dropout_lstm,
}


def _grads(fn: Callable, cell: Any, x: torch.Tensor, state: Any) -> list[torch.Tensor]:
    xr = x.clone().requires_grad_(True)
    st = map_state(lambda s: s.clone().requires_grad_(True), state)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        out, final = fn(xr, st)
    leaves = state_leaves(final)
    loss = sum((t * torch.linspace(-1, 1, t.numel()).view_as(t)).sum() for t in (out, *leaves))
    grads = torch.autograd.grad(loss, [xr, *state_leaves(st), *cell.parameters()], allow_unused=True)
    return [out.detach(), *[s.detach() for s in leaves], *[g for g in grads if g is not None]]


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("reverse", [False, True])
def test_equals_unsegmented(name: str, reverse: bool) -> None:
    torch.manual_seed(0)
    cell = CELLS[name]()
    T, B = 23, 4
    x = torch.randn(T, B, 3)
    state = map_state(lambda s: torch.randn(s.shape), cell.initial_state(B))
    lengths = torch.tensor([23, 0, 9, 17])
    segmented = _grads(lambda xr, st: unroll_checkpointed(cell, xr, st, lengths, reverse, 4), cell, x, state)
    reference = _grads(lambda xr, st: unroll_unchecked(cell, xr, st, lengths, reverse), cell, x, state)
    assert len(segmented) == len(reference)
    for a, b in zip(segmented, reference):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_default_segment_length_and_validation() -> None:
    assert [default_segment_length(n) for n in (1, 4, 5, 100, 101)] == [1, 2, 3, 10, 11]
    with pytest.raises(ValueError, match="unroll_checkpointed: segment_length must be > 0, got 0"):
        unroll_checkpointed(GRUCell(3, 4), torch.randn(5, 2, 3), None, None, False, 0)


def test_fused_false_runs_reference_per_segment() -> None:
    torch.manual_seed(0)
    cell = LSTMCell(3, 4, use_peepholes=True)
    x = torch.randn(10, 2, 3)
    ref = _grads(lambda xr, st: unroll_unchecked(cell, xr, st, None, False), cell, x, cell.initial_state(2))
    seg = _grads(lambda xr, st: unroll_checkpointed(cell, xr, st, None, False, 3, fused=False), cell, x,
                 cell.initial_state(2))
    for a, b in zip(seg, ref):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="unroll_checkpointed: fused must be 'auto', True or False, got 'yes'"):
        unroll_checkpointed(cell, x, None, None, False, 3, fused="yes")
