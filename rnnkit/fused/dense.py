r"""The input projection :math:`x W^\top + b` of the compiled kernels, with its GEMMs on the faster library.

``torch.nn.functional.linear`` runs float GEMMs on MKL. MKL picks its tuned kernels by CPU
vendor: on an AMD Zen 4 machine oneDNN's matmul, which torch also ships and ``torch.nn.LSTM``
uses, was 1.2-2.3x faster on an RNN layer's tall and thin GEMMs (the projection
``(T B, I) @ (I, G H)``, and in the backward ``dx = dU W`` and ``dW = dU^\top x``, e.g.
``(3584, 512) @ (512, 28)``: 2.84 ms vs 1.26 ms), while on an Intel Xeon MKL is the faster
one (the same GEMM 1.04 vs 1.08 ms; ``benchmarks/README.md``). :func:`linear` is ``F.linear``
with those three GEMMs on the compiled core's ``dense_mm``: oneDNN for large float32 GEMMs
except on Intel CPUs, ``at::mm`` otherwise; ``RNNKIT_ONEDNN_GEMM=1`` / ``0`` forces oneDNN /
``at::mm``. Only the compiled fast paths use it; the reference runner keeps ``F.linear``.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.fused.build import load


class DenseLinearFunction(torch.autograd.Function):
    """``x W^T + b`` on ``(N, I)`` rows with ``dense_mm`` for the forward and both backward GEMMs."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
        out = load().dense_mm(x, weight.t())
        if bias is not None:
            out.add_(bias)
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Optional[Tensor], Optional[Tensor], Optional[Tensor]]:
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        module = load()
        dx = module.dense_mm(grad, weight) if ctx.needs_input_grad[0] else None
        dw = module.dense_mm(grad.t(), x) if ctx.needs_input_grad[1] else None
        db = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return dx, dw, db


def linear(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """``F.linear(x, weight, bias)`` for ``x`` of shape ``(..., I)``, on oneDNN where it pays.

    Args:
        x: ``(..., I)``.
        weight: ``(O, I)``.
        bias: ``(O,)`` or None.

    Returns:
        ``(..., O)``, contiguous.

    Raises:
        ValueError: ``weight`` is not ``(O, I)`` for ``x``'s last size ``I``, or ``bias`` is not ``(O,)``.
    """
    if weight.dim() != 2 or x.dim() < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: weight must be (O, I) with I = x.shape[-1] = "
                         f"{x.shape[-1] if x.dim() else None}, got weight {tuple(weight.shape)} for x {tuple(x.shape)}")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias must be ({weight.shape[0]},) for weight {tuple(weight.shape)}, "
                         f"got {tuple(bias.shape)}")
    module = load()
    if (module is None or x.dtype != torch.float32 or x.device.type != "cpu" or weight.dtype != torch.float32
            or x.shape[-1] == 0 or x.numel() == 0):
        return F.linear(x, weight, bias).contiguous()
    rows = x.reshape(-1, x.shape[-1]).contiguous()
    return DenseLinearFunction.apply(rows, weight, bias).reshape(*x.shape[:-1], weight.shape[0])


def project_in_loop(x: Tensor) -> bool:
    """Whether a compiled kernel's inference call makes its input projection itself (``csrc/inputsteps.h``).

    Chunk by chunk, just before the steps that read it: 0.74-0.90x the time of the layer at S1-S4 on the
    Intel machine of ``benchmarks/README.md``, where the chunks' GEMMs (MKL's packed GEMM) and the
    whole-sequence ones are both MKL's. Only there: float32 with MKL's packed GEMM on and the
    whole-sequence GEMMs on MKL (an Intel CPU, or ``RNNKIT_ONEDNN_GEMM=0``). Where oneDNN runs the
    whole-sequence GEMMs (other CPUs; MKL's generic code was 2.3x slower than oneDNN on these shapes on
    an AMD Zen 4), the projection stays one oneDNN GEMM, unmeasured against chunks.
    """
    module = load()
    return x.dtype == torch.float32 and module.packed_gemm_enabled() and not module.dense_gemm_enabled()
