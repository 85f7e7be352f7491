"""Property-based fuzzing of the core entry points (cells, unroll, layers).

Every malformed call must either work correctly (checked against the
per-sequence reference loop) or raise ValueError/TypeError whose message names
the argument and says what was expected and what was given.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from hypothesis import given
from hypothesis import strategies as st

from rnnkit import Bidirectional, ElmanCell, GRUCell, LSTMCell, Recurrent, Stacked, unroll
from rnnkit.state import LSTMState, state_leaves
from tests.contract import assert_states_close, manual_loop

I, H = 3, 4
DTYPES = [torch.float32, torch.float64, torch.float16, torch.int64, torch.bool]


def make_cell(kind: int) -> Any:
    return [lambda: LSTMCell(I, H), lambda: GRUCell(I, H), lambda: ElmanCell(I, H), lambda: LSTMCell(I, H, proj_size=2)][kind]()


@st.composite
def tensors(draw: Any, max_rank: int = 4) -> Any:
    rank = draw(st.integers(0, max_rank))
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=rank, max_size=rank)))
    dtype = draw(st.sampled_from(DTYPES))
    x = torch.randn(shape) if dtype.is_floating_point else torch.randint(0, 3, shape)
    x = x.to(dtype)
    if dtype.is_floating_point and x.numel() and draw(st.booleans()):
        x.view(-1)[0] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    return x


@st.composite
def sequence_inputs(draw: Any) -> Any:
    """Mostly well-formed (T, B, I) inputs, sometimes anything."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.one_of(tensors(), st.none(), st.integers(), st.lists(st.floats(), max_size=3)))
    T, B = draw(st.integers(0, 5)), draw(st.integers(0, 4))
    feat = draw(st.sampled_from([I, I, I, I + 1]))
    x = torch.randn(T, B, feat)
    if x.numel() and draw(st.integers(0, 4)) == 0:
        x[0, 0, 0] = draw(st.sampled_from([math.nan, math.inf]))
    return x


@st.composite
def lengths_for(draw: Any, B: int, T: int) -> Any:
    kind = draw(st.integers(0, 7))
    if kind == 0:
        return None
    count = B if draw(st.integers(0, 5)) else draw(st.integers(0, 6))
    values = draw(st.lists(st.integers(-2, T + 2), min_size=count, max_size=count))
    if kind == 1:
        return [float(v) for v in values]
    if kind == 2:
        return torch.tensor(values, dtype=torch.float32)
    if kind == 3:
        return "lengths"
    if kind == 4:
        return torch.tensor(values, dtype=torch.int32)
    return torch.tensor(values) if kind % 2 else values


@st.composite
def states_for(draw: Any, cell: Any, B: int) -> Any:
    kind = draw(st.integers(0, 6))
    good = cell.initial_state(B) if B >= 0 else None
    if kind <= 1:
        return None
    if kind == 2:
        return tuple(torch.randn_like(s) for s in state_leaves(good)) if isinstance(good, tuple) else torch.randn_like(good)
    if kind == 3:
        return torch.randn(B + draw(st.integers(0, 2)), H)
    if kind == 4:
        return (torch.randn(B, H),)
    if kind == 5:
        return LSTMState(torch.randn(B, H), torch.randn(B, H + 1))
    return draw(tensors())


def _assert_clear(err: Exception) -> None:
    msg = str(err)
    assert isinstance(err, (ValueError, TypeError)), f"{type(err).__name__}: {msg}"
    assert " must be " in msg and ", got " in msg, msg


@given(st.data())
def test_fuzz_unroll(data: Any) -> None:
    cell = make_cell(data.draw(st.integers(0, 3))).double() if data.draw(st.booleans()) else make_cell(data.draw(st.integers(0, 3)))
    x = data.draw(sequence_inputs())
    if isinstance(x, torch.Tensor) and x.dtype == torch.float32 and next(cell.parameters()).dtype == torch.float64:
        x = x.double() if data.draw(st.booleans()) else x
    T, B = (x.shape[0], x.shape[1]) if isinstance(x, torch.Tensor) and x.dim() == 3 else (3, 2)
    lengths = data.draw(lengths_for(B, T))
    state = data.draw(states_for(cell, B))
    reverse = data.draw(st.booleans())
    try:
        out, final = unroll(cell, x, state, lengths=lengths, reverse=reverse)
    except Exception as err:  # noqa: BLE001 - we check the kind below
        _assert_clear(err)
        return
    lens = [T] * B if lengths is None else [int(v) for v in lengths]
    ref_out, ref_final = manual_loop(cell, x, state, lens, reverse=reverse)
    torch.testing.assert_close(out, ref_out, equal_nan=True)
    assert_states_close(final, ref_final, equal_nan=True)


@given(st.data())
def test_fuzz_layers(data: Any) -> None:
    kind = data.draw(st.integers(0, 2))
    layer = [lambda: Recurrent(GRUCell(I, H)), lambda: Bidirectional(LSTMCell(I, H), LSTMCell(I, H)),
             lambda: Stacked([GRUCell(I, H), ElmanCell(H, H)])][kind]()
    x = data.draw(sequence_inputs())
    T, B = (x.shape[0], x.shape[1]) if isinstance(x, torch.Tensor) and x.dim() == 3 else (3, 2)
    lengths = data.draw(lengths_for(B, T))
    state = data.draw(st.one_of(st.none(), tensors(), st.just((torch.zeros(B, H),))))
    try:
        out, _ = layer(x, state, lengths=lengths)
    except Exception as err:  # noqa: BLE001
        _assert_clear(err)
        return
    assert out.shape == (T, B, layer.output_size)
    if lengths is not None:
        for b, n in enumerate(int(v) for v in lengths):
            assert torch.count_nonzero(out[n:, b]) == 0


@given(st.data())
def test_fuzz_cell_step(data: Any) -> None:
    cell = make_cell(data.draw(st.integers(0, 3)))
    x = data.draw(st.one_of(tensors(max_rank=3), st.builds(lambda b: torch.randn(b, I), st.integers(0, 4))))
    B = x.shape[0] if isinstance(x, torch.Tensor) and x.dim() >= 1 else 2
    state = data.draw(states_for(cell, B))
    if state is None:
        state = cell.initial_state(B)
    try:
        y, _ = cell(x, state)
    except Exception as err:  # noqa: BLE001
        _assert_clear(err)
        return
    assert y.shape == (B, cell.output_size)


@given(st.data())
def test_fuzz_constructors(data: Any) -> None:
    value = st.one_of(st.integers(-3, 6), st.floats(allow_nan=True), st.none(), st.text(max_size=3), st.booleans())
    kwargs = {"input_size": data.draw(value), "hidden_size": data.draw(value)}
    cls = data.draw(st.sampled_from([LSTMCell, GRUCell, ElmanCell]))
    if cls is LSTMCell:
        kwargs["proj_size"] = data.draw(st.one_of(st.integers(-1, 6), st.floats()))
        kwargs["cell_clip"] = data.draw(st.one_of(st.none(), st.floats(allow_nan=True)))
        kwargs["forget_bias"] = data.draw(st.one_of(st.floats(-2, 2), st.text(max_size=2)))
    try:
        cell = cls(**kwargs)
    except Exception as err:  # noqa: BLE001
        _assert_clear(err)
        return
    assert cell.hidden_size == kwargs["hidden_size"]
