"""IndRNNCell: contract, equations written out, recurrent clipping, the bound helper, errors."""

from __future__ import annotations

import math
from typing import Callable

import pytest
import torch
from torch import nn

from rnnkit import unroll
from rnnkit.cells.indrnn import IndRNNCell, indrnn_recurrent_bound
from tests.contract import assert_gradcheck, assert_runner_matches_reference, assert_shapes

I, H = 4, 6


def with_recurrent(cell: IndRNNCell, values: list[float]) -> IndRNNCell:
    with torch.no_grad():
        cell.weight_hh.copy_(torch.tensor(values, dtype=cell.weight_hh.dtype))
    return cell


U = [0.5, -1.7, 1.3, 0.9, -0.2, 2.5]  # some beyond the clip 1.2 used below, none at it

CELLS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: IndRNNCell(I, H),
    "tanh": lambda: with_recurrent(IndRNNCell(I, H, nonlinearity="tanh"), U),
    "clip": lambda: with_recurrent(IndRNNCell(I, H, nonlinearity="tanh", recurrent_clip=1.2), U),
    "nobias": lambda: IndRNNCell(I, H, bias=False, nonlinearity=torch.nn.functional.softsign),
}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_contract_shapes(name: str) -> None:
    assert_shapes(CELLS[name](), I)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_runner_equals_per_sequence_loop(name: str) -> None:
    assert_runner_matches_reference(CELLS[name]().double(), I)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_gradcheck_float64(name: str) -> None:
    assert_gradcheck(CELLS[name], I)


@pytest.mark.parametrize(("nonlinearity", "phi"), [("relu", torch.relu), ("tanh", torch.tanh)])
@pytest.mark.parametrize("clip", [None, 1.2])
def test_equations(nonlinearity: str, phi: Callable, clip: float | None) -> None:
    cell = with_recurrent(IndRNNCell(I, H, nonlinearity=nonlinearity, recurrent_clip=clip).double(), U)
    x = torch.randn(5, 3, I, dtype=torch.float64)
    h = torch.randn(3, H, dtype=torch.float64)
    out, final = unroll(cell, x, h)
    u = torch.tensor(U, dtype=torch.float64)
    if clip is not None:
        u = torch.tensor([min(max(v, -clip), clip) for v in U], dtype=torch.float64)
    for t in range(5):
        h = phi(x[t] @ cell.weight_ih.T + cell.bias_ih + u * h)
        torch.testing.assert_close(out[t], h)
    torch.testing.assert_close(final, h)


def test_clipped_weights_get_no_gradient() -> None:
    cell = with_recurrent(IndRNNCell(I, H, nonlinearity="tanh", recurrent_clip=1.2), U)
    out, _ = unroll(cell, torch.randn(4, 2, I), torch.randn(2, H))
    out.sum().backward()
    beyond = torch.tensor([abs(v) > 1.2 for v in U])
    assert torch.all(cell.weight_hh.grad[beyond] == 0)
    assert torch.all(cell.weight_hh.grad[~beyond] != 0)
    assert torch.equal(cell.weight_hh.detach(), torch.tensor(U))  # the stored weight is untouched


def test_parameters_and_initialisation() -> None:
    cell = IndRNNCell(I, 200, recurrent_clip=0.5)
    u = cell.weight_hh.detach()
    assert {n: tuple(p.shape) for n, p in cell.named_parameters()} == {
        "weight_ih": (200, I), "bias_ih": (200,), "weight_hh": (200,)}
    assert 0.0 <= float(u.min()) and float(u.max()) <= 0.5
    assert float(IndRNNCell(I, 200).weight_hh.detach().max()) > 0.5  # U(0, 1) without a clip
    assert IndRNNCell(I, H, bias=False).bias_ih is None


def test_recurrent_bound() -> None:
    assert indrnn_recurrent_bound(100) == pytest.approx(2.0 ** (1 / 100))
    assert indrnn_recurrent_bound(10, gamma=10.0) == pytest.approx(10.0 ** 0.1)
    bound = indrnn_recurrent_bound(50)
    assert bound ** 50 == pytest.approx(2.0)  # the gradient factor over T steps stays at gamma
    assert math.isclose(indrnn_recurrent_bound(1, gamma=3), 3.0)


@pytest.mark.parametrize(
    ("make", "kind", "message"),
    [
        (lambda: IndRNNCell(0, H), ValueError, "IndRNNCell: input_size must be > 0, got 0"),
        (lambda: IndRNNCell(I, "6"), TypeError, "IndRNNCell: hidden_size must be an int, got str '6'"),
        (lambda: IndRNNCell(I, H, recurrent_clip=0), ValueError,
         "IndRNNCell: recurrent_clip must be None or a positive number, got 0"),
        (lambda: IndRNNCell(I, H, recurrent_clip="1"), ValueError,
         "IndRNNCell: recurrent_clip must be None or a positive number, got '1'"),
        (lambda: IndRNNCell(I, H, nonlinearity="gelu"), ValueError,
         "IndRNNCell: nonlinearity must be one of ['identity', 'relu', 'sigmoid', 'softsign', 'tanh'] or a callable, "
         "got 'gelu'"),
        (lambda: indrnn_recurrent_bound(0), ValueError, "indrnn_recurrent_bound: seq_len must be > 0, got 0"),
        (lambda: indrnn_recurrent_bound(10, gamma=0.0), ValueError,
         "indrnn_recurrent_bound: gamma must be > 0, got 0.0"),
        (lambda: indrnn_recurrent_bound(10, gamma=None), TypeError,
         "indrnn_recurrent_bound: gamma must be a float, got NoneType None"),
    ],
)
def test_constructor_errors(make: Callable, kind: type, message: str) -> None:
    with pytest.raises(kind) as err:
        make()
    assert str(err.value) == message


def test_step_errors() -> None:
    cell = IndRNNCell(I, H)
    with pytest.raises(ValueError, match=r"^IndRNNCell: x must be of shape \(B, 4\), got \(2, 5\)$"):
        cell(torch.randn(2, 5), torch.zeros(2, H))
    with pytest.raises(ValueError, match=r"^IndRNNCell: state must be of shape \(2, 6\), got \(2, 5\)$"):
        cell(torch.randn(2, I), torch.zeros(2, 5))
