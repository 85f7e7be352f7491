r"""The compiled GRU: :class:`rnnkit.cells.GRUCell`, both formulations, with the
whole time loop in C++ (``csrc/gru.cpp``).

Per step (gate order r, z, n; :math:`x^*_t` from one input-projection GEMM in training,
made by the kernel a few steps at a time in inference, ``csrc/inputsteps.h``; its bias
:math:`b_{i*}` added in the step, not in a pass of its own):

.. math::
    r_t, z_t &= \sigma(x^{r,z}_t + h_{t-1} W_{h\{r,z\}}^\top + b_{h\{r,z\}}) \\
    n_t &= \tanh(x^n_t + r_t \odot (h_{t-1} W_{hn}^\top + b_{hn}))
          \quad\text{or, with reset_after=False,}\quad
          \tanh(x^n_t + (r_t \odot h_{t-1}) W_{hn}^\top + b_{hn}) \\
    h_t &= n_t + z_t \odot (h_{t-1} - n_t)

``reset_after=True`` runs one recurrent GEMM per step, ``False`` two. The
backward computes the per-step pre-activation gradients, then
:math:`\partial W_{hh}` and :math:`\partial b_{hh}` over all steps at once.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from rnnkit.cells.gru import GRUCell
from rnnkit.fused.build import load
from rnnkit.fused.dense import linear, project_in_loop
from rnnkit.fused.sorting import needs_grad


class GRUFunction(torch.autograd.Function):
    """Autograd wrapper of ``gru_forward``/``gru_backward`` (first order only)."""

    @staticmethod
    def forward(ctx: Any, xp: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Optional[Tensor], batch_sizes: Tensor,
                total_steps: int, reset_after: bool, save: bool, b_ih: Optional[Tensor],
                w_ih: Optional[Tensor]) -> tuple[Tensor, Tensor]:
        Y, hn, G, X = load().gru_forward(xp, h0, w_hh, b_hh, batch_sizes, total_steps, reset_after, save, b_ih, w_ih)
        ctx.has_b_ih = b_ih is not None
        if save:
            ctx.save_for_backward(h0, w_hh, Y, G, X)
            ctx.meta = (batch_sizes, b_hh is not None, reset_after)
        return Y, hn

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, dY: Tensor, dhn: Tensor) -> tuple:
        h0, w_hh, Y, G, X = ctx.saved_tensors
        batch_sizes, has_bias, reset_after = ctx.meta
        steps = G.shape[0]
        dxp, dh0, dw, db = load().gru_backward(dY[:steps].contiguous(), dhn.contiguous(), h0, w_hh, has_bias,
                                               batch_sizes, Y[:steps], G, X, reset_after)
        # b_ih adds to every row's pre-activations (padding rows' gradients are zero)
        db_ih = dxp.reshape(-1, dxp.shape[-1]).sum(0) if ctx.has_b_ih and ctx.needs_input_grad[8] else None
        return dxp, dh0, dw, db, None, None, None, None, db_ih, None


def gru_unsupported(cell: GRUCell) -> Optional[str]:
    """Every GRUCell is supported."""
    return None


def gru_kernel(cell: GRUCell):
    """A :data:`rnnkit.fused.sorting.Kernel` running ``cell``."""

    def kernel(x: Tensor, h0: Tensor, batch_sizes: Tensor, total_steps: int) -> tuple[Tensor, Tensor]:
        if x.shape[0] == 0:
            return x.new_zeros((total_steps, x.shape[1], cell.hidden_size)), h0
        weight, bias = cell.input_weight_and_bias()
        save = needs_grad(x, weight, h0, cell.weight_hh, cell.bias_hh, bias)
        if save or not project_in_loop(x):  # the input projection (with gradients: autograd's), the bias in the kernel
            xp, w_ih = linear(x, weight), None
        else:  # the kernel makes it a few steps at a time, each chunk read while in cache (csrc/inputsteps.h)
            xp, w_ih = x, weight
        return GRUFunction.apply(xp, h0.contiguous(), cell.weight_hh, cell.bias_hh, batch_sizes, total_steps,
                                 cell.reset_after, save, bias, w_ih)

    return kernel
