"""What TF1 tutorial code hit when ported: numpy everywhere, ``cell.call`` on a fresh
cell, the optimizer-before-first-call pitfall, live keep_prob tensors,
``cell_clip=0.0`` and ``num_proj >= num_units``."""

from __future__ import annotations

import gc
import re
import warnings

import numpy as np
import pytest
import torch

from rnnkit.compat import v1 as tf
from rnnkit.compat.v1.lazy import UntrainedCellWarning


# ----------------------------------------------------------------------------- numpy in the TF1 face
def test_tf1_basics_tutorial_snippet_runs_with_numpy_dtypes_and_arrays() -> None:
    """The TF1 basics tutorial's first snippet, with its placeholder replaced by an array."""
    cell = tf.nn.rnn_cell.BasicRNNCell(num_units=128)
    assert cell.state_size == 128
    inputs = np.random.default_rng(0).standard_normal((32, 100)).astype(np.float32)
    h0 = cell.zero_state(32, np.float32)
    output, h1 = cell.call(inputs, h0)
    assert tuple(h1.shape) == (32, 128) and h1.dtype == torch.float32
    kernel, bias = cell.get_tf_weights()["kernel"], cell.get_tf_weights()["bias"]
    x = torch.from_numpy(inputs)
    ref = torch.tanh(torch.cat([x, h0], 1) @ kernel + bias)  # TF1's BasicRNNCell equation
    torch.testing.assert_close(h1, ref)
    assert torch.equal(output, h1)


@pytest.mark.parametrize("dtype", [np.float32, np.dtype("float32"), "float32", tf.float32])
def test_numpy_and_named_dtypes_are_accepted_everywhere(dtype) -> None:
    cell = tf.nn.rnn_cell.BasicLSTMCell(4)
    state = cell.zero_state(3, dtype)
    assert state.c.dtype == torch.float32 and state.h.shape == (3, 4)
    assert cell.zero_state(np.int64(2), np.float64).h.dtype == torch.float64


def test_dynamic_rnn_takes_numpy_inputs_lengths_and_state_like_tensors() -> None:
    rng = np.random.default_rng(1)
    x64 = rng.standard_normal((4, 6, 3))  # float64, as numpy makes it: cast to the cell's float32, as TF's feed
    lengths = np.array([6, 2, 0, 4])
    cell = tf.nn.rnn_cell.BasicLSTMCell(5)
    init = cell.zero_state(4, np.float32)
    init_np = tf.LSTMStateTuple(rng.standard_normal((4, 5)), rng.standard_normal((4, 5)))
    out, state = tf.nn.dynamic_rnn(cell, x64, sequence_length=lengths, initial_state=init_np, dtype=np.float32)
    assert out.dtype == torch.float32
    ref_init = tf.LSTMStateTuple(*(torch.tensor(a, dtype=torch.float32) for a in init_np))
    ref, ref_state = tf.nn.dynamic_rnn(cell, torch.tensor(x64, dtype=torch.float32),
                                       sequence_length=torch.tensor(lengths), initial_state=ref_init)
    assert torch.equal(out, ref) and torch.equal(state.h, ref_state.h) and torch.equal(state.c, ref_state.c)
    out0, _ = tf.nn.dynamic_rnn(cell, x64, initial_state=init)
    assert out0.shape == (4, 6, 5)
    # a float64 cell: arrays become float64
    cell64 = tf.nn.rnn_cell.GRUCell(3, dtype=np.float64)
    out64, _ = tf.nn.dynamic_rnn(cell64, x64.astype(np.float32))
    assert out64.dtype == torch.float64
    # static_rnn and bidirectional_dynamic_rnn take arrays too
    outs, _ = tf.nn.static_rnn(tf.nn.rnn_cell.GRUCell(2), list(x64.transpose(1, 0, 2)), dtype=np.float32)
    assert len(outs) == 6 and outs[0].dtype == torch.float32
    (fw, bw), _ = tf.nn.bidirectional_dynamic_rnn(tf.nn.rnn_cell.GRUCell(2), tf.nn.rnn_cell.GRUCell(3), x64,
                                                   sequence_length=lengths)
    assert fw.shape == (4, 6, 2) and bw.shape == (4, 6, 3)


def test_tensors_are_never_cast() -> None:
    cell = tf.nn.rnn_cell.GRUCell(3).build(2)
    with pytest.raises(TypeError, match=re.escape("dynamic_rnn: inputs must be of dtype torch.float32 (the dtype of "
                                                  "GRUCell's parameters), got torch.float64")):
        tf.nn.dynamic_rnn(cell, torch.zeros(2, 3, 2, dtype=torch.float64))


def test_errors_summarise_arrays_instead_of_printing_them() -> None:
    big = np.array([["word"] * 500] * 4)
    with pytest.raises(TypeError) as err:
        tf.nn.dynamic_rnn(tf.nn.rnn_cell.GRUCell(3), big)
    message = str(err.value)
    assert message == "dynamic_rnn: inputs must be a tensor or a numeric array, got numpy.ndarray of shape (4, 500), " \
                      "dtype <U4"
    with pytest.raises(ValueError) as err:
        tf.nn.dynamic_rnn(tf.nn.rnn_cell.GRUCell(3), torch.zeros(2, 4, 1), sequence_length=np.arange(1000))
    assert len(str(err.value)) < 120 and "(1000,)" in str(err.value)
    with pytest.raises(TypeError) as err:
        tf.nn.dynamic_rnn(tf.nn.rnn_cell.GRUCell(3), torch.zeros(2, 4, 1), dtype=np.zeros(10000))
    assert "numpy.ndarray of shape (10000,), dtype float64" in str(err.value) and len(str(err.value)) < 160


# ----------------------------------------------------------------------------- cell.call
def test_call_on_a_fresh_cell_builds_it_and_equals_calling_the_cell() -> None:
    torch.manual_seed(0)
    cell = tf.nn.rnn_cell.BasicLSTMCell(6)
    x = torch.randn(2, 3)
    y, state = cell.call(x, cell.zero_state(2, tf.float32))
    assert cell.built and cell.input_size == 3
    y2, state2 = cell(x, cell.zero_state(2, tf.float32))
    assert torch.equal(y, y2) and torch.equal(state.c, state2.c)
    with pytest.raises(ValueError, match=re.escape("BasicLSTMCell: inputs must be of shape (batch_size, 3)")):
        cell.call(torch.randn(2, 4), cell.zero_state(2, tf.float32))


# ----------------------------------------------------------------------------- the lazy-optimizer pitfall
def _train(cell: tf.RNNCell, head: torch.nn.Module, make_optimizer, steps: int = 3) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    opts = make_optimizer()
    for _ in range(steps):
        _, state = tf.nn.dynamic_rnn(cell, torch.randn(4, 5, 3, generator=g))
        loss = head(state.h).pow(2).mean()
        for o in opts:
            o.zero_grad()
        loss.backward()
        for o in opts:
            o.step()
    return opts


def test_optimizer_made_before_the_first_call_is_loud() -> None:
    cell, head = tf.nn.rnn_cell.BasicLSTMCell(4), torch.nn.Linear(4, 1)
    with pytest.warns(UntrainedCellWarning, match=r"BasicLSTMCell: parameters\(\) was called before the cell's first "
                                                  r"call.*cell.build\(input_size\)"):
        params = list(cell.parameters()) + list(head.parameters())
    with pytest.warns(UntrainedCellWarning, match="BasicLSTMCell: its parameters receive gradients, but no optimizer "
                                                  "that has stepped holds any of them, so the cell does not learn"):
        _train(cell, head, lambda: [torch.optim.Adam(params, lr=0.01)])
    # the warning really means it: the cell did not change
    before = cell.get_tf_weights()["kernel"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = torch.optim.Adam(params, lr=0.01)
        _train(cell, head, lambda: [opt])
    assert torch.equal(before, cell.get_tf_weights()["kernel"])


def test_optimizer_made_from_a_parent_module_before_the_first_call_is_loud_at_the_second_step() -> None:
    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell, self.head = tf.nn.rnn_cell.GRUCell(4), torch.nn.Linear(4, 1)

    model = Model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # the parent does not ask the cell: no early warning
    g = torch.Generator().manual_seed(0)
    with pytest.warns(UntrainedCellWarning, match="GRUCell: its parameters receive gradients"):
        for _ in range(2):
            _, h = tf.nn.dynamic_rnn(model.cell, torch.randn(2, 3, 5, generator=g))
            opt.zero_grad()
            model.head(h).sum().backward()
            opt.step()


@pytest.mark.parametrize("how", ["after_first_call", "build_first", "two_optimizers"])
def test_the_right_ways_stay_silent(how: str) -> None:
    gc.collect()  # cells of earlier tests, built lazily and never trained, leave the watch list
    cell, head = tf.nn.rnn_cell.BasicLSTMCell(4), torch.nn.Linear(4, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if how == "build_first":
            cell.build(3)
        else:
            tf.nn.dynamic_rnn(cell, torch.zeros(1, 1, 3))
        before = cell.get_tf_weights()["kernel"]
        if how == "two_optimizers":  # the head's optimizer steps first; the cell's optimizer still counts
            _train(cell, head, lambda: [torch.optim.Adam(head.parameters()), torch.optim.Adam(cell.parameters())])
        else:
            _train(cell, head, lambda: [torch.optim.Adam(list(cell.parameters()) + list(head.parameters()))])
    assert not torch.equal(before, cell.get_tf_weights()["kernel"])


# ----------------------------------------------------------------------------- keep_prob tensors
def test_keep_prob_tensor_is_read_at_every_call_not_frozen() -> None:
    """TF1's pattern: keep_prob is a placeholder fed 0.5 for training and 1.0 for evaluation."""
    torch.manual_seed(0)
    keep_prob = torch.tensor(0.5)
    inner = tf.nn.rnn_cell.GRUCell(64)
    cell = tf.nn.rnn_cell.DropoutWrapper(inner, output_keep_prob=keep_prob)
    x = torch.randn(8, 10, 3)
    out, _ = tf.nn.dynamic_rnn(cell, x)
    assert abs((out == 0).double().mean().item() - 0.5) < 0.03
    keep_prob.fill_(1.0)  # "feed keep_prob: 1.0"
    out, _ = tf.nn.dynamic_rnn(cell, x)
    ref, _ = tf.nn.dynamic_rnn(inner, x)
    assert torch.equal(out, ref)
    keep_prob.fill_(0.8)
    out, _ = tf.nn.dynamic_rnn(cell, x)
    assert abs((out == 0).double().mean().item() - 0.2) < 0.03
    keep_prob.fill_(0.0)
    with pytest.raises(ValueError, match=re.escape("DropoutWrapper: output_keep_prob must be in (0, 1], got 0.0 (the "
                                                   "current value of the tensor)")):
        tf.nn.dynamic_rnn(cell, x)
    with pytest.raises(TypeError, match="DropoutWrapper: input_keep_prob must be a float in \\(0, 1\\] or a "
                                        "one-element floating tensor, got Tensor of shape \\(2,\\)"):
        tf.nn.rnn_cell.DropoutWrapper(inner, input_keep_prob=torch.tensor([0.5, 0.5]))


# ----------------------------------------------------------------------------- LSTMCell options only TF1 allows
def _tf_lstm_reference(w: dict, x: torch.Tensor, num_units: int, forget_bias: float, clip, peep: bool,
                       proj: bool, proj_clip=None) -> torch.Tensor:
    """TF1 ``LSTMCell.call`` (r1.15), written out: i, j, f, o blocks, peepholes, clip, projection."""
    B, T, _ = x.shape
    H = num_units
    P = w["projection/kernel"].shape[1] if proj else H
    c, m = torch.zeros(B, H, dtype=x.dtype), torch.zeros(B, P, dtype=x.dtype)
    outs = []
    for t in range(T):
        i, j, f, o = (torch.cat([x[:, t], m], 1) @ w["kernel"] + w["bias"]).split(H, 1)
        wi, wf, wo = (w["w_i_diag"], w["w_f_diag"], w["w_o_diag"]) if peep else (0, 0, 0)
        c = torch.sigmoid(f + forget_bias + wf * c) * c + torch.sigmoid(i + wi * c) * torch.tanh(j)
        if clip is not None:
            c = c.clamp(-clip, clip)
        m = torch.sigmoid(o + wo * c) * torch.tanh(c)
        if proj:
            m = m @ w["projection/kernel"]
            if proj_clip is not None:
                m = m.clamp(-proj_clip, proj_clip)
        outs.append(m)
    return torch.stack(outs, 1)


def test_cell_clip_zero_holds_c_at_zero_as_tf1_does() -> None:
    """TF1's own testCellClipping: LSTMCell(use_peepholes=True, cell_clip=0.0) outputs zeros."""
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="LSTMCell: cell_clip=0.0 holds the cell state c at 0"):
        cell = tf.nn.rnn_cell.LSTMCell(3, use_peepholes=True, cell_clip=0.0, state_is_tuple=False)
    inputs = [torch.randn(2, 5, dtype=torch.float64) for _ in range(8)]
    outputs, state = tf.nn.static_rnn(cell, inputs, dtype=tf.float64)
    assert all(torch.count_nonzero(o) == 0 for o in outputs) and state.shape == (2, 6)
    ref = _tf_lstm_reference(cell.get_tf_weights(), torch.stack(inputs, 1), 3, 1.0, 0.0, True, False)
    torch.testing.assert_close(torch.stack(outputs, 1), ref)


@pytest.mark.parametrize("num_proj", [4, 7])
def test_num_proj_at_least_num_units_is_accepted_and_exact(num_proj: int) -> None:
    torch.manual_seed(0)
    cell = tf.nn.rnn_cell.LSTMCell(4, num_proj=num_proj, use_peepholes=True, cell_clip=2.0, proj_clip=0.05)
    assert cell.state_size == tf.LSTMStateTuple(c=4, h=num_proj) and cell.output_size == num_proj
    x = torch.randn(3, 6, 2, dtype=torch.float64)
    out, state = tf.nn.dynamic_rnn(cell, x)
    w = cell.get_tf_weights()
    assert w["kernel"].shape == (2 + num_proj, 16) and w["projection/kernel"].shape == (4, num_proj)
    ref = _tf_lstm_reference(w, x, 4, 1.0, 2.0, True, True, proj_clip=0.05)
    torch.testing.assert_close(out, ref)
    assert (out.abs() == 0.05).any() and (out.abs() < 0.05).any()  # the projection clip is in force
    out.sum().backward()  # and it trains
    assert all(p.grad is not None for p in cell.parameters() if p.requires_grad)
