r"""The compiled LSTM: :class:`rnnkit.cells.LSTMCell` (every option but a non-tanh
activation) with the whole time loop in C++ (``csrc/lstm.cpp``).

Forward: ``cell.input_projection`` for all steps in one GEMM, then per step a
recurrent GEMM on the active rows and one fused pointwise pass

.. math::
    a_t = x_t W_{ih}^\top + b + h_{t-1} W_{hh}^\top, \quad
    i, f, o = \sigma(\cdot),\ g = \tanh(a^g_t),\quad
    c_t = \mathrm{clip}(f c_{t-1} + i g),\quad
    h_t = \mathrm{clip}((o \tanh c_t) W_{hr}^\top)

(peepholes add :math:`p_i c_{t-1}, p_f c_{t-1}, p_o c_t` to the gates;
``forget_bias`` to :math:`a^f_t`). Backward (hand-written): per step the gate
gradients :math:`\partial a_t` and :math:`\partial h_{t-1} = \partial a_t W_{hh}`,
then :math:`\partial W_{hh} = \sum_t \partial a_t^\top h_{t-1}` and
:math:`\partial W_{hr}` as single GEMMs over all steps; the input projection's
gradients come from autograd on ``input_projection`` (again one GEMM).
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from rnnkit.cells.lstm import LSTMCell
from rnnkit.fused.build import load
from rnnkit.fused.sorting import needs_grad
from rnnkit.state import LSTMState


class LSTMFunction(torch.autograd.Function):
    """Autograd wrapper of ``lstm_forward``/``lstm_backward`` (first order only)."""

    @staticmethod
    def forward(ctx: Any, xp: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, w_hr: Optional[Tensor],
                peep: Optional[Tensor], batch_sizes: Tensor, total_steps: int, forget_bias: float,
                cell_clip: float, proj_clip: float, save: bool) -> tuple[Tensor, Tensor, Tensor]:
        ext = load()
        Y, hn, cn, G, C, TC, CR, M, HR = ext.lstm_forward(
            xp, h0, c0, w_hh, w_hr, peep, batch_sizes, total_steps, forget_bias, cell_clip, proj_clip, save)
        if save:
            ctx.save_for_backward(h0, c0, w_hh, w_hr, peep, Y, G, C, TC, CR, M, HR)
            ctx.batch_sizes = batch_sizes
            ctx.clips = (cell_clip, proj_clip)
        return Y, hn, cn

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, dY: Tensor, dhn: Tensor, dcn: Tensor) -> tuple:
        h0, c0, w_hh, w_hr, peep, Y, G, C, TC, CR, M, HR = ctx.saved_tensors
        steps = G.shape[0]

        def opt(t: Optional[Tensor]) -> Optional[Tensor]:
            return t if t is not None and t.numel() > 0 else None

        dxp, dh0, dc0, dw_hh, dw_hr, dpeep = load().lstm_backward(
            dY[:steps].contiguous(), dhn.contiguous(), dcn.contiguous(), h0, c0, w_hh, w_hr, peep,
            ctx.batch_sizes, Y[:steps], G, C, TC, opt(CR), opt(M), opt(HR), *ctx.clips)
        return dxp, dh0, dc0, dw_hh, dw_hr, dpeep, None, None, None, None, None, None


def lstm_unsupported(cell: LSTMCell) -> Optional[str]:
    """Why the compiled LSTM cannot run ``cell`` (None if it can)."""
    if cell.activation is not torch.tanh:
        return f"the compiled LSTM computes activation='tanh' only, not {cell.activation_name!r}"
    return None


def lstm_kernel(cell: LSTMCell):
    """A :data:`rnnkit.fused.sorting.Kernel` running ``cell``."""

    def kernel(x: Tensor, state: LSTMState, batch_sizes: Tensor, total_steps: int) -> tuple[Tensor, LSTMState]:
        h0, c0 = state
        if x.shape[0] == 0:
            return x.new_zeros((total_steps, x.shape[1], cell.output_size)), LSTMState(h0, c0)
        xp = cell.input_projection(x).contiguous()
        Y, hn, cn = LSTMFunction.apply(
            xp, h0.contiguous(), c0.contiguous(), cell.weight_hh, cell.weight_hr, cell.weight_peephole,
            batch_sizes, total_steps, cell.forget_bias, cell.cell_clip or 0.0, cell.proj_clip or 0.0,
            needs_grad(xp, h0, c0, cell.weight_hh, cell.weight_hr, cell.weight_peephole))
        return Y, LSTMState(hn, cn)

    return kernel
