r"""The compiled LSTM: :class:`rnnkit.cells.LSTMCell` (every option but a non-tanh
activation) with the whole time loop in C++ (``csrc/lstm_forward.cpp``, ``csrc/lstm_backward.cpp``).

Forward: ``cell.input_projection`` for all steps in one GEMM over the active
rows only (packed step after step, :func:`pack_rows`: no work on padding
anywhere, also not in the weight-gradient GEMMs; its bias is added in the step,
not in a pass of its own; in inference the kernel makes it a few steps at a time,
each chunk read while in cache, ``csrc/inputsteps.h``), then per step a recurrent GEMM on the active rows and
one fused pointwise pass

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
gradients come from autograd on it (``rnnkit.fused.dense.linear``: its GEMMs on oneDNN).

A :class:`StateRule` changes what the step hands on as its state
:math:`s_t` (``h`` and ``c``) given the cell's new :math:`\tilde s_t`:

* ``DROPOUT`` (variational state dropout): :math:`s_t = m \odot \tilde s_t` with one
  mask per sequence (``(B, P)`` for ``h``, ``(B, H)`` for ``c``; None leaves a leaf
  alone); the output stays :math:`y_t = \tilde h_t`; the masks get gradients;
* ``ZONEOUT``: :math:`s_t = d_t \odot s_{t-1} + (1 - d_t) \odot \tilde s_t` with bool
  keep masks ``d`` ``(T, B, .)`` (training), or without masks the expectation
  :math:`\mathrm{lerp}(\tilde s_t, s_{t-1}, \text{rate})` (evaluation); the output is
  the new state, :math:`y_t = h_t`.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import torch
from torch import Tensor

from rnnkit.cells.lstm import LSTMCell
from rnnkit.fused.build import load
from rnnkit.fused.dense import linear, project_in_loop
from rnnkit.fused.sorting import needs_grad
from rnnkit.state import LSTMState


NONE, DROPOUT, ZONEOUT = 0, 1, 2


class StateRule(NamedTuple):
    """What a step hands on as its state (see the module docstring).

    Attributes:
        mode: ``NONE``, ``DROPOUT`` or ``ZONEOUT``.
        h: DROPOUT: ``(B, P)`` mask; ZONEOUT: ``(T, B, P)`` bool keep masks; or None.
        c: the same for ``c`` (``H`` columns).
        rate_h: ZONEOUT without ``h`` masks: the rate of the expectation (0: no rule).
        rate_c: the same for ``c``.
    """

    mode: int = NONE
    h: Optional[Tensor] = None
    c: Optional[Tensor] = None
    rate_h: float = 0.0
    rate_c: float = 0.0


class LSTMFunction(torch.autograd.Function):
    """Autograd wrapper of ``lstm_forward``/``lstm_backward`` (first order only)."""

    @staticmethod
    def forward(ctx: Any, xp: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, w_hr: Optional[Tensor],
                peep: Optional[Tensor], hk: Optional[Tensor], ck: Optional[Tensor], batch_sizes: Tensor,
                total_steps: int, forget_bias: float, cell_clip: float, proj_clip: float, save: bool,
                mode: int, rate_h: float, rate_c: float, bias: Optional[Tensor],
                w_ih: Optional[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        ext = load()
        Y, hn, cn, G, C, TC, CR, M, HR, HP, CT = ext.lstm_forward(
            xp, h0, c0, w_hh, w_hr, peep, batch_sizes, total_steps, forget_bias, cell_clip, proj_clip, save,
            mode, hk, ck, rate_h, rate_c, bias, w_ih)
        ctx.has_bias = bias is not None
        if save:
            ctx.save_for_backward(h0, c0, w_hh, w_hr, peep, Y, G, C, TC, CR, M, HR, HP, CT, hk, ck)
            ctx.batch_sizes = batch_sizes
            ctx.args = (cell_clip, proj_clip, mode)
            ctx.rates = (rate_h, rate_c)
        return Y, hn, cn

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, dY: Tensor, dhn: Tensor, dcn: Tensor) -> tuple:
        h0, c0, w_hh, w_hr, peep, Y, G, C, TC, CR, M, HR, HP, CT, hk, ck = ctx.saved_tensors
        steps = ctx.batch_sizes.shape[0]

        def opt(t: Optional[Tensor]) -> Optional[Tensor]:
            return t if t is not None and t.numel() > 0 else None

        dxp, dh0, dc0, dw_hh, dw_hr, dpeep, dhk, dck = load().lstm_backward(
            dY[:steps].contiguous(), dhn.contiguous(), dcn.contiguous(), h0, c0, w_hh, w_hr, peep,
            ctx.batch_sizes, Y[:steps], G, C, TC, opt(CR), opt(M), opt(HR), *ctx.args, hk, ck, *ctx.rates,
            opt(HP), opt(CT))
        if ctx.args[2] != DROPOUT:  # zoneout's keep masks are not differentiable
            dhk = dck = None
        dbias = dxp.sum(0) if ctx.has_bias and ctx.needs_input_grad[17] else None  # the bias adds to every row's gates
        return (dxp, dh0, dc0, dw_hh, dw_hr, dpeep, dhk, dck) + (None,) * 9 + (dbias, None)


def pack_rows(x: Tensor, batch_sizes: Tensor) -> Tensor:
    """The active rows of a length-sorted ``(T, B, I)`` batch, step after step: ``(N, I)``,
    ``N = batch_sizes.sum()`` (a PackedSequence's data). The kernel's input projection, its saved
    buffers and every weight-gradient GEMM then cover only the valid rows. An autograd op (its
    backward scatters into zeros); a view when no row ends early."""
    T, B = x.shape[0], x.shape[1]
    flat = x.reshape(T * B, *x.shape[2:])
    if int(batch_sizes[-1]) == B:
        return flat
    active = torch.arange(B).unsqueeze(0) < batch_sizes.unsqueeze(1)  # (T, B), row-major = packed order
    return flat.index_select(0, active.flatten().nonzero().squeeze(1).to(x.device))


def lstm_unsupported(cell: LSTMCell) -> Optional[str]:
    """Why the compiled LSTM cannot run ``cell`` (None if it can)."""
    if cell.activation is not torch.tanh:
        return f"the compiled LSTM computes activation='tanh' only, not {cell.activation_name!r}"
    return None


def lstm_kernel(cell: LSTMCell):
    """A :data:`rnnkit.fused.sorting.Kernel` running ``cell``; it takes an optional
    :class:`StateRule` as a fifth argument (rows in the kernel's sorted order)."""

    def kernel(x: Tensor, state: LSTMState, batch_sizes: Tensor, total_steps: int,
               rule: StateRule = StateRule()) -> tuple[Tensor, LSTMState]:
        h0, c0 = state
        if x.shape[0] == 0:
            return x.new_zeros((total_steps, x.shape[1], cell.output_size)), LSTMState(h0, c0)
        weight, bias = cell.input_weight_and_bias()
        hk = None if rule.h is None else rule.h.contiguous()
        ck = None if rule.c is None else rule.c.contiguous()
        save = needs_grad(x, weight, h0, c0, cell.weight_hh, cell.weight_hr, cell.weight_peephole, hk, ck, bias)
        rows = pack_rows(x, batch_sizes)
        if save or not project_in_loop(x):  # the input projection (with gradients: autograd's), the bias in the kernel
            xp, w_ih = linear(rows, weight), None
        else:  # the kernel makes it a few steps at a time, each chunk read while in cache (csrc/inputsteps.h)
            xp, w_ih = rows, weight
        Y, hn, cn = LSTMFunction.apply(
            xp, h0.contiguous(), c0.contiguous(), cell.weight_hh, cell.weight_hr, cell.weight_peephole, hk, ck,
            batch_sizes, total_steps, cell.forget_bias, cell.cell_clip or 0.0, cell.proj_clip or 0.0, save,
            rule.mode, float(rule.rate_h), float(rule.rate_c), bias, w_ih)
        return Y, LSTMState(hn, cn)

    return kernel
