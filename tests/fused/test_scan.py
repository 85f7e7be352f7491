"""The log-space parallel scan path for MinGRUCell / MinLSTMCell: parity with the sequential loop
(outputs, final states, gradients; lengths, reverse, any initial state), float64 gradcheck, dispatch."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from rnnkit import Bidirectional, LSTMCell, Recurrent, Stacked
from rnnkit.cells.minimal import MinGRUCell, MinLSTMCell
from rnnkit.fused import choose, registered
from rnnkit.fused.scan import MinRNNScanPath, log_space_scan, scan_unroll
from rnnkit.unroll import unroll_unchecked
from tests.contract import manual_loop

I, H = 3, 5
CELL_TYPES = [MinGRUCell, MinLSTMCell]


def assert_rel_close(actual: Tensor, expected: Tensor, rel: float) -> None:
    """max |actual - expected| <= rel * max |expected| (relative to the tensor's scale)."""
    assert actual.shape == expected.shape
    scale = expected.abs().max().clamp_min(1e-30)
    err = (actual - expected).abs().max()
    assert err <= rel * scale, f"max abs error {float(err):.3e} > {rel:.0e} * {float(scale):.3e}"


def explicit_recurrence(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    h, out = h0, []
    for t in range(log_a.shape[0]):
        h = log_a[t].exp() * h + log_b[t].exp()
        out.append(h)
    return torch.stack(out) if out else log_a.new_zeros(log_a.shape)


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 1000])
def test_log_space_scan_solves_the_recurrence(chunk_size: int) -> None:
    g = torch.Generator().manual_seed(0)
    log_a = -torch.rand(7, 2, 4, generator=g, dtype=torch.float64) * 3
    log_b = torch.randn(7, 2, 4, generator=g, dtype=torch.float64)
    h0 = torch.randn(2, 4, generator=g, dtype=torch.float64)  # mixed signs: the initial state enters linearly
    torch.testing.assert_close(log_space_scan(log_a, log_b, h0, chunk_size=chunk_size),
                               explicit_recurrence(log_a, log_b, h0))
    assert log_space_scan(log_a[:0], log_b[:0], h0).shape == (0, 2, 4)


def test_log_space_scan_half_precision_runs_in_float32() -> None:
    g = torch.Generator().manual_seed(1)
    log_a = (-torch.rand(200, 2, 4, generator=g) * 0.05).bfloat16()  # slow decay: a long memory
    log_b = torch.randn(200, 2, 4, generator=g).bfloat16()
    h0 = torch.randn(2, 4, generator=g).bfloat16()
    out = log_space_scan(log_a, log_b, h0)
    assert out.dtype == torch.bfloat16
    ref = explicit_recurrence(log_a.double(), log_b.double(), h0.double())
    assert_rel_close(out.double(), ref, 1e-2)  # bfloat16 output rounding only


@pytest.mark.parametrize("cell_type", CELL_TYPES)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("h0_kind", ["random", "zeros", "negative", "none"])
def test_scan_equals_sequential_loop_float32(cell_type: type, reverse: bool, h0_kind: str) -> None:
    """Outputs, final state and every gradient within 1e-5 relative; lengths 0, 1, T and between; chunks carried."""
    torch.manual_seed(1)
    T, B = 75, 5  # several 32-step chunks
    cell = cell_type(I, H)
    x = (torch.randn(T, B, I) * 2).requires_grad_(True)
    h0 = {"random": torch.randn(B, H), "zeros": torch.zeros(B, H), "negative": -torch.rand(B, H) * 5,
          "none": None}[h0_kind]
    if h0 is not None:
        h0.requires_grad_(True)
    lengths = torch.tensor([40, 0, T, 1, 33])
    fast = Recurrent(cell, reverse=reverse, fused=True)
    slow = Recurrent(cell, reverse=reverse, fused=False)
    w_out = torch.randn(T, B, H)
    w_fin = torch.randn(B, H)
    results = []
    for layer in (fast, slow):
        out, final = layer(x, h0, lengths=lengths)
        inputs = [x, *cell.parameters()] + ([h0] if h0 is not None else [])
        grads = torch.autograd.grad((out * w_out).sum() + (final * w_fin).sum(), inputs)
        results.append((out, final, grads))
    (out, final, grads), (ref_out, ref_final, ref_grads) = results
    for b, length in enumerate(lengths.tolist()):
        assert torch.count_nonzero(out[length:, b]) == 0
    assert_rel_close(out, ref_out, 1e-5)
    assert_rel_close(final, ref_final, 1e-5)
    for grad, ref_grad in zip(grads, ref_grads, strict=True):
        assert_rel_close(grad, ref_grad, 1e-5)
    if h0 is not None:  # a zero-length sequence returns its initial state
        torch.testing.assert_close(final[1], h0[1].detach(), rtol=0, atol=0)


@pytest.mark.parametrize("cell_type", CELL_TYPES)
def test_scan_equals_per_sequence_reference_float64(cell_type: type) -> None:
    """Against the contract's independent per-sequence loop (no shared code with either runner)."""
    torch.manual_seed(2)
    cell = cell_type(I, H).double()
    x = torch.randn(9, 4, I, dtype=torch.float64) * 3
    h0 = torch.randn(4, H, dtype=torch.float64)
    lengths = [9, 0, 4, 1]
    for reverse in (False, True):
        out, final = scan_unroll(cell, x, h0, torch.tensor(lengths), reverse, chunk_size=4)
        ref_out, ref_final = manual_loop(cell, x, h0, lengths, reverse=reverse)
        torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(final, ref_final, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell_type", CELL_TYPES)
def test_long_sequence_float32_precision(cell_type: type) -> None:
    """Chunking keeps a 2,000-step float32 scan within 1e-5 of the float64 sequential result."""
    torch.manual_seed(3)
    cell = cell_type(I, H)
    with torch.no_grad():
        cell.weight_ih.mul_(3)  # more saturated gates: larger |log a| per step
    x = torch.randn(2000, 2, I) * 2
    h0 = torch.randn(2, H)
    with torch.no_grad():
        out, final = scan_unroll(cell, x, h0, None, False)
        ref_out, ref_final = unroll_unchecked(cell.double(), x.double(), h0.double(), None, False)
    assert_rel_close(out.double(), ref_out, 1e-5)
    assert_rel_close(final.double(), ref_final, 1e-5)


class ScanRunner(torch.nn.Module):
    """``scan_unroll`` as a module, so that ``functional_call`` can swap the cell's parameters."""

    def __init__(self, cell: torch.nn.Module, lengths: Tensor, reverse: bool, chunk_size: int) -> None:
        super().__init__()
        self.cell, self.lengths, self.reverse, self.chunk_size = cell, lengths, reverse, chunk_size

    def forward(self, x: Tensor, h0: Tensor) -> tuple[Tensor, Tensor]:
        return scan_unroll(self.cell, x, h0, self.lengths, self.reverse, chunk_size=self.chunk_size)


@pytest.mark.parametrize("cell_type", CELL_TYPES)
@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_float64(cell_type: type, reverse: bool) -> None:
    """Inputs, initial state and parameters; lengths 0, 1, T and between; a chunk boundary inside."""
    torch.manual_seed(4)
    cell = cell_type(2, 3).double()
    T, B = 5, 4
    x = torch.randn(T, B, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([T, 0, 1, 3])
    runner = ScanRunner(cell, lengths, reverse, chunk_size=2)
    names = [n for n, _ in runner.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in runner.parameters()]

    def fn(x: Tensor, h0: Tensor, *p: Tensor) -> tuple[Tensor, Tensor]:
        return torch.func.functional_call(runner, dict(zip(names, p)), (x, h0))

    assert torch.autograd.gradcheck(fn, (x, h0, *params))


def test_edge_shapes_and_batch_first() -> None:
    cell = MinGRUCell(I, H)
    layer = Recurrent(cell, fused=True)
    out, final = layer(torch.randn(0, 3, I))
    assert out.shape == (0, 3, H) and torch.equal(final, torch.zeros(3, H))
    out, final = layer(torch.randn(4, 0, I))
    assert out.shape == (4, 0, H) and final.shape == (0, H)
    h0 = torch.randn(2, H)
    out, final = layer(torch.randn(4, 2, I), h0, lengths=[0, 0])
    assert torch.count_nonzero(out) == 0 and torch.equal(final, h0)
    x = torch.randn(2, 6, I)
    fast = Recurrent(cell, batch_first=True, fused=True)(x, lengths=[6, 2])
    slow = Recurrent(cell, batch_first=True, fused=False)(x, lengths=[6, 2])
    torch.testing.assert_close(fast[0], slow[0])
    torch.testing.assert_close(fast[1], slow[1])
    for reverse in (False, True):  # no lengths at all
        fast = Recurrent(cell, reverse=reverse, fused=True)(x.transpose(0, 1), h0)
        slow = Recurrent(cell, reverse=reverse, fused=False)(x.transpose(0, 1), h0)
        torch.testing.assert_close(fast[0], slow[0])
        torch.testing.assert_close(fast[1], slow[1])


def test_bidirectional_uses_scan_and_matches_reference() -> None:
    torch.manual_seed(5)
    fw, bw = MinLSTMCell(I, H), MinGRUCell(I, H)
    x, lengths = torch.randn(6, 3, I), torch.tensor([6, 2, 4])
    out, final = Bidirectional(fw, bw)(x, lengths=lengths)
    ref = Bidirectional(Recurrent(fw, fused=False), Recurrent(bw, reverse=True, fused=False))
    ref_out, ref_final = ref(x, lengths=lengths)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(final[1], ref_final[1])


def test_stacked_layers_use_scan_and_match_reference() -> None:
    torch.manual_seed(6)
    cells = [MinGRUCell(I, H), MinLSTMCell(H, H)]
    x, lengths = torch.randn(7, 3, I), torch.tensor([7, 0, 3])
    out, final = Stacked(cells)(x, lengths=lengths)
    ref_out, ref_final = Stacked([Recurrent(c, fused=False) for c in cells])(x, lengths=lengths)
    torch.testing.assert_close(out, ref_out)
    for a, b in zip(final, ref_final, strict=True):
        torch.testing.assert_close(a, b)


def test_dispatch() -> None:
    assert "scan" in [p.name for p in registered()]
    x = torch.randn(4, 2, I)
    assert choose("Recurrent", MinGRUCell(I, H), x, None, "auto").name == "scan"
    assert choose("Recurrent", MinLSTMCell(I, H), x, None, "auto").name == "scan"
    path = MinRNNScanPath()
    reason = path.supports(LSTMCell(I, H), x, None)
    assert reason == "only MinGRUCell and MinLSTMCell run as a parallel scan, got LSTMCell"

    class Shifted(MinGRUCell):  # a subclass may change the step: it must run through the reference loop
        def recur(self, projected: Tensor, state: Any) -> tuple[Tensor, Tensor]:
            y, h = super().recur(projected, state)
            return y + 1, h + 1

    assert path.supports(Shifted(I, H), x, None) is not None
    with pytest.raises(ValueError, match="scan: only MinGRUCell and MinLSTMCell run as a parallel scan, got Shifted"):
        Recurrent(Shifted(I, H), fused=True)(x)
    with pytest.raises(ValueError, match=r"^MinRNNScanPath: chunk_size must be > 0, got 0$"):
        MinRNNScanPath(chunk_size=0)
    with pytest.raises(ValueError, match=r"^log_space_scan: chunk_size must be > 0, got -1$"):
        log_space_scan(x, x, x[0], chunk_size=-1)
