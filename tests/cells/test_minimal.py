"""MinGRUCell and MinLSTMCell (Feng et al., 2024): contract, the paper's equations written out, g, errors.

The parallel scan path is tested against the sequential loop in tests/fused/test_scan.py.
"""

from __future__ import annotations

import math
from typing import Callable

import pytest
import torch
from torch import Tensor, nn

from rnnkit import unroll
from rnnkit.cells.minimal import MinGRUCell, MinLSTMCell, g, log_g
from tests.contract import assert_gradcheck, assert_runner_matches_reference, assert_shapes

I, H = 4, 6

CELLS: dict[str, Callable[[], nn.Module]] = {
    "mingru": lambda: MinGRUCell(I, H),
    "mingru_nobias": lambda: MinGRUCell(I, H, bias=False),
    "minlstm": lambda: MinLSTMCell(I, H),
    "minlstm_nobias": lambda: MinLSTMCell(I, H, bias=False),
}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_contract_shapes(name: str) -> None:
    assert_shapes(CELLS[name](), I)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_runner_equals_per_sequence_loop(name: str) -> None:
    assert_runner_matches_reference(CELLS[name]().double(), I)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_gradcheck_float64(name: str) -> None:
    """Through ``Recurrent(cell)``, i.e. the parallel scan path ``fused="auto"`` picks."""
    assert_gradcheck(CELLS[name], I)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_step_gradcheck_float64(name: str) -> None:
    """The sequential step (``recur``), on its own."""
    cell = CELLS[name]().double()
    x = torch.randn(3, I, dtype=torch.float64, requires_grad=True)
    h = torch.randn(3, H, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h, w, b: torch.func.functional_call(
        cell, {"weight_ih": w, "bias_ih": b}, (x, h))[0], (x, h, cell.weight_ih, cell.bias_ih))


def paper_g(x: Tensor) -> Tensor:
    """g(x) = x + 0.5 if x >= 0 else sigmoid(x), element by element."""
    values = [v + 0.5 if v >= 0 else 1 / (1 + math.exp(-v)) for v in x.detach().flatten().tolist()]
    return torch.tensor(values, dtype=x.dtype).view(x.shape)


def test_g_and_log_g() -> None:
    x = torch.cat([torch.linspace(-30, 30, 121), torch.tensor([0.0, -1e-9, 1e-9])]).double()
    torch.testing.assert_close(g(x), paper_g(x))
    torch.testing.assert_close(log_g(x), torch.log(paper_g(x)))
    assert g(torch.tensor(0.0)) == 0.5 and g(torch.tensor(1.0)) == 1.5
    assert torch.all(g(x) > 0)
    far = torch.tensor([-200.0, 1e4], requires_grad=True)  # finite log and gradient even where g underflows
    log_g(far).sum().backward()
    assert torch.isfinite(log_g(far)).all() and torch.isfinite(far.grad).all()


def test_mingru_equations() -> None:
    cell = MinGRUCell(I, H).double()
    x = torch.randn(5, 3, I, dtype=torch.float64) * 3
    h = torch.randn(3, H, dtype=torch.float64)
    out, final = unroll(cell, x, h)
    W_z, W_h = cell.weight_ih[:H], cell.weight_ih[H:]
    b_z, b_h = cell.bias_ih[:H], cell.bias_ih[H:]
    for t in range(5):
        z = torch.sigmoid(x[t] @ W_z.T + b_z)
        h_tilde = paper_g(x[t] @ W_h.T + b_h)
        h = (1 - z) * h + z * h_tilde
        torch.testing.assert_close(out[t], h)
    torch.testing.assert_close(final, h)


def test_minlstm_equations() -> None:
    cell = MinLSTMCell(I, H).double()
    x = torch.randn(5, 3, I, dtype=torch.float64) * 3
    h = torch.randn(3, H, dtype=torch.float64)
    out, final = unroll(cell, x, h)
    W_f, W_i, W_h = cell.weight_ih.chunk(3)
    b_f, b_i, b_h = cell.bias_ih.chunk(3)
    for t in range(5):
        f = torch.sigmoid(x[t] @ W_f.T + b_f)
        i = torch.sigmoid(x[t] @ W_i.T + b_i)
        h_tilde = paper_g(x[t] @ W_h.T + b_h)
        h = f / (f + i) * h + i / (f + i) * h_tilde
        torch.testing.assert_close(out[t], h)
    torch.testing.assert_close(final, h)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_scan_coefficients_are_the_step_in_log_space(name: str) -> None:
    """h_new = exp(log a) * h + exp(log b) reproduces recur (the affine form the scan relies on)."""
    cell = CELLS[name]().double()
    p = cell.input_projection(torch.randn(7, I, dtype=torch.float64) * 4)
    h = torch.randn(7, H, dtype=torch.float64)
    log_a, log_b = cell.scan_coefficients(p)
    y, _ = cell.recur(p, h)
    torch.testing.assert_close(y, log_a.exp() * h + log_b.exp())
    assert torch.all(log_a < 0)


def test_minlstm_saturated_gates_stay_finite() -> None:
    """f and i both underflow in float32 (the naive f / (f + i) is 0/0): the cell stays exact and finite."""
    cell = MinLSTMCell(1, 1, bias=False)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor([[1.0], [1.0], [0.0]]))  # k_f = k_i = x, k_h = 0 (h~ = 0.5)
    x = torch.full((1, 1), -200.0, requires_grad=True)
    h = torch.full((1, 1), 3.0)
    y, _ = cell(x, h)
    torch.testing.assert_close(y, torch.full((1, 1), 0.5 * 3.0 + 0.5 * 0.5))  # f' = i' = 1/2
    y.sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize(
    ("make", "kind", "message"),
    [
        (lambda: MinGRUCell(0, H), ValueError, "MinGRUCell: input_size must be > 0, got 0"),
        (lambda: MinGRUCell(I, None), TypeError, "MinGRUCell: hidden_size must be an int, got NoneType None"),
        (lambda: MinLSTMCell(I, 0), ValueError, "MinLSTMCell: hidden_size must be > 0, got 0"),
        (lambda: MinLSTMCell(True, H), TypeError, "MinLSTMCell: input_size must be an int, got bool True"),
    ],
)
def test_constructor_errors(make: Callable, kind: type, message: str) -> None:
    with pytest.raises(kind) as err:
        make()
    assert str(err.value) == message


def test_step_errors_and_parameters() -> None:
    gru, lstm = MinGRUCell(I, H), MinLSTMCell(I, H)
    with pytest.raises(ValueError, match=r"^MinGRUCell: x must be of shape \(B, 4\), got \(2, 5\)$"):
        gru(torch.randn(2, 5), torch.zeros(2, H))
    with pytest.raises(ValueError, match=r"^MinLSTMCell: state must be of shape \(2, 6\), got \(2, 3\)$"):
        lstm(torch.randn(2, I), torch.zeros(2, 3))
    assert {n: tuple(p.shape) for n, p in gru.named_parameters()} == {"weight_ih": (2 * H, I), "bias_ih": (2 * H,)}
    assert {n: tuple(p.shape) for n, p in lstm.named_parameters()} == {"weight_ih": (3 * H, I), "bias_ih": (3 * H,)}
