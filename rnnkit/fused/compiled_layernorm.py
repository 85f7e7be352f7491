r"""The compiled layer-norm LSTM: :class:`rnnkit.cells.layernorm.LayerNormLSTMCell`
with the whole time loop in C++ (``csrc/lnlstm.cpp``).

Per step, with :math:`u_t = x_t W_{ih}^\top` (one GEMM for all steps in training; in
inference the kernel makes it a few steps at a time, each chunk read while in cache,
``csrc/inputsteps.h``; its layer norm runs in the kernel, fused with the step, as
``input_projection`` defines it):

.. math::
    a_t &= \gamma_{ih} \odot \hat u_t + \beta_{ih} + \beta_{hh}
        + \gamma_{hh} \odot \widehat{h_{t-1} W_{hh}^\top}, \qquad
    \hat v = (v - \mu(v)) / \sqrt{\sigma^2(v) + \epsilon} \\
    c_t &= \sigma(a^f_t + b_{forget}) \odot c_{t-1} + \sigma(a^i_t) \odot \tanh(a^g_t), \qquad
    h_t = \sigma(a^o_t) \odot \tanh(\gamma_c \odot \hat c_t + \beta_c)

The backward runs the three layer norms' backward inside the fused pointwise pass
(two row reductions each), sums :math:`\partial\gamma`, :math:`\partial\beta` there
(per thread), and (batches of 64 rows or more) accumulates :math:`\partial W_{hh}` step
by step from the step's :math:`\partial \hat r_t` while it is in cache, else in one GEMM
after the loop. The input
layer norm in the kernel saves the separate ``layer_norm`` passes over the whole
``(T, B, 4H)`` projection (its normalised rows are recomputed from ``u``).
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from rnnkit.fused.build import load
from rnnkit.fused.dense import linear, project_in_loop
from rnnkit.fused.sorting import needs_grad
from rnnkit.state import LSTMState


class LayerNormLSTMFunction(torch.autograd.Function):
    """Autograd wrapper of ``lnlstm_forward``/``lnlstm_backward`` (first order only)."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, g_ih: Tensor, shift: Optional[Tensor], h0: Tensor, c0: Tensor, w_hh: Tensor,
                g_hh: Tensor, g_c: Tensor, b_c: Tensor, batch_sizes: Tensor, total_steps: int, forget_bias: float,
                eps: float, save: bool, w_ih: Optional[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        Y, hn, cn, G, RN, C, RS = load().lnlstm_forward(
            u, g_ih, shift, h0, c0, w_hh, g_hh, g_c, b_c, batch_sizes, total_steps, forget_bias, eps, save, w_ih)
        if save:
            ctx.save_for_backward(u, g_ih, h0, c0, w_hh, g_hh, g_c, b_c, Y, G, RN, C, RS)
            ctx.batch_sizes = batch_sizes
            ctx.has_shift = shift is not None
        return Y, hn, cn

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, dY: Tensor, dhn: Tensor, dcn: Tensor) -> tuple:
        u, g_ih, h0, c0, w_hh, g_hh, g_c, b_c, Y, G, RN, C, RS = ctx.saved_tensors
        steps = G.shape[0]
        du, dh0, dc0, dw, dg_hh, dg_c, db_c, dg_ih, dshift = load().lnlstm_backward(
            dY[:steps].contiguous(), dhn.contiguous(), dcn.contiguous(), u, g_ih, h0, c0, w_hh, g_hh, g_c, b_c,
            ctx.batch_sizes, Y[:steps], G, RN, C, RS)
        return (du, dg_ih, dshift if ctx.has_shift else None, dh0, dc0, dw, dg_hh, dg_c, db_c) + (None,) * 6


def layernorm_lstm_unsupported(cell: Any) -> Optional[str]:
    """Every LayerNormLSTMCell is supported."""
    return None


def layernorm_lstm_kernel(cell: Any):
    """A :data:`rnnkit.fused.sorting.Kernel` running ``cell``."""

    def kernel(x: Tensor, state: LSTMState, batch_sizes: Tensor, total_steps: int) -> tuple[Tensor, LSTMState]:
        h0, c0 = state
        if x.shape[0] == 0:
            return x.new_zeros((total_steps, x.shape[1], cell.hidden_size)), LSTMState(h0, c0)
        shift = None if cell.ln_ih_bias is None else (cell.ln_ih_bias + cell.ln_hh_bias).contiguous()
        save = needs_grad(x, cell.weight_ih, cell.ln_ih_weight, shift, h0, c0, cell.weight_hh, cell.ln_hh_weight,
                          cell.ln_c_weight, cell.ln_c_bias)
        if save or not project_in_loop(x):  # u = input_projection before its layer norm (with gradients: autograd's)
            u, w_ih = linear(x, cell.weight_ih), None
        else:  # the kernel makes u a few steps at a time, each chunk read while in cache (csrc/inputsteps.h)
            u, w_ih = x, cell.weight_ih
        Y, hn, cn = LayerNormLSTMFunction.apply(
            u, cell.ln_ih_weight, shift, h0.contiguous(), c0.contiguous(), cell.weight_hh, cell.ln_hh_weight,
            cell.ln_c_weight, cell.ln_c_bias, batch_sizes, total_steps, cell.forget_bias, cell.eps, save, w_ih)
        return Y, LSTMState(hn, cn)

    return kernel
