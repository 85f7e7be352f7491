"""Zoneout wrapper: rates, per-step masks, exact equations, eval expectation, lengths/reverse, errors."""

from __future__ import annotations

import pytest
import torch

from rnnkit import ElmanCell, GRUCell, LSTMCell, unroll
from rnnkit.state import LSTMState
from rnnkit.wrappers import Zoneout
from tests.contract import (
    assert_gradcheck,
    assert_runner_matches_reference,
    assert_shapes,
    assert_states_close,
)
from tests.test_unroll import MinimalUserCell
from tests.wrappers.helpers import cat_examples, example, per_example_loop, record

I, H = 3, 5


def test_keep_previous_rates_for_h_and_c_and_fresh_masks_each_step() -> None:
    torch.manual_seed(0)
    cell = Zoneout(LSTMCell(I, 400), h=0.1, c=0.4)
    state = cell.initial_state(500)
    d1, d2 = cell.sample_masks(state), cell.sample_masks(state)
    for d, rate in ((d1.h, 0.1), (d1.c, 0.4), (d2.h, 0.1)):
        assert d.dtype == torch.bool
        assert abs(d.double().mean().item() - rate) < 0.01
    assert not torch.equal(d1.h, d2.h)


def test_training_step_keeps_exactly_the_previous_units_the_mask_selects(monkeypatch) -> None:
    inner = LSTMCell(I, H)
    cell = Zoneout(inner, h=0.5, c=0.3)
    log = record(monkeypatch, cell, "sample_masks")
    x, s0 = torch.randn(4, I), LSTMState(torch.randn(4, H), torch.randn(4, H))
    y, s1 = cell(x, s0)
    _, (h_new, c_new) = inner(x, s0)
    d = log[0]
    # s_t = d * s_{t-1} + (1 - d) * s~_t, and y_t is the zoned-out h
    torch.testing.assert_close(s1.h, d.h * s0.h + (~d.h) * h_new, rtol=0, atol=0)
    torch.testing.assert_close(s1.c, d.c * s0.c + (~d.c) * c_new, rtol=0, atol=0)
    assert y is s1.h


def test_eval_uses_the_expectation() -> None:
    inner = LSTMCell(I, H, proj_size=2).double()
    cell = Zoneout(inner, h=0.3, c=0.2).eval()
    x = torch.randn(6, 2, I, dtype=torch.float64)
    out, final = unroll(cell, x)
    s, ys = inner.initial_state(2, dtype=torch.float64), []
    for t in range(6):
        _, (h, c) = inner(x[t], s)
        s = LSTMState(0.3 * s.h + 0.7 * h, 0.2 * s.c + 0.8 * c)
        ys.append(s.h)  # the output is the (projected) h after zoneout
    torch.testing.assert_close(out, torch.stack(ys))
    assert_states_close(final, s)


@pytest.mark.parametrize("reverse", [False, True])
def test_training_equals_a_per_example_loop_with_the_recorded_masks(monkeypatch, reverse: bool) -> None:
    inner = LSTMCell(I, H).double()
    cell = Zoneout(inner, h=0.4, c=0.2)
    log = record(monkeypatch, cell, "sample_masks")
    x = torch.randn(6, 5, I, dtype=torch.float64)
    lengths = [3, 0, 6, 1, 4]
    state = LSTMState(torch.randn(5, H).double(), torch.randn(5, H).double())
    out, final = unroll(cell, x, state, lengths=lengths, reverse=reverse)
    assert len(log) == 6

    def step(b: int, t: int, x_t: torch.Tensor, s: LSTMState) -> tuple:
        d = example(log[t], b)
        _, (h, c) = inner(x_t, s)
        h = torch.where(d.h, s.h, h)
        return h, LSTMState(h, torch.where(d.c, s.c, c))

    ref_out, finals = per_example_loop(step, x, state, lengths, H, reverse)
    torch.testing.assert_close(out, ref_out)
    assert_states_close(final, cat_examples(finals))


def test_plain_tensor_state_uses_h_and_a_user_cells_own_output_passes_through(monkeypatch) -> None:
    gru = GRUCell(I, H)
    cell = Zoneout(gru, h=0.5)
    log = record(monkeypatch, cell, "sample_masks")
    h0 = torch.randn(3, H)
    y, h1 = cell(torch.ones(3, I), h0)
    torch.testing.assert_close(h1, torch.where(log[0], h0, gru(torch.ones(3, I), h0)[1]), rtol=0, atol=0)
    assert y is h1
    user = MinimalUserCell(I, H)
    cell = Zoneout(user, h=0.5)
    log = record(monkeypatch, cell, "sample_masks")
    state = (torch.randn(3, H), torch.randn(3, 2, H))
    x = torch.randn(3, I)
    y, new = cell(x, state)
    y_inner, new_inner = user(x, state)
    for leaf, old, fresh, d in zip(new, state, new_inner, log[0], strict=True):  # every user leaf: rate h
        assert d.any() and (~d).any()
        torch.testing.assert_close(leaf, torch.where(d, old, fresh), rtol=0, atol=0)
    # the user cell's output (2 h~) is not one of its state tensors: it passes through unchanged
    torch.testing.assert_close(y, y_inner, rtol=0, atol=0)


CELLS = {
    "lstm": lambda: Zoneout(LSTMCell(I, H), h=0.2, c=0.1),
    "lstm_proj": lambda: Zoneout(LSTMCell(I, H, proj_size=2), h=0.2, c=0.1),
    "gru": lambda: Zoneout(GRUCell(I, H), h=0.3),
    "elman": lambda: Zoneout(ElmanCell(I, H), h=0.3),
    "user": lambda: Zoneout(MinimalUserCell(I, H), h=0.3),
}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_contract_and_lengths_semantics_in_eval_mode(name: str) -> None:
    cell = CELLS[name]()
    assert_shapes(cell, I)
    assert_runner_matches_reference(cell.double().eval(), I)


@pytest.mark.parametrize("name", ["lstm_proj", "gru"])
def test_gradcheck_float64_in_training_mode(name: str) -> None:
    assert CELLS[name]().training
    assert_gradcheck(CELLS[name], I)


@pytest.mark.parametrize(
    "cell, kwargs, error, message",
    [
        (LSTMCell(I, H), dict(h=1.0), ValueError, r"Zoneout: h must be in \[0, 1\), got 1.0"),
        (LSTMCell(I, H), dict(c=-0.5), ValueError, r"Zoneout: c must be in \[0, 1\), got -0.5"),
        (LSTMCell(I, H), dict(h=None), TypeError, r"Zoneout: h must be a float, got NoneType None"),
        (GRUCell(I, H), dict(c=0.1), ValueError,
         r"Zoneout: c must be 0.0 for GRUCell, whose state has no LSTMState \(use h\), got 0.1"),
        ("lstm", dict(h=0.1), TypeError, r"Zoneout: cell must be a cell .*got str"),
    ],
)
def test_errors_name_argument_expected_and_actual(cell, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Zoneout(cell, **kwargs)
