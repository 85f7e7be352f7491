"""unroll_checkpointed equals the unsegmented run: outputs, final state and
every gradient, with lengths, reverse and per-step dropout (RNG replay)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch

from rnnkit.cells import GRUCell, LSTMCell
from rnnkit.fused.checkpointed import default_segment_length, unroll_checkpointed
from rnnkit.state import map_state, state_leaves
from rnnkit.unroll import unroll_unchecked


def _dropout_lstm() -> Any:
    from rnnkit.wrappers import Dropout

    return Dropout(LSTMCell(3, 4), output_dropout=0.3, state_dropout=0.2)


CELLS: dict[str, Callable[[], Any]] = {
    "lstm-peephole": lambda: LSTMCell(3, 4, use_peepholes=True, cell_clip=1.0),
    "gru": lambda: GRUCell(3, 4),
    "dropout-lstm": _dropout_lstm,
}


def _grads(fn: Callable, cell: Any, x: torch.Tensor, state: Any) -> list[torch.Tensor]:
    xr = x.clone().requires_grad_(True)
    st = map_state(lambda s: s.clone().requires_grad_(True), state)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        out, final = fn(xr, st)
    leaves = state_leaves(final)
    loss = sum((t * torch.linspace(-1, 1, t.numel()).view_as(t)).sum() for t in (out, *leaves))
    grads = torch.autograd.grad(loss, [xr, *state_leaves(st), *cell.parameters()], allow_unused=True)
    return [out.detach(), *[s.detach() for s in leaves], *[g for g in grads if g is not None]]


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("reverse", [False, True])
def test_equals_unsegmented(name: str, reverse: bool) -> None:
    torch.manual_seed(0)
    cell = CELLS[name]()
    T, B = 23, 4
    x = torch.randn(T, B, 3)
    state = map_state(lambda s: torch.randn(s.shape), cell.initial_state(B))
    lengths = torch.tensor([23, 0, 9, 17])
    segmented = _grads(lambda xr, st: unroll_checkpointed(cell, xr, st, lengths, reverse, 4), cell, x, state)
    reference = _grads(lambda xr, st: unroll_unchecked(cell, xr, st, lengths, reverse), cell, x, state)
    assert len(segmented) == len(reference)
    for a, b in zip(segmented, reference):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_default_segment_length_and_validation() -> None:
    assert [default_segment_length(n) for n in (1, 4, 5, 100, 101)] == [1, 2, 3, 10, 11]
    with pytest.raises(ValueError, match="unroll_checkpointed: segment_length must be > 0, got 0"):
        unroll_checkpointed(GRUCell(3, 4), torch.randn(5, 2, 3), None, None, False, 0)


def test_fused_false_runs_reference_per_segment() -> None:
    torch.manual_seed(0)
    cell = LSTMCell(3, 4, use_peepholes=True)
    x = torch.randn(10, 2, 3)
    ref = _grads(lambda xr, st: unroll_unchecked(cell, xr, st, None, False), cell, x, cell.initial_state(2))
    seg = _grads(lambda xr, st: unroll_checkpointed(cell, xr, st, None, False, 3, fused=False), cell, x,
                 cell.initial_state(2))
    for a, b in zip(seg, ref):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="unroll_checkpointed: fused must be 'auto', True or False, got 'yes'"):
        unroll_checkpointed(cell, x, None, None, False, 3, fused="yes")


def _zoneout_gru() -> Any:
    from rnnkit.wrappers import Zoneout

    return Zoneout(GRUCell(3, 4), h=0.3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the GPU machine)")
@pytest.mark.parametrize("make", [_dropout_lstm, _zoneout_gru], ids=["dropout-lstm", "zoneout-gru"])
def test_random_wrappers_on_cuda_replay_the_cuda_rng(make: Callable[[], Any]) -> None:
    """Masks drawn on the GPU inside steps are the same in the forward pass and the recomputation, so the
    gradients equal the unsegmented run's (with only the CPU RNG replayed, they did not)."""
    torch.manual_seed(0)
    cell = make().cuda().train()
    T, B = 23, 4
    x = torch.randn(T, B, 3, device="cuda")
    state = map_state(lambda s: torch.randn(s.shape, device="cuda"), cell.initial_state(B, device="cuda"))
    lengths = torch.tensor([23, 0, 9, 17], device="cuda")
    segmented = _grads(lambda xr, st: unroll_checkpointed(cell, xr, st, lengths, False, 4), cell, x, state)
    reference = _grads(lambda xr, st: unroll_unchecked(cell, xr, st, lengths, False), cell, x, state)
    for a, b in zip(segmented, reference):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    before = torch.cuda.get_rng_state()
    out, _ = unroll_checkpointed(cell, x.requires_grad_(True), state, lengths, False, 4)
    after_forward = torch.cuda.get_rng_state()
    out.sum().backward()
    assert not torch.equal(before, after_forward) and torch.equal(torch.cuda.get_rng_state(), after_forward)


class _SavedBytes:
    """Peak bytes of tensors autograd keeps for backward (saved-tensor hooks), the input itself excluded."""

    def __init__(self, exclude: torch.Tensor) -> None:
        self.exclude = exclude.untyped_storage().data_ptr()
        self.live = self.peak = 0

    def pack(self, t: torch.Tensor) -> Any:
        import weakref

        if t.untyped_storage().data_ptr() == self.exclude:
            return t
        holder = _Held(t)
        self.live += t.untyped_storage().nbytes()
        self.peak = max(self.peak, self.live)
        weakref.finalize(holder, self._release, t.untyped_storage().nbytes())
        return holder

    def _release(self, n: int) -> None:
        self.live -= n

    @staticmethod
    def unpack(p: Any) -> torch.Tensor:
        return p.t if isinstance(p, _Held) else p


class _Held:
    def __init__(self, t: torch.Tensor) -> None:
        self.t = t


def _peak_saved(T: int, checkpointed: bool) -> int:
    torch.manual_seed(0)
    cell = LSTMCell(3, 16)
    x = torch.randn(T, 2, 3, requires_grad=True)
    meter = _SavedBytes(x)
    with torch.autograd.graph.saved_tensors_hooks(meter.pack, meter.unpack):
        if checkpointed:
            out, _ = unroll_checkpointed(cell, x, None, None, False, fused=False)
        else:
            out, _ = unroll_unchecked(cell, x, cell.initial_state(2), None, False)
        out.sum().backward()
    return meter.peak


def test_peak_activation_memory_grows_like_sqrt_T() -> None:
    """16 times the steps: the saved activations of the reference runner grow ~16x, segmented ~4x (sqrt)."""
    small, large = 64, 1024
    plain = _peak_saved(large, False) / _peak_saved(small, False)
    segmented = _peak_saved(large, True) / _peak_saved(small, True)
    assert plain > 12  # linear in T
    assert segmented < 6, segmented  # sqrt(16) = 4, plus boundary states
    assert _peak_saved(large, True) < _peak_saved(large, False) / 8
