r"""The compiled layer-norm LSTM: :class:`rnnkit.cells.layernorm.LayerNormLSTMCell`
with the whole time loop in C++ (``csrc/lnlstm.cpp``).

Per step, with :math:`u_t` = ``input_projection`` (one layer-normed GEMM for all steps):

.. math::
    a_t &= u_t + \gamma_{hh} \odot \widehat{h_{t-1} W_{hh}^\top}, \qquad
    \hat v = (v - \mu(v)) / \sqrt{\sigma^2(v) + \epsilon} \\
    c_t &= \sigma(a^f_t + b_{forget}) \odot c_{t-1} + \sigma(a^i_t) \odot \tanh(a^g_t), \qquad
    h_t = \sigma(a^o_t) \odot \tanh(\gamma_c \odot \hat c_t + \beta_c)

The backward runs both layer norms' backward inside the fused pointwise pass
(two row reductions each), then :math:`\partial W_{hh}`, :math:`\partial\gamma_{hh}`,
:math:`\partial\gamma_c`, :math:`\partial\beta_c` over all steps at once.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from rnnkit.fused.build import load
from rnnkit.fused.sorting import needs_grad
from rnnkit.state import LSTMState


class LayerNormLSTMFunction(torch.autograd.Function):
    """Autograd wrapper of ``lnlstm_forward``/``lnlstm_backward`` (first order only)."""

    @staticmethod
    def forward(ctx: Any, xp: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, g_hh: Tensor, g_c: Tensor, b_c: Tensor,
                batch_sizes: Tensor, total_steps: int, forget_bias: float, eps: float,
                save: bool) -> tuple[Tensor, Tensor, Tensor]:
        Y, hn, cn, G, RN, C, CHAT, TCN, RS = load().lnlstm_forward(
            xp, h0, c0, w_hh, g_hh, g_c, b_c, batch_sizes, total_steps, forget_bias, eps, save)
        if save:
            ctx.save_for_backward(h0, c0, w_hh, g_hh, g_c, Y, G, RN, C, CHAT, TCN, RS)
            ctx.batch_sizes = batch_sizes
        return Y, hn, cn

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, dY: Tensor, dhn: Tensor, dcn: Tensor) -> tuple:
        h0, c0, w_hh, g_hh, g_c, Y, G, RN, C, CHAT, TCN, RS = ctx.saved_tensors
        steps = G.shape[0]
        dxp, dh0, dc0, dw, dg_hh, dg_c, db_c = load().lnlstm_backward(
            dY[:steps].contiguous(), dhn.contiguous(), dcn.contiguous(), h0, c0, w_hh, g_hh, g_c,
            ctx.batch_sizes, Y[:steps], G, RN, C, CHAT, TCN, RS)
        return dxp, dh0, dc0, dw, dg_hh, dg_c, db_c, None, None, None, None, None


def layernorm_lstm_unsupported(cell: Any) -> Optional[str]:
    """Every LayerNormLSTMCell is supported."""
    return None


def layernorm_lstm_kernel(cell: Any):
    """A :data:`rnnkit.fused.sorting.Kernel` running ``cell``."""

    def kernel(x: Tensor, state: LSTMState, batch_sizes: Tensor, total_steps: int) -> tuple[Tensor, LSTMState]:
        h0, c0 = state
        if x.shape[0] == 0:
            return x.new_zeros((total_steps, x.shape[1], cell.hidden_size)), LSTMState(h0, c0)
        xp = cell.input_projection(x).contiguous()
        save = needs_grad(xp, h0, c0, cell.weight_hh, cell.ln_hh_weight, cell.ln_c_weight, cell.ln_c_bias)
        Y, hn, cn = LayerNormLSTMFunction.apply(
            xp, h0.contiguous(), c0.contiguous(), cell.weight_hh, cell.ln_hh_weight, cell.ln_c_weight,
            cell.ln_c_bias, batch_sizes, total_steps, cell.forget_bias, cell.eps, save)
        return Y, LSTMState(hn, cn)

    return kernel
