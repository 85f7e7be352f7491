r"""The Triton Elman RNN: :class:`rnnkit.cells.ElmanCell`, tanh or relu.

.. math::
    h_t = \phi(x_t W_{ih}^\top + b_{ih} + b_{hh} + h_{t-1} W_{hh}^\top)

Per step: :math:`h_{t-1} W_{hh}^\top` (``torch.mm``, active rows), then ``elman_fwd``.
Backward: ``elman_bwd`` gives :math:`\partial a_t = (\partial y_t + \partial h_t)\, \phi'(a_t)`
(a function of :math:`h_t`: :math:`1 - h_t^2` or :math:`[h_t > 0]`), then
:math:`\partial h_{t-1} \mathrel{+}= \partial a_t W_{hh}`; after the loop
:math:`\partial W_{hh} = \sum_t \partial a_t^\top h_{t-1}` in one GEMM.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from torch import Tensor

from rnnkit.cells.elman import ElmanCell
from rnnkit.fused.sorting import needs_grad
from rnnkit.fused.triton.jitmath import tanh
from rnnkit.fused.triton.steps import Buffers, block_for, grid_for


@triton.jit
def elman_fwd(XP, REC, H_PREV, H_OUT, Y_OUT, n_active, n, RELU: tl.constexpr, BLOCK: tl.constexpr):
    """:math:`h_t = \\phi(` ``XP + REC`` :math:`)` on the first ``n_active`` elements, carried after."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < n
    active = offs < n_active
    a = tl.load(XP + offs, mask=active, other=0.0).to(tl.float32) + tl.load(REC + offs, mask=active, other=0.0)
    if RELU:
        h = tl.maximum(a, 0.0)
    else:
        h = tanh(a)
    h_prev = tl.load(H_PREV + offs, mask=inside, other=0.0)
    tl.store(H_OUT + offs, tl.where(active, h, h_prev), mask=inside)
    tl.store(Y_OUT + offs, tl.where(active, h, 0.0), mask=inside)


@triton.jit
def elman_bwd(DY, DH, DH_PREV, DA, H_NEW, n_active, n, RELU: tl.constexpr, BLOCK: tl.constexpr):
    """``DA`` = :math:`(\\partial y_t + \\partial h_t) \\phi'` (zero on inactive rows); ``DH_PREV`` gets
    :math:`\\partial h_t` on inactive rows, zero on active ones (the GEMM adds the rest)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < n
    active = offs < n_active
    dh = tl.load(DH + offs, mask=inside, other=0.0)
    grad = dh + tl.load(DY + offs, mask=active, other=0.0).to(tl.float32)
    h = tl.load(H_NEW + offs, mask=active, other=0.0)
    if RELU:
        da = tl.where(h > 0, grad, 0.0)
    else:
        da = grad * (1.0 - h * h)
    tl.store(DA + offs, da, mask=active)
    tl.store(DH_PREV + offs, tl.where(active, 0.0, dh), mask=inside)


class TritonElmanFunction(torch.autograd.Function):
    """Autograd wrapper of the Triton Elman loop (first order only)."""

    @staticmethod
    def forward(ctx: Any, xp: Tensor, h0: Tensor, w_hh: Tensor, batch_sizes: Tensor, total_steps: int,
                relu: bool, save: bool) -> tuple[Tensor, Tensor]:
        steps, B, H = xp.shape[0], xp.shape[1], h0.shape[1]
        dev = xp.device
        bufs = Buffers(steps, B, dev, save)
        Hs = bufs.history(h0)
        Y = torch.zeros((total_steps, B, H), dtype=xp.dtype, device=dev)
        w_t = w_hh.detach().to(torch.float32).t()
        rec = torch.empty((B, H), dtype=torch.float32, device=dev)
        xp = xp.contiguous()
        blk = block_for(B * H)
        for t in range(steps):
            bs = int(batch_sizes[t])
            before, after = bufs.state_slots(t)
            torch.mm(Hs[before, :bs], w_t, out=rec[:bs])
            elman_fwd[grid_for(B * H, blk)](xp[t], rec, Hs[before], Hs[after], Y[t], bs * H, B * H,
                                            RELU=relu, BLOCK=blk)
        hn = Hs[bufs.state_slots(steps - 1)[1]].to(h0.dtype)
        if save:
            ctx.save_for_backward(w_hh, Hs)
            ctx.meta = (batch_sizes, relu, xp.dtype, h0.dtype)
        return Y, hn

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, dY: Tensor, dhn: Tensor) -> tuple:
        w_hh, Hs = ctx.saved_tensors
        batch_sizes, relu, x_dtype, h_dtype = ctx.meta
        steps, B, H = Hs.shape[0] - 1, Hs.shape[1], Hs.shape[2]
        dev = Hs.device
        dY = dY.contiguous()
        dh, dh_next = dhn.to(torch.float32).clone(), torch.empty((B, H), dtype=torch.float32, device=dev)
        DA = torch.zeros((steps, B, H), dtype=torch.float32, device=dev)
        w = w_hh.detach().to(torch.float32)
        blk = block_for(B * H)
        for t in reversed(range(steps)):
            bs = int(batch_sizes[t])
            elman_bwd[grid_for(B * H, blk)](dY[t], dh, dh_next, DA[t], Hs[t + 1], bs * H, B * H,
                                            RELU=relu, BLOCK=blk)
            dh_next[:bs].addmm_(DA[t, :bs], w)
            dh, dh_next = dh_next, dh
        dw = DA.view(steps * B, H).t() @ Hs[:steps].reshape(steps * B, H)
        return DA.to(x_dtype), dh.to(h_dtype), dw.to(w_hh.dtype), None, None, None, None


def elman_unsupported(cell: ElmanCell) -> Optional[str]:
    """Every ElmanCell is supported."""
    return None


def elman_kernel(cell: ElmanCell):
    """A :data:`rnnkit.fused.sorting.Kernel` running ``cell``."""

    def kernel(x: Tensor, h0: Tensor, batch_sizes: Tensor, total_steps: int) -> tuple[Tensor, Tensor]:
        if x.shape[0] == 0:
            return x.new_zeros((total_steps, x.shape[1], cell.hidden_size)), h0
        xp = F.linear(x, *cell.input_weight_and_bias())  # cuBLAS on a GPU
        save = needs_grad(xp, h0, cell.weight_hh)
        return TritonElmanFunction.apply(xp, h0, cell.weight_hh, batch_sizes, total_steps,
                                         cell.nonlinearity == "relu", save)

    return kernel
