"""Dropout wrapper: statistics, exact equations with the same masks, lengths/reverse, eval identity, errors."""

from __future__ import annotations

import pytest
import torch

from rnnkit import GRUCell, LSTMCell, unroll
from rnnkit.state import LSTMState, state_leaves
from rnnkit.wrappers import Dropout, DropoutMasks, DropoutState, Zoneout, unwrap_state
from tests.contract import (
    assert_gradcheck,
    assert_runner_matches_reference,
    assert_shapes,
    assert_states_close,
)
from tests.test_unroll import MinimalUserCell
from tests.wrappers.helpers import (
    IdentityCell,
    cat_examples,
    example,
    per_example_loop,
    record,
)

I, H = 3, 5


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_mask_keep_rate_and_inverted_scale(p: float) -> None:
    torch.manual_seed(0)
    cell = Dropout(LSTMCell(400, 300), input_dropout=p, output_dropout=p, state_dropout=p)
    masks = cell.sample_masks(500)
    for m in (masks.input, masks.output, masks.state.h):
        dropped = (m == 0).double().mean().item()
        assert abs(dropped - p) < 0.01 + 3 * (p * (1 - p) / m.numel()) ** 0.5
        torch.testing.assert_close(m.unique(), torch.tensor([0.0, 1 / (1 - p)]))
        assert abs(m.double().mean().item() - 1.0) < 0.02
    assert masks.state.c.stride() == (0, 0) and torch.equal(masks.state.c, torch.ones(500, 300))  # c not dropped


def test_variational_masks_are_the_same_at_every_step_and_per_step_masks_differ() -> None:
    torch.manual_seed(0)
    T, B, n = 6, 64, 32
    x = torch.ones(T, B, n)
    variational = Dropout(IdentityCell(n), input_dropout=0.5, variational=True)
    out, final = unroll(variational, x)
    assert all(torch.equal(out[t], out[0]) for t in range(T))  # y_t = x_t * m: one mask for the sequence
    assert torch.equal(out[0], final.masks.input)
    per_step = Dropout(IdentityCell(n), input_dropout=0.5)
    out, final = unroll(per_step, x)
    assert final.masks == ()
    for t in range(1, T):
        assert not torch.equal(out[t], out[0])
    assert abs((out == 0).double().mean().item() - 0.5) < 0.02


def test_variational_state_masks_are_carried_unchanged_as_the_same_objects() -> None:
    cell = Dropout(LSTMCell(I, H), state_dropout=0.3, output_dropout=0.3, variational=True)
    state = cell.initial_state(4)
    _, final = unroll(cell, torch.randn(5, 4, I), state, lengths=[5, 2, 0, 3])
    for a, b in zip(state_leaves(state.masks), state_leaves(final.masks), strict=True):
        assert a is b


@pytest.mark.parametrize("variational", [False, True])
def test_eval_mode_is_exactly_the_inner_cell(variational: bool) -> None:
    inner = LSTMCell(I, H, proj_size=2)
    cell = Dropout(inner, input_dropout=0.5, output_dropout=0.5, state_dropout=0.5, variational=variational,
                   drop_lstm_c=True).eval()
    state = cell.initial_state(3)
    assert all(torch.equal(m, torch.ones_like(m)) for m in state_leaves(state.masks))
    x = torch.randn(6, 3, I)
    out, final = unroll(cell, x, lengths=[6, 1, 4])
    ref_out, ref_final = unroll(inner, x, lengths=[6, 1, 4])
    assert torch.equal(out, ref_out)
    assert torch.equal(final.cell.h, ref_final.h) and torch.equal(final.cell.c, ref_final.c)


@pytest.mark.parametrize("drop_lstm_c", [False, True])
def test_variational_equations_with_the_masks_in_the_state(drop_lstm_c: bool) -> None:
    inner = LSTMCell(I, H, proj_size=2).double()
    cell = Dropout(inner, input_dropout=0.3, output_dropout=0.4, state_dropout=0.5, variational=True,
                   drop_lstm_c=drop_lstm_c)
    x = torch.randn(5, 4, I, dtype=torch.float64)
    state = cell.initial_state(4, dtype=torch.float64)
    m = state.masks
    out, final = unroll(cell, x, state)
    s, ys = state.cell, []
    for t in range(5):  # y_t = m_y * cell(m_x * x_t, s)_y ; s_t = m_s * s~_t (c only with drop_lstm_c)
        y, (h, c) = inner(x[t] * m.input, s)
        s = LSTMState(h * m.state.h, c * m.state.c if drop_lstm_c else c)
        ys.append(y * m.output)
    torch.testing.assert_close(out, torch.stack(ys))
    assert_states_close(final.cell, s)
    assert torch.equal(m.state.c, torch.ones_like(m.state.c)) != drop_lstm_c


@pytest.mark.parametrize("reverse", [False, True])
def test_per_step_masks_equal_a_per_example_loop_with_the_recorded_masks(monkeypatch, reverse: bool) -> None:
    inner = LSTMCell(I, H).double()
    cell = Dropout(inner, input_dropout=0.3, output_dropout=0.4, state_dropout=0.5)
    log = record(monkeypatch, cell, "sample_masks")
    x = torch.randn(6, 5, I, dtype=torch.float64)
    lengths = [3, 0, 6, 1, 4]
    state = DropoutState(LSTMState(torch.randn(5, H).double(), torch.randn(5, H).double()), ())
    out, final = unroll(cell, x, state, lengths=lengths, reverse=reverse)
    assert len(log) == 6  # one draw per step

    def step(b: int, t: int, x_t: torch.Tensor, s: DropoutState) -> tuple:
        m = example(log[t], b)
        y, (h, c) = inner(x_t * m.input, s.cell)
        return y * m.output, DropoutState(LSTMState(h * m.state.h, c), ())

    ref_out, finals = per_example_loop(step, x, state, lengths, H, reverse)
    torch.testing.assert_close(out, ref_out)
    assert_states_close(final, cat_examples(finals))
    assert all(torch.count_nonzero(out[n:, b]) == 0 for b, n in enumerate(lengths))


CELLS = {
    "lstm": lambda: LSTMCell(I, H),
    "lstm_proj": lambda: LSTMCell(I, H, proj_size=2),
    "gru": lambda: GRUCell(I, H),
    "user": lambda: MinimalUserCell(I, H),
}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_contract_and_lengths_semantics_variational(name: str) -> None:
    # masks live in the state, so the per-sequence reference uses the very same masks (also under reverse)
    cell = Dropout(CELLS[name](), input_dropout=0.2, output_dropout=0.3, state_dropout=0.4, variational=True)
    assert_shapes(cell, I)
    assert_runner_matches_reference(cell.double(), I)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_lengths_semantics_per_step_in_eval_mode(name: str) -> None:
    cell = Dropout(CELLS[name](), input_dropout=0.2, output_dropout=0.3, state_dropout=0.4).eval()
    assert_shapes(cell, I)
    assert_runner_matches_reference(cell.double(), I)


@pytest.mark.parametrize("variational", [False, True])
def test_gradcheck_float64_in_training_mode(variational: bool) -> None:
    def make() -> Dropout:
        return Dropout(LSTMCell(I, 4, proj_size=2), input_dropout=0.3, output_dropout=0.3, state_dropout=0.3,
                       variational=variational, drop_lstm_c=True)

    assert make().training
    assert_gradcheck(make, I)


def test_state_filter_selects_leaves_and_unwrap_state_gives_the_inner_state() -> None:
    cell = Dropout(MinimalUserCell(I, H), state_dropout=0.5, variational=True, state_filter=lambda size: (False, True))
    assert not cell.state_flags[0] and cell.state_flags[1]
    torch.manual_seed(1)
    state = cell.initial_state(200)
    h_mask, mem_mask = state.masks.state
    assert torch.equal(h_mask, torch.ones(200, H)) and (mem_mask == 0).any()
    nested = Dropout(Zoneout(LSTMCell(I, H), h=0.1), output_dropout=0.1, variational=True)
    s = nested.initial_state(2)
    assert isinstance(unwrap_state(nested, s), LSTMState) and nested.cell_state(s) is s.cell
    assert isinstance(s.masks, DropoutMasks)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(input_dropout=1.0), ValueError, r"Dropout: input_dropout must be in \[0, 1\), got 1.0"),
        (dict(output_dropout=-0.1), ValueError, r"Dropout: output_dropout must be in \[0, 1\), got -0.1"),
        (dict(state_dropout="0.5"), TypeError, r"Dropout: state_dropout must be a float, got str '0.5'"),
        (dict(state_filter=3), TypeError, r"Dropout: state_filter must be None or a callable taking the cell's "
                                          r"state_size, got int"),
        (dict(state_filter=lambda s: (True,)), TypeError,
         r"Dropout: state_filter's result must be a bool or a structure of bools matching the cell's state_size "
         r"\(LSTMState with 2 fields\), got tuple of length 1"),
        (dict(cell=torch.nn.Linear(3, 3)), TypeError, r"Dropout: cell must be a cell \(an nn.Module with an "
                                                      r"initial_state method, e.g. rnnkit.LSTMCell\), got Linear"),
    ],
)
def test_errors_name_argument_expected_and_actual(kwargs: dict, error: type, message: str) -> None:
    cell = kwargs.pop("cell", LSTMCell(I, H))
    with pytest.raises(error, match=message):
        Dropout(cell, **kwargs)


def test_direct_step_validates_the_state() -> None:
    cell = Dropout(LSTMCell(I, H), variational=True)
    message = r"Dropout: state.masks must be DropoutMasks of 3 entries, got tuple of length 0"
    with pytest.raises(TypeError, match=message):
        cell(torch.randn(2, I), DropoutState(LSTMCell(I, H).initial_state(2), ()))
