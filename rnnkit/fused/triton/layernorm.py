r"""The Triton layer-norm LSTM: :class:`rnnkit.cells.layernorm.LayerNormLSTMCell`, every option.

Before the loop, with autograd: :math:`u = \mathrm{LN}(x W_{ih}^\top; \gamma_{ih},
\beta_{ih} + \beta_{hh})` for all steps (``cell.input_projection``: one GEMM and one
layer norm over ``(T, B, 4H)``). Per step: :math:`\rho_t = h_{t-1} W_{hh}^\top`
(``torch.mm``, active rows), then ``lnlstm_fwd`` (one program per row: both norms,
gates, cell, output; math in :mod:`.layernorm_kernels`). Backward per step in
reverse: ``lnlstm_bwd``, then :math:`\partial h_{t-1} \mathrel{+}= \partial\rho_t W_{hh}`.
After the loop: :math:`\partial W_{hh} = \sum_t \partial\rho_t^\top h_{t-1}` (one GEMM),
:math:`\partial\gamma_{hh} = \sum \partial a \odot \hat\rho`,
:math:`\partial\gamma_c = \sum \partial\hat c_{aff} \odot \hat c`,
:math:`\partial\beta_c = \sum \partial\hat c_{aff}`.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from rnnkit.fused.sorting import needs_grad
from rnnkit.fused.triton.steps import Buffers
from rnnkit.state import LSTMState


def _block(H: int) -> int:
    """Columns per program: ``H`` rounded up to a power of two (one program holds a whole row)."""
    return max(16, 1 << max(0, (H - 1).bit_length()))


def _warps(H: int) -> int:
    """Warps per program on a GPU: more for wide rows, so each thread holds fewer of the row's values
    (a guess, not tuned: no GPU was available; the interpreter ignores it)."""
    return 4 if H <= 256 else 8 if H <= 1024 else 16


class TritonLayerNormLSTMFunction(torch.autograd.Function):
    """Autograd wrapper of the Triton layer-norm LSTM loop (first order only)."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, g_hh: Tensor, g_c: Tensor, b_c: Tensor,
                batch_sizes: Tensor, total_steps: int, forget_bias: float, eps: float,
                save: bool) -> tuple[Tensor, Tensor, Tensor]:
        from rnnkit.fused.triton import layernorm_kernels as K

        steps, B, H = u.shape[0], u.shape[1], h0.shape[1]
        dev = u.device
        bufs = Buffers(steps, B, dev, save)
        Hs, Cs = bufs.history(h0), bufs.history(c0)
        G, VH, XC, RS = bufs.per_step(4 * H), bufs.per_step(4 * H), bufs.per_step(H), bufs.per_step(2)
        Y = torch.zeros((total_steps, B, H), dtype=u.dtype, device=dev)
        w_t = w_hh.detach().to(torch.float32).t()
        gh, gc, bc = (p.detach().to(torch.float32).contiguous() for p in (g_hh, g_c, b_c))
        rec = torch.zeros((B, 4 * H), dtype=torch.float32, device=dev)
        u = u.contiguous()
        for t in range(steps):
            bs = int(batch_sizes[t])
            before, after = bufs.state_slots(t)
            torch.mm(Hs[before, :bs], w_t, out=rec[:bs])
            K.lnlstm_fwd[(B,)](u[t], rec, Cs[before], Hs[before], Cs[after], Hs[after], Y[t], bufs.slot(G, t),
                               bufs.slot(VH, t), bufs.slot(XC, t), bufs.slot(RS, t), gh, gc, bc, bs, H,
                               forget_bias, eps, BLOCK_H=_block(H), num_warps=_warps(H))
        last = bufs.state_slots(steps - 1)[1]
        if save:
            ctx.save_for_backward(w_hh, g_hh, g_c, b_c, Hs, Cs, G, VH, XC, RS)
            ctx.meta = (batch_sizes, u.dtype, h0.dtype, c0.dtype)
        return Y, Hs[last].to(h0.dtype), Cs[last].to(c0.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, dY: Tensor, dhn: Tensor, dcn: Tensor) -> tuple:
        from rnnkit.fused.triton import layernorm_kernels as K

        w_hh, g_hh, g_c, b_c, Hs, Cs, G, VH, XC, RS = ctx.saved_tensors
        batch_sizes, u_dtype, h_dtype, c_dtype = ctx.meta
        steps, B, H = G.shape[0], G.shape[1], XC.shape[2]
        dev = G.device
        f32 = torch.float32
        dY = dY.contiguous()
        dh, dh_next = dhn.to(f32).clone(), torch.empty((B, H), dtype=f32, device=dev)
        dc, dc_next = dcn.to(f32).clone(), torch.empty((B, H), dtype=f32, device=dev)
        DA = torch.zeros((steps, B, 4 * H), dtype=f32, device=dev)
        DREC = torch.zeros((steps, B, 4 * H), dtype=f32, device=dev)
        DCHAT = torch.zeros((steps, B, H), dtype=f32, device=dev)
        w = w_hh.detach().to(f32)
        gh, gc, bc = (p.detach().to(f32).contiguous() for p in (g_hh, g_c, b_c))
        for t in reversed(range(steps)):
            bs = int(batch_sizes[t])
            K.lnlstm_bwd[(B,)](dY[t], dh, dc, dh_next, dc_next, DA[t], DREC[t], DCHAT[t], G[t], VH[t], XC[t], RS[t],
                               Cs[t], gh, gc, bc, bs, H, BLOCK_H=_block(H), num_warps=_warps(H))
            dh_next[:bs].addmm_(DREC[t, :bs], w)
            dh, dh_next = dh_next, dh
            dc, dc_next = dc_next, dc
        dw = DREC.view(steps * B, 4 * H).t() @ Hs[:steps].reshape(steps * B, H)
        dg_hh = (DA * VH).sum((0, 1))
        dg_c = (DCHAT * XC).sum((0, 1))
        db_c = DCHAT.sum((0, 1))
        return (DA.to(u_dtype), dh.to(h_dtype), dc.to(c_dtype), dw.to(w_hh.dtype), dg_hh.to(g_hh.dtype),
                dg_c.to(g_c.dtype), db_c.to(b_c.dtype)) + (None,) * 5


def layernorm_lstm_unsupported(cell: Any) -> Optional[str]:
    """Every LayerNormLSTMCell is supported."""
    return None


def layernorm_lstm_kernel(cell: Any):
    """A :data:`rnnkit.fused.sorting.Kernel` running ``cell``."""

    def kernel(x: Tensor, state: LSTMState, batch_sizes: Tensor, total_steps: int) -> tuple[Tensor, LSTMState]:
        h0, c0 = state
        if x.shape[0] == 0:
            return x.new_zeros((total_steps, x.shape[1], cell.hidden_size)), LSTMState(h0, c0)
        u = cell.input_projection(x)  # GEMM + layer norm over all steps, with autograd
        save = needs_grad(u, h0, c0, cell.weight_hh, cell.ln_hh_weight, cell.ln_c_weight, cell.ln_c_bias)
        Y, hn, cn = TritonLayerNormLSTMFunction.apply(
            u, h0, c0, cell.weight_hh, cell.ln_hh_weight, cell.ln_c_weight, cell.ln_c_bias, batch_sizes,
            total_steps, cell.forget_bias, cell.eps, save)
        return Y, LSTMState(hn, cn)

    return kernel
