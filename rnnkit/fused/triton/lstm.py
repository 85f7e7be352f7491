r"""The Triton LSTM: :class:`rnnkit.cells.LSTMCell` (every option but a non-tanh activation).

Forward per step (rows ``[:bs]`` active, see :mod:`.lstm_kernels` for the math):

1. :math:`r_t = h_{t-1} W_{hh}^\top` (``torch.mm``, float32, active rows);
2. ``lstm_cell_fwd``: gates, :math:`\tilde c_t`, the ``c`` state rule, :math:`m_t`;
3. with a projection, :math:`m_t W_{hr}^\top` (``torch.mm``);
4. ``h_side_fwd``: ``proj_clip``, the ``h`` state rule, the output.

Backward per step, in reverse: ``h_side_bwd``, the projection's transpose GEMM,
``lstm_cell_bwd``, then :math:`\partial h_{t-1} \mathrel{+}= \partial a_t W_{hh}`.
After the loop, one GEMM each: :math:`\partial W_{hh} = \sum_t \partial a_t^\top h_{t-1}`,
:math:`\partial W_{hr} = \sum_t \partial \tilde h_t^\top m_t`; the peephole gradients
are sums over the saved steps. The input projection's gradients come from autograd
on it (the buffer of :math:`\partial a_t` is its gradient).

State rules (:class:`rnnkit.fused.compiled_lstm.StateRule`, shared with the compiled
core): ``DROPOUT`` (variational state dropout: the output is the undropped
:math:`\tilde h_t`, the masks get gradients) and ``ZONEOUT`` (keep masks per step,
or the expectation at rate ``rate_h``/``rate_c`` without masks; the output is the state).
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.lstm import LSTMCell
from rnnkit.fused.compiled_lstm import DROPOUT, ZONEOUT, StateRule
from rnnkit.fused.sorting import needs_grad
from rnnkit.fused.triton.jitmath import RULE_DROPOUT, RULE_EXPECT, RULE_NONE, RULE_ZONEOUT
from rnnkit.fused.triton.steps import Buffers, block_for, grid_for
from rnnkit.state import LSTMState


def leaf_rule(mode: int, mask: Optional[Tensor], rate: float) -> int:
    """The kernel rule (:mod:`.jitmath`) of one state leaf under a :class:`StateRule` mode."""
    if mode == DROPOUT and mask is not None:
        return RULE_DROPOUT
    if mode == ZONEOUT and mask is not None:
        return RULE_ZONEOUT
    if mode == ZONEOUT and rate > 0:
        return RULE_EXPECT
    return RULE_NONE


def kernel_mask(mask: Optional[Tensor], rule: int, dummy: Tensor) -> Tensor:
    """The mask as the kernels read it: float32 dropout masks ``(B, N)``, uint8 keep masks ``(T, B, N)``."""
    if rule == RULE_DROPOUT:
        return mask.to(torch.float32).contiguous()
    if rule == RULE_ZONEOUT:
        return mask.to(torch.uint8).contiguous()
    return dummy


class TritonLSTMFunction(torch.autograd.Function):
    """Autograd wrapper of the Triton LSTM loop (first order only)."""

    @staticmethod
    def forward(ctx: Any, xp: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, w_hr: Optional[Tensor],
                peep: Optional[Tensor], mask_h: Optional[Tensor], mask_c: Optional[Tensor], batch_sizes: Tensor,
                total_steps: int, forget_bias: float, cell_clip: float, proj_clip: float, mode: int,
                rate_h: float, rate_c: float, save: bool) -> tuple[Tensor, Tensor, Tensor]:
        from rnnkit.fused.triton import lstm_kernels as K

        steps, B, H = xp.shape[0], xp.shape[1], c0.shape[1]
        P = h0.shape[1]
        dev = xp.device
        bufs = Buffers(steps, B, dev, save)
        dummy = torch.zeros(1, dtype=torch.float32, device=dev)
        rule_h, rule_c = leaf_rule(mode, mask_h, rate_h), leaf_rule(mode, mask_c, rate_c)
        km_h, km_c = kernel_mask(mask_h, rule_h, dummy), kernel_mask(mask_c, rule_c, dummy)
        y_is_state = mode != DROPOUT
        Hs, Cs = bufs.history(h0), bufs.history(c0)
        G = bufs.per_step(4 * H)
        CT = bufs.per_step(H)
        CR = bufs.per_step(H) if cell_clip > 0 else None
        M = bufs.per_step(H)
        HR = bufs.per_step(P) if w_hr is not None else None
        HT = bufs.per_step(P)
        Y = torch.zeros((total_steps, B, P), dtype=xp.dtype, device=dev)
        w_t = w_hh.detach().to(torch.float32).t()
        wr_t = None if w_hr is None else w_hr.detach().to(torch.float32).t()
        pp = dummy if peep is None else peep.detach().to(torch.float32).contiguous()
        rec = torch.empty((B, 4 * H), dtype=torch.float32, device=dev)
        xp = xp.contiguous()
        bc, bh = block_for(B * H), block_for(B * P)
        for t in range(steps):
            bs = int(batch_sizes[t])
            before, after = bufs.state_slots(t)
            torch.mm(Hs[before, :bs], w_t, out=rec[:bs])
            m_t = bufs.slot(M, t)
            K.lstm_cell_fwd[grid_for(B * H, bc)](
                xp[t], rec, Cs[before], Cs[after], bufs.slot(CT, t), bufs.slot(CR, t) if CR is not None else dummy,
                bufs.slot(G, t), m_t, pp, km_c[t] if rule_c == RULE_ZONEOUT else km_c,
                bs * H, B * H, H, forget_bias, cell_clip, rate_c,
                PEEPHOLES=peep is not None, CLIP=cell_clip > 0, RULE=rule_c, BLOCK=bc)
            if wr_t is not None:
                h_raw = bufs.slot(HR, t)
                torch.mm(m_t[:bs], wr_t, out=h_raw[:bs])
            else:
                h_raw = m_t
            K.h_side_fwd[grid_for(B * P, bh)](
                h_raw, Hs[before], Hs[after], Y[t], bufs.slot(HT, t), km_h[t] if rule_h == RULE_ZONEOUT else km_h,
                bs * P, B * P, proj_clip, rate_h,
                CLIP=proj_clip > 0, RULE=rule_h, Y_IS_STATE=y_is_state, BLOCK=bh)
        last = bufs.state_slots(steps - 1)[1]
        hn, cn = Hs[last].to(h0.dtype), Cs[last].to(c0.dtype)
        if save:
            ctx.save_for_backward(w_hh, w_hr, peep, Hs, Cs, G, CT, CR, M, HR, HT, km_h, km_c)
            ctx.meta = (batch_sizes, cell_clip, proj_clip, rule_h, rule_c, rate_h, rate_c, y_is_state, xp.dtype,
                        h0.dtype, c0.dtype)
        return Y, hn, cn

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, dY: Tensor, dhn: Tensor, dcn: Tensor) -> tuple:
        from rnnkit.fused.triton import lstm_kernels as K

        w_hh, w_hr, peep, Hs, Cs, G, CT, CR, M, HR, HT, km_h, km_c = ctx.saved_tensors
        (batch_sizes, cell_clip, proj_clip, rule_h, rule_c, rate_h, rate_c, y_is_state, x_dtype, h_dtype,
         c_dtype) = ctx.meta
        steps, B, H = G.shape[0], G.shape[1], CT.shape[2]
        P = Hs.shape[2]
        dev = G.device
        dummy = torch.zeros(1, dtype=torch.float32, device=dev)
        dY = dY.contiguous()
        dh, dh_next = dhn.to(torch.float32).clone(), torch.empty((B, P), dtype=torch.float32, device=dev)
        dc, dc_next = dcn.to(torch.float32).clone(), torch.empty((B, H), dtype=torch.float32, device=dev)
        DA = torch.zeros((steps, B, 4 * H), dtype=torch.float32, device=dev)
        DHR = torch.zeros((steps, B, P), dtype=torch.float32, device=dev)
        dm = torch.zeros((B, H), dtype=torch.float32, device=dev) if w_hr is not None else None
        grad_mask_h = rule_h == RULE_DROPOUT and ctx.needs_input_grad[6]
        grad_mask_c = rule_c == RULE_DROPOUT and ctx.needs_input_grad[7]
        dmask_h = torch.zeros((B, P), dtype=torch.float32, device=dev) if grad_mask_h else dummy
        dmask_c = torch.zeros((B, H), dtype=torch.float32, device=dev) if grad_mask_c else dummy
        w = w_hh.detach().to(torch.float32)
        wr = None if w_hr is None else w_hr.detach().to(torch.float32)
        pp = dummy if peep is None else peep.detach().to(torch.float32).contiguous()
        bc, bh = block_for(B * H), block_for(B * P)
        for t in reversed(range(steps)):
            bs = int(batch_sizes[t])
            K.h_side_bwd[grid_for(B * P, bh)](
                dY[t], dh, dh_next, DHR[t], HR[t] if HR is not None else dummy, HT[t],
                km_h[t] if rule_h == RULE_ZONEOUT else km_h, dmask_h, bs * P, B * P, proj_clip, rate_h,
                CLIP=proj_clip > 0, RULE=rule_h, Y_IS_STATE=y_is_state, MASK_GRAD=grad_mask_h, BLOCK=bh)
            if wr is not None:
                torch.mm(DHR[t, :bs], wr, out=dm[:bs])
                d_m = dm
            else:
                d_m = DHR[t]
            K.lstm_cell_bwd[grid_for(B * H, bc)](
                d_m, dc, dc_next, DA[t], G[t], Cs[t], CT[t], CR[t] if CR is not None else dummy, pp,
                km_c[t] if rule_c == RULE_ZONEOUT else km_c, dmask_c, bs * H, B * H, H, cell_clip, rate_c,
                PEEPHOLES=peep is not None, CLIP=cell_clip > 0, RULE=rule_c, MASK_GRAD=grad_mask_c, BLOCK=bc)
            dh_next[:bs].addmm_(DA[t, :bs], w)
            dh, dh_next = dh_next, dh
            dc, dc_next = dc_next, dc
        flat_da = DA.view(steps * B, 4 * H)
        dw_hh = (flat_da.t() @ Hs[:steps].reshape(steps * B, P)).to(w_hh.dtype)
        dw_hr = None
        if w_hr is not None:
            dw_hr = (DHR.view(steps * B, P).t() @ M.view(steps * B, H)).to(w_hr.dtype)
        dpeep = None
        if peep is not None:
            dpeep = torch.stack([
                (DA[..., :H] * Cs[:steps]).sum((0, 1)),
                (DA[..., H:2 * H] * Cs[:steps]).sum((0, 1)),
                (DA[..., 3 * H:] * CT).sum((0, 1))]).to(peep.dtype)
        d_mask_h = dmask_h.to(h_dtype) if grad_mask_h else None
        d_mask_c = dmask_c.to(c_dtype) if grad_mask_c else None
        return (DA.to(x_dtype), dh.to(h_dtype), dc.to(c_dtype), dw_hh, dw_hr, dpeep, d_mask_h, d_mask_c) + (None,) * 9


def lstm_unsupported(cell: LSTMCell) -> Optional[str]:
    """Why the Triton LSTM cannot run ``cell`` (None if it can)."""
    if cell.activation is not torch.tanh:
        return f"the Triton LSTM computes activation='tanh' only, not {cell.activation_name!r}"
    return None


def lstm_kernel(cell: LSTMCell):
    """A :data:`rnnkit.fused.sorting.Kernel` running ``cell``; an optional fifth argument is a
    :class:`StateRule` (rows in the kernel's sorted order)."""

    def kernel(x: Tensor, state: LSTMState, batch_sizes: Tensor, total_steps: int,
               rule: StateRule = StateRule()) -> tuple[Tensor, LSTMState]:
        h0, c0 = state
        if x.shape[0] == 0:
            return x.new_zeros((total_steps, x.shape[1], cell.output_size)), LSTMState(h0, c0)
        xp = F.linear(x, *cell.input_weight_and_bias())  # cuBLAS on a GPU
        save = needs_grad(xp, h0, c0, cell.weight_hh, cell.weight_hr, cell.weight_peephole, rule.h, rule.c)
        Y, hn, cn = TritonLSTMFunction.apply(
            xp, h0, c0, cell.weight_hh, cell.weight_hr, cell.weight_peephole, rule.h, rule.c, batch_sizes,
            total_steps, cell.forget_bias, cell.cell_clip or 0.0, cell.proj_clip or 0.0, rule.mode,
            float(rule.rate_h), float(rule.rate_c), save)
        return Y, LSTMState(hn, cn)

    return kernel
