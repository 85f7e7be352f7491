"""Property-based fuzzing of the ``torch.nn`` drop-ins ``rnnkit.LSTM/GRU/RNN`` and of
:class:`rnnkit.streaming.Stream` (issue 7, "Bad input").

Constructors get wrong types, ranges and bools where ints belong; forward gets
padded tensors, unbatched ``(T, I)`` input, ``PackedSequence`` s (well-formed
and hand-made), ``hx`` of the wrong structure, shape or dtype, ``lengths`` of
every wrong kind, ``batch_first`` and ``fused`` True/False/"auto". Every call
either matches ``torch.nn`` holding the same weights (per sequence, each alone,
so lengths of 0 are covered too) or raises ValueError/TypeError worded
``"... must be ..., got ..."`` (or ``"fused=True but ..."``, :mod:`rnnkit.dropin`'s
documented wording). ``HYPOTHESIS_PROFILE=fuzz`` runs many more examples.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from rnnkit import GRU, LSTM, RNN, GRUCell, LayerNormLSTMCell, LSTMCell, Recurrent, Stacked
from rnnkit.state import map_state
from rnnkit.streaming import Stream
from tests.contract import assert_states_close, manual_loop
from tests.test_fuzz_core import lengths_for, tensors

I, H = 3, 4
KINDS = {"LSTM": (LSTM, nn.LSTM), "GRU": (GRU, nn.GRU), "RNN": (RNN, nn.RNN)}
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
QUARTER = settings(max_examples=max(50, settings.default.max_examples // 4))
HALF = settings(max_examples=max(50, settings.default.max_examples // 2))


def assert_clear(err: Exception) -> None:
    """The project's error contract: ValueError/TypeError saying what was expected and what was given."""
    msg = str(err)
    event(f"raised {type(err).__name__}")
    assert isinstance(err, (ValueError, TypeError)), f"{type(err).__name__}: {msg}"
    assert (" must be " in msg and ", got " in msg) or "fused=True but " in msg, msg


def assert_same_kind_as_torch(err: Exception, call_torch: Any) -> None:
    """Drop-in errors: where we refuse a call with a ValueError and torch.nn refuses it with ValueError or
    RuntimeError, ours is also of torch's type (code written against torch.nn catches it). Our TypeErrors
    (wrong structure or dtype) are left out: with several faults in one call, which one each library reports
    first differs."""
    if isinstance(err, TypeError):
        return
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call_torch()
    except (ValueError, RuntimeError) as theirs:
        event(f"torch.nn raised {type(theirs).__name__}")
        assert isinstance(err, type(theirs)), f"torch.nn raises {type(theirs).__name__} ({theirs}); we raise " \
                                              f"{type(err).__name__} ({err})"
    except Exception:  # noqa: BLE001 - torch.nn's own TypeErrors/AttributeErrors on garbage: nothing to match
        pass


@st.composite
def modules(draw: Any) -> tuple[str, nn.Module, nn.Module]:
    """A small drop-in (eval mode) and the torch.nn module with the same weights."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    kw: dict = {"num_layers": draw(st.integers(1, 2)), "bias": draw(st.booleans()),
                "batch_first": draw(st.booleans()), "bidirectional": draw(st.booleans())}
    if kind == "LSTM" and draw(st.integers(0, 3)) == 0:
        kw["proj_size"] = 2
    if kind == "RNN":
        kw["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    ours_cls, ref_cls = KINDS[kind]
    ours = ours_cls(I, H, dtype=dtype, fused=draw(st.sampled_from([True, False, "auto"])), **kw).eval()
    ref = ref_cls(I, H, dtype=dtype, **kw).eval()
    ref.load_state_dict(ours.state_dict())
    return kind, ours, ref


def _num_states(m: nn.Module) -> int:
    return m.num_layers * (2 if m.bidirectional else 1)


@st.composite
def hxs(draw: Any, kind: str, m: nn.Module, B: Optional[int], dtype: torch.dtype) -> Any:
    """None, a good random ``hx`` (B None: unbatched), or one of the wrong structure, shape or dtype."""
    n, out = _num_states(m), m.proj_size or m.hidden_size
    batch = () if B is None else (B,)
    h, c = torch.randn(n, *batch, out, dtype=dtype), torch.randn(n, *batch, m.hidden_size, dtype=dtype)
    good = (h, c) if kind == "LSTM" else h
    choice = draw(st.integers(0, 9))
    if choice <= 1:
        return None
    if choice <= 4:
        return good
    bad = [
        lambda: h if kind == "LSTM" else (h, c),                     # wrong structure
        lambda: (h, c, h) if kind == "LSTM" else [h],
        lambda: torch.randn(n + 1, *batch, out, dtype=dtype),       # wrong shape
        lambda: (h.to(torch.float16), c) if kind == "LSTM" else h.to(torch.int64),  # wrong dtype
        lambda: draw(st.one_of(tensors(), st.integers(), st.text(max_size=2), st.just([h, c]))),
    ]
    return bad[choice - 5]()


@st.composite
def padded_inputs(draw: Any, batch_first: bool, dtype: torch.dtype) -> Any:
    """Mostly ``(T, B, I)`` / ``(B, T, I)`` / unbatched ``(T, I)`` (T and B may be 0), sometimes anything."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.one_of(tensors(), st.none(), st.lists(st.floats(), max_size=3)))
    T, B = draw(st.integers(0, 4)), draw(st.integers(0, 3))
    feat = draw(st.sampled_from([I, I, I, I, I + 1]))
    x_dtype = draw(st.sampled_from([dtype] * 6 + [torch.float16, torch.float64, torch.int64, torch.bool]))
    shape = (T, feat) if choice == 1 else ((B, T, feat) if batch_first else (T, B, feat))
    x = torch.randn(shape).to(x_dtype) if x_dtype != torch.bool else torch.zeros(shape, dtype=torch.bool)
    if x.is_floating_point() and x.numel() and draw(st.integers(0, 4)) == 0:
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    return x


def _hx_batch(kind: str, hx: Any, b: int) -> Any:
    """Example ``b`` of a batched hx, keeping the batch dimension."""
    if hx is None:
        return None
    return tuple(t[:, b : b + 1] for t in hx) if kind == "LSTM" else hx[:, b : b + 1]


def reference(kind: str, ref: nn.Module, x: Tensor, hx: Any, lengths: Optional[list[int]]) -> tuple[Tensor, Any]:
    """torch.nn on each sequence alone (time-major ``x``), padded with zeros; a length of 0 keeps ``hx``."""
    T, B = x.shape[0], x.shape[1]
    D = 2 if ref.bidirectional else 1
    lengths = [T] * B if lengths is None else lengths
    outs, finals = [], []
    for b in range(B):
        hb = _hx_batch(kind, hx, b)
        if hb is None:
            n = _num_states(ref)
            h0 = x.new_zeros(n, 1, ref.proj_size or ref.hidden_size)
            hb = (h0, x.new_zeros(n, 1, ref.hidden_size)) if kind == "LSTM" else h0
        if lengths[b] == 0:
            out, fin = x.new_zeros(0, 1, D * (ref.proj_size or ref.hidden_size)), hb
        else:
            seq = x[: lengths[b], b : b + 1]
            out, fin = ref(seq.transpose(0, 1) if ref.batch_first else seq, hb)
            out = out.transpose(0, 1) if ref.batch_first else out
        outs.append(torch.cat([out, out.new_zeros(T - lengths[b], 1, out.shape[2])]))
        finals.append(fin)
    out = torch.cat(outs, 1) if outs else x.new_zeros(T, 0, D * (ref.proj_size or ref.hidden_size))
    if kind == "LSTM":
        final = tuple(torch.cat([f[i] for f in finals], 1) for i in range(2)) if finals else None
    else:
        final = torch.cat(finals, 1) if finals else None
    return out, final


def _close(a: Any, b: Any, dtype: torch.dtype) -> None:
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {}
    torch.testing.assert_close(a, b, equal_nan=True, **tol)


@HALF
@given(st.data())
def test_fuzz_dropin_forward_padded(data: Any) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    kind, ours, ref = data.draw(modules())
    dtype = ours.weight_ih_l0.dtype
    x = data.draw(padded_inputs(ours.batch_first, dtype))
    batched = isinstance(x, Tensor) and x.dim() == 3
    if batched:
        T, B = (x.shape[1], x.shape[0]) if ours.batch_first else (x.shape[0], x.shape[1])
    else:
        T, B = (x.shape[0], None) if isinstance(x, Tensor) and x.dim() >= 1 else (3, 2)
    hx = data.draw(hxs(kind, ours, B if batched else None, dtype))
    lengths = data.draw(lengths_for(B if B is not None else 1, T)) if data.draw(st.booleans()) else None
    if isinstance(lengths, Tensor) and data.draw(st.integers(0, 9)) == 0:
        lengths = lengths.to("meta")  # on a device without values (no GPU in CI for a real second device)
    try:
        with torch.no_grad():
            out, final = ours(x, hx, lengths=lengths)
    except Exception as err:  # noqa: BLE001 - the kind is checked
        assert_clear(err)
        if lengths is None:
            assert_same_kind_as_torch(err, lambda: ref(x, hx))
        return
    lens = None if lengths is None else [int(v) for v in lengths]
    with torch.no_grad():
        if batched:
            x_tm = x.transpose(0, 1) if ours.batch_first else x
            ref_out, ref_final = reference(kind, ref, x_tm, hx, lens)
            ref_out = ref_out.transpose(0, 1) if ours.batch_first else ref_out
            if ref_final is None:  # B == 0: torch.nn has nothing to say; the shapes must still be right
                ref_final = final
        else:  # unbatched (T, I): as a batch of one (torch.nn refuses T = 0, so it cannot be the reference here)
            hx1 = None if hx is None else (tuple(t[:, None] for t in hx) if kind == "LSTM" else hx[:, None])
            ref_out, ref_final = reference(kind, ref, x[:, None], hx1, lens)
            ref_out = ref_out[:, 0]
            ref_final = tuple(t[:, 0] for t in ref_final) if kind == "LSTM" else ref_final[:, 0]
    _close(out, ref_out, dtype)
    _close(final, ref_final, dtype)


@QUARTER
@given(st.data())
def test_fuzz_dropin_forward_packed(data: Any) -> None:
    """Well-formed PackedSequences match torch.nn; hand-made malformed ones raise clear errors."""
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    kind, ours, ref = data.draw(modules())
    dtype = ours.weight_ih_l0.dtype
    B = data.draw(st.integers(1, 3))
    T = data.draw(st.integers(1, 4))
    lens = data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
    x = torch.randn(T, B, data.draw(st.sampled_from([I, I, I, I + 1])), dtype=data.draw(
        st.sampled_from([dtype, dtype, dtype, torch.float16, torch.float64])))
    packed = pack_padded_sequence(x, torch.tensor(lens), enforce_sorted=False)
    malformed = data.draw(st.integers(0, 5))
    if malformed == 1:
        packed = PackedSequence(packed.data.to(torch.int64), packed.batch_sizes, packed.sorted_indices,
                                packed.unsorted_indices)
    elif malformed == 2:
        packed = PackedSequence(packed.data[:, None], packed.batch_sizes, packed.sorted_indices,
                                packed.unsorted_indices)
    elif malformed == 3:
        packed = PackedSequence(packed.data[:, :0], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
    elif malformed == 5:  # no time steps at all
        packed = PackedSequence(packed.data[:0], packed.batch_sizes[:0], None, None)
    hx = data.draw(hxs(kind, ours, B, dtype))
    lengths = data.draw(st.one_of(st.none(), st.just(lens))) if malformed == 4 else None
    try:
        with torch.no_grad():
            out, final = ours(packed, hx, lengths=lengths)
    except Exception as err:  # noqa: BLE001
        assert_clear(err)
        return
    with torch.no_grad():
        ref_out, ref_final = ref(packed, hx)
    assert isinstance(out, PackedSequence)
    assert torch.equal(out.batch_sizes, ref_out.batch_sizes)
    _close(out.data, ref_out.data, dtype)
    _close(final, ref_final, dtype)


_ANY = st.one_of(st.integers(-2, 5), st.floats(allow_nan=True), st.none(), st.booleans(), st.text(max_size=2))


@QUARTER
@given(st.data())
def test_fuzz_dropin_constructor(data: Any) -> None:
    """What our constructor accepts makes the torch.nn module (plus ``fused``); the rest is clearly refused."""
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    kind = data.draw(st.sampled_from(sorted(KINDS)))
    kw: dict = {}
    for name, good in [("num_layers", st.integers(1, 2)), ("bias", st.booleans()), ("batch_first", st.booleans()),
                       ("dropout", st.sampled_from([0.0, 0.5, 1.0])), ("bidirectional", st.booleans())]:
        if data.draw(st.integers(0, 5)) == 0:
            kw[name] = data.draw(st.one_of(good, _ANY))
    if kind == "LSTM" and data.draw(st.booleans()):
        kw["proj_size"] = data.draw(st.one_of(st.integers(-1, 5), _ANY))
    if kind == "RNN" and data.draw(st.integers(0, 3)) == 0:
        kw["nonlinearity"] = data.draw(st.one_of(st.sampled_from(["tanh", "relu", "gelu"]), _ANY))
    fused = data.draw(st.one_of(st.sampled_from([True, False, "auto"]), _ANY)) if data.draw(st.booleans()) else "auto"
    sizes = (data.draw(st.one_of(st.integers(1, 4), _ANY)), data.draw(st.one_of(st.integers(1, 4), _ANY)))
    ours_cls, ref_cls = KINDS[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropout with one layer warns, as torch.nn does
        try:
            ours = ours_cls(*sizes, fused=fused, **kw)
        except Exception as err:  # noqa: BLE001
            assert_clear(err)
            return
        ref = ref_cls(*sizes, **kw)
    assert type(ours.fused) in (bool, str), f"fused={fused!r} accepted"
    assert {n: p.shape for n, p in ours.named_parameters()} == {n: p.shape for n, p in ref.named_parameters()}
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, sizes[0])
    with torch.no_grad():
        _close(ours.eval()(x)[0], ref.eval()(x)[0], torch.float32)


# ---------------------------------------------------------------- regressions found by the fuzzers above (29c2bdf)

@pytest.mark.parametrize("fused", [0, 1, 1.0, torch.tensor([1, 0])])
def test_fused_accepts_only_true_false_auto(fused: Any) -> None:
    with pytest.raises((ValueError, TypeError), match="fused must be"):
        GRU(I, H, fused=fused)


@pytest.mark.parametrize("fused", [False, "auto"])
def test_empty_packed_sequence_is_refused_clearly(fused: Any) -> None:
    packed = PackedSequence(torch.zeros(0, I), torch.zeros(0, dtype=torch.int64), None, None)
    with pytest.raises(ValueError, match=" must be .*, got "):
        GRU(I, H, fused=fused)(packed)


# ---------------------------------------------------------------- rnnkit.streaming.Stream
# (streaming inference carries a layer's state across calls; here over Recurrent layers of built-in cells)

def _stream_reference_reset(state: Any, streams: Any, B: int) -> Any:
    """The state after resetting ``streams`` (None: all; bools: a mask; ints: indices) to zeros."""
    mask = torch.ones(B, dtype=torch.bool) if streams is None else torch.zeros(B, dtype=torch.bool)
    if streams is not None:
        values = streams.tolist() if isinstance(streams, Tensor) else streams
        values = values if isinstance(values, list) else [values]
        if values and all(isinstance(v, bool) for v in values):
            mask = torch.tensor(values)
        else:
            mask[torch.tensor(values, dtype=torch.long)] = True
    return map_state(lambda s: torch.where(mask.view(-1, *[1] * (s.dim() - 1)), torch.zeros_like(s), s), state)


@QUARTER
@given(st.data())
def test_fuzz_stream(data: Any) -> None:
    """Feed/step/reset in any order with malformed arguments: outputs and state follow a per-sequence loop of
    the cell over each chunk; a refused call leaves the state unchanged."""
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    cell = data.draw(st.sampled_from([lambda: LSTMCell(I, H), lambda: GRUCell(I, H),
                                      lambda: LayerNormLSTMCell(I, H)]))().double()  # float64: batch vs one row
    batch_first = data.draw(st.booleans())
    layer = Recurrent(cell, batch_first=batch_first)
    B = data.draw(st.integers(1, 3))
    stream = Stream(layer, batch_size=B)
    ref_state = cell.initial_state(B)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["feed", "feed", "step", "reset"]))
        try:
            with torch.no_grad():
                if op == "feed":
                    T = data.draw(st.integers(0, 3))
                    b = data.draw(st.sampled_from([B, B, B, B + 1]))
                    chunk = torch.randn(T, b, data.draw(st.sampled_from([I, I, I, I + 1])), dtype=torch.float64)
                    lengths = data.draw(lengths_for(b, T)) if data.draw(st.booleans()) else None
                    out = stream.feed(chunk.transpose(0, 1) if batch_first else chunk, lengths=lengths)
                    out = out.transpose(0, 1) if batch_first else out
                    lens = None if lengths is None else [int(v) for v in lengths]
                    ref_out, ref_state = manual_loop(cell, chunk, ref_state, lens)
                elif op == "step":
                    x = data.draw(st.one_of(st.builds(lambda b: torch.randn(b, I, dtype=torch.float64),
                                                      st.sampled_from([B, B, B + 1])),
                                            tensors(max_rank=3)))
                    out = stream.step(x)
                    ref_out, ref_state = manual_loop(cell, x[None], ref_state)
                    ref_out = ref_out[0]
                else:
                    streams = data.draw(st.one_of(
                        st.none(), st.lists(st.integers(-1, B), max_size=3), st.lists(st.booleans(), min_size=B,
                                                                                      max_size=B),
                        st.integers(0, B - 1), st.just(torch.ones(B, dtype=torch.bool)), st.just([0.5]),
                        st.just("all"), st.just(torch.zeros(B + 1, dtype=torch.bool))))
                    stream.reset(streams)
                    ref_state, out, ref_out = _stream_reference_reset(ref_state, streams, B), None, None
        except Exception as err:  # noqa: BLE001
            assert_clear(err)
            assert_states_close(stream.state, ref_state, equal_nan=True)  # a refused call changes nothing
            continue
        if out is not None:
            torch.testing.assert_close(out, ref_out, equal_nan=True)
        assert_states_close(stream.state, ref_state, equal_nan=True)


@QUARTER
@given(st.data())
def test_fuzz_stream_constructor(data: Any) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    layer = data.draw(st.sampled_from([lambda: Recurrent(GRUCell(I, H)), lambda: LSTMCell(I, H),
                                       lambda: Stacked([GRUCell(I, H), GRUCell(H, H)]), lambda: nn.Linear(I, H),
                                       lambda: "layer", lambda: None]))()
    batch_size = data.draw(st.one_of(st.integers(-1, 3), st.floats(allow_nan=True), st.booleans(), st.text(max_size=2)))
    dtype = data.draw(st.sampled_from([None, None, torch.float64, "float32", torch.int64, 3]))
    device = data.draw(st.sampled_from([None, None, "cpu", torch.device("cpu"), "nowhere", 3]))
    try:
        stream = Stream(layer, batch_size, dtype=dtype, device=device)
        y = stream.step(torch.randn(batch_size, I, dtype=stream.dtype))
    except Exception as err:  # noqa: BLE001
        assert_clear(err)
        return
    assert y.shape == (batch_size, H) and y.dtype == stream.dtype


def test_stream_errors_found_by_fuzzing() -> None:
    """A list of bools is a mask (it used to be read as the indices 1, 0, 1); floats, strings, a non-layer, a bad
    dtype and a chunk of another batch size are refused with the argument named."""
    stream = Stream(GRUCell(I, H), batch_size=3)
    stream.feed(torch.randn(2, 3, I))
    before = stream.state.clone()
    stream.reset([True, False, True])
    assert not stream.state[0].any() and not stream.state[2].any() and torch.equal(stream.state[1], before[1])
    for streams, message in [([0.5], ("Stream: streams must be None, a bool mask or integer indices, got dtype "
                                       "torch.float32")),
                             ("all", "Stream: streams must be None, a bool mask or a list of indices, got str 'all'")]:
        with pytest.raises(TypeError) as err:
            stream.reset(streams)
        assert str(err.value) == message
    with pytest.raises(ValueError, match=r"Stream: chunk must be of shape \(T, B, I\) with B = batch_size = 3, "
                                         r"got \(2, 2, 3\)"):
        stream.feed(torch.randn(2, 2, I))
    with pytest.raises(TypeError, match="Stream: layer must be an rnnkit layer .* or a cell, got Linear"):
        Stream(nn.Linear(I, H), batch_size=1)
    with pytest.raises(TypeError, match="Stream: dtype must be None or a floating torch.dtype, got str 'float32'"):
        Stream(GRUCell(I, H), batch_size=1, dtype="float32")
