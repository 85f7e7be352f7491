"""The TF1 cells against TF1's equations, written out here in TF's own layout.

Every test loads a random TF-layout kernel with ``set_tf_weights`` and
compares a step (and a run) with the equations of
``tensorflow/python/ops/rnn_cell_impl.py`` (r1.15), so a wrong gate order,
bias or weight mapping fails.
"""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.compat import v1
from rnnkit.compat.v1.lazy import UntrainedCellWarning
from rnnkit.compat.v1 import LSTMStateTuple
from tests.contract import assert_gradcheck, assert_runner_matches_reference, assert_shapes

D = torch.float64


def rand(*shape: int, scale: float = 0.5) -> torch.Tensor:
    return torch.randn(*shape, dtype=D) * scale


def test_tf1_basics_tutorial_basic_rnn_cell_and_dynamic_rnn() -> None:
    cell = v1.nn.rnn_cell.BasicRNNCell(128)
    x = torch.randn(32, 100)
    output, state = cell(x, cell.zero_state(32, v1.float32))
    assert output.shape == (32, 128) and state.shape == (32, 128)
    assert torch.equal(output, state)
    outputs, final = v1.nn.dynamic_rnn(cell, torch.randn(32, 7, 100), dtype=v1.float32)
    assert outputs.shape == (32, 7, cell.output_size)
    assert final.shape == (32, 128)
    torch.testing.assert_close(outputs[:, -1], final)


def test_basic_rnn_cell_equations() -> None:
    I, H, B = 3, 4, 5
    K, b = rand(I + H, H), rand(H)
    for activation, phi in ((None, torch.tanh), (torch.relu, torch.relu), ("softsign", lambda a: a / (1 + a.abs()))):
        cell = v1.BasicRNNCell(H, activation=activation, dtype=D).set_tf_weights({"kernel": K, "bias": b})
        x, h = rand(B, I), rand(B, H)
        y, new_h = cell(x, h)
        expected = phi(torch.cat([x, h], 1) @ K + b)
        torch.testing.assert_close(y, expected)
        torch.testing.assert_close(new_h, expected)


def tf_basic_lstm(x, c, h, K, b, forget_bias, act=torch.tanh):
    i, j, f, o = (torch.cat([x, h], 1) @ K + b).chunk(4, 1)
    new_c = c * torch.sigmoid(f + forget_bias) + torch.sigmoid(i) * act(j)
    return new_c, act(new_c) * torch.sigmoid(o)


@pytest.mark.parametrize("forget_bias", [1.0, 0.0, 2.5])
def test_basic_lstm_cell_equations_gate_order_ijfo_and_forget_bias_at_run_time(forget_bias: float) -> None:
    I, H, B = 3, 4, 2
    K, b = rand(I + H, 4 * H), rand(4 * H)
    cell = v1.BasicLSTMCell(H, forget_bias=forget_bias).build(I, dtype=D).set_tf_weights({"kernel": K, "bias": b})
    x, c, h = rand(B, I), rand(B, H), rand(B, H)
    y, state = cell(x, LSTMStateTuple(c, h))
    exp_c, exp_h = tf_basic_lstm(x, c, h, K, b, forget_bias)
    assert isinstance(state, LSTMStateTuple)
    torch.testing.assert_close(state.c, exp_c)
    torch.testing.assert_close(state.h, exp_h)
    torch.testing.assert_close(y, exp_h)
    # forget_bias is not folded into the stored bias
    torch.testing.assert_close(cell.get_tf_weights()["bias"], b)


def test_basic_lstm_cell_concatenated_state() -> None:
    I, H, B = 3, 4, 2
    K, b = rand(I + H, 4 * H), rand(4 * H)
    cell = v1.BasicLSTMCell(H, state_is_tuple=False, activation="relu", dtype=D)
    cell.set_tf_weights({"kernel": K, "bias": b})
    assert cell.state_size == 2 * H
    x, c, h = rand(B, I), rand(B, H), rand(B, H)
    y, state = cell(x, torch.cat([c, h], 1))
    exp_c, exp_h = tf_basic_lstm(x, c, h, K, b, 1.0, torch.relu)
    torch.testing.assert_close(state, torch.cat([exp_c, exp_h], 1))
    torch.testing.assert_close(y, exp_h)


def test_lstm_cell_peepholes_clip_projection_equations() -> None:
    I, H, P, B = 3, 5, 2, 4
    fb, cell_clip, proj_clip = 0.7, 0.4, 0.05
    w = {"kernel": rand(I + P, 4 * H), "bias": rand(4 * H), "w_i_diag": rand(H), "w_f_diag": rand(H),
         "w_o_diag": rand(H), "projection/kernel": rand(H, P)}
    cell = v1.LSTMCell(H, use_peepholes=True, cell_clip=cell_clip, num_proj=P, proj_clip=proj_clip, forget_bias=fb,
                       dtype=D).set_tf_weights(w)
    assert cell.state_size == LSTMStateTuple(c=H, h=P) and cell.output_size == P
    x, c_prev, m_prev = rand(B, I), rand(B, H, scale=2.0), rand(B, P)
    y, state = cell(x, LSTMStateTuple(c_prev, m_prev))
    # rnn_cell_impl.LSTMCell.call, written out
    i, j, f, o = (torch.cat([x, m_prev], 1) @ w["kernel"] + w["bias"]).chunk(4, 1)
    c = (torch.sigmoid(f + fb + w["w_f_diag"] * c_prev) * c_prev
         + torch.sigmoid(i + w["w_i_diag"] * c_prev) * torch.tanh(j))
    c = c.clamp(-cell_clip, cell_clip)
    m = torch.sigmoid(o + w["w_o_diag"] * c) * torch.tanh(c)
    m = (m @ w["projection/kernel"]).clamp(-proj_clip, proj_clip)
    torch.testing.assert_close(state.c, c)
    torch.testing.assert_close(state.h, m)
    torch.testing.assert_close(y, m)
    assert (state.c.abs() <= cell_clip).all() and (y.abs() <= proj_clip).all()
    for k, v in cell.get_tf_weights().items():
        torch.testing.assert_close(v, w[k])


def test_lstm_cell_ignores_proj_clip_without_projection_as_tf() -> None:
    cell = v1.LSTMCell(4, proj_clip=0.1)
    y, state = cell(torch.randn(2, 3) * 10, cell.zero_state(2, v1.float32))
    assert cell.output_size == 4 and y.shape == (2, 4)


@pytest.mark.parametrize("activation", [None, torch.relu])
def test_gru_cell_equations(activation) -> None:
    I, H, B = 3, 4, 5
    w = {"gates/kernel": rand(I + H, 2 * H), "gates/bias": rand(2 * H), "candidate/kernel": rand(I + H, H),
         "candidate/bias": rand(H)}
    cell = v1.GRUCell(H, activation=activation, dtype=D).set_tf_weights(w)
    x, h = rand(B, I), rand(B, H)
    y, new_h = cell(x, h)
    act = activation or torch.tanh
    r, u = torch.sigmoid(torch.cat([x, h], 1) @ w["gates/kernel"] + w["gates/bias"]).chunk(2, 1)
    cand = act(torch.cat([x, r * h], 1) @ w["candidate/kernel"] + w["candidate/bias"])
    expected = u * h + (1 - u) * cand
    torch.testing.assert_close(new_h, expected)
    torch.testing.assert_close(y, expected)


def test_tf_initialisation_and_single_trainable_bias() -> None:
    torch.manual_seed(0)
    I, H = 30, 20
    gru = v1.GRUCell(H).build(I)
    w = gru.get_tf_weights()
    assert torch.equal(w["gates/bias"], torch.ones(2 * H)) and torch.equal(w["candidate/bias"], torch.zeros(H))
    limit = math.sqrt(6.0 / (I + H + 2 * H))
    assert w["gates/kernel"].abs().max() <= limit and w["gates/kernel"].abs().max() > 0.9 * limit
    lstm = v1.BasicLSTMCell(H).build(I)
    w = lstm.get_tf_weights()
    assert torch.equal(w["bias"], torch.zeros(4 * H))
    limit = math.sqrt(6.0 / (I + H + 4 * H))
    assert w["kernel"].abs().max() <= limit and w["kernel"].abs().max() > 0.9 * limit
    # TF has one bias: rnnkit's bias_hh is zero and frozen
    assert not lstm.impl.bias_hh.requires_grad and torch.count_nonzero(lstm.impl.bias_hh) == 0
    trainable = {n for n, p in lstm.named_parameters() if p.requires_grad}
    assert trainable == {"impl.weight_ih", "impl.weight_hh", "impl.bias_ih"}
    # a TF-style initializer sees the TF-shaped kernel
    seen = []
    cell = v1.LSTMCell(H, num_proj=5, use_peepholes=True, initializer=lambda t: seen.append(tuple(t.shape)) or
                       t.fill_(0.25)).build(I)
    assert seen == [(I + 5, 4 * H), (H,), (H,), (H,), (H, 5)]
    assert all(torch.all(v == 0.25) for k, v in cell.get_tf_weights().items() if k != "bias")


def test_lazy_build_optimizer_after_first_call_and_build() -> None:
    cell = v1.BasicLSTMCell(6)
    with pytest.warns(UntrainedCellWarning, match="BasicLSTMCell: parameters\\(\\) was called before the cell's first"):
        assert not cell.built and list(cell.parameters()) == []
    x = torch.randn(2, 4, dtype=D)
    cell(x, cell.zero_state(2, v1.float64))
    assert cell.built and cell.input_size == 4
    assert all(p.dtype == D for p in cell.parameters())  # parameters take the first input's dtype
    opt = torch.optim.SGD(cell.parameters(), lr=0.1)
    before = cell.get_tf_weights()["kernel"]
    y, _ = cell(x, cell.zero_state(2, "float64"))
    y.sum().backward()
    opt.step()
    assert not torch.equal(before, cell.get_tf_weights()["kernel"])
    built = v1.GRUCell(3)
    assert built.build(torch.Size([8, 5])) is built and built.input_size == 5
    assert sum(p.numel() for p in built.parameters()) == 9 * 5 + 9 * 3 + 2 * 9  # weight_ih, weight_hh, 2 biases


def test_state_dict_round_trip_builds_a_lazy_cell() -> None:
    src = v1.MultiRNNCell([v1.LSTMCell(5, num_proj=3, use_peepholes=True), v1.GRUCell(4)]).build(2)
    dst = v1.MultiRNNCell([v1.LSTMCell(5, num_proj=3, use_peepholes=True), v1.GRUCell(4)])
    dst.load_state_dict(src.state_dict())
    x = torch.randn(3, 2)
    ya, sa = src(x, src.zero_state(3, v1.float32))
    yb, sb = dst(x, dst.zero_state(3, v1.float32))
    torch.testing.assert_close(ya, yb)
    torch.testing.assert_close(sa[0].c, sb[0].c)


CELLS = {
    "basic_rnn": lambda: v1.BasicRNNCell(4),
    "basic_lstm": lambda: v1.BasicLSTMCell(4),
    "lstm_all_options": lambda: v1.LSTMCell(5, use_peepholes=True, cell_clip=1.5, num_proj=3, proj_clip=2.0),
    "gru": lambda: v1.GRUCell(4),
    "multi": lambda: v1.MultiRNNCell([v1.LSTMCell(4), v1.GRUCell(3)]),
    "residual": lambda: v1.ResidualWrapper(v1.GRUCell(3)),
}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_compat_cells_follow_the_rnnkit_cell_contract(name: str) -> None:
    """A compat cell is an rnnkit cell (TF state layout): shapes and the runner's per-length semantics."""
    torch.manual_seed(0)
    assert_shapes(CELLS[name]().build(3), 3)
    assert_runner_matches_reference(CELLS[name]().build(3, dtype=D), 3)


@pytest.mark.parametrize("make", [
    lambda: v1.LSTMCell(3, use_peepholes=True, cell_clip=1.5, num_proj=2, proj_clip=2.0, forget_bias=0.5).build(2),
    lambda: v1.MultiRNNCell([v1.GRUCell(2), v1.BasicRNNCell(2, activation="softsign")]).build(2),
], ids=["lstm_all_options", "multi_gru_rnn"])
def test_gradcheck_float64(make) -> None:
    torch.manual_seed(0)
    assert_gradcheck(make, 2)
