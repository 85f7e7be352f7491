"""The compiled kernels' own sigmoid and tanh (``csrc/activations.h``) against the exact functions.

The kernels compute float32 activations with their own branch-free code (a polynomial ``exp`` for
the sigmoid, a rational function for tanh) so that the pointwise loops vectorise; the parity tests
compare whole cells at 1e-5, which would not notice an approximation that got a few times worse.
Here every float32 activation is held to an error bound against float64 ``torch`` over the whole
range where they vary, and float64 must be exact (it is the gradcheck dtype).
"""

from __future__ import annotations

import torch

from tests.fused.core import compiled_core


def _inputs(dtype: torch.dtype) -> torch.Tensor:
    dense = torch.linspace(-20.0, 20.0, 400_001, dtype=torch.float64)
    tiny = torch.logspace(-30, 1.3, 20_001, dtype=torch.float64)
    return torch.cat([dense, tiny, -tiny, torch.tensor([0.0, 88.0, -88.0, 1e30, -1e30], dtype=torch.float64)]).to(dtype)


def _ulps(actual: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    """Error in units of the float32 spacing at the exact value."""
    spacing = torch.from_numpy(__import__("numpy").spacing(exact.abs().float().numpy())).double()
    return (actual.double() - exact).abs() / spacing


def test_float32_activations_within_their_bounds() -> None:
    module = compiled_core()
    x = _inputs(torch.float32)
    sig, tanh = module.activations(x)
    exact_sig, exact_tanh = torch.sigmoid(x.double()), torch.tanh(x.double())
    normal = exact_sig >= torch.finfo(torch.float32).tiny  # below, ulps of subnormals say nothing
    assert float(_ulps(sig[normal], exact_sig[normal]).max()) <= 3.0  # 2.47 measured (torch's float32: 2.47)
    assert float((sig.double() - exact_sig)[~normal].abs().max()) <= torch.finfo(torch.float32).tiny
    assert float((tanh.double() - exact_tanh).abs().max()) <= 3e-7  # 2.6e-7 measured
    assert float(_ulps(tanh, exact_tanh).max()) <= 5.0  # 4.31 measured, at x = -5.21
    # odd, bounded, exact at 0
    assert torch.equal(tanh, -module.activations(-x)[1])
    assert float(tanh.abs().max()) <= 1.0 and float(sig.min()) >= 0.0 and float(sig.max()) <= 1.0
    assert float(tanh[x == 0].abs().max()) == 0.0


def test_float64_activations_are_exact() -> None:
    module = compiled_core()
    x = _inputs(torch.float64)
    sig, tanh = module.activations(x)
    torch.testing.assert_close(sig, torch.sigmoid(x), rtol=1e-15, atol=1e-300)
    torch.testing.assert_close(tanh, torch.tanh(x), rtol=1e-15, atol=1e-300)
