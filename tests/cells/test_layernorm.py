"""LayerNormLSTMCell and LayerNormGRUCell: contract, equations written out, haste layout, errors."""

from __future__ import annotations

from typing import Callable

import pytest
import torch
from torch import Tensor, nn

from rnnkit import unroll
from rnnkit.cells.layernorm import LayerNormGRUCell, LayerNormLSTMCell
from rnnkit.state import LSTMState
from tests.contract import assert_gradcheck, assert_runner_matches_reference, assert_shapes

I, H = 4, 5


def randomized(cell: nn.Module, seed: int = 0) -> nn.Module:
    """Move every parameter off its initial value (gains off one, shifts off zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return cell


CELLS: dict[str, Callable[[], nn.Module]] = {
    "lstm": lambda: randomized(LayerNormLSTMCell(I, H)),
    "lstm_nobias": lambda: randomized(LayerNormLSTMCell(I, H, bias=False)),
    "lstm_forget_bias_eps": lambda: randomized(LayerNormLSTMCell(I, H, forget_bias=1.0, eps=1e-3)),
    "gru": lambda: randomized(LayerNormGRUCell(I, H)),
    "gru_nobias": lambda: randomized(LayerNormGRUCell(I, H, bias=False)),
}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_contract_shapes(name: str) -> None:
    assert_shapes(CELLS[name](), I)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_runner_equals_per_sequence_loop(name: str) -> None:
    assert_runner_matches_reference(CELLS[name]().double(), I)


GRAD_CELLS: dict[str, Callable[[], nn.Module]] = {  # tiny sizes: gradcheck perturbs every entry
    "lstm": lambda: randomized(LayerNormLSTMCell(2, 3, forget_bias=0.5)),
    "lstm_nobias": lambda: randomized(LayerNormLSTMCell(2, 3, bias=False)),
    "gru": lambda: randomized(LayerNormGRUCell(2, 3)),
}


@pytest.mark.parametrize("name", sorted(GRAD_CELLS))
def test_gradcheck_float64(name: str) -> None:
    assert_gradcheck(GRAD_CELLS[name], 2)


def ln(v: Tensor, gain: Tensor, shift: Tensor | None, eps: float) -> Tensor:
    """Layer norm over the last dimension, written out (biased variance)."""
    mu = v.mean(-1, keepdim=True)
    var = ((v - mu) ** 2).mean(-1, keepdim=True)
    out = gain * (v - mu) / torch.sqrt(var + eps)
    return out if shift is None else out + shift


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_equations(bias: bool) -> None:
    cell = randomized(LayerNormLSTMCell(I, H, bias=bias, forget_bias=0.7, eps=1e-4).double(), seed=1)
    T, B = 4, 3
    x = torch.randn(T, B, I, dtype=torch.float64)
    h, c = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    out, final = unroll(cell, x, LSTMState(h, c))
    zero = torch.zeros(4 * H, dtype=torch.float64)
    b_ih = cell.ln_ih_bias if bias else zero
    b_hh = cell.ln_hh_bias if bias else zero
    for t in range(T):
        a = ln(x[t] @ cell.weight_ih.T, cell.ln_ih_weight, b_ih, 1e-4) + ln(h @ cell.weight_hh.T, cell.ln_hh_weight,
                                                                               b_hh, 1e-4)
        a_i, a_f, a_g, a_o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        c = torch.sigmoid(a_f + 0.7) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
        h = torch.sigmoid(a_o) * torch.tanh(ln(c, cell.ln_c_weight, cell.ln_c_bias, 1e-4))
        torch.testing.assert_close(out[t], h)
    torch.testing.assert_close(final.h, h)
    torch.testing.assert_close(final.c, c)  # the carried cell state is the un-normalised one


@pytest.mark.parametrize("bias", [True, False])
def test_gru_equations(bias: bool) -> None:
    cell = randomized(LayerNormGRUCell(I, H, bias=bias, eps=1e-4).double(), seed=2)
    T, B = 4, 3
    x = torch.randn(T, B, I, dtype=torch.float64)
    h = torch.randn(B, H, dtype=torch.float64)
    out, final = unroll(cell, x, h)
    for t in range(T):
        u = ln(x[t] @ cell.weight_ih.T, cell.ln_ih_weight, cell.ln_ih_bias, 1e-4)
        v = ln(h @ cell.weight_hh.T, cell.ln_hh_weight, cell.ln_hh_bias, 1e-4)
        r = torch.sigmoid(u[:, :H] + v[:, :H])
        z = torch.sigmoid(u[:, H : 2 * H] + v[:, H : 2 * H])
        n = torch.tanh(u[:, 2 * H :] + r * v[:, 2 * H :])
        h = (1 - z) * n + z * h
        torch.testing.assert_close(out[t], h)
    torch.testing.assert_close(final, h)


def test_lstm_matches_haste_formulation() -> None:
    """haste's LayerNormLSTM (gain-only norms, one bias, layout i,g,f,o, kernels (I, 4H)) with mapped weights."""
    cell = randomized(LayerNormLSTMCell(I, H).double(), seed=3)
    rows_i, rows_f, rows_g, rows_o = torch.arange(4 * H).chunk(4)
    perm = torch.cat([rows_i, rows_g, rows_f, rows_o])  # haste's gate layout from ours
    kernel = cell.weight_ih.T[:, perm]
    recurrent_kernel = cell.weight_hh.T[:, perm]
    bias = (cell.ln_ih_bias + cell.ln_hh_bias)[perm]
    gamma = torch.stack([cell.ln_ih_weight[perm], cell.ln_hh_weight[perm]])
    x = torch.randn(3, 2, I, dtype=torch.float64)
    h, c = torch.zeros(2, H, dtype=torch.float64), torch.zeros(2, H, dtype=torch.float64)
    hs = []
    Wx = nn.functional.layer_norm(x @ kernel, (4 * H,), weight=gamma[0])
    for t in range(3):
        v = nn.functional.layer_norm(h @ recurrent_kernel, (4 * H,), weight=gamma[1]) + Wx[t] + bias
        i, g, f, o = torch.chunk(v, 4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(nn.functional.layer_norm(c, (H,), weight=cell.ln_c_weight,
                                                                    bias=cell.ln_c_bias))
        hs.append(h)
    out, _ = unroll(cell, x)
    torch.testing.assert_close(out, torch.stack(hs))


def test_parameters_and_initialisation() -> None:
    cell = LayerNormLSTMCell(I, H)
    shapes = {n: tuple(p.shape) for n, p in cell.named_parameters()}
    assert shapes == {
        "weight_ih": (4 * H, I), "weight_hh": (4 * H, H), "ln_ih_weight": (4 * H,), "ln_ih_bias": (4 * H,),
        "ln_hh_weight": (4 * H,), "ln_hh_bias": (4 * H,), "ln_c_weight": (H,), "ln_c_bias": (H,),
    }
    assert torch.all(cell.ln_ih_weight == 1) and torch.all(cell.ln_c_bias == 0)
    nobias = LayerNormLSTMCell(I, H, bias=False)
    assert nobias.ln_ih_bias is None and nobias.ln_hh_bias is None and nobias.ln_c_bias is not None
    gru = LayerNormGRUCell(I, H, bias=False)
    assert {n for n, _ in gru.named_parameters()} == {"weight_ih", "weight_hh", "ln_ih_weight", "ln_hh_weight"}


def test_input_norm_is_over_all_gates_and_hoisted() -> None:
    """input_projection on (T, B, I) normalises each step's 4H vector (zero mean, unit variance with unit gains)."""
    cell = LayerNormLSTMCell(I, H)
    p = cell.input_projection(torch.randn(6, 3, I))
    assert p.shape == (6, 3, 4 * H)
    torch.testing.assert_close(p.mean(-1), torch.zeros(6, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(p.var(-1, unbiased=False), torch.ones(6, 3), atol=1e-3, rtol=0)


@pytest.mark.parametrize(
    ("make", "kind", "message"),
    [
        (lambda: LayerNormLSTMCell(0, H), ValueError, "LayerNormLSTMCell: input_size must be > 0, got 0"),
        (lambda: LayerNormLSTMCell(I, 2.5), TypeError, "LayerNormLSTMCell: hidden_size must be an int, got float 2.5"),
        (lambda: LayerNormLSTMCell(I, H, eps=0.0), ValueError, "LayerNormLSTMCell: eps must be > 0, got 0.0"),
        (lambda: LayerNormLSTMCell(I, H, eps="1e-5"), TypeError,
         "LayerNormLSTMCell: eps must be a float, got str '1e-5'"),
        (lambda: LayerNormLSTMCell(I, H, forget_bias=None), TypeError,
         "LayerNormLSTMCell: forget_bias must be a float, got NoneType None"),
        (lambda: LayerNormGRUCell(I, -1), ValueError, "LayerNormGRUCell: hidden_size must be > 0, got -1"),
        (lambda: LayerNormGRUCell(I, H, eps=-1e-5), ValueError, "LayerNormGRUCell: eps must be > 0, got -1e-05"),
    ],
)
def test_constructor_errors(make: Callable[[], nn.Module], kind: type, message: str) -> None:
    with pytest.raises(kind) as err:
        make()
    assert str(err.value) == message


def test_step_errors() -> None:
    lstm, gru = LayerNormLSTMCell(I, H), LayerNormGRUCell(I, H)
    with pytest.raises(ValueError, match=r"^LayerNormLSTMCell: x must be of shape \(B, 4\), got \(2, 3\)$"):
        lstm(torch.randn(2, 3), lstm.initial_state(2))
    with pytest.raises(TypeError, match=r"^LayerNormLSTMCell: state must be LSTMState of 2 entries, got Tensor"):
        lstm(torch.randn(2, I), torch.zeros(2, H))
    with pytest.raises(ValueError, match=r"^LayerNormLSTMCell: state\.c must be of shape \(2, 5\), got \(2, 4\)$"):
        lstm(torch.randn(2, I), LSTMState(torch.zeros(2, H), torch.zeros(2, 4)))
    with pytest.raises(ValueError, match=r"^LayerNormGRUCell: state must be of shape \(2, 5\), got \(3, 5\)$"):
        gru(torch.randn(2, I), torch.zeros(3, H))
