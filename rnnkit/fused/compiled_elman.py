r"""The compiled Elman RNN: :class:`rnnkit.cells.ElmanCell` (tanh or relu) with
the whole time loop in C++ (``csrc/elman.cpp``).

.. math::
    h_t = \phi(x_t W_{ih}^\top + b_{ih} + b_{hh} + h_{t-1} W_{hh}^\top)

Backward: :math:`\partial a_t = (\partial y_t + \partial h_t) \odot \phi'(a_t)`
(a function of :math:`h_t` alone), :math:`\partial h_{t-1} = \partial a_t W_{hh}`,
then :math:`\partial W_{hh} = \sum_t \partial a_t^\top h_{t-1}` in one GEMM.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from rnnkit.cells.elman import ElmanCell
from rnnkit.fused.build import load
from rnnkit.fused.dense import linear


class ElmanFunction(torch.autograd.Function):
    """Autograd wrapper of ``elman_forward``/``elman_backward`` (first order only)."""

    @staticmethod
    def forward(ctx: Any, xp: Tensor, h0: Tensor, w_hh: Tensor, batch_sizes: Tensor, total_steps: int,
                relu: bool) -> tuple[Tensor, Tensor]:
        Y, hn = load().elman_forward(xp, h0, w_hh, batch_sizes, total_steps, relu)
        if any(ctx.needs_input_grad[:3]):
            ctx.save_for_backward(h0, w_hh, Y)
            ctx.meta = (batch_sizes, relu)
        return Y, hn

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, dY: Tensor, dhn: Tensor) -> tuple:
        h0, w_hh, Y = ctx.saved_tensors
        batch_sizes, relu = ctx.meta
        steps = batch_sizes.shape[0]
        dxp, dh0, dw = load().elman_backward(dY[:steps].contiguous(), dhn.contiguous(), h0, w_hh, batch_sizes,
                                             Y[:steps], relu)
        return dxp, dh0, dw, None, None, None


def elman_unsupported(cell: ElmanCell) -> Optional[str]:
    """Every ElmanCell is supported."""
    return None


def elman_kernel(cell: ElmanCell):
    """A :data:`rnnkit.fused.sorting.Kernel` running ``cell``."""

    def kernel(x: Tensor, h0: Tensor, batch_sizes: Tensor, total_steps: int) -> tuple[Tensor, Tensor]:
        if x.shape[0] == 0:
            return x.new_zeros((total_steps, x.shape[1], cell.hidden_size)), h0
        xp = linear(x, *cell.input_weight_and_bias())
        return ElmanFunction.apply(xp, h0.contiguous(), cell.weight_hh, batch_sizes, total_steps,
                                   cell.nonlinearity == "relu")

    return kernel
