"""LearnedInitialState: one parameter per state leaf, broadcast to the batch, learned through the runner."""

from __future__ import annotations

import pytest
import torch

from rnnkit import GRUCell, LSTMCell, Recurrent, unroll
from rnnkit.state import LSTMState, state_leaves
from rnnkit.wrappers import Dropout, DropoutState, LearnedInitialState
from tests.contract import (
    assert_gradcheck,
    assert_runner_matches_reference,
    assert_shapes,
)
from tests.test_unroll import MinimalUserCell

I, H = 3, 4


@pytest.mark.parametrize("make", [lambda: LSTMCell(I, H, proj_size=2), lambda: GRUCell(I, H),
                                  lambda: MinimalUserCell(I, H)])
def test_one_parameter_per_leaf_expanded_to_the_batch(make) -> None:
    inner = make()
    cell = LearnedInitialState(inner)
    shapes = [tuple(s.shape[1:]) for s in state_leaves(inner.initial_state(1))]
    assert [tuple(p.shape) for p in cell.initial] == shapes
    assert all(torch.count_nonzero(p) == 0 for p in cell.initial)  # starts as the zero state
    with torch.no_grad():
        for p in cell.initial:
            p.normal_()
    state = cell.initial_state(5)
    for leaf, p in zip(state_leaves(state), cell.initial, strict=True):
        assert leaf.shape == (5, *p.shape) and leaf.stride()[0] == 0
        assert torch.equal(leaf[3], p)
    assert_shapes(cell, I)


def test_gradient_equals_the_batch_sum_of_an_explicit_initial_state_gradient() -> None:
    inner = LSTMCell(I, H)
    cell = LearnedInitialState(inner)
    with torch.no_grad():
        for p in cell.initial:
            p.normal_()
    x = torch.randn(6, 3, I)
    out, _ = Recurrent(cell)(x, lengths=[6, 2, 4])
    out.pow(2).sum().backward()
    h0 = cell.initial[0].detach().expand(3, H).clone().requires_grad_(True)
    c0 = cell.initial[1].detach().expand(3, H).clone().requires_grad_(True)
    ref, _ = unroll(inner, x, LSTMState(h0, c0), lengths=[6, 2, 4])
    ref.pow(2).sum().backward()
    torch.testing.assert_close(cell.initial[0].grad, h0.grad.sum(0))
    torch.testing.assert_close(cell.initial[1].grad, c0.grad.sum(0))


def test_inside_a_variational_dropout_only_the_cell_state_is_learned() -> None:
    cell = LearnedInitialState(Dropout(GRUCell(I, H), state_dropout=0.5, variational=True))
    assert len(cell.initial) == 1 and cell.initial[0].shape == (H,)
    with torch.no_grad():
        cell.initial[0].fill_(0.7)
    state = cell.initial_state(100)
    assert isinstance(state, DropoutState)
    assert torch.equal(state.cell, torch.full((100, H), 0.7))
    assert (state.masks.state == 0).any()  # masks are still sampled by the dropout wrapper


def test_lengths_semantics_and_gradcheck() -> None:
    assert_runner_matches_reference(LearnedInitialState(LSTMCell(I, H)).double(), I)
    assert_gradcheck(lambda: LearnedInitialState(GRUCell(I, H)), I)


def test_unrolling_without_a_state_uses_the_learned_state_and_an_empty_sequence_returns_it() -> None:
    cell = LearnedInitialState(GRUCell(I, H))
    with torch.no_grad():
        cell.initial[0].normal_()
    _, final = unroll(cell, torch.randn(4, 2, I), lengths=[0, 4])
    assert torch.equal(final[0], cell.initial[0].detach())
    assert not torch.equal(final[1], cell.initial[0].detach())


def test_error_names_the_argument() -> None:
    with pytest.raises(TypeError, match=r"LearnedInitialState: cell must be a cell .*got int"):
        LearnedInitialState(3)
