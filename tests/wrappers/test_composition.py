"""Wrappers compose: Stacked of Bidirectional of Dropout(Zoneout(LSTMCell)) with lengths, against a reference."""

from __future__ import annotations

import pytest
import torch

from rnnkit import Bidirectional, LSTMCell, Recurrent, Stacked, unroll
from rnnkit.state import LSTMState, map_state, state_leaves
from rnnkit.wrappers import (
    DropConnect,
    Dropout,
    DropoutState,
    LearnedInitialState,
    Residual,
    Zoneout,
    peel_passthrough,
    unwrap_state,
)
from tests.contract import (
    assert_runner_matches_reference,
    assert_shapes,
    assert_states_close,
    manual_loop,
)
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
def test_stacked_bidirectional_dropout_zoneout_lstm_with_lengths(monkeypatch, training: bool,
                                                                  variational: bool) -> None:
    net = make_net(variational).train(training)
    x = torch.randn(T, B, I, dtype=torch.float64)
    state = net.initial_state(B, dtype=torch.float64)
    logs = [[(record(monkeypatch, w, "sample_masks"), record(monkeypatch, w.cell, "sample_masks")) for w in pair]
            for pair in directions(net)]
    out, final = net(x, state, lengths=LENGTHS)

    ref_in = x
    for k, pair in enumerate(directions(net)):
        outs = []
        for d, (wrapper, reverse) in enumerate(zip(pair, (False, True), strict=True)):
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


def _new_cells() -> dict:
    from rnnkit.cells.indrnn import IndRNNCell
    from rnnkit.cells.layernorm import LayerNormGRUCell, LayerNormLSTMCell
    from rnnkit.cells.minimal import MinGRUCell, MinLSTMCell

    return {"layernorm_lstm": LayerNormLSTMCell, "layernorm_gru": LayerNormGRUCell, "indrnn": IndRNNCell,
            "mingru": MinGRUCell, "minlstm": MinLSTMCell}


@pytest.mark.parametrize("name", ["layernorm_lstm", "layernorm_gru", "indrnn", "mingru", "minlstm"])
def test_every_wrapper_around_the_other_cells_keeps_the_lengths_semantics(name: str) -> None:
    make = _new_cells()[name]
    has_c = name == "layernorm_lstm"
    weight = "weight_hh" if name in ("layernorm_lstm", "layernorm_gru", "indrnn") else "weight_ih"
    wrapped = [
        Dropout(make(I, H), input_dropout=0.2, output_dropout=0.2, state_dropout=0.2, variational=True),
        Zoneout(make(I, H), h=0.2, c=0.1 if has_c else 0.0).eval(),
        DropConnect(make(I, H), 0.3, weights=weight),
        Residual(make(I, I)),
        LearnedInitialState(make(I, H)),
    ]
    for cell in wrapped:
        assert_shapes(cell, I)
        cell = cell.double()
        if isinstance(cell, DropConnect):  # the shared mask must stay shared: randomise only the cell's state
            state = cell.initial_state(3, dtype=torch.float64)
            state = state._replace(cell=map_state(torch.randn_like, state.cell))
            x = torch.randn(4, 3, I, dtype=torch.float64)
            for reverse in (False, True):
                out, final = unroll(cell, x, state, lengths=[4, 0, 2], reverse=reverse)
                ref_out, ref_final = manual_loop(cell, x, state, [4, 0, 2], reverse)
                torch.testing.assert_close(out, ref_out)
                assert_states_close(final, ref_final)
        else:
            assert_runner_matches_reference(cell, I)


WRAPPERS = {
    "dropout_variational": lambda: Dropout(LSTMCell(I, I), input_dropout=0.5, state_dropout=0.5, variational=True),
    "dropout_per_step": lambda: Dropout(LSTMCell(I, I), input_dropout=0.5, output_dropout=0.5),
    "zoneout": lambda: Zoneout(LSTMCell(I, I), h=0.2, c=0.2),
    "dropconnect": lambda: DropConnect(LSTMCell(I, I), 0.5, weights=("weight_ih", "weight_hh")),
    "residual": lambda: Residual(LSTMCell(I, I)),
    "learned_initial_state": lambda: LearnedInitialState(LSTMCell(I, I)),
}


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_empty_time_returns_the_initial_state_and_empty_batches_work(name: str) -> None:
    cell = WRAPPERS[name]()
    state = cell.initial_state(2)
    out, final = unroll(cell, torch.randn(0, 2, I), state)
    assert out.shape == (0, 2, I)
    assert all(a is b for a, b in zip(state_leaves(final), state_leaves(state), strict=True))
    out, final = unroll(cell, torch.randn(4, 0, I))
    assert out.shape == (4, 0, I) and all(leaf.shape[0] == 0 for leaf in state_leaves(final))
    y, _ = cell(torch.randn(0, I), cell.initial_state(0))
    assert y.shape == (0, I)


@pytest.mark.parametrize("outer", ["dropout", "zoneout"])
@pytest.mark.parametrize("inner", ["dropconnect", "dropout_variational"])
def test_outer_wrappers_leave_the_masks_of_inner_wrappers_alone(outer: str, inner: str) -> None:
    cell = WRAPPERS[inner]()
    cell = Dropout(cell, state_dropout=0.5, drop_lstm_c=True) if outer == "dropout" else Zoneout(cell, h=0.5, c=0.5)
    state = cell.initial_state(3)
    masks = state_leaves(state.masks if outer == "zoneout" else state.cell.masks)
    _, final = unroll(cell, torch.randn(4, 3, I), state, lengths=[4, 1, 3])
    final_masks = state_leaves(final.masks if outer == "zoneout" else final.cell.masks)
    assert all(a is b for a, b in zip(masks, final_masks, strict=True))  # untouched, never materialised
    inner_cell_state = unwrap_state(cell, final)
    assert isinstance(inner_cell_state, LSTMState) and not torch.equal(inner_cell_state.c, state_leaves(state)[1])


def test_peel_passthrough_hands_the_bare_cell_to_a_fast_path_in_eval_mode() -> None:
    lstm = LSTMCell(I, H)
    cell = LearnedInitialState(Dropout(DropConnect(Zoneout(lstm, h=0.0), 0.5), output_dropout=0.5, variational=True))
    with torch.no_grad():
        cell.initial[0].normal_()
    x = torch.randn(5, 3, I)
    core, _, _ = peel_passthrough(cell.train(), cell.initial_state(3))
    assert isinstance(core, Dropout)  # dropout is active in training mode: its step is not the inner one
    cell.eval()
    state = cell.initial_state(3)
    core, core_state, rewrap = peel_passthrough(cell, state)
    assert core is lstm and isinstance(core_state, LSTMState)
    out, final = Recurrent(core)(x, core_state, lengths=[5, 0, 2])  # may take the native kernel
    ref_out, ref_final = unroll(cell, x, state, lengths=[5, 0, 2])
    torch.testing.assert_close(out, ref_out)
    final = rewrap(final)
    assert_states_close(final, ref_final)
    assert final.cell.masks is state.cell.masks and not Residual(LSTMCell(I, I)).passthrough
