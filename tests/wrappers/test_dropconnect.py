"""DropConnect wrapper: one weight mask per batch, inverted scale, exact equations, lengths/reverse, errors."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

from rnnkit import GRUCell, LSTMCell, Recurrent, unroll
from rnnkit.state import LSTMState, map_state
from rnnkit.wrappers import DropConnect, DropConnectState, Dropout, Residual
from tests.contract import (
    assert_gradcheck,
    assert_shapes,
    assert_states_close,
    manual_loop,
)
from tests.test_unroll import MinimalUserCell

I, H = 3, 5


def lstm_step(x, h, c, w_ih, w_hh, b):
    """The LSTM equations written out (gate order i, f, g, o)."""
    a = x @ w_ih.t() + h @ w_hh.t() + b
    i, f, g, o = a.chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_one_mask_per_batch_with_keep_rate_and_inverted_scale(rate: float) -> None:
    cell = DropConnect(LSTMCell(I, 200), rate)
    state = cell.initial_state(7)
    (mask,) = state.masks
    assert mask.shape == (7, 800, 200) and mask.stride()[0] == 0  # a view: no memory per example
    torch.testing.assert_close(mask.unique(), torch.tensor([0.0, 1 / (1 - rate)]))
    assert abs((mask[0] == 0).double().mean().item() - rate) < 0.01


def test_the_mask_is_constant_across_the_steps_of_a_batch_and_new_for_the_next_batch() -> None:
    cell = DropConnect(LSTMCell(I, H), 0.5)
    state = cell.initial_state(4)
    _, final = unroll(cell, torch.randn(6, 4, I), state, lengths=[6, 2, 0, 5])
    assert final.masks[0] is state.masks[0]  # returned unchanged by every step, never materialised
    assert final.masks[0].stride()[0] == 0
    assert not torch.equal(cell.initial_state(4).masks[0], state.masks[0])


@pytest.mark.parametrize("reverse", [False, True])
def test_equations_with_the_masked_recurrent_weight_and_lengths(reverse: bool) -> None:
    inner = LSTMCell(I, H).double()
    cell = DropConnect(inner, 0.4)
    x = torch.randn(5, 5, I, dtype=torch.float64)
    lengths = [3, 0, 5, 1, 4]
    state = cell.initial_state(5, dtype=torch.float64)
    state = DropConnectState(LSTMState(torch.randn(5, H).double(), torch.randn(5, H).double()), state.masks)
    out, final = unroll(cell, x, state, lengths=torch.tensor(lengths), reverse=reverse)
    w_hh = inner.weight_hh * state.masks[0][0]
    b = inner.bias_ih + inner.bias_hh
    for k in range(5):  # each sequence alone, written-out equations with W_hh <- M * W_hh
        seq = x[: lengths[k], k]
        seq = seq.flip(0) if reverse else seq
        h, c, ys = state.cell.h[k : k + 1], state.cell.c[k : k + 1], []
        for t in range(seq.shape[0]):
            h, c = lstm_step(seq[t : t + 1], h, c, inner.weight_ih, w_hh, b)
            ys.append(h)
        if ys:
            y = torch.cat(ys).flip(0) if reverse else torch.cat(ys)
            torch.testing.assert_close(out[: lengths[k], k], y)
        assert torch.count_nonzero(out[lengths[k] :, k]) == 0
        torch.testing.assert_close(final.cell.h[k : k + 1], h)
        torch.testing.assert_close(final.cell.c[k : k + 1], c)


def test_masking_the_input_weight_too_runs_the_projection_in_the_step() -> None:
    inner = LSTMCell(I, H).double()
    cell = DropConnect(inner, 0.5, weights=("weight_ih", "weight_hh"))
    assert cell.project_inside and not DropConnect(inner, 0.5).project_inside
    x = torch.randn(4, 2, I, dtype=torch.float64)
    state = cell.initial_state(2, dtype=torch.float64)
    out, _ = unroll(cell, x, state)
    m_ih, m_hh = (m[0] for m in state.masks)
    h = c = torch.zeros(2, H, dtype=torch.float64)
    for t in range(4):
        h, c = lstm_step(x[t], h, c, inner.weight_ih * m_ih, inner.weight_hh * m_hh, inner.bias_ih + inner.bias_hh)
        torch.testing.assert_close(out[t], h)


def test_eval_mode_uses_the_weights_as_they_are() -> None:
    inner = GRUCell(I, H)
    cell = DropConnect(inner, 0.5).eval()
    assert torch.equal(cell.initial_state(2).masks[0], torch.ones(2, 3 * H, H))
    x = torch.randn(5, 2, I)
    assert torch.equal(unroll(cell, x, lengths=[5, 3])[0], unroll(inner, x, lengths=[5, 3])[0])


def test_parameters_are_never_replaced_no_warning_and_gradient_is_masked() -> None:
    inner = LSTMCell(I, H)
    cell = DropConnect(inner, 0.5)
    weight = inner.weight_hh
    state = cell.initial_state(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "weights are not part of a single contiguous chunk"
        out, _ = Recurrent(cell)(torch.randn(4, 3, I), state)
        out.sum().backward()
    assert inner.weight_hh is weight and isinstance(weight, torch.nn.Parameter)
    dropped = state.masks[0][0] == 0
    assert torch.count_nonzero(weight.grad[dropped]) == 0 and torch.count_nonzero(weight.grad[~dropped]) > 0


@pytest.mark.parametrize("make", [lambda: DropConnect(LSTMCell(I, H, proj_size=2), 0.3),
                                  lambda: DropConnect(Residual(GRUCell(I, I)), 0.3, weights="cell.weight_hh")])
def test_lengths_semantics_with_a_shared_mask(make) -> None:
    # the runner's reference with random cell states and this batch's (shared) mask, forward and reverse
    cell = make().double()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 5, I, generator=g, dtype=torch.float64)
    lengths = [3, 0, 5, 1, 2]
    state = cell.initial_state(5, dtype=torch.float64)
    state = DropConnectState(map_state(lambda s: torch.randn(s.shape, generator=g, dtype=s.dtype), state.cell),
                             state.masks)
    for reverse in (False, True):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            out, final = unroll(cell, x, state, lengths=lengths, reverse=reverse)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            ref_out, ref_final = manual_loop(cell, x, state, lengths, reverse)
        torch.testing.assert_close(out, ref_out)
        assert_states_close(final, ref_final)


def test_contract_and_gradcheck_float64_in_training_mode() -> None:
    assert_shapes(DropConnect(LSTMCell(I, H), 0.3), I)
    assert_shapes(DropConnect(MinimalUserCell(I, H), 0.3, weights="w.weight"), I)
    assert_gradcheck(lambda: DropConnect(LSTMCell(I, 3), 0.3), I)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(rate=1.0), ValueError, r"DropConnect: rate must be in \[0, 1\), got 1.0"),
        (dict(weights=("weight_xx",)), ValueError,
         r"DropConnect: weights must be names of LSTMCell's parameters \(weight_ih, weight_hh, bias_ih, bias_hh\), "
         r"got 'weight_xx'"),
        (dict(weights=()), TypeError, r"DropConnect: weights must be a parameter name or a non-empty sequence of them, "
                                      r"got tuple of length 0"),
        (dict(weights=3), TypeError, r"DropConnect: weights must be a parameter name .*got int 3"),
        (dict(cell=MinimalUserCell(I, H)), ValueError,
         r"DropConnect: weights must be names of MinimalUserCell's parameters \(w.weight, w.bias\), got 'weight_hh'"),
    ],
)
def test_errors_name_argument_expected_and_actual(kwargs: dict, error: type, message: str) -> None:
    cell = kwargs.pop("cell", LSTMCell(I, H))
    with pytest.raises(error, match=message):
        DropConnect(cell, kwargs.pop("rate", 0.5), **kwargs)


def test_the_inner_cell_is_registered_once_and_a_deep_copy_masks_its_own_weights() -> None:
    cell = DropConnect(LSTMCell(I, H), 0.5)
    assert list(cell.state_dict()) == ["cell.weight_ih", "cell.weight_hh", "cell.bias_ih", "cell.bias_hh"]
    clone = copy.deepcopy(cell)
    with torch.no_grad():
        clone.cell.weight_hh.zero_()  # then M * W_hh = 0 whatever the mask
    x = torch.randn(4, 2, I)
    out, _ = unroll(clone, x)
    torch.testing.assert_close(out, unroll(clone.cell, x)[0])
    assert not torch.allclose(out, unroll(cell.cell, x)[0])


@pytest.mark.parametrize("built_in_eval_mode", [False, True])
def test_nested_around_variational_input_dropout_masks_the_input_weight_of_the_inner_cell(built_in_eval_mode) -> None:
    lstm = LSTMCell(I, H).double()
    dropout = Dropout(lstm, input_dropout=0.5, variational=True).train(not built_in_eval_mode)
    cell = DropConnect(dropout, 0.5, weights=("cell.weight_ih", "cell.weight_hh")).train()
    x = torch.randn(4, 2, I, dtype=torch.float64)
    state = cell.initial_state(2, dtype=torch.float64)
    out, _ = unroll(cell, x, state)
    m_ih, m_hh = (m[0] for m in state.masks)
    m_x = state.cell.masks.input
    h = c = torch.zeros(2, H, dtype=torch.float64)
    for t in range(4):
        h, c = lstm_step(x[t] * m_x, h, c, lstm.weight_ih * m_ih, lstm.weight_hh * m_hh, lstm.bias_ih + lstm.bias_hh)
        torch.testing.assert_close(out[t], h)


def test_a_weight_name_is_looked_up_inside_nested_wrappers() -> None:
    from rnnkit.wrappers import Zoneout

    cell = DropConnect(Dropout(Zoneout(LSTMCell(I, H), h=0.1)), 0.5)
    assert cell.weights == ("cell.cell.weight_hh",)
    assert cell.initial_state(2).masks[0].shape == (2, 4 * H, H)
