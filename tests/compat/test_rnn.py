"""dynamic_rnn / bidirectional_dynamic_rnn / static_rnn against independent loops.

The references here call the cell one step at a time on each sequence alone,
sliced to its own length, exactly as TF1 defines the results.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch

from rnnkit.cells import LSTMCell as RnnkitLSTMCell
from rnnkit.compat import v1
from rnnkit.compat.v1 import LSTMStateTuple
from rnnkit.state import LSTMState, map_state, state_leaves

D = torch.float64
LENGTHS = [5, 0, 3, 1, 5, 2]

CELLS: dict[str, Callable[[], Any]] = {
    "basic_rnn": lambda: v1.BasicRNNCell(4),
    "basic_lstm": lambda: v1.BasicLSTMCell(4),
    "lstm_concat_state": lambda: v1.BasicLSTMCell(4, state_is_tuple=False),
    "lstm_options": lambda: v1.LSTMCell(5, use_peepholes=True, cell_clip=1.0, num_proj=3),
    "gru": lambda: v1.GRUCell(4),
    "multi": lambda: v1.MultiRNNCell([v1.BasicLSTMCell(4), v1.GRUCell(3), v1.LSTMCell(4, num_proj=2)]),
    "residual": lambda: v1.ResidualWrapper(v1.GRUCell(3)),
    "eval_dropout": lambda: v1.DropoutWrapper(v1.GRUCell(4), 0.5, 0.5, 0.5, variational_recurrent=True).eval(),
}


def first(state: Any, b: int) -> Any:
    return map_state(lambda s: s[b : b + 1], state)


def cat(states: list) -> Any:
    return map_state(lambda *s: torch.cat(s, 0), states[0], *states[1:])


def per_sequence_loop(cell: Any, x: torch.Tensor, lengths: list, state: Any, reverse: bool = False):
    """Reference: x (B, T, I); each sequence alone, step by step, padded with zeros."""
    B, T = x.shape[0], x.shape[1]
    outs, finals = [], []
    for b in range(B):
        s = first(state, b)
        seq = x[b, : lengths[b]]
        if reverse:
            seq = seq.flip(0)
        ys = []
        for t in range(seq.shape[0]):
            y, s = cell(seq[t : t + 1], s)
            ys.append(y)
        y_seq = torch.cat(ys) if ys else x.new_zeros(0, cell.output_size)
        if reverse:
            y_seq = y_seq.flip(0)
        outs.append(torch.cat([y_seq, x.new_zeros(T - lengths[b], cell.output_size)]))
        finals.append(s)
    return torch.stack(outs), cat(finals)


def random_state(cell: Any, B: int) -> Any:
    return map_state(lambda s: torch.randn_like(s), cell.zero_state(B, D))


def assert_states_equal(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    for la, lb in zip(state_leaves(a), state_leaves(b), strict=True):
        torch.testing.assert_close(la, lb)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_dynamic_rnn_equals_a_per_sequence_loop(name: str) -> None:
    torch.manual_seed(0)
    cell = CELLS[name]().build(3, dtype=D)
    B, T = len(LENGTHS), 5
    x = torch.randn(B, T, 3, dtype=D)
    state = random_state(cell, B)
    out, final = v1.nn.dynamic_rnn(cell, x, sequence_length=torch.tensor(LENGTHS, dtype=torch.int32),
                                   initial_state=state)
    ref_out, ref_final = per_sequence_loop(cell, x, LENGTHS, state)
    assert out.shape == (B, T, cell.output_size)
    torch.testing.assert_close(out, ref_out)
    assert_states_equal(final, ref_final)
    for b, n in enumerate(LENGTHS):
        assert torch.count_nonzero(out[b, n:]) == 0
    # a zero-length sequence returns its initial state
    assert_states_equal(first(final, 1), first(state, 1))
    # time-major gives the same, transposed
    out_tm, final_tm = v1.nn.dynamic_rnn(cell, x.transpose(0, 1), sequence_length=LENGTHS, initial_state=state,
                                         time_major=True)
    torch.testing.assert_close(out_tm.transpose(0, 1), out)
    assert_states_equal(final_tm, final)


def test_dynamic_rnn_without_lengths_zero_state_and_dtype_strings() -> None:
    torch.manual_seed(0)
    cell = v1.LSTMCell(4)
    x = torch.randn(3, 6, 2)
    out, final = v1.nn.dynamic_rnn(cell, x, dtype="float32")
    ref_out, ref_final = per_sequence_loop(cell, x, [6, 6, 6], cell.zero_state(3, v1.float32))
    torch.testing.assert_close(out, ref_out)
    assert_states_equal(final, ref_final)
    assert isinstance(final, LSTMStateTuple) and final.dtype == torch.float32
    torch.testing.assert_close(final.h, out[:, -1])


def test_bidirectional_dynamic_rnn_reverses_each_sequence_within_its_length() -> None:
    torch.manual_seed(0)
    fw, bw = v1.BasicLSTMCell(4).build(3, dtype=D), v1.GRUCell(2).build(3, dtype=D)
    B, T = len(LENGTHS), 5
    x = torch.randn(B, T, 3, dtype=D)
    s_fw, s_bw = random_state(fw, B), random_state(bw, B)
    (out_fw, out_bw), (final_fw, final_bw) = v1.nn.bidirectional_dynamic_rnn(
        fw, bw, x, sequence_length=LENGTHS, initial_state_fw=s_fw, initial_state_bw=s_bw, dtype=v1.float64)
    ref_fw, ref_final_fw = per_sequence_loop(fw, x, LENGTHS, s_fw)
    ref_bw, ref_final_bw = per_sequence_loop(bw, x, LENGTHS, s_bw, reverse=True)
    torch.testing.assert_close(out_fw, ref_fw)
    torch.testing.assert_close(out_bw, ref_bw)
    assert_states_equal(final_fw, ref_final_fw)
    assert_states_equal(final_bw, ref_final_bw)
    # the backward output at t = 0 has read the whole (valid) sequence: it equals the final backward state
    for b, n in enumerate(LENGTHS):
        if n > 0:
            torch.testing.assert_close(out_bw[b, 0], final_bw[b])
        assert torch.count_nonzero(out_bw[b, n:]) == 0


@pytest.mark.parametrize("name", ["basic_lstm", "multi", "lstm_concat_state"])
def test_static_rnn_equals_dynamic_rnn(name: str) -> None:
    torch.manual_seed(0)
    cell = CELLS[name]().build(3, dtype=D)
    B, T = len(LENGTHS), 5
    x = torch.randn(B, T, 3, dtype=D)
    state = random_state(cell, B)
    for lengths in (LENGTHS, None):
        outs, final = v1.contrib.rnn.static_rnn(cell, list(x.unbind(1)), initial_state=state, sequence_length=lengths)
        d_out, d_final = v1.nn.dynamic_rnn(cell, x, sequence_length=lengths, initial_state=state)
        assert isinstance(outs, list) and len(outs) == T
        torch.testing.assert_close(torch.stack(outs, 1), d_out)
        assert_states_equal(final, d_final)


def test_static_bidirectional_rnn_equals_bidirectional_dynamic_rnn() -> None:
    torch.manual_seed(0)
    fw, bw = v1.GRUCell(3).build(2, dtype=D), v1.BasicLSTMCell(2).build(2, dtype=D)
    x = torch.randn(len(LENGTHS), 5, 2, dtype=D)
    outs, s_fw, s_bw = v1.nn.static_bidirectional_rnn(fw, bw, list(x.unbind(1)), dtype=D, sequence_length=LENGTHS)
    (o_fw, o_bw), (d_fw, d_bw) = v1.nn.bidirectional_dynamic_rnn(fw, bw, x, sequence_length=LENGTHS)
    torch.testing.assert_close(torch.stack(outs, 1), torch.cat([o_fw, o_bw], 2))
    assert_states_equal(s_fw, d_fw)
    assert_states_equal(s_bw, d_bw)


def test_multi_rnn_cell_state_tuple_and_concatenated_state() -> None:
    torch.manual_seed(0)
    a, b = v1.BasicLSTMCell(4), v1.GRUCell(3)
    multi = v1.MultiRNNCell([a, b])
    assert multi.state_size == (LSTMStateTuple(c=4, h=4), 3) and multi.output_size == 3
    x = torch.randn(2, 5)
    state = multi.zero_state(2, v1.float32)
    assert isinstance(state, tuple) and isinstance(state[0], LSTMStateTuple) and state[1].shape == (2, 3)
    y, new = multi(x, state)
    # the same as chaining the cells by hand
    y0, s0 = a(x, state[0])
    y1, s1 = b(y0, state[1])
    torch.testing.assert_close(y, y1)
    assert_states_equal(new, (s0, s1))
    # state_is_tuple=False concatenates the (non-tuple) states of its cells, same weights
    c1, c2 = v1.BasicLSTMCell(4, state_is_tuple=False), v1.GRUCell(3)
    flat = v1.MultiRNNCell([c1, c2], state_is_tuple=False).build(5)
    c1.set_tf_weights(a.get_tf_weights())
    c2.set_tf_weights(b.get_tf_weights())
    assert flat.state_size == 8 + 3
    s = torch.randn(2, 11)
    yf, sf = flat(x, s)
    yt, st = multi(x, (LSTMStateTuple(s[:, :4], s[:, 4:8]), s[:, 8:]))
    torch.testing.assert_close(yf, yt)
    torch.testing.assert_close(sf, torch.cat([st[0].c, st[0].h, st[1]], 1))


def test_rnnkit_cells_and_user_cells_run_in_dynamic_rnn() -> None:
    torch.manual_seed(0)
    core = RnnkitLSTMCell(3, 4).double()
    x = torch.randn(len(LENGTHS), 5, 3, dtype=D)
    out, final = v1.nn.dynamic_rnn(core, x, sequence_length=LENGTHS)
    ref_out, ref_final = per_sequence_loop(core, x, LENGTHS, core.initial_state(len(LENGTHS), dtype=D))
    assert isinstance(final, LSTMState)  # an rnnkit cell keeps rnnkit's state
    torch.testing.assert_close(out, ref_out)
    assert_states_equal(final, ref_final)

    class Accumulate(v1.nn.rnn_cell.RNNCell):
        """A TF1-style user cell: s_t = s_{t-1} + W x_t, output 2 s_t."""

        def __init__(self, n: int) -> None:
            super().__init__()
            self.n = n

        @property
        def state_size(self) -> int:
            return self.n

        @property
        def output_size(self) -> int:
            return self.n

        def _build(self, input_size: int, dtype: torch.dtype, device: torch.device) -> None:
            self.proj = torch.nn.Linear(input_size, self.n, bias=False).to(device=device, dtype=dtype)

        def call(self, inputs: torch.Tensor, state: torch.Tensor):
            new = state + self.proj(inputs)
            return 2 * new, new

    cell = Accumulate(2)
    out, final = v1.nn.dynamic_rnn(cell, x, sequence_length=LENGTHS)
    w = cell.proj.weight
    for b, n in enumerate(LENGTHS):
        expected = torch.cumsum(x[b, :n] @ w.t(), 0)
        torch.testing.assert_close(out[b, :n], 2 * expected)
        torch.testing.assert_close(final[b], expected[-1] if n else torch.zeros(2, dtype=D))
    stacked = v1.MultiRNNCell([v1.GRUCell(2), Accumulate(2)])
    out, final = v1.nn.dynamic_rnn(stacked, x, sequence_length=LENGTHS)
    ref_out, ref_final = per_sequence_loop(stacked, x, LENGTHS, stacked.zero_state(len(LENGTHS), D))
    torch.testing.assert_close(out, ref_out)
    assert_states_equal(final, ref_final)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_lazy_build_on_the_inputs_device_matches_cpu() -> None:
    torch.manual_seed(0)
    cpu = v1.MultiRNNCell([v1.LSTMCell(5, num_proj=3, use_peepholes=True), v1.GRUCell(4)]).build(3)
    gpu = v1.MultiRNNCell([v1.LSTMCell(5, num_proj=3, use_peepholes=True), v1.GRUCell(4)])
    x = torch.randn(len(LENGTHS), 5, 3)
    gpu(x[:, 0].cuda(), gpu.zero_state(len(LENGTHS), v1.float32, device="cuda"))  # builds on CUDA
    gpu.load_state_dict(cpu.state_dict())
    assert all(p.is_cuda for p in gpu.parameters())
    out, final = v1.nn.dynamic_rnn(cpu, x, sequence_length=LENGTHS)
    out_gpu, final_gpu = v1.nn.dynamic_rnn(v1.DropoutWrapper(gpu, 0.5, variational_recurrent=True).eval(), x.cuda(),
                                           sequence_length=torch.tensor(LENGTHS))  # lengths on the CPU
    torch.testing.assert_close(out_gpu.cpu(), out, atol=1e-5, rtol=1e-4)
    for a, b in zip(state_leaves(final_gpu), state_leaves(final), strict=True):
        torch.testing.assert_close(a.cpu(), b, atol=1e-5, rtol=1e-4)
