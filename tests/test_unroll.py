"""The runner: lengths semantics, reverse, batch_first, user cells, errors."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from rnnkit import GRUCell, LSTMCell, unroll
from rnnkit.cells import Cell
from rnnkit.unroll import reverse_padded
from tests.contract import assert_states_close, manual_loop


class MinimalUserCell(Cell):
    """A cell a user might write: only ``forward`` and ``state_size``; its state is a plain tuple."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.w = nn.Linear(input_size + hidden_size, hidden_size)

    @property
    def state_size(self) -> tuple:
        return (self.hidden_size, torch.Size((2, self.hidden_size)))

    def forward(self, x: Tensor, state: tuple) -> tuple[Tensor, tuple]:
        h, mem = state
        h_new = torch.tanh(self.w(torch.cat([x, h], 1))) + 0.5 * mem[:, 0]
        return h_new * 2, (h_new, torch.stack([mem[:, 1], h_new], 1))


@pytest.mark.parametrize("seed", range(4))
def test_random_cells_batches_and_lengths_equal_the_manual_loop(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    T = int(torch.randint(1, 8, (1,), generator=g))
    B = int(torch.randint(1, 6, (1,), generator=g))
    lengths = torch.randint(0, T + 1, (B,), generator=g)
    lengths[0] = T
    if B > 1:
        lengths[1] = 0
    cell = [LSTMCell(3, 4, proj_size=2), GRUCell(3, 4), MinimalUserCell(3, 4), LSTMCell(3, 5, use_peepholes=True)][seed]
    cell = cell.double()
    x = torch.randn(T, B, 3, generator=g, dtype=torch.float64)
    for reverse in (False, True):
        out, final = unroll(cell, x, lengths=lengths, reverse=reverse)
        ref_out, ref_final = manual_loop(cell, x, None, lengths.tolist(), reverse=reverse)
        torch.testing.assert_close(out, ref_out)
        assert_states_close(final, ref_final)


def test_zero_length_returns_initial_state_and_zero_outputs() -> None:
    cell = LSTMCell(3, 4)
    state = cell.initial_state(2)
    state = type(state)(torch.randn(2, 4), torch.randn(2, 4))
    out, final = unroll(cell, torch.randn(5, 2, 3), state, lengths=[0, 0])
    assert torch.equal(out, torch.zeros(5, 2, 4))
    assert torch.equal(final.h, state.h) and torch.equal(final.c, state.c)


def test_lengths_any_order_list_or_tensor_give_same_result() -> None:
    cell = GRUCell(3, 4)
    x = torch.randn(6, 3, 3)
    a, sa = unroll(cell, x, lengths=[2, 6, 4])
    b, sb = unroll(cell, x, lengths=torch.tensor([2, 6, 4], dtype=torch.int32))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(sa, sb)


def test_batch_first_is_a_transpose() -> None:
    cell = LSTMCell(3, 4)
    x = torch.randn(5, 2, 3)
    out_t, s_t = unroll(cell, x, lengths=[5, 3])
    out_b, s_b = unroll(cell, x.transpose(0, 1), lengths=[5, 3], batch_first=True)
    torch.testing.assert_close(out_b, out_t.transpose(0, 1))
    assert_states_close(s_t, s_b)


def test_full_lengths_equal_no_lengths_and_torch_lstm() -> None:
    cell = LSTMCell(3, 4)
    ref = nn.LSTM(3, 4)
    ref.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    x = torch.randn(7, 2, 3)
    out, final = unroll(cell, x, lengths=[7, 7])
    ref_out, (h, c) = ref(x)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(final.h, h[0])
    torch.testing.assert_close(final.c, c[0])


def test_gradients_do_not_flow_from_padding() -> None:
    cell = GRUCell(2, 3)
    x = torch.randn(4, 2, 2, requires_grad=True)
    out, final = unroll(cell, x, lengths=[4, 2])
    (out.sum() + final.sum()).backward()
    assert torch.count_nonzero(x.grad[2:, 1]) == 0
    assert torch.count_nonzero(x.grad[:2, 1]) > 0


def test_reverse_padded_reverses_within_length() -> None:
    x = torch.arange(4.0).view(4, 1, 1).expand(4, 2, 1)
    out = reverse_padded(x, torch.tensor([4, 2]))
    assert out[:, 0, 0].tolist() == [3.0, 2.0, 1.0, 0.0]
    assert out[:, 1, 0].tolist() == [1.0, 0.0, 2.0, 3.0]


def test_empty_time_and_empty_batch() -> None:
    cell = LSTMCell(3, 4)
    out, final = unroll(cell, torch.randn(0, 2, 3))
    assert out.shape == (0, 2, 4) and torch.equal(final.h, torch.zeros(2, 4))
    out, final = unroll(cell, torch.randn(5, 0, 3))
    assert out.shape == (5, 0, 4) and final.c.shape == (0, 4)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(inputs=torch.randn(5, 2, 4)), ValueError, r"unroll: inputs must be of shape \(T, B, 3\), got \(5, 2, 4\)"),
        (dict(inputs=torch.randn(5, 3)), ValueError, r"unroll: inputs must be of shape \(T, B, 3\), got \(5, 3\)"),
        (dict(lengths=[1, 6]), ValueError, r"unroll: lengths must be in \[0, 5\] \(the time dimension\), got values in \[1, 6\]"),
        (dict(lengths=[-1, 2]), ValueError, r"lengths must be in \[0, 5\].*got values in \[-1, 2\]"),
        (dict(lengths=[1, 2, 3]), ValueError, r"unroll: lengths must be of shape \(2,\), one length per sequence, got \(3,\)"),
        (dict(lengths=torch.tensor([1.0, 2.0])), TypeError, r"unroll: lengths must be an integer tensor, got dtype torch.float32"),
        (dict(lengths=[1.5, 2]), TypeError, r"unroll: lengths must be a sequence of ints"),
        (dict(lengths="12"), TypeError, r"unroll: lengths must be a 1-D integer Tensor or a list of ints, got str"),
        (dict(state=torch.zeros(2, 4)), TypeError, r"unroll: state must be LSTMState of 2 entries, got Tensor"),
        (dict(state=(torch.zeros(2, 4), torch.zeros(3, 4))), ValueError, r"unroll: state.c must be of shape \(2, 4\), got \(3, 4\)"),
        (dict(inputs=torch.randn(5, 2, 3).double()), TypeError, r"unroll: inputs must be of dtype torch.float32 \(the parameters'\)"),
        (dict(state=(torch.zeros(2, 4).double(), torch.zeros(2, 4))), TypeError, r"unroll: state.h must be of dtype torch.float32 \(the input's\), got torch.float64"),
        (dict(cell=nn.Linear(3, 3)), TypeError, r"unroll: cell must be a cell"),
    ],
)
def test_errors_name_argument_expected_and_actual(kwargs: dict, error: type, message: str) -> None:
    cell = kwargs.pop("cell", LSTMCell(3, 4))
    inputs = kwargs.pop("inputs", torch.randn(5, 2, 3))
    with pytest.raises(error, match=message):
        unroll(cell, inputs, **kwargs)
