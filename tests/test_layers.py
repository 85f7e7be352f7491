"""Recurrent, Bidirectional and Stacked layers, with built-in and user cells."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit import Bidirectional, GRUCell, LSTMCell, Recurrent, Stacked
from tests.contract import manual_loop
from tests.test_unroll import MinimalUserCell


def _lstm_into_torch(ref: nn.LSTM, cells: list, layer: int = 0) -> None:
    fw, bw = cells
    sd = {}
    for suffix, cell in (("", fw), ("_reverse", bw)):
        for k, v in cell.state_dict().items():
            sd[f"{k}_l{layer}{suffix}"] = v
    ref.load_state_dict(sd, strict=False)


def test_bidirectional_equals_torch_on_packed_sequence() -> None:
    torch.manual_seed(0)
    fw, bw = LSTMCell(3, 4), LSTMCell(3, 4)
    layer = Bidirectional(fw, bw)
    ref = nn.LSTM(3, 4, bidirectional=True)
    _lstm_into_torch(ref, [fw, bw])
    x = torch.randn(6, 3, 3)
    lengths = torch.tensor([4, 6, 1])
    out, (s_fw, s_bw) = layer(x, lengths=lengths)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    ref_out, (h, c) = ref(packed)
    ref_out, _ = nn.utils.rnn.pad_packed_sequence(ref_out, total_length=6)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(s_fw.h, h[0])
    torch.testing.assert_close(s_bw.c, c[1])


@pytest.mark.parametrize("merge", ["concat", "sum"])
def test_bidirectional_with_user_cells_matches_manual_loops(merge: str) -> None:
    fw, bw = MinimalUserCell(3, 4).double(), MinimalUserCell(3, 4).double()
    layer = Bidirectional(fw, bw, merge=merge)
    x = torch.randn(5, 3, 3, dtype=torch.float64)
    lengths = [5, 2, 0]
    out, (f_fw, f_bw) = layer(x, lengths=lengths)
    o_fw, r_fw = manual_loop(fw, x, None, lengths)
    o_bw, r_bw = manual_loop(bw, x, None, lengths, reverse=True)
    expected = torch.cat([o_fw, o_bw], -1) if merge == "concat" else o_fw + o_bw
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(f_bw[0], r_bw[0])
    assert layer.output_size == (8 if merge == "concat" else 4)


def test_stacked_equals_manual_composition_and_torch_multilayer() -> None:
    torch.manual_seed(1)
    cells = [LSTMCell(3, 5), LSTMCell(5, 5), LSTMCell(5, 5)]
    stack = Stacked(cells)
    ref = nn.LSTM(3, 5, num_layers=3)
    sd = {f"{k}_l{i}": v for i, c in enumerate(cells) for k, v in c.state_dict().items()}
    ref.load_state_dict(sd)
    x = torch.randn(4, 2, 3)
    out, states = stack(x)
    ref_out, (h, c) = ref(x)
    torch.testing.assert_close(out, ref_out)
    for i, s in enumerate(states):
        torch.testing.assert_close(s.h, h[i])
        torch.testing.assert_close(s.c, c[i])


def test_stacked_residual_and_lengths_zero_padding() -> None:
    cells = [GRUCell(4, 4).double(), MinimalUserCell(4, 4).double()]
    stack = Stacked(cells, residual=True)
    x = torch.randn(5, 2, 4, dtype=torch.float64)
    lengths = [5, 3]
    out, _ = stack(x, lengths=lengths)
    o1, _ = manual_loop(cells[0], x, None, lengths)
    o2, _ = manual_loop(cells[1], o1, None, lengths)
    expected = o2 + o1
    expected[3:, 1] = 0.0
    torch.testing.assert_close(out, expected)


def test_stacked_dropout_only_between_layers_and_only_in_training() -> None:
    stack = Stacked([GRUCell(3, 4), GRUCell(4, 4)], dropout=0.5)
    x = torch.randn(5, 2, 3)
    stack.eval()
    a, _ = stack(x)
    b, _ = stack(x)
    torch.testing.assert_close(a, b)
    stack.train()
    torch.manual_seed(0)
    c, _ = stack(x)
    assert not torch.allclose(a, c)
    single = Stacked([GRUCell(3, 4)], dropout=0.5).train()
    d1, _ = single(x)
    d2, _ = single(x)
    torch.testing.assert_close(d1, d2)  # no dropout after the last layer


def test_stacked_of_bidirectional_of_user_cells_runs_and_shapes() -> None:
    stack = Stacked([Bidirectional(MinimalUserCell(3, 4), MinimalUserCell(3, 4)), Recurrent(LSTMCell(8, 2))], batch_first=True)
    out, state = stack(torch.randn(2, 5, 3), lengths=[5, 1])
    assert out.shape == (2, 5, 2)
    assert torch.count_nonzero(out[1, 1:]) == 0
    assert len(state) == 2 and len(state[0]) == 2


def test_layer_errors() -> None:
    with pytest.raises(ValueError, match=r"Stacked: layers\[1\].input_size must be equal to layers\[0\].output_size \(4\), got 5"):
        Stacked([GRUCell(3, 4), GRUCell(5, 4)])
    with pytest.raises(ValueError, match="Bidirectional: merge must be one of 'concat', 'sum', got 'mean'"):
        Bidirectional(GRUCell(3, 4), GRUCell(3, 4), merge="mean")
    with pytest.raises(ValueError, match=r"Stacked: dropout must be in \[0, 1\), got 1.5"):
        Stacked([GRUCell(3, 4)], dropout=1.5)
    layer = Stacked([GRUCell(3, 4), GRUCell(4, 4)])
    with pytest.raises(TypeError, match="Stacked: state must be a tuple of 2 entries"):
        layer(torch.randn(5, 2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"Stacked: state\[1\] must be of shape \(2, 4\), got \(2, 3\)"):
        layer(torch.randn(5, 2, 3), (torch.zeros(2, 4), torch.zeros(2, 3)))
    with pytest.raises(TypeError, match="Recurrent: reverse must be a bool, got str 'no'"):
        Recurrent(GRUCell(3, 4), reverse="no")
    with pytest.raises(TypeError, match="rnnkit layers: each cell or layer must be a cell .*, got int 3"):
        Stacked([GRUCell(3, 4), 3])
    with pytest.raises(ValueError, match=r"Recurrent: inputs must be of shape \(B, T, 3\), got \(2, 5, 4\)"):
        Recurrent(GRUCell(3, 4), batch_first=True)(torch.randn(2, 5, 4))


def test_recurrent_checkpoint_equals_plain_run_including_gradients() -> None:
    torch.manual_seed(0)
    cell = LSTMCell(3, 4, use_peepholes=True).double()
    x = torch.randn(23, 3, 3, dtype=torch.float64, requires_grad=True)
    lengths = [23, 7, 0]
    results = []
    for layer in (Recurrent(cell, fused=False), Recurrent(cell, checkpoint=True, segment_length=5, fused=False)):
        out, final = layer(x, lengths=lengths)
        grads = torch.autograd.grad((out ** 2).sum() + final.c.sum(), [x, *cell.parameters()])
        results.append((out, final, grads))
    (o1, f1, g1), (o2, f2, g2) = results
    torch.testing.assert_close(o2, o1)
    torch.testing.assert_close(f2.c, f1.c)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(b, a)
    with pytest.raises(ValueError, match="Recurrent: segment_length must be > 0, got 0"):
        Recurrent(cell, checkpoint=True, segment_length=0)
