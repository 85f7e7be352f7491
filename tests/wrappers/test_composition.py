"""Wrappers compose: Stacked of Bidirectional of Dropout(Zoneout(LSTMCell)) with lengths, against a hand-built reference."""

from __future__ import annotations

import pytest
import torch

from rnnkit import Bidirectional, LSTMCell, Stacked
from rnnkit.state import LSTMState
from rnnkit.wrappers import Dropout, DropoutState, Zoneout
from tests.contract import assert_states_close
from tests.wrappers.helpers import cat_examples, example, per_example_loop, record

I, H, T, B = 3, 4, 5, 4
LENGTHS = [5, 0, 2, 4]
HZ, CZ = 0.3, 0.2


def block(input_size: int, variational: bool) -> Dropout:
    zoneout = Zoneout(LSTMCell(input_size, H), h=HZ, c=CZ)
    return Dropout(zoneout, input_dropout=0.2, output_dropout=0.3, state_dropout=0.25, variational=variational)


def make_net(variational: bool) -> Stacked:
    layers = [Bidirectional(block(I, variational), block(I, variational)),
              Bidirectional(block(2 * H, variational), block(2 * H, variational))]
    return Stacked(layers).double()


def directions(net: Stacked) -> list:
    return [(layer.fw.cell, layer.bw.cell) for layer in net.layers]


def reference_step(wrapper: Dropout, dropout_log: list, zoneout_log: list, training: bool):
    """The published equations, one example at a time, with the masks the run used."""
    lstm = wrapper.cell.cell

    def step(b: int, t: int, x_t: torch.Tensor, s: DropoutState) -> tuple:
        h0, c0 = s.cell
        if not training:  # dropout is the identity; zoneout uses its expectation
            _, (h, c) = lstm(x_t, s.cell)
            h, c = HZ * h0 + (1 - HZ) * h, CZ * c0 + (1 - CZ) * c
            return h, DropoutState(LSTMState(h, c), s.masks)
        dm = s.masks if wrapper.variational else example(dropout_log[t], b)
        zm = example(zoneout_log[t], b)
        _, (h, c) = lstm(x_t * dm.input, s.cell)
        h, c = torch.where(zm.h, h0, h), torch.where(zm.c, c0, c)
        return h * dm.output, DropoutState(LSTMState(h * dm.state.h, c), s.masks)

    return step


@pytest.mark.parametrize("training, variational", [(False, False), (True, False), (True, True)])
def test_stacked_bidirectional_dropout_zoneout_lstm_with_lengths(monkeypatch, training: bool, variational: bool) -> None:
    net = make_net(variational).train(training)
    x = torch.randn(T, B, I, dtype=torch.float64)
    state = net.initial_state(B, dtype=torch.float64)
    logs = [[(record(monkeypatch, w, "sample_masks"), record(monkeypatch, w.cell, "sample_masks")) for w in pair]
            for pair in directions(net)]
    out, final = net(x, state, lengths=LENGTHS)

    ref_in = x
    for k, pair in enumerate(directions(net)):
        outs = []
        for d, (wrapper, reverse) in enumerate(zip(pair, (False, True))):
            dropout_log, zoneout_log = logs[k][d]
            assert len(zoneout_log) == (max(LENGTHS) if training else 0)
            step = reference_step(wrapper, dropout_log, zoneout_log, training)
            ref_out, finals = per_example_loop(step, ref_in, state[k][d], LENGTHS, H, reverse)
            assert_states_close(final[k][d], cat_examples(finals))
            outs.append(ref_out)
        ref_in = torch.cat(outs, -1)
    torch.testing.assert_close(out, ref_in)
    for b, n in enumerate(LENGTHS):
        assert torch.count_nonzero(out[n:, b]) == 0


def test_training_mode_actually_drops_and_zones_out() -> None:
    net = make_net(variational=False)
    x = torch.randn(T, B, I, dtype=torch.float64)
    train_out, _ = net(x, lengths=LENGTHS)
    eval_out, _ = net.eval()(x, lengths=LENGTHS)
    assert not torch.allclose(train_out, eval_out)
