"""Streaming: chunk-by-chunk and step-by-step equal one unroll."""

from __future__ import annotations

import pytest
import torch

from rnnkit import GRUCell, LSTMCell, Recurrent, Stacked, unroll
from rnnkit.streaming import Stream
from tests.contract import assert_states_close


def test_chunks_and_steps_equal_one_unroll() -> None:
    torch.manual_seed(0)
    layer = Stacked([LSTMCell(3, 5), GRUCell(5, 4)])
    x = torch.randn(12, 2, 3)
    with torch.no_grad():
        full, final = layer(x)
    stream = Stream(layer, batch_size=2)
    outs = [stream.feed(x[:5]), stream.feed(x[5:6])]
    outs += [stream.step(x[t]).unsqueeze(0) for t in range(6, 12)]
    torch.testing.assert_close(torch.cat(outs), full)
    assert_states_close(stream.state, final)


def test_reset_selected_streams_only() -> None:
    cell = LSTMCell(3, 4)
    stream = Stream(cell, batch_size=3)
    x = torch.randn(4, 3, 3)
    stream.feed(x)
    before = stream.state
    stream.reset([1])
    assert torch.equal(stream.state.h[1], torch.zeros(4))
    assert torch.equal(stream.state.h[0], before.h[0]) and torch.equal(stream.state.c[2], before.c[2])
    # stream 1 now behaves like a fresh sequence
    y = stream.step(x[0])
    with torch.no_grad():
        ref, _ = unroll(cell, x[:1, 1:2])
    torch.testing.assert_close(y[1], ref[0, 0])


def test_chunk_lengths_carry_state() -> None:
    layer = Recurrent(GRUCell(2, 3), batch_first=True)
    x = torch.randn(2, 5, 2)
    stream = Stream(layer, batch_size=2)
    stream.feed(x[:, :3], lengths=[3, 1])
    stream.feed(x[:, 3:])
    with torch.no_grad():
        _, ref1 = layer(torch.cat([x[1:, :1], x[1:, 3:]], 1))
    torch.testing.assert_close(stream.state[1], ref1[0])


def test_stream_errors() -> None:
    stream = Stream(LSTMCell(3, 4), batch_size=2)
    with pytest.raises(ValueError, match=r"Stream: x must be of shape \(2, 3\), got \(3, 3\)"):
        stream.step(torch.randn(3, 3))
    with pytest.raises(ValueError, match=r"Stream: streams must be indices in \[0, 2\), got \[5\]"):
        stream.reset([5])
    with pytest.raises(ValueError, match="Stream: batch_size must be > 0, got 0"):
        Stream(LSTMCell(3, 4), batch_size=0)


@pytest.mark.parametrize("make", [lambda: LSTMCell(3, 6, use_peepholes=True, proj_size=4), lambda: GRUCell(3, 5),
                                  lambda: GRUCell(3, 5, reset_after=False)])
@pytest.mark.parametrize("batch_first", [False, True])
def test_step_calls_the_cell_directly(make: object, batch_first: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stream.step on a Recurrent is one cell call (no fast-path choice): same outputs and state as the
    reference unroll of the whole sequence; fused=True still goes through the layer."""
    import rnnkit.layers

    torch.manual_seed(0)
    layer = Recurrent(make(), batch_first=batch_first)
    x = torch.randn(7, 2, 3)
    with torch.no_grad():
        full, final = unroll(layer.cell, x)
    stream = Stream(layer, batch_size=2)

    def no_dispatch(*args: object, **kwargs: object) -> None:
        raise AssertionError("Stream.step chose a fast path")

    monkeypatch.setattr(rnnkit.layers, "choose", no_dispatch)
    outs = torch.stack([stream.step(x[t]) for t in range(7)])
    torch.testing.assert_close(outs, full)
    assert_states_close(stream.state, final)
    monkeypatch.undo()
    strict = Stream(Recurrent(layer.cell, fused=True, batch_first=batch_first), batch_size=2)
    assert strict._step_cell() is None
