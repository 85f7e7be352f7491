"""The compiled kernels' buffer pool (``csrc/workspace.cpp``, ``rnnkit.fused.workspace``).

What must hold: a pooled buffer is handed out again only when no tensor uses it (outputs a user
keeps never change under a later call), steady training reuses memory instead of growing the pool,
the limit ``RNNKIT_WORKSPACE_MB`` bounds it (0: off), and ``release_workspace`` frees only what is free.
"""

from __future__ import annotations

import gc
from typing import Any

import pytest
import torch

import rnnkit
from rnnkit.cells import LSTMCell
from rnnkit.fused import build
from rnnkit.fused import workspace as ws
from tests.fused.core import compiled_core

T, B, I, H = 20, 64, 16, 64  # the (T, B, 4H) buffers are 1.3 MB: over the pool's 256 KiB minimum


@pytest.fixture()
def layer(monkeypatch: pytest.MonkeyPatch) -> Any:
    compiled_core()
    monkeypatch.delenv("RNNKIT_WORKSPACE_MB", raising=False)
    torch.manual_seed(0)
    return rnnkit.Recurrent(LSTMCell(I, H, use_peepholes=True), fused=True)


def _train_step(layer: Any, x: torch.Tensor) -> torch.Tensor:
    y, _ = layer(x)
    y.square().sum().backward()
    return y.detach()


def test_kept_outputs_never_change(layer: Any) -> None:
    """Outputs and saved graphs of earlier calls, still held, survive later calls bit for bit."""
    xs = [torch.randn(T, B, I) for _ in range(4)]
    kept = [layer(x)[0] for x in xs]  # graphs alive: their saved buffers are in use
    copies = [k.detach().clone() for k in kept]
    for x in xs:
        _train_step(layer, x)
    for k, c in zip(kept, copies):
        assert torch.equal(k.detach(), c)
    with torch.no_grad():
        for x, k in zip(xs, kept):
            assert torch.equal(layer(x)[0], k.detach())  # recomputed: same numbers


def test_steady_training_reuses_the_pool(layer: Any) -> None:
    x = torch.randn(T, B, I)
    ws.release_workspace()
    _train_step(layer, x)
    gc.collect()
    after_one = ws.workspace_bytes()
    assert after_one > 0 and ws.workspace_free_bytes() == after_one  # nothing holds the step's buffers
    for _ in range(3):
        _train_step(layer, x)
    assert ws.workspace_bytes() == after_one  # reused, not grown
    assert ws.workspace_limit() == 1024 << 20


def test_release_frees_only_free_buffers(layer: Any) -> None:
    x = torch.randn(T, B, I)
    ws.release_workspace()
    y, _ = layer(x)  # the graph holds the saved buffers
    held = ws.workspace_bytes()
    assert held > 0 and ws.workspace_free_bytes() < held
    ws.release_workspace()
    assert ws.workspace_bytes() > 0
    expected = y.detach().clone()
    y.sum().backward()  # the saved buffers are still valid for the backward
    assert torch.equal(y.detach(), expected)
    del y
    gc.collect()
    assert ws.release_workspace() > 0
    assert ws.workspace_bytes() == 0


def test_limit_and_off(layer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(T, B, I)
    ws.release_workspace()
    monkeypatch.setenv("RNNKIT_WORKSPACE_MB", "0")
    _train_step(layer, x)
    assert ws.workspace_bytes() == 0 and ws.workspace_limit() == 0
    monkeypatch.setenv("RNNKIT_WORKSPACE_MB", "2")
    _train_step(layer, x)
    assert 0 < ws.workspace_bytes() <= 2 << 20
    monkeypatch.setenv("RNNKIT_WORKSPACE_MB", "lots")  # not a number: the default
    assert ws.workspace_limit() == 1024 << 20


def test_pool_and_no_pool_agree(layer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(T, B, I)
    grads = []
    for mb in ("0", "1024", "1024"):  # fresh buffers, then pooled (reused) ones
        monkeypatch.setenv("RNNKIT_WORKSPACE_MB", mb)
        layer.zero_grad()
        y = _train_step(layer, x)
        grads.append([y, *[p.grad.clone() for p in layer.parameters()]])
    for other in grads[1:]:
        for a, b in zip(grads[0], other):
            assert torch.equal(a, b)


def test_not_loaded_reports_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "_module", None)
    assert ws.workspace_bytes() == ws.workspace_free_bytes() == ws.workspace_limit() == ws.release_workspace() == 0
