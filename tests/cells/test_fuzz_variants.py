"""Property-based fuzzing of the cell variants (issue 7, "Bad input").

LayerNormLSTMCell, LayerNormGRUCell, IndRNNCell, MinGRUCell and MinLSTMCell
are driven with malformed constructor arguments, steps, sequences, lengths and
states, through :func:`rnnkit.unroll`, a direct step and
:class:`rnnkit.Recurrent` (whose ``fused="auto"`` takes the parallel scan of
:mod:`rnnkit.fused.scan` for the minimal RNNs when gradients are on). Every
call either matches the per-sequence reference loop (``tests.contract.manual_loop``)
or raises ValueError/TypeError worded ``"... must be ..., got ..."``.
``HYPOTHESIS_PROFILE=fuzz`` runs many more examples (see docs/fuzzing.md).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from rnnkit import IndRNNCell, LayerNormGRUCell, LayerNormLSTMCell, MinGRUCell, MinLSTMCell, Recurrent, unroll
from rnnkit.state import LSTMState, map_state
from tests.contract import assert_states_close, manual_loop
from tests.test_fuzz_core import lengths_for, tensors

I, H = 3, 4
# A quarter of the active profile's examples per test (CI: 100; fuzz: 5,000).
QUARTER = settings(max_examples=max(50, settings.default.max_examples // 4))

CELLS: list[Callable[[], Any]] = [
    lambda: LayerNormLSTMCell(I, H),
    lambda: LayerNormGRUCell(I, H, bias=False),
    lambda: IndRNNCell(I, H, nonlinearity="tanh", recurrent_clip=1.5),
    lambda: MinGRUCell(I, H),
    lambda: MinLSTMCell(I, H, bias=False),
]


def assert_clear(err: Exception) -> None:
    """The project's error contract: ValueError/TypeError saying what was expected and what was given."""
    msg = str(err)
    event(f"raised {type(err).__name__}")
    assert isinstance(err, (ValueError, TypeError)), f"{type(err).__name__}: {msg}"
    # "fused=True but ...": rnnkit.fused's documented wording
    assert (" must be " in msg and ", got " in msg) or "fused=True but " in msg, msg


@st.composite
def sequences(draw: Any) -> Any:
    """Mostly well-formed ``(T, B, I)`` inputs (T and B may be 0), sometimes anything."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.one_of(tensors(), st.none(), st.integers(), st.text(max_size=2)))
    T, B = draw(st.integers(0, 5)), draw(st.integers(0, 3))
    x = torch.randn(T, B, draw(st.sampled_from([I, I, I, I + 1])))
    if x.numel() and draw(st.integers(0, 4)) == 0:
        x[draw(st.integers(0, T - 1)), 0, 0] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    return x


@st.composite
def states(draw: Any, cell: Any, B: int) -> Any:
    """None, a random well-formed state, or one of the wrong structure, shape or dtype."""
    kind = draw(st.integers(0, 6))
    good = cell.initial_state(B)
    if kind <= 2:
        return None if kind == 0 else map_state(torch.randn_like, good)
    if kind == 3:
        return map_state(lambda s: torch.randn(B + 1, *s.shape[1:]), good)
    if kind == 4:
        return map_state(lambda s: s.double(), good)
    if kind == 5:
        return LSTMState(torch.zeros(B, H), torch.zeros(B, H)) if isinstance(good, torch.Tensor) else torch.zeros(B, H)
    return draw(st.one_of(tensors(), st.just((torch.zeros(B, H),)), st.lists(st.integers(), max_size=2)))


def _sequence_shape(x: Any) -> tuple[int, int]:
    return (x.shape[0], x.shape[1]) if isinstance(x, torch.Tensor) and x.dim() == 3 else (3, 2)


@QUARTER
@given(st.data())
def test_fuzz_variant_unroll(data: Any) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    cell = CELLS[data.draw(st.integers(0, len(CELLS) - 1))]()
    if data.draw(st.booleans()):
        cell = cell.double()
    x = data.draw(sequences())
    T, B = _sequence_shape(x)
    lengths = data.draw(lengths_for(B, T))
    if isinstance(lengths, torch.Tensor) and data.draw(st.integers(0, 9)) == 0:
        lengths = lengths.to("meta")  # on a device without values (no GPU in CI for a real second device)
    state = data.draw(states(cell, B))
    reverse = data.draw(st.booleans())
    try:
        out, final = unroll(cell, x, state, lengths=lengths, reverse=reverse)
    except Exception as err:  # noqa: BLE001 - the kind is checked
        assert_clear(err)
        return
    ref_out, ref_final = manual_loop(cell, x, state, None if lengths is None else [int(v) for v in lengths],
                                     reverse=reverse)
    torch.testing.assert_close(out, ref_out, equal_nan=True)
    assert_states_close(final, ref_final, equal_nan=True)


@QUARTER
@given(st.data())
def test_fuzz_variant_recurrent_and_scan(data: Any) -> None:
    """Through ``Recurrent`` (scan path for the minimal RNNs with gradients on), fused True/False/"auto"."""
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    cell = CELLS[data.draw(st.integers(0, len(CELLS) - 1))]().double()
    fused = data.draw(st.sampled_from([True, False, "auto"]))
    layer = Recurrent(cell, reverse=data.draw(st.booleans()), fused=fused)
    x = data.draw(sequences())
    if isinstance(x, torch.Tensor) and x.dtype == torch.float32 and data.draw(st.integers(0, 3)):
        x = x.double()
    T, B = _sequence_shape(x)
    lengths = data.draw(lengths_for(B, T))
    state = data.draw(states(cell, B))
    grad = data.draw(st.booleans())
    try:
        with torch.set_grad_enabled(grad):
            out, final = layer(x, state, lengths=lengths)
    except Exception as err:  # noqa: BLE001
        assert_clear(err)
        return
    lens = [T] * B if lengths is None else [int(v) for v in lengths]
    with torch.no_grad():
        ref_out, ref_final = manual_loop(cell, x, state, lens, reverse=layer.reverse)
    if not isinstance(cell, (MinGRUCell, MinLSTMCell)):
        torch.testing.assert_close(out, ref_out, equal_nan=True)
        assert_states_close(final, ref_final, equal_nan=True)
        return
    # The log-space scan computes +-inf inputs differently from the step (NaN where the step gives inf or even a
    # finite value): a sequence with a non-finite input is not compared, every other one must agree exactly and
    # the non-finite values must not leak into it.
    for b in range(B):
        if torch.isfinite(x[: lens[b], b]).all():
            torch.testing.assert_close(out[:, b], ref_out[:, b], equal_nan=True)
            torch.testing.assert_close(final[b], ref_final[b], equal_nan=True)
        else:
            event("scan: sequence with a non-finite input")
        assert torch.count_nonzero(out[lens[b]:, b]) == 0


@QUARTER
@given(st.data())
def test_fuzz_variant_step(data: Any) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    cell = CELLS[data.draw(st.integers(0, len(CELLS) - 1))]()
    x = data.draw(st.one_of(tensors(max_rank=3), st.builds(lambda b: torch.randn(b, I), st.integers(0, 4))))
    B = x.shape[0] if isinstance(x, torch.Tensor) and x.dim() >= 1 else 2
    state = data.draw(states(cell, B))
    state = cell.initial_state(B) if state is None else state
    try:
        y, new = cell(x, state)
    except Exception as err:  # noqa: BLE001
        assert_clear(err)
        return
    ref_y, ref_new = cell.recur(cell.input_projection(x), state)  # the step, written without validation
    assert y.shape == (B, H)
    torch.testing.assert_close(y, ref_y, equal_nan=True)
    assert_states_close(new, ref_new, equal_nan=True)


_ANY = st.one_of(st.integers(-3, 6), st.floats(allow_nan=True), st.none(), st.text(max_size=3), st.booleans(),
                 st.just(torch.tensor(3)))


@QUARTER
@given(st.data())
def test_fuzz_variant_constructors(data: Any) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    kind = data.draw(st.sampled_from(["lnlstm", "lngru", "indrnn", "mingru", "minlstm"]))
    args = (data.draw(_ANY), data.draw(_ANY))
    kwargs: dict = {}
    if data.draw(st.booleans()):
        kwargs["bias"] = data.draw(st.one_of(st.booleans(), st.sampled_from([0, 1, "no", None])))
    if kind in ("lnlstm", "lngru"):
        kwargs["eps"] = data.draw(st.one_of(st.floats(allow_nan=True), st.integers(-1, 2), st.text(max_size=2)))
    if kind == "lnlstm":
        kwargs["forget_bias"] = data.draw(st.one_of(st.floats(allow_nan=True), st.none(), st.booleans()))
    if kind == "indrnn":
        kwargs["recurrent_clip"] = data.draw(st.one_of(st.none(), st.floats(allow_nan=True), st.booleans(),
                                                       st.integers(-2, 2)))
        kwargs["nonlinearity"] = data.draw(st.sampled_from(["relu", "tanh", "gelu", 3, None, torch.sigmoid]))
    cls = {"lnlstm": LayerNormLSTMCell, "lngru": LayerNormGRUCell, "indrnn": IndRNNCell, "mingru": MinGRUCell,
           "minlstm": MinLSTMCell}[kind]
    try:
        cell = cls(*args, **kwargs)
    except Exception as err:  # noqa: BLE001
        assert_clear(err)
        return
    assert (cell.input_size, cell.hidden_size) == args
    assert isinstance(kwargs.get("bias", True), bool), f"bias={kwargs['bias']!r} accepted"
    y, _ = cell(torch.randn(2, args[0]), cell.initial_state(2))
    assert torch.isfinite(y).all(), f"accepted {kwargs} but a finite input gives {y}"  # no silent garbage


def test_indrnn_clip_beyond_the_dtype_range_is_no_clip() -> None:
    """Found by the fuzzer: recurrent_clip=3.5e38 (or 1e5 in float16) made clamp raise RuntimeError (overflow)."""
    for cell, x in [(IndRNNCell(I, H, recurrent_clip=3.5e38), torch.randn(2, I)),
                    (IndRNNCell(I, H, recurrent_clip=1e5).half(), torch.randn(2, I).half())]:
        torch.testing.assert_close(cell.recurrent_weight(), cell.weight_hh)
        y, _ = cell(x, cell.initial_state(2))
        ref = torch.relu(x.double() @ cell.weight_ih.double().t() + cell.bias_ih.double())  # h_0 = 0
        torch.testing.assert_close(y.double(), ref, rtol=1e-2, atol=1e-2)


def test_layernorm_eps_and_forget_bias_that_make_nan_are_refused() -> None:
    """Found by the fuzzer: eps=1e-50 is 0 in float32, so the zero initial state gave 0/0 = NaN."""
    for make, message in [
        (lambda: LayerNormGRUCell(1, 1, eps=1e-50), "LayerNormGRUCell: eps must be finite and >= 1.175e-38"),
        (lambda: LayerNormLSTMCell(I, H, eps=math.inf), "LayerNormLSTMCell: eps must be finite and >= 1.175e-38"),
        (lambda: LayerNormLSTMCell(I, H, forget_bias=math.nan),
         "LayerNormLSTMCell: forget_bias must be finite, got nan"),
    ]:
        with pytest.raises(ValueError) as err:
            make()
        assert message in str(err.value)
    cell = LayerNormGRUCell(1, 1, eps=torch.finfo(torch.float32).tiny)  # the smallest eps accepted works
    assert torch.isfinite(cell(torch.randn(2, 1), cell.initial_state(2))[0]).all()
