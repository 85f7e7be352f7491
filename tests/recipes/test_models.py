"""Recipe model blocks: every --cell builds and trains; RNNModel equals torch.nn.LSTM with copied weights."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from rnnkit.recipes.base import RunConfig
from rnnkit.recipes.models import CELLS, RNNModel, final_hidden, make_cell


def cfg(**kw) -> RunConfig:
    c = RunConfig(hidden_size=5, **kw)
    c.validate("test")
    return c


@pytest.mark.parametrize("cell", list(CELLS))
def test_every_cell_choice_builds_and_learns_shapes(cell):
    torch.manual_seed(0)
    model = RNNModel(cfg(cell=cell, num_layers=2, bidirectional=True, dropout=0.1), 3, input_size=4, proj_size=6)
    x = torch.randn(7, 9, 4)
    out, state = model(x, lengths=torch.tensor([9, 1, 5, 9, 2, 3, 4]))
    assert out.shape == (7, 3) and len(state) == 2
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_unknown_cell():
    with pytest.raises(ValueError, match="make_cell: cell must be one of lstm, gru"):
        make_cell("transformer", 3, 4)


def copy_lstm(rnn_layer, torch_lstm, suffix=""):
    cell = rnn_layer.cell
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(torch_lstm, f"{name}_l0{suffix}").data.copy_(getattr(cell, name).data)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_final_state_head_matches_torch_lstm_with_lengths(bidirectional):
    torch.manual_seed(1)
    model = RNNModel(cfg(bidirectional=bidirectional), 2, input_size=3).eval()
    ref = torch.nn.LSTM(3, 5, batch_first=True, bidirectional=bidirectional)
    layer = model.rnn.layers[0]
    if bidirectional:
        copy_lstm(layer.fw, ref)
        copy_lstm(layer.bw, ref, "_reverse")
    else:
        copy_lstm(layer, ref)
    x = torch.randn(4, 6, 3)
    lengths = torch.tensor([6, 2, 4, 1])
    _, (h_n, _) = ref(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    h = torch.cat([h_n[0], h_n[1]], dim=-1) if bidirectional else h_n[0]
    torch.testing.assert_close(model(x, lengths=lengths)[0], model.head(h))


def test_per_step_tokens_and_carried_state_equal_one_pass():
    torch.manual_seed(2)
    model = RNNModel(cfg(cell="gru", num_layers=2), 7, vocab_size=11, embed_dim=4, per_step=True).eval()
    ids = torch.randint(0, 11, (3, 10))
    whole, _ = model(ids)
    first, state = model(ids[:, :4])
    second, _ = model(ids[:, 4:], state=state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    one_hot = RNNModel(cfg(), 7, vocab_size=11, per_step=True)
    assert one_hot(ids)[0].shape == (3, 10, 7)


def test_final_hidden_and_argument_errors():
    h = torch.ones(2, 3)
    assert final_hidden(h) is h
    assert final_hidden((h, 2 * h)).shape == (2, 6)
    with pytest.raises(TypeError, match="final_hidden: state must be"):
        final_hidden([h])
    with pytest.raises(ValueError, match="RNNModel: exactly one of input_size and vocab_size"):
        RNNModel(cfg(), 2)


def test_front_end_stride_lengths_and_padding_do_not_leak():
    from types import SimpleNamespace

    from rnnkit.recipes.models import SeriesClassifier, strided_lengths

    torch.manual_seed(0)
    for T in (1, 5, 6, 7, 64, 65):  # the lengths a strided, padded convolution really produces
        conv = torch.nn.Conv1d(1, 1, 7, stride=3, padding=3)
        assert conv(torch.zeros(1, 1, T)).shape[-1] == int(strided_lengths(torch.tensor([T]), 3))
    cfg = SimpleNamespace(cell="lstm", hidden_size=8, num_layers=1, bidirectional=True, dropout=0.0,
                          conv_channels=6, conv_kernel=7, pool="mean")
    for pool in ("mean", "last", "both"):
        cfg.pool = pool
        model = SeriesClassifier(cfg, 3, input_size=2, stride=3).eval()
        x = torch.randn(3, 40, 2)
        lengths = torch.tensor([40, 17, 5])
        x[1, 17:] = 0
        x[2, 5:] = 0
        with torch.no_grad():
            batched = model(x, lengths)[0]
            alone = torch.cat([model(x[i:i + 1, :int(lengths[i])])[0] for i in range(3)])
        assert torch.allclose(batched, alone, atol=1e-5), pool
