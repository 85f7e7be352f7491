"""Elman, LSTM and GRU cells: torch.nn parity, published equations, contract."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.cells import ElmanCell, GRUCell, LSTMCell
from rnnkit.state import LSTMState
from tests.contract import assert_gradcheck, assert_runner_matches_reference, assert_shapes

I, H = 4, 6

CELLS = {
    "elman_tanh": lambda: ElmanCell(I, H),
    "elman_relu": lambda: ElmanCell(I, H, nonlinearity="relu"),
    "elman_nobias": lambda: ElmanCell(I, H, bias=False),
    "lstm": lambda: LSTMCell(I, H),
    "lstm_forget_bias": lambda: LSTMCell(I, H, forget_bias=1.0),
    "lstm_proj": lambda: LSTMCell(I, H, proj_size=3),
    "lstm_peep_clip": lambda: LSTMCell(I, H, use_peepholes=True, cell_clip=0.5, proj_size=3, proj_clip=0.3),
    "lstm_nobias": lambda: LSTMCell(I, H, bias=False),
    "gru": lambda: GRUCell(I, H),
    "gru_reset_before": lambda: GRUCell(I, H, reset_after=False),
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


def _copy(dst: nn.Module, src: nn.Module) -> None:
    dst.load_state_dict(src.state_dict(), strict=True)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_elman_matches_torch_rnncell(nonlinearity: str) -> None:
    ours, ref = ElmanCell(I, H, nonlinearity=nonlinearity), nn.RNNCell(I, H, nonlinearity=nonlinearity)
    _copy(ours, ref)
    x, h = torch.randn(3, I), torch.randn(3, H)
    y, s = ours(x, h)
    torch.testing.assert_close(y, ref(x, h))
    torch.testing.assert_close(s, y)


def test_lstm_matches_torch_lstmcell_including_gradients() -> None:
    ours, ref = LSTMCell(I, H), nn.LSTMCell(I, H)
    _copy(ours, ref)
    x, h, c = torch.randn(3, I), torch.randn(3, H), torch.randn(3, H)
    y, s = ours(x, LSTMState(h, c))
    h_ref, c_ref = ref(x, (h, c))
    torch.testing.assert_close(s.h, h_ref)
    torch.testing.assert_close(s.c, c_ref)
    (y.sum() + s.c.sum()).backward()
    (h_ref.sum() + c_ref.sum()).backward()
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, dict(ref.named_parameters())[name].grad)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_equations(reset_after: bool) -> None:
    cell = GRUCell(I, H, reset_after=reset_after).double()
    x, h = torch.randn(3, I, dtype=torch.float64), torch.randn(3, H, dtype=torch.float64)
    W_ir, W_iz, W_in = cell.weight_ih.chunk(3)
    W_hr, W_hz, W_hn = cell.weight_hh.chunk(3)
    b_ir, b_iz, b_in = cell.bias_ih.chunk(3)
    b_hr, b_hz, b_hn = cell.bias_hh.chunk(3)
    r = torch.sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    if reset_after:
        n = torch.tanh(x @ W_in.T + b_in + r * (h @ W_hn.T + b_hn))
    else:
        n = torch.tanh(x @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn)
    expected = (1 - z) * n + z * h
    y, s = cell(x, h)
    torch.testing.assert_close(y, expected)
    if reset_after:
        ref = nn.GRUCell(I, H).double()
        _copy(ref, cell)
        torch.testing.assert_close(y, ref(x, h))


def test_lstm_full_equations_with_peepholes_projection_clipping_forget_bias() -> None:
    cell = LSTMCell(I, H, forget_bias=1.0, use_peepholes=True, cell_clip=0.4, proj_size=3, proj_clip=0.2).double()
    with torch.no_grad():
        cell.weight_peephole.mul_(5.0)  # make the peepholes matter
    x = torch.randn(5, I, dtype=torch.float64)
    h, c = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, H, dtype=torch.float64)
    a = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    ai, af, ag, ao = a.chunk(4, 1)
    pi, pf, po = cell.weight_peephole
    i = torch.sigmoid(ai + pi * c)
    f = torch.sigmoid(af + 1.0 + pf * c)
    c_new = torch.clamp(f * c + i * torch.tanh(ag), -0.4, 0.4)
    o = torch.sigmoid(ao + po * c_new)
    h_new = torch.clamp((o * torch.tanh(c_new)) @ cell.weight_hr.T, -0.2, 0.2)
    y, s = cell(x, LSTMState(h, c))
    torch.testing.assert_close(s.c, c_new)
    torch.testing.assert_close(s.h, h_new)
    torch.testing.assert_close(y, h_new)
    assert (s.c.abs() <= 0.4 + 1e-12).all() and (s.c.abs() == 0.4).any()


def test_lstm_gate_order_is_i_f_g_o() -> None:
    """Saturate one gate block at a time and check which quantity it drives."""
    cell = LSTMCell(1, 1, bias=True).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
        cell.bias_ih.copy_(torch.tensor([50.0, -50.0, 50.0, 50.0]))  # i=1, f=0, g=tanh(50)=1, o=1
    y, s = cell(torch.zeros(1, 1, dtype=torch.float64), LSTMState(torch.zeros(1, 1).double(), torch.full((1, 1), 7.0).double()))
    torch.testing.assert_close(s.c, torch.ones(1, 1).double())  # forgot the 7, wrote g=1 through i
    torch.testing.assert_close(s.h, torch.tanh(torch.ones(1, 1)).double())


def test_lstm_activation_choice() -> None:
    cell = LSTMCell(I, H, activation="relu").double()
    x, h, c = (torch.randn(2, n, dtype=torch.float64) for n in (I, H, H))
    a = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    ai, af, ag, ao = a.chunk(4, 1)
    c_new = torch.sigmoid(af) * c + torch.sigmoid(ai) * torch.relu(ag)
    _, s = cell(x, LSTMState(h, c))
    torch.testing.assert_close(s.c, c_new)
    torch.testing.assert_close(s.h, torch.sigmoid(ao) * torch.relu(c_new))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: LSTMCell(4, 0), "LSTMCell: hidden_size must be > 0, got 0"),
        (lambda: LSTMCell(4.0, 3), "LSTMCell: input_size must be an int"),
        (lambda: LSTMCell(4, 3, proj_size=3), "proj_size must be smaller than hidden_size (3), got 3"),
        (lambda: LSTMCell(4, 3, cell_clip=-1.0), "cell_clip must be None, inf or a positive number <= 3.403e+38"),
        (lambda: LSTMCell(4, 3, cell_clip=1e39), "cell_clip must be None, inf or a positive number <= 3.403e+38 (float32's largest), got 1e+39"),
        (lambda: LSTMCell(4, 3, cell_clip=float("nan")), "cell_clip must be None, inf or a positive number"),
        (lambda: LSTMCell(4, 3, proj_clip=1.0), "proj_clip must be None unless proj_size > 0"),
        (lambda: LSTMCell(4, 3, activation="swishy"), "activation must be one of"),
        (lambda: ElmanCell(4, 3, nonlinearity="gelu"), "nonlinearity must be one of 'tanh', 'relu', got 'gelu'"),
        (lambda: GRUCell(-1, 3), "GRUCell: input_size must be > 0, got -1"),
        (lambda: GRUCell(4, 3, bias="no"), "GRUCell: bias must be a bool, got str 'no'"),
        (lambda: ElmanCell(4, 3, bias=1), "ElmanCell: bias must be a bool, got int 1"),
        (lambda: LSTMCell(4, 3, forget_bias=float("nan")), "LSTMCell: forget_bias must be a finite float, got nan"),
        (lambda: LSTMCell(4, 3, use_peepholes="yes"), "LSTMCell: use_peepholes must be a bool, got str 'yes'"),
    ],
)
def test_constructor_errors(make, message: str) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        make()
    assert message in str(info.value)


def test_step_errors_name_argument_expected_and_actual() -> None:
    cell = LSTMCell(4, 3)
    state = cell.initial_state(2)
    with pytest.raises(ValueError, match=r"LSTMCell: x must be of shape \(B, 4\), got \(2, 5\)"):
        cell(torch.randn(2, 5), state)
    with pytest.raises(ValueError, match=r"LSTMCell: state.c must be of shape \(2, 3\), got \(2, 4\)"):
        cell(torch.randn(2, 4), LSTMState(state.h, torch.zeros(2, 4)))
    with pytest.raises(TypeError, match="LSTMCell: state must be LSTMState of 2 entries, got Tensor"):
        cell(torch.randn(2, 4), torch.zeros(2, 3))
    with pytest.raises(TypeError, match="LSTMCell: state.h must be of dtype torch.float32"):
        cell(torch.randn(2, 4), LSTMState(state.h.double(), state.c))
    with pytest.raises(TypeError, match="LSTMCell: x must be a floating-point tensor, got dtype torch.int64"):
        cell(torch.ones(2, 4, dtype=torch.long), state)
    with pytest.raises(TypeError, match="LSTMCell: x must be a torch.Tensor, got list"):
        cell([[1.0] * 4] * 2, state)
