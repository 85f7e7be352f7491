"""Property-based fuzzing of the cell wrappers ``rnnkit.wrappers.*`` (issue 7, "Bad input").

Constructors get wrong cells, probabilities, rates, weight names, residual
functions and state filters; ``unroll`` then runs the wrapped cells (nested
too) with malformed inputs, lengths and states. Every call either matches the
per-sequence loop of ``tests.contract.manual_loop`` (which calls the wrapper's
own validated step on each sequence alone) or raises ValueError/TypeError
worded ``"... must be ..., got ..."``. Deterministic settings are compared:
evaluation mode, and in training mode the wrappers whose randomness lives in
the state (variational ``Dropout``, ``DropConnect``) with the state given, so
both runs use the same masks. ``HYPOTHESIS_PROFILE=fuzz`` runs many more examples.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from rnnkit import ElmanCell, GRUCell, LSTMCell, MinGRUCell, unroll
from rnnkit.state import LSTMState, map_state, state_leaves
from rnnkit.wrappers import DropConnect, Dropout, LearnedInitialState, Residual, Zoneout
from tests.contract import assert_states_close, manual_loop
from tests.test_fuzz_core import lengths_for, tensors

I, H = 3, 4
QUARTER = settings(max_examples=max(50, settings.default.max_examples // 4))

INNER: list[Callable[[], Any]] = [lambda: LSTMCell(I, H), lambda: GRUCell(I, H), lambda: ElmanCell(I, I),
                                  lambda: LSTMCell(I, H, proj_size=2), lambda: MinGRUCell(I, H)]


def assert_clear(err: Exception) -> None:
    """The project's error contract: ValueError/TypeError saying what was expected and what was given."""
    msg = str(err)
    event(f"raised {type(err).__name__}")
    assert isinstance(err, (ValueError, TypeError)), f"{type(err).__name__}: {msg}"
    assert " must be " in msg and ", got " in msg, msg


@st.composite
def wrapped(draw: Any, depth: int = 2) -> tuple[Any, bool]:
    """A (possibly nested) wrapped cell and whether its run is deterministic given its state."""
    cell = INNER[draw(st.integers(0, len(INNER) - 1))]()
    deterministic_in_training = True
    for _ in range(draw(st.integers(1, depth))):
        kind = draw(st.sampled_from(["dropout", "vdropout", "zoneout", "dropconnect", "residual", "learned"]))
        if kind == "dropout":
            cell = Dropout(cell, input_dropout=0.3, output_dropout=0.2, state_dropout=0.1)
            deterministic_in_training = False
        elif kind == "vdropout":
            cell = Dropout(cell, input_dropout=0.3, output_dropout=0.2, state_dropout=0.4, variational=True,
                           drop_lstm_c=draw(st.booleans()))
        elif kind == "zoneout":
            cell = Zoneout(cell, h=0.3, c=0.2 if "LSTM" in repr(cell) else 0.0)
            deterministic_in_training = False
        elif kind == "dropconnect":
            names = sorted({n.rsplit(".", 1)[-1] for n, _ in cell.named_parameters()} & {"weight_ih", "weight_hh"})
            cell = DropConnect(cell, 0.5, weights=(draw(st.sampled_from(names)),))
        elif kind == "residual":
            cell = Residual(cell, None if cell.output_size == cell.input_size else (lambda x, y: y + x.sum(1, True)))
        else:
            cell = LearnedInitialState(cell)
            with torch.no_grad():
                for p in cell.initial:
                    p.normal_()
    return cell, deterministic_in_training


@st.composite
def sequences(draw: Any) -> Any:
    if draw(st.integers(0, 5)) == 0:
        return draw(st.one_of(tensors(), st.none(), st.integers()))
    T, B = draw(st.integers(0, 4)), draw(st.integers(0, 3))
    x = torch.randn(T, B, draw(st.sampled_from([I, I, I, I, I + 1])))
    x = x.to(draw(st.sampled_from([torch.float32] * 6 + [torch.float64, torch.float16, torch.int64])))
    if x.is_floating_point() and x.numel() and draw(st.integers(0, 4)) == 0:
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    return x


@st.composite
def states(draw: Any, cell: Any, B: int, need: bool) -> Any:
    """The wrapper's own initial state (need: always), random leaves, or a state of the wrong structure/shape/dtype."""
    good = cell.initial_state(B)
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        return good if need or kind >= 2 else None
    if kind == 6:  # the inner cell's state where the wrapper's is expected (or the other way round)
        inner = cell.cell.initial_state(B)
        return inner if need or draw(st.booleans()) else LSTMState(good, good)
    if kind == 7:
        return map_state(lambda s: s.double() if s.is_floating_point() else s, good)
    if kind == 8:
        return map_state(lambda s: s[:, None] if s.dim() > 1 else s, good)
    return draw(st.one_of(tensors(), st.just((torch.zeros(B, H),))))


@QUARTER
@given(st.data())
def test_fuzz_wrapped_cells_under_unroll(data: Any) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    cell, deterministic = data.draw(wrapped())
    training = data.draw(st.booleans()) and deterministic
    cell.train(training)
    x = data.draw(sequences())
    T, B = (x.shape[0], x.shape[1]) if isinstance(x, torch.Tensor) and x.dim() == 3 else (3, 2)
    lengths = data.draw(lengths_for(B, T))
    torch.manual_seed(data.draw(st.integers(0, 3)))
    state = data.draw(states(cell, B, need=training))
    reverse = data.draw(st.booleans())
    try:
        out, final = unroll(cell, x, state, lengths=lengths, reverse=reverse)
    except Exception as err:  # noqa: BLE001 - the kind is checked
        assert_clear(err)
        return
    lens = None if lengths is None else [int(v) for v in lengths]
    ref_out, ref_final = manual_loop(cell, x, state, lens, reverse=reverse)
    torch.testing.assert_close(out, ref_out, equal_nan=True)
    assert_states_close(final, ref_final, equal_nan=True)


@QUARTER
@given(st.data())
def test_fuzz_training_mode_runs_and_keeps_the_lengths_semantics(data: Any) -> None:
    """Per-step masks cannot be replayed by a per-sequence loop; shapes, zeros past lengths and finiteness can."""
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    cell, _ = data.draw(wrapped())
    cell.train()
    T, B = data.draw(st.integers(0, 4)), data.draw(st.integers(0, 3))
    x = torch.randn(T, B, I)
    lengths = data.draw(st.lists(st.integers(0, T), min_size=B, max_size=B))
    out, final = unroll(cell, x, None, lengths=lengths, reverse=data.draw(st.booleans()))
    assert out.shape == (T, B, cell.output_size)
    assert torch.isfinite(out).all()
    for b, n in enumerate(lengths):
        assert torch.count_nonzero(out[n:, b]) == 0
    expected = cell.initial_state(B)
    assert [s.shape for s in state_leaves(final)] == [s.shape for s in state_leaves(expected)]


_ANY = st.one_of(st.integers(-2, 3), st.floats(allow_nan=True), st.none(), st.booleans(), st.text(max_size=2),
                 st.just(torch.tensor(0.5)))


@QUARTER
@given(st.data())
def test_fuzz_wrapper_constructors(data: Any) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    inner = data.draw(st.one_of(st.sampled_from(INNER).map(lambda make: make()),
                                st.sampled_from([torch.nn.Linear(I, H), "cell", None, LSTMCell])))
    kind = data.draw(st.sampled_from(["dropout", "zoneout", "dropconnect", "residual", "learned"]))
    prob = st.one_of(st.floats(0.0, 0.95), _ANY)
    try:
        if kind == "dropout":
            cell = Dropout(inner, input_dropout=data.draw(prob), output_dropout=data.draw(prob),
                           state_dropout=data.draw(prob), variational=data.draw(st.one_of(st.booleans(), _ANY)),
                           state_filter=data.draw(st.sampled_from([None, True, lambda s: False, lambda s: (True,),
                                                                   lambda s: 3, "all"])))
        elif kind == "zoneout":
            cell = Zoneout(inner, h=data.draw(prob), c=data.draw(prob))
        elif kind == "dropconnect":
            cell = DropConnect(inner, data.draw(prob), weights=data.draw(st.sampled_from(
                ["weight_hh", ("weight_ih", "weight_hh"), "bias_hh", "nope", (), 3, [None], ("weight_hh", "nope")])))
        elif kind == "residual":
            cell = Residual(inner, data.draw(st.sampled_from([None, None, lambda x, y: y, "add", 3])))
        else:
            cell = LearnedInitialState(inner)
    except Exception as err:  # noqa: BLE001
        assert_clear(err)
        return
    if kind == "dropout":
        assert isinstance(cell.variational, bool)
    for name in ("input_dropout", "output_dropout", "state_dropout", "h", "c", "rate"):
        value = getattr(cell, name, None)
        if value is not None:
            assert isinstance(value, float) and 0.0 <= value < 1.0, f"{name}={value!r} accepted"
    out, _ = unroll(cell.train(), torch.randn(4, 2, I), lengths=[4, 2])
    assert out.shape == (4, 2, cell.output_size) and torch.isfinite(out).all()


def test_dropout_flags_must_be_bools() -> None:
    """Found by the fuzzer: ``variational="no"`` used to mean True (``bool("no")``)."""
    for kwargs, message in [({"variational": "no"}, "Dropout: variational must be a bool, got str 'no'"),
                            ({"drop_lstm_c": 1}, "Dropout: drop_lstm_c must be a bool, got int 1")]:
        with pytest.raises(TypeError) as err:
            Dropout(LSTMCell(I, H), state_dropout=0.5, **kwargs)
        assert str(err.value) == message
