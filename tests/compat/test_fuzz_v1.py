"""Property-based fuzzing of the TF1 face, ``rnnkit.compat.v1`` (issue 7, "Bad input").

The cells' constructors, ``zero_state``, a direct cell call, ``dynamic_rnn``,
``bidirectional_dynamic_rnn``, ``static_rnn`` and ``DropoutWrapper``'s keep
probabilities get malformed arguments: wrong ranks, sizes and dtypes, NaN/inf,
empty batches, T = 0, every wrong kind of ``sequence_length``, initial states
of the wrong structure, shape or dtype, wrong ``dtype`` names. Every call
either matches the per-sequence loop of ``tests.contract.manual_loop`` (which
calls the compat cell itself, in TF's state layout, on each sequence alone) or
raises ValueError/TypeError worded ``"... must be ..., got ..."``.
``HYPOTHESIS_PROFILE=fuzz`` runs many more examples (see docs/fuzzing.md).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from rnnkit.compat import v1
from rnnkit.compat.v1 import LSTMStateTuple
from rnnkit.state import map_state, state_leaves
from tests.contract import assert_states_close, manual_loop
from tests.test_fuzz_core import lengths_for, tensors

I = 3
QUARTER = settings(max_examples=max(50, settings.default.max_examples // 4))

CELLS: list[Callable[[], Any]] = [
    lambda: v1.BasicRNNCell(4),
    lambda: v1.BasicLSTMCell(4),
    lambda: v1.BasicLSTMCell(4, state_is_tuple=False),
    lambda: v1.LSTMCell(5, use_peepholes=True, cell_clip=1.0, num_proj=3),
    lambda: v1.GRUCell(4),
    lambda: v1.MultiRNNCell([v1.BasicLSTMCell(4), v1.GRUCell(3)]),
    lambda: v1.ResidualWrapper(v1.GRUCell(I)),
    lambda: v1.DropoutWrapper(v1.BasicLSTMCell(4), 0.5, 0.7, 0.6, variational_recurrent=True).eval(),
]


def assert_clear(err: Exception) -> None:
    """The project's error contract: ValueError/TypeError saying what was expected and what was given."""
    msg = str(err)
    event(f"raised {type(err).__name__}")
    assert isinstance(err, (ValueError, TypeError)), f"{type(err).__name__}: {msg}"
    assert " must be " in msg and ", got " in msg, msg


def make_cell(data: Any, built: bool = False) -> Any:
    cell = CELLS[data.draw(st.integers(0, len(CELLS) - 1))]()
    if built or data.draw(st.booleans()):
        cell.build(I, dtype=data.draw(st.sampled_from([torch.float32] * 3 + [torch.float64])))
    return cell


@st.composite
def sequences(draw: Any) -> Any:
    """Mostly well-formed 3-D inputs (T and B may be 0), of varied dtype, sometimes anything."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.one_of(tensors(), st.none(), st.integers(), st.lists(st.floats(), max_size=3)))
    T, B = draw(st.integers(0, 4)), draw(st.integers(0, 3))
    feat = draw(st.sampled_from([I, I, I, I, I + 1]))
    dtype = draw(st.sampled_from([torch.float32] * 8 + [torch.float64] * 2 + [torch.float16, torch.int64]))
    x = torch.randn(T, B, feat).to(dtype)
    if x.is_floating_point() and x.numel() and draw(st.integers(0, 4)) == 0:
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    return x


@st.composite
def tf_states(draw: Any, cell: Any, B: int, dtype: torch.dtype) -> Any:
    """None, a random TF-layout state, or one of the wrong structure, shape or dtype."""
    kind = draw(st.integers(1, 10))
    good = cell.zero_state(B, dtype)
    if kind <= 3:
        return None
    if kind <= 6:
        return map_state(torch.randn_like, good)
    if kind == 7:
        return map_state(lambda s: torch.randn(s.shape[0], s.shape[1] + 1, dtype=dtype), good)
    if kind == 8:
        return map_state(lambda s: s.to(torch.float16 if dtype != torch.float16 else torch.float32), good)
    if kind == 9:  # the other structure: a tensor for a tuple state and the other way round
        leaves = state_leaves(good)
        return leaves[0] if isinstance(good, tuple) else LSTMStateTuple(good, good)
    return draw(st.one_of(tensors(), st.lists(st.integers(), max_size=2), st.just((torch.zeros(B, 4),))))


def _time_major(x: Any, time_major: bool) -> Any:
    return x if time_major or not isinstance(x, torch.Tensor) or x.dim() != 3 else x.transpose(0, 1)


@QUARTER
@given(st.data())
def test_fuzz_dynamic_rnn(data: Any) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    cell = make_cell(data)
    x_tm = data.draw(sequences())
    time_major = data.draw(st.booleans())
    x = _time_major(x_tm, time_major)
    T, B = (x_tm.shape[0], x_tm.shape[1]) if isinstance(x_tm, torch.Tensor) and x_tm.dim() == 3 else (3, 2)
    dt = x_tm.dtype if isinstance(x_tm, torch.Tensor) and x_tm.is_floating_point() else torch.float32
    state = data.draw(tf_states(cell, B, dt))
    lengths = data.draw(lengths_for(B, T))
    if lengths is not None and data.draw(st.integers(0, 3)) == 0:
        lengths = np.asarray(lengths.tolist() if isinstance(lengths, torch.Tensor) else lengths)
    dtype = data.draw(st.sampled_from([None] * 8 + [dt, "float32", "tf.float64", torch.int32, "float33", 5]))
    try:
        out, final = v1.dynamic_rnn(cell, x, sequence_length=lengths, initial_state=state, dtype=dtype,
                                    time_major=time_major)
    except Exception as err:  # noqa: BLE001 - the kind is checked
        assert_clear(err)
        return
    lens = None if lengths is None else [int(v) for v in lengths]
    ref_out, ref_final = manual_loop(cell, x_tm, state, lens)
    torch.testing.assert_close(_time_major(out, time_major), ref_out, equal_nan=True)
    assert type(final) is type(ref_final)
    assert_states_close(final, ref_final, equal_nan=True)


@QUARTER
@given(st.data())
def test_fuzz_bidirectional_and_static_rnn(data: Any) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    cell_fw, cell_bw = make_cell(data), make_cell(data)
    x = data.draw(sequences())
    T, B = (x.shape[0], x.shape[1]) if isinstance(x, torch.Tensor) and x.dim() == 3 else (3, 2)
    dt = x.dtype if isinstance(x, torch.Tensor) and x.is_floating_point() else torch.float32
    lengths = data.draw(lengths_for(B, T))
    state_fw = data.draw(tf_states(cell_fw, B, dt))
    static = data.draw(st.booleans())
    try:
        if static:
            steps = list(x.unbind(0)) if isinstance(x, torch.Tensor) and x.dim() >= 1 else x
            if isinstance(steps, list) and steps and isinstance(steps[-1], torch.Tensor) and steps[-1].dim() > 0 \
                    and data.draw(st.integers(0, 5)) == 0:
                steps[-1] = steps[-1][..., :-1]  # one step of another size
            outs, final_fw = v1.static_rnn(cell_fw, steps, initial_state=state_fw, sequence_length=lengths)
            out_fw, x = torch.stack(outs), torch.stack(steps)  # steps may have been cut: the reference reads them
        else:
            (out_fw, out_bw), (final_fw, final_bw) = v1.bidirectional_dynamic_rnn(
                cell_fw, cell_bw, x, sequence_length=lengths, initial_state_fw=state_fw, time_major=True)
    except Exception as err:  # noqa: BLE001
        assert_clear(err)
        return
    lens = None if lengths is None else [int(v) for v in lengths]
    ref_out, ref_final = manual_loop(cell_fw, x, state_fw, lens)
    torch.testing.assert_close(out_fw, ref_out, equal_nan=True)
    assert_states_close(final_fw, ref_final, equal_nan=True)
    if not static:
        ref_out, ref_final = manual_loop(cell_bw, x, None, lens, reverse=True)
        torch.testing.assert_close(out_bw, ref_out, equal_nan=True)
        assert_states_close(final_bw, ref_final, equal_nan=True)


def test_sequence_length_array_of_strings_is_refused_clearly() -> None:
    """Found by the fuzzer: torch.as_tensor's own TypeError escaped for a numpy array of strings."""
    with pytest.raises(TypeError, match=r"dynamic_rnn: sequence_length must be a list, tensor or array of ints, "
                                        r"got numpy.ndarray of shape \(2,\), dtype <U1$"):
        v1.dynamic_rnn(v1.GRUCell(4), torch.randn(2, 3, I), sequence_length=np.asarray(["3", "1"]))


@QUARTER
@given(st.data())
def test_fuzz_cell_call_and_zero_state(data: Any) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    cell = make_cell(data)
    batch = data.draw(st.one_of(st.integers(-1, 3), st.floats(allow_nan=True), st.booleans(), st.none(),
                                st.text(max_size=2), st.sampled_from([torch.tensor(2), torch.tensor(2.0),
                                                                      torch.tensor([1, 2]), np.int64(2)])))
    dtype = data.draw(st.sampled_from([None, torch.float64, "float32", "double", "tf.float16", torch.int64, "int",
                                       3, torch.bool]))
    try:
        zero = cell.zero_state(batch, dtype)
    except Exception as err:  # noqa: BLE001
        assert_clear(err)
    else:
        B = int(batch)
        assert all(s.shape[0] == B and not s.any() for s in state_leaves(zero))
        if dtype is not None:
            assert all(s.dtype == v1.dtypes.as_dtype("test", "dtype", dtype) for s in state_leaves(zero))
    x = data.draw(st.one_of(tensors(max_rank=3), st.builds(lambda b: torch.randn(b, I), st.integers(0, 3))))
    B = x.shape[0] if isinstance(x, torch.Tensor) and x.dim() >= 1 else 2
    dt = x.dtype if isinstance(x, torch.Tensor) and x.is_floating_point() else torch.float32
    state = data.draw(tf_states(cell, B, dt))
    state = cell.zero_state(B, dt) if state is None else state
    try:
        y, new = cell(x, state)
    except Exception as err:  # noqa: BLE001
        assert_clear(err)
        return
    ref_y, ref_new = manual_loop(cell, x[None], state)
    torch.testing.assert_close(y, ref_y[0], equal_nan=True)
    assert_states_close(new, ref_new, equal_nan=True)


_ANY = st.one_of(st.integers(-2, 5), st.floats(allow_nan=True), st.none(), st.booleans(), st.text(max_size=2))


@QUARTER
@given(st.data())
def test_fuzz_constructors_and_keep_probs(data: Any) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="torch seed"))  # weights and tensors
    kind = data.draw(st.sampled_from(["rnn", "gru", "basic_lstm", "lstm", "dropout", "multi", "residual"]))
    units = data.draw(st.one_of(st.integers(1, 5), _ANY))
    try:
        if kind == "rnn":
            cell = v1.BasicRNNCell(units, activation=data.draw(st.sampled_from([None, "relu", "gelu", 3, torch.tanh])))
        elif kind == "gru":
            cell = v1.GRUCell(units, kernel_initializer=data.draw(st.sampled_from([None, 0.5, torch.nn.init.zeros_])))
        elif kind == "basic_lstm":
            cell = v1.BasicLSTMCell(units, forget_bias=data.draw(st.one_of(st.floats(-2, 2), _ANY)),
                                    state_is_tuple=data.draw(st.one_of(st.booleans(), _ANY)))
        elif kind == "lstm":
            clips = st.one_of(st.none(), _ANY, st.just(1e39))
            cell = v1.LSTMCell(units, use_peepholes=data.draw(st.booleans()), cell_clip=data.draw(clips),
                               num_proj=data.draw(st.one_of(st.none(), st.integers(-1, 6), _ANY)),
                               proj_clip=data.draw(clips))
        elif kind == "dropout":
            probs = [data.draw(st.one_of(st.floats(0.05, 1.0), _ANY, st.just(torch.tensor(0.5)))) for _ in range(3)]
            cell = v1.DropoutWrapper(v1.GRUCell(4), *probs, variational_recurrent=data.draw(st.booleans()),
                                     input_size=data.draw(st.sampled_from([None, I, I + 1, "3", -1])))
        elif kind == "multi":
            cell = v1.MultiRNNCell(data.draw(st.sampled_from([[], [v1.GRUCell(4)], "cells", [v1.GRUCell(4), 3]])),
                                   state_is_tuple=data.draw(st.booleans()))
        else:
            cell = v1.ResidualWrapper(data.draw(st.sampled_from([v1.GRUCell(I), v1.GRUCell(I + 1), "cell"])))
    except Exception as err:  # noqa: BLE001
        assert_clear(err)
        return
    x = torch.randn(2, 3, I)
    try:
        out, _ = v1.dynamic_rnn(cell.train(), x)
    except Exception as err:  # noqa: BLE001 - a cell that cannot take this input must say so at the first call
        assert_clear(err)
        return
    assert out.shape == (2, 3, cell.output_size)
    if kind == "dropout":  # inverted dropout: every output is 0 or the wrapped cell's output / keep prob
        assert all(0.0 < p <= 1.0 for p in (cell.input_keep_prob, cell.output_keep_prob, cell.state_keep_prob))
    assert torch.isfinite(out).all(), f"accepted arguments give non-finite outputs: {cell}"


@pytest.mark.parametrize("make", [lambda: v1.LSTMCell(4, cell_clip=1e39),
                                  lambda: v1.LSTMCell(4, num_proj=2, proj_clip=1e39)])
def test_clip_beyond_float32_is_refused_or_works(make: Callable[[], Any]) -> None:
    try:
        cell = make()
    except ValueError as err:
        assert " must be " in str(err)
        return
    out, _ = v1.dynamic_rnn(cell, torch.randn(2, 3, I))
    assert torch.isfinite(out).all()
