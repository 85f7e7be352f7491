r"""The Triton GRU: :class:`rnnkit.cells.GRUCell`, ``reset_after`` True or False.

Forward per step (rows ``[:bs]`` active; math in :mod:`.gru_kernels`):

* ``reset_after=True``: :math:`\rho_t = h_{t-1} W_{hh}^\top + b_{hh}` (``torch.addmm``),
  then ``gru_fwd``;
* ``reset_after=False``: :math:`h_{t-1} W_{h\{r,z\}}^\top + b_{h\{r,z\}}`, ``gru_rz_fwd``,
  :math:`\nu_t = (r h_{t-1}) W_{hn}^\top + b_{hn}`, ``gru_n_fwd``.

Backward per step in reverse, then after the loop one GEMM per weight block
(:math:`\partial W_{hh} = \sum_t \partial\rho_t^\top h_{t-1}`; with ``reset_after=False``
:math:`\partial W_{hn} = \sum_t \partial\nu_t^\top (r_t h_{t-1})`) and a sum for
:math:`\partial b_{hh}`. The buffer of :math:`\partial x^{r,z,n}_t` is the input
projection's gradient (autograd on that projection does the rest).
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.gru import GRUCell
from rnnkit.fused.sorting import needs_grad
from rnnkit.fused.triton.steps import Buffers, block_for, grid_for


class TritonGRUFunction(torch.autograd.Function):
    """Autograd wrapper of the Triton GRU loop (first order only)."""

    @staticmethod
    def forward(ctx: Any, xp: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Optional[Tensor], batch_sizes: Tensor,
                total_steps: int, reset_after: bool, save: bool) -> tuple[Tensor, Tensor]:
        from rnnkit.fused.triton import gru_kernels as K

        steps, B, H = xp.shape[0], xp.shape[1], h0.shape[1]
        dev = xp.device
        bufs = Buffers(steps, B, dev, save)
        Hs = bufs.history(h0)
        G = bufs.per_step(3 * H)
        AUX = bufs.per_step(H)  # reset_after: rho^n; else r * h_{t-1}
        Y = torch.zeros((total_steps, B, H), dtype=xp.dtype, device=dev)
        w = w_hh.detach().to(torch.float32)
        b = None if b_hh is None else b_hh.detach().to(torch.float32)
        xp = xp.contiguous()
        blk = block_for(B * H)
        grid = grid_for(B * H, blk)
        if reset_after:
            w_t = w.t()
            rec = torch.empty((B, 3 * H), dtype=torch.float32, device=dev)
        else:
            w_rz_t, w_n_t = w[: 2 * H].t(), w[2 * H:].t()
            b_rz, b_n = (None, None) if b is None else (b[: 2 * H], b[2 * H:])
            rec = torch.empty((B, 2 * H), dtype=torch.float32, device=dev)
            rec_n = torch.empty((B, H), dtype=torch.float32, device=dev)
        for t in range(steps):
            bs = int(batch_sizes[t])
            before, after = bufs.state_slots(t)
            h_prev = Hs[before]
            g_t, aux_t = bufs.slot(G, t), bufs.slot(AUX, t)
            if reset_after:
                _affine(h_prev[:bs], w_t, b, rec[:bs])
                K.gru_fwd[grid](xp[t], rec, h_prev, Hs[after], Y[t], g_t, aux_t, bs * H, B * H, H, BLOCK=blk)
            else:
                _affine(h_prev[:bs], w_rz_t, b_rz, rec[:bs])
                K.gru_rz_fwd[grid](xp[t], rec, h_prev, g_t, aux_t, bs * H, B * H, H, BLOCK=blk)
                _affine(aux_t[:bs], w_n_t, b_n, rec_n[:bs])
                K.gru_n_fwd[grid](xp[t], rec_n, h_prev, Hs[after], Y[t], g_t, bs * H, B * H, H, BLOCK=blk)
        hn = Hs[bufs.state_slots(steps - 1)[1]].to(h0.dtype)
        if save:
            ctx.save_for_backward(w_hh, b_hh, Hs, G, AUX)
            ctx.meta = (batch_sizes, reset_after, xp.dtype, h0.dtype)
        return Y, hn

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, dY: Tensor, dhn: Tensor) -> tuple:
        from rnnkit.fused.triton import gru_kernels as K

        w_hh, b_hh, Hs, G, AUX = ctx.saved_tensors
        batch_sizes, reset_after, x_dtype, h_dtype = ctx.meta
        steps, B, H = G.shape[0], G.shape[1], Hs.shape[2]
        dev = G.device
        dY = dY.contiguous()
        dh, dh_next = dhn.to(torch.float32).clone(), torch.empty((B, H), dtype=torch.float32, device=dev)
        DX = torch.zeros((steps, B, 3 * H), dtype=torch.float32, device=dev)
        w = w_hh.detach().to(torch.float32)
        blk = block_for(B * H)
        grid = grid_for(B * H, blk)
        if reset_after:
            DREC = torch.zeros((steps, B, 3 * H), dtype=torch.float32, device=dev)
        else:
            drh = torch.empty((B, H), dtype=torch.float32, device=dev)
        for t in reversed(range(steps)):
            bs = int(batch_sizes[t])
            if reset_after:
                K.gru_bwd[grid](dY[t], dh, dh_next, DX[t], DREC[t], G[t], AUX[t], Hs[t], bs * H, B * H, H, BLOCK=blk)
                dh_next[:bs].addmm_(DREC[t, :bs], w)
            else:
                K.gru_n_bwd[grid](dY[t], dh, dh_next, DX[t], G[t], Hs[t], bs * H, B * H, H, BLOCK=blk)
                torch.mm(DX[t, :bs, 2 * H:], w[2 * H:], out=drh[:bs])
                K.gru_r_bwd[grid](drh, dh_next, DX[t], G[t], Hs[t], bs * H, H, BLOCK=blk)
                dh_next[:bs].addmm_(DX[t, :bs, : 2 * H], w[: 2 * H])
            dh, dh_next = dh_next, dh
        flat_h = Hs[:steps].reshape(steps * B, H)
        if reset_after:
            drec = DREC.view(steps * B, 3 * H)
            dw = drec.t() @ flat_h
        else:
            drec = DX.view(steps * B, 3 * H)
            dw = torch.cat([drec[:, : 2 * H].t() @ flat_h, drec[:, 2 * H:].t() @ AUX.view(steps * B, H)])
        db = drec.sum(0).to(b_hh.dtype) if b_hh is not None else None
        return DX.to(x_dtype), dh.to(h_dtype), dw.to(w_hh.dtype), db, None, None, None, None


def _affine(h: Tensor, w_t: Tensor, b: Optional[Tensor], out: Tensor) -> None:
    """``out = h @ w_t (+ b)`` in place."""
    if b is None:
        torch.mm(h, w_t, out=out)
    else:
        torch.addmm(b, h, w_t, out=out)


def gru_unsupported(cell: GRUCell) -> Optional[str]:
    """Every GRUCell is supported."""
    return None


def gru_kernel(cell: GRUCell):
    """A :data:`rnnkit.fused.sorting.Kernel` running ``cell``."""

    def kernel(x: Tensor, h0: Tensor, batch_sizes: Tensor, total_steps: int) -> tuple[Tensor, Tensor]:
        if x.shape[0] == 0:
            return x.new_zeros((total_steps, x.shape[1], cell.hidden_size)), h0
        xp = F.linear(x, *cell.input_weight_and_bias())  # cuBLAS on a GPU
        save = needs_grad(xp, h0, cell.weight_hh, cell.bias_hh)
        return TritonGRUFunction.apply(xp, h0, cell.weight_hh, cell.bias_hh, batch_sizes, total_steps,
                                       cell.reset_after, save)

    return kernel
