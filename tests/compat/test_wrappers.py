"""DropoutWrapper statistics and masks, ResidualWrapper equations.

An ``Echo`` cell (defined here, TF1-style) makes every mask visible: its new
state is ``LSTMStateTuple(c=x, h=x)`` and its output is either ``x`` or the
previous ``h``.
"""

from __future__ import annotations

import pytest
import torch

from rnnkit.compat import v1
from rnnkit.compat.v1 import LSTMStateTuple

B, N = 4000, 25


class Echo(v1.RNNCell):
    """new state (c, h) = (x, x); output x (``show="x"``) or the previous h (``show="h"``)."""

    def __init__(self, n: int, show: str = "x") -> None:
        super().__init__()
        self.n, self.show = n, show

    @property
    def state_size(self) -> LSTMStateTuple:
        return LSTMStateTuple(c=self.n, h=self.n)

    @property
    def output_size(self) -> int:
        return self.n

    def call(self, inputs: torch.Tensor, state: LSTMStateTuple):
        return (inputs if self.show == "x" else state.h), LSTMStateTuple(c=inputs, h=inputs)


def kept(t: torch.Tensor) -> float:
    return (t != 0).double().mean().item()


def test_keep_prob_statistics_and_inverted_scaling() -> None:
    torch.manual_seed(0)
    cell = v1.DropoutWrapper(Echo(N), input_keep_prob=0.6, output_keep_prob=0.8, state_keep_prob=0.7)
    x = torch.ones(B, N)
    y, s = cell(x, cell.zero_state(B, v1.float32))
    assert isinstance(s, LSTMStateTuple)  # the wrapped cell's TF state
    # c: input mask only (TF never drops an LSTMStateTuple's c by default)
    assert abs(kept(s.c) - 0.6) < 0.01
    torch.testing.assert_close(s.c[s.c != 0], torch.full_like(s.c[s.c != 0], 1 / 0.6))
    # h: input mask, then state mask
    assert abs(kept(s.h) - 0.6 * 0.7) < 0.01
    assert torch.all((s.h != 0) <= (s.c != 0))
    torch.testing.assert_close(s.h[s.h != 0], torch.full_like(s.h[s.h != 0], 1 / (0.6 * 0.7)))
    # output: input mask, then output mask; expectation preserved
    assert abs(kept(y) - 0.6 * 0.8) < 0.01
    assert abs(y.mean().item() - 1.0) < 0.02
    assert not torch.equal(y != 0, s.h != 0)  # output and state masks are independent


def test_eval_mode_and_keep_prob_one_are_the_identity() -> None:
    torch.manual_seed(0)
    inner = v1.GRUCell(5)
    cell = v1.DropoutWrapper(inner, 0.5, 0.5, 0.5, variational_recurrent=True).eval()
    x = torch.randn(3, 7, 4)
    out, final = v1.nn.dynamic_rnn(cell, x, sequence_length=[7, 2, 0])
    ref, ref_final = v1.nn.dynamic_rnn(inner, x, sequence_length=[7, 2, 0])
    assert torch.equal(out, ref) and torch.equal(final, ref_final)
    cell.train()
    out_train, _ = v1.nn.dynamic_rnn(cell, x, sequence_length=[7, 2, 0])
    assert not torch.equal(out_train, ref)
    cell.input_keep_prob = cell.output_keep_prob = cell.state_keep_prob = 1.0  # TF's "feed keep_prob=1.0"
    out_one, _ = v1.nn.dynamic_rnn(cell, x, sequence_length=[7, 2, 0])
    assert torch.equal(out_one, ref)


@pytest.mark.parametrize("variational", [True, False])
def test_variational_uses_one_mask_per_call_across_time_and_batch_as_tf1(variational: bool) -> None:
    """TF1's variational noise has shape [1, size] (``convert_to_batch_shape`` in rnn_cell_impl.py): one
    mask for every step and every example of a run call. Per-step dropout draws per example and step."""
    torch.manual_seed(0)
    T = 6
    x = torch.ones(300, T, N)
    cell = v1.DropoutWrapper(Echo(N), input_keep_prob=0.5, variational_recurrent=variational)
    out, _ = v1.nn.dynamic_rnn(cell, x)
    same_over_time = all(torch.equal(out[:, t], out[:, 0]) for t in range(T))
    assert same_over_time == variational
    assert torch.equal(out[0, 0], out[1, 0]) == variational  # shared across the batch only when variational
    assert torch.equal(out[:, 0], out[:1, 0].expand(300, N)) == variational
    calls = [v1.nn.dynamic_rnn(cell, x[:2])[0] for _ in range(200)] if variational else [out]
    assert abs(sum(kept(c) for c in calls) / len(calls) - 0.5) < 0.02
    again, _ = v1.nn.dynamic_rnn(cell, x)
    assert not torch.equal(again, out)  # fresh masks at every call
    # state dropout: the output shows the previous h, so steps 1.. show the state mask
    cell = v1.DropoutWrapper(Echo(N, show="h"), state_keep_prob=0.5, variational_recurrent=variational)
    out, final = v1.nn.dynamic_rnn(cell, x)
    assert all(torch.equal(out[:, t], out[:, 1]) for t in range(1, T)) == variational
    assert torch.equal(out[0, 1], out[1, 1]) == variational
    assert torch.equal(final.c, torch.ones(300, N))  # c is never dropped by default


def test_variational_masks_with_lengths_keep_the_state_past_each_length() -> None:
    torch.manual_seed(0)
    lengths = [6, 3, 0, 1]
    x = torch.randn(4, 6, N)
    cell = v1.DropoutWrapper(Echo(N), input_keep_prob=0.5, variational_recurrent=True)
    init = LSTMStateTuple(torch.randn(4, N), torch.randn(4, N))
    out, final = v1.nn.dynamic_rnn(cell, x, sequence_length=lengths, initial_state=init)
    for b, n in enumerate(lengths):
        assert torch.count_nonzero(out[b, n:]) == 0
        if n:
            assert torch.equal(final.c[b], out[b, n - 1])  # the state after the last valid step
            mask = out[b, 0] / x[b, 0]
            torch.testing.assert_close(out[b, :n], x[b, :n] * mask)  # one mask throughout
        else:
            assert torch.equal(final.c[b], init.c[b]) and torch.equal(final.h[b], init.h[b])


def test_dropout_state_filter_visitor() -> None:
    torch.manual_seed(0)
    x = torch.ones(B, N)
    everything = v1.DropoutWrapper(Echo(N), state_keep_prob=0.5, dropout_state_filter_visitor=lambda s: True)
    _, s = everything(x, everything.zero_state(B))
    assert abs(kept(s.c) - 0.5) < 0.01 and abs(kept(s.h) - 0.5) < 0.01
    only_c = v1.DropoutWrapper(Echo(N), state_keep_prob=0.5, dropout_state_filter_visitor=lambda s: LSTMStateTuple(
        c=True, h=False) if isinstance(s, LSTMStateTuple) else True)
    _, s = only_c(x, only_c.zero_state(B))
    assert abs(kept(s.c) - 0.5) < 0.01 and torch.equal(s.h, x)
    with pytest.raises(TypeError, match=r"DropoutWrapper: dropout_state_filter_visitor must be to return a bool"):
        v1.DropoutWrapper(Echo(N), dropout_state_filter_visitor=lambda s: "yes")


def test_stacked_dropout_wrappers_in_eval_equal_the_plain_stack_and_masks_are_never_dropped() -> None:
    torch.manual_seed(0)
    plain = [v1.BasicLSTMCell(4), v1.BasicLSTMCell(4)]
    wrapped = v1.MultiRNNCell([v1.DropoutWrapper(c, output_keep_prob=0.5, state_keep_prob=0.5,
                                                 variational_recurrent=True) for c in plain])
    outer = v1.DropoutWrapper(wrapped, state_keep_prob=0.5, variational_recurrent=True)
    x = torch.randn(3, 5, 2)
    out, final = v1.nn.dynamic_rnn(outer, x, sequence_length=[5, 1, 3])
    assert isinstance(final, tuple) and all(isinstance(s, LSTMStateTuple) for s in final)
    # the outer wrapper drops only the h of each LSTM, never c nor the inner wrappers' masks
    engine = outer.rnnkit_cell()
    assert sum(engine.state_flags) == 2
    outer.eval()
    out, final = v1.nn.dynamic_rnn(outer, x, sequence_length=[5, 1, 3])
    ref, ref_final = v1.nn.dynamic_rnn(v1.MultiRNNCell(plain), x, sequence_length=[5, 1, 3])
    assert torch.equal(out, ref)
    for s, r in zip(final, ref_final):
        assert torch.equal(s.c, r.c) and torch.equal(s.h, r.h)


def test_residual_wrapper() -> None:
    torch.manual_seed(0)
    inner = v1.GRUCell(3)
    cell = v1.ResidualWrapper(inner)
    x, h = torch.randn(2, 3), torch.randn(2, 3)
    y, s = cell(x, h)
    y_inner, s_inner = inner(x, h)
    torch.testing.assert_close(y, x + y_inner)
    torch.testing.assert_close(s, s_inner)
    custom = v1.ResidualWrapper(v1.BasicLSTMCell(4), residual_fn=lambda i, o: o - i.sum(1, keepdim=True))
    state = custom.zero_state(2, v1.float32)
    y, s = custom(x, state)
    y_inner, _ = custom.wrapped_cell(x, state)
    torch.testing.assert_close(y, y_inner - x.sum(1, keepdim=True))
    assert isinstance(s, LSTMStateTuple)
    out, _ = v1.nn.dynamic_rnn(cell, torch.randn(2, 4, 3), sequence_length=[4, 2])
    assert torch.count_nonzero(out[1, 2:]) == 0
