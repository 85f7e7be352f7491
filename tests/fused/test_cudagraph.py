"""The CUDA-graph fallback: its reasons everywhere; parity, cache reuse and inference replay on a GPU.

The tests marked ``needs_cuda`` need a real GPU (a CUDA graph cannot be
emulated on the CPU) and skip elsewhere with that reason; the others run anywhere.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.fused import cudagraph, registered
from rnnkit.state import LSTMState, state_leaves
from rnnkit.unroll import unroll_unchecked

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="CUDA graphs need a CUDA GPU; none in this run (not emulated on the CPU)")


class UserCell(nn.Module):
    """A user's own cell the built-in paths do not know: ``h' = tanh(x W + h U) * sigmoid(c)``, ``c' = c + h'``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.w = nn.Linear(input_size, hidden_size)
        self.u = nn.Linear(hidden_size, hidden_size, bias=False)

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> LSTMState:
        z = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return LSTMState(z, z.clone())

    def forward(self, x: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        h, c = state
        h_new = torch.tanh(self.w(x) + self.u(h)) * torch.sigmoid(c)
        return h_new, LSTMState(h_new, c + h_new)


@pytest.fixture
def graphs() -> Any:
    """The path, enabled for the test and disabled (cache cleared) after."""
    cudagraph.enable(True)
    yield cudagraph.PATH
    cudagraph.enable(False)


def test_off_by_default_and_reasons(graphs: Any) -> None:
    cell = UserCell(3, 4)
    x = torch.zeros(5, 2, 3)
    assert graphs.supports(cell, x, None) == "CUDA graphs need a CUDA input, not cpu"
    assert "without lengths" in graphs.supports(cell, x, torch.tensor([5, 3]))
    assert "nn.Module" in graphs.supports(lambda x, s: (x, s), x, None)
    cudagraph.enable(False)
    assert "off by default" in graphs.supports(cell, x, None)
    assert "cuda-graph" in [p.name for p in registered()]


def test_cache_key_separates_signatures() -> None:
    cell = UserCell(3, 4)
    x = torch.zeros(5, 2, 3)
    leaves = state_leaves(cell.initial_state(2))
    key = cudagraph.cache_key(cell, x, leaves, False)
    assert key == cudagraph.cache_key(cell, torch.ones(5, 2, 3), leaves, False)
    assert key != cudagraph.cache_key(cell, torch.zeros(6, 2, 3), leaves, False)
    assert key != cudagraph.cache_key(cell, x, leaves, True)
    assert key != cudagraph.cache_key(cell, x.requires_grad_(), leaves, False)
    assert key != cudagraph.cache_key(UserCell(3, 4), torch.zeros(5, 2, 3), leaves, False)


@needs_cuda
@pytest.mark.parametrize("reverse", [False, True])
def test_matches_reference_on_gpu(graphs: Any, reverse: bool) -> None:
    torch.manual_seed(0)
    cell = UserCell(3, 8).cuda()
    x = torch.randn(7, 4, 3, device="cuda")
    h0 = LSTMState(torch.randn(4, 8, device="cuda"), torch.randn(4, 8, device="cuda"))
    results = []
    for runner in ("graph", "reference"):
        inputs = (0.5 * x, x) if runner == "graph" else (x,)  # the graph's second call replays the cached graph
        for k, xin in enumerate(inputs):
            cell.zero_grad()
            xr = xin.clone().requires_grad_(True)
            st = LSTMState(*(s.clone().requires_grad_(True) for s in h0))
            if runner == "graph":
                out, final = graphs.run(cell, xr, st, None, reverse)
            else:
                out, final = unroll_unchecked(cell, xr, st, None, reverse)
            loss = (out * torch.linspace(-1, 1, out.numel(), device="cuda").view_as(out)).sum() + final.c.sum()
            loss.backward()
            if runner == "graph" and k == 0:
                kept, copy = out.detach(), out.detach().clone()
        results.append([out.detach(), *[s.detach() for s in final], xr.grad, *[s.grad for s in st],
                        *[p.grad.clone() for p in cell.parameters()]])
    assert torch.equal(kept, copy)  # the second replay did not overwrite the first call's output
    assert len(cudagraph._cache) == 1
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@needs_cuda
def test_inference_replay_and_layer_auto(graphs: Any) -> None:
    torch.manual_seed(0)
    cell = UserCell(3, 8).cuda()
    layer, ref_layer = rnnkit.Recurrent(cell), rnnkit.Recurrent(cell, fused=False)
    for _ in range(2):
        x = torch.randn(6, 5, 3, device="cuda")
        with torch.no_grad():
            out, _ = layer(x)
            ref, _ = ref_layer(x)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert len(cudagraph._cache) == 1


def test_run_plumbing_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything around the capture (state flattened into graph inputs and rebuilt, outputs copied out) with
    the captured callable replaced by the eager module it would capture: equal to the reference runner."""
    captured = []

    def eager(cell: Any, x: torch.Tensor, leaves: list, structure: Any, reverse: bool) -> Any:
        module = cudagraph._Unrolled(cell, structure, reverse)
        captured.append(module)
        return module

    monkeypatch.setattr(cudagraph, "_graphed", eager)
    torch.manual_seed(0)
    cell = UserCell(3, 4)
    x = torch.randn(5, 2, 3)
    state = LSTMState(torch.randn(2, 4), torch.randn(2, 4))
    for reverse in (False, True):
        out, final = cudagraph.PATH.run(cell, x, state, None, reverse)
        ref, ref_final = unroll_unchecked(cell, x, state, None, reverse)
        assert isinstance(final, LSTMState)
        torch.testing.assert_close(out, ref, rtol=0, atol=0)
        for a, b in zip(final, ref_final, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    out, _ = cudagraph.PATH.run(cell, x, None, None, False)  # default state from the cell
    torch.testing.assert_close(out, unroll_unchecked(cell, x, None, None, False)[0], rtol=0, atol=0)
    assert len(captured) == 3
