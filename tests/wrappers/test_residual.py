"""Residual wrapper: y_t = x_t + cell(x_t)_y, custom residual_fn, lengths, gradcheck, errors."""

from __future__ import annotations

import pytest
import torch

from rnnkit import GRUCell, LSTMCell, unroll
from rnnkit.wrappers import Residual
from tests.contract import (
    assert_gradcheck,
    assert_runner_matches_reference,
    assert_shapes,
    assert_states_close,
)
from tests.test_unroll import MinimalUserCell

I = 4


@pytest.mark.parametrize("make", [lambda: LSTMCell(I, I), lambda: GRUCell(I, I), lambda: MinimalUserCell(I, I)])
def test_output_is_input_plus_inner_output_and_state_is_the_inner_state(make) -> None:
    inner = make().double()
    cell = Residual(inner)
    x = torch.randn(5, 3, I, dtype=torch.float64)
    out, final = unroll(cell, x)
    s, ys = inner.initial_state(3, dtype=torch.float64), []
    for t in range(5):
        y, s = inner(x[t], s)
        ys.append(x[t] + y)
    torch.testing.assert_close(out, torch.stack(ys))
    assert_states_close(final, s)
    assert_shapes(Residual(make()), I)
    assert_runner_matches_reference(cell, I)


def test_the_runner_projects_all_steps_at_once() -> None:
    inner = LSTMCell(I, I)
    cell = Residual(inner)
    x = torch.randn(6, 2, I)
    projected = cell.input_projection(x)
    assert projected.shape == (6, 2, I + 4 * I)
    torch.testing.assert_close(projected[..., :I], x)
    torch.testing.assert_close(projected[..., I:], inner.input_projection(x))


def test_custom_residual_fn_allows_other_sizes() -> None:
    inner = GRUCell(I, 6)
    cell = Residual(inner, residual_fn=lambda x, y: y + x.sum(1, keepdim=True))
    x, h = torch.randn(3, I), torch.randn(3, 6)
    y, _ = cell(x, h)
    torch.testing.assert_close(y, inner(x, h)[0] + x.sum(1, keepdim=True))
    assert cell.output_size == 6
    assert Residual(LSTMCell(I, 6, proj_size=I)).output_size == I  # a projection back to the input size is fine


def test_gradcheck_float64() -> None:
    assert_gradcheck(lambda: Residual(LSTMCell(I, I, proj_size=0)), I)


@pytest.mark.parametrize(
    "args, error, message",
    [
        ((LSTMCell(I, 6),), ValueError, r"Residual: cell.output_size must be equal to cell.input_size \(4\) to add the "
                                        r"input to the output \(or pass residual_fn\), got 6"),
        ((GRUCell(I, I), "add"), TypeError,
         r"Residual: residual_fn must be None or a callable f\(x, y\), got str 'add'"),
    ],
)
def test_errors_name_argument_expected_and_actual(args: tuple, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Residual(*args)
