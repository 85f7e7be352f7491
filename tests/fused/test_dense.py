"""``rnnkit.fused.dense.linear`` and the compiled kernels' oneDNN GEMM route (``densegemm.h``).

The parity tests of ``test_compiled.py`` use tiny cells (I = 3, H = 5), whose GEMMs stay under the
size from which the kernels call oneDNN's matmul; here the shapes are large enough for every route:
the input projection and its two backward GEMMs, ``dW_hh`` over all steps, step GEMMs of >= 32 rows
and the layer-norm LSTM's per-step ``dW_hh`` (>= 64 rows). Each runs with ``RNNKIT_ONEDNN_GEMM`` on
and off against the reference runner (float32, 1e-5 of each tensor's scale); unset, the route follows
the CPU vendor (oneDNN except on Intel CPUs).
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
from torch.nn import functional as F

from rnnkit.cells import ElmanCell, GRUCell, LSTMCell
from rnnkit.cells.layernorm import LayerNormLSTMCell
from rnnkit.fused import build
from rnnkit.fused.dense import linear, project_in_loop
from rnnkit.wrappers import Dropout, Zoneout
from tests.fused.core import compiled_core
from tests.fused.test_compiled import _assert_float32_match, _float32_case, _randomised, _run_both, path  # noqa: F401

I, H = 48, 64
BIG_CONFIGS: dict[str, Callable[[], Any]] = {
    "lstm": lambda: LSTMCell(I, H),
    "lstm-peephole-projection": lambda: LSTMCell(I, H, use_peepholes=True, proj_size=40, forget_bias=1.0),
    "gru": lambda: GRUCell(I, H),
    "gru-reset-before": lambda: GRUCell(I, H, reset_after=False),
    "elman": lambda: ElmanCell(I, H),
    "lnlstm": lambda: _randomised(LayerNormLSTMCell(I, H)),
    "zoneout": lambda: Zoneout(LSTMCell(I, H), h=0.1, c=0.05),
    "dropout-variational": lambda: Dropout(LSTMCell(I, H), input_dropout=0.2, output_dropout=0.2, state_dropout=0.3,
                                           variational=True),
}


@pytest.fixture()
def module() -> Any:
    return compiled_core()


@pytest.mark.parametrize("onednn", ["1", "0"])
@pytest.mark.parametrize("name", sorted(BIG_CONFIGS))
def test_big_shapes_match_reference(path: Any, name: str, onednn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """B = 80 rows shrinking to 0 (lengths), so steps run on oneDNN (>= 32 rows) and on at::mm (fewer)."""
    monkeypatch.setenv("RNNKIT_ONEDNN_GEMM", onednn)
    module = build.load()
    if onednn == "1" and not module.dense_gemm_available():
        pytest.skip("this libtorch exports no at::native::mkldnn_matmul: only the at::mm route runs")
    assert module.dense_gemm_enabled() == (onednn == "1")
    T, B = 6, 80
    cell, x, state, g = _float32_case(path, BIG_CONFIGS[name], T, B, seed=7, I=I)
    lengths = torch.randint(0, T + 1, (B,), generator=g)
    lengths[:40] = T  # 40 rows run every step: the first steps have >= 64 rows, the last >= 32
    for lens in (None, lengths):
        for reverse in (False, True):
            _assert_float32_match(*_run_both(path, cell, x, state, lens, reverse))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("onednn", ["1", "0"])
def test_linear_matches_f_linear(module: Any, bias: bool, onednn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forward and the three gradients of ``linear`` on ``(T, B, I)`` against ``F.linear``."""
    monkeypatch.setenv("RNNKIT_ONEDNN_GEMM", onednn)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(7, 90, 40, generator=g)
    w = torch.randn(200, 40, generator=g)
    b = torch.randn(200, generator=g) if bias else None
    dy = torch.randn(7, 90, 200, generator=g)
    results = []
    for fn in (linear, F.linear):
        xs, ws = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        bs = b.clone().requires_grad_(True) if b is not None else None
        y = fn(xs, ws, bs)
        grads = torch.autograd.grad(y, [t for t in (xs, ws, bs) if t is not None], dy)
        results.append([y.detach(), *grads])
    assert results[0][0].shape == (7, 90, 200) and results[0][0].is_contiguous()
    _assert_float32_match(results[0], results[1])


def test_linear_only_the_needed_gradients(module: Any) -> None:
    """A frozen weight gets no gradient GEMM (``needs_input_grad``), the input's still matches."""
    x = torch.randn(50, 40, requires_grad=True)
    w = torch.randn(300, 40)
    y = linear(x, w, None)
    (dx,) = torch.autograd.grad(y.sum(), [x])
    torch.testing.assert_close(dx, torch.ones(50, 300) @ w, rtol=1e-5, atol=1e-4)
    assert w.grad is None


def test_linear_other_dtypes_use_f_linear(module: Any) -> None:
    """float64 (the gradcheck dtype) and empty inputs are F.linear's, bit for bit."""
    x = torch.randn(5, 4, 3, dtype=torch.float64)
    w = torch.randn(6, 3, dtype=torch.float64)
    assert torch.equal(linear(x, w, None), F.linear(x, w))
    empty = torch.zeros(0, 4, 3)
    assert linear(empty, w.float(), None).shape == (0, 4, 6)


def test_dense_mm_layouts(module: Any) -> None:
    """Row-major and transposed operands go to oneDNN; other strides fall back to at::mm; same numbers."""
    g = torch.Generator().manual_seed(2)
    a = torch.randn(300, 200, generator=g)
    b = torch.randn(200, 100, generator=g)
    at = torch.randn(200, 300, generator=g).t()  # transposed view: strides (1, 300)
    strided = torch.randn(300, 400, generator=g)[:, ::2]  # neither layout: at::mm
    for lhs in (a, at, strided):
        torch.testing.assert_close(module.dense_mm(lhs, b), lhs @ b, rtol=1e-5, atol=1e-4)
    small = torch.randn(3, 4, generator=g)
    torch.testing.assert_close(module.dense_mm(small, torch.eye(4)), small)


@pytest.mark.parametrize("x_shape, w_shape, b_shape, message", [
    ((5, 4), (6, 3), None, r"weight must be \(O, I\) with I = x.shape\[-1\] = 4, got weight \(6, 3\) for x \(5, 4\)"),
    ((5, 3), (6, 3, 1), None, r"weight must be \(O, I\).*got weight \(6, 3, 1\)"),
    ((5, 3), (6, 3), (5,), r"bias must be \(6,\) for weight \(6, 3\), got \(5,\)"),
])
def test_linear_shape_errors(x_shape: tuple, w_shape: tuple, b_shape: Any, message: str) -> None:
    """Bad shapes fail with a message naming the argument, also where the fallback (F.linear) would run."""
    bias = torch.zeros(b_shape) if b_shape is not None else None
    with pytest.raises(ValueError, match=message):
        linear(torch.zeros(x_shape), torch.zeros(w_shape), bias)


def _cpuinfo_vendor() -> str:
    """The vendor the kernel reports in /proc/cpuinfo ('' where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def test_default_route_follows_the_cpu_vendor(module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset, the route is oneDNN except on Intel CPUs (MKL's tuned kernels there); 1 / 0 force it.
    The vendor is checked against /proc/cpuinfo's, an independent reading of CPUID."""
    vendor = _cpuinfo_vendor()
    if vendor:
        assert module.intel_cpu() == (vendor == "GenuineIntel")
    available = module.dense_gemm_available()
    monkeypatch.delenv("RNNKIT_ONEDNN_GEMM", raising=False)
    assert module.dense_gemm_enabled() == (available and not module.intel_cpu())
    monkeypatch.setenv("RNNKIT_ONEDNN_GEMM", "")
    assert module.dense_gemm_enabled() == (available and not module.intel_cpu())
    monkeypatch.setenv("RNNKIT_ONEDNN_GEMM", "1")
    assert module.dense_gemm_enabled() == available
    monkeypatch.setenv("RNNKIT_ONEDNN_GEMM", "0")
    assert not module.dense_gemm_enabled()


def test_project_in_loop_where_the_gemms_are_mkl(module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inference makes the input projection in the loop only for float32 where MKL runs both the chunks'
    GEMMs (its packed GEMM) and the whole-sequence ones (Intel, or RNNKIT_ONEDNN_GEMM=0)."""
    x = torch.randn(3, 2, 4)
    monkeypatch.setenv("RNNKIT_ONEDNN_GEMM", "0")
    assert project_in_loop(x) == module.packed_gemm_available()
    assert not project_in_loop(x.double())
    monkeypatch.setenv("RNNKIT_PACKED_GEMM", "0")
    assert not project_in_loop(x)
    monkeypatch.delenv("RNNKIT_PACKED_GEMM")
    monkeypatch.setenv("RNNKIT_ONEDNN_GEMM", "1")
    assert project_in_loop(x) == (module.packed_gemm_available() and not module.dense_gemm_available())
    monkeypatch.delenv("RNNKIT_ONEDNN_GEMM")
    assert project_in_loop(x) == (module.packed_gemm_available() and not module.dense_gemm_enabled())
