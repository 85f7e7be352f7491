r"""Triton kernels of one LSTM step, forward and backward (see :mod:`.lstm` for the loop).

Every kernel covers a ``(B, N)`` block of rows flattened (program ``p`` takes
elements ``p * BLOCK ...``); row ``b`` is *active* when ``b < bs`` (the first
``bs`` rows of the length-sorted batch), else its state is carried through, its
output is zero and its gradient passes straight to the step before.

Forward, per element (gate order i, f, g, o; :math:`a = x W_{ih}^\top + b + h_{t-1} W_{hh}^\top`):

.. math::
    i = \sigma(a^i + p_i c_{t-1}),\ f = \sigma(a^f + b_{forget} + p_f c_{t-1}),\ g = \tanh a^g \\
    \tilde c_t = \mathrm{clip}(f c_{t-1} + i g),\ o = \sigma(a^o + p_o \tilde c_t),\
    m_t = o \tanh \tilde c_t

then (after the projection GEMM :math:`m_t W_{hr}^\top` when there is one) the
h side :math:`\tilde h_t = \mathrm{clip}(\cdot)`. Both sides apply their state rule
(:mod:`.jitmath`). Backward: the chain rule of the same, written out below.
"""

from __future__ import annotations

import triton
import triton.language as tl

from rnnkit.fused.triton.jitmath import (apply_rule, clip_passes, load_rule_mask, preactivation, rule_grads,
                                        sigmoid, tanh)


@triton.jit
def lstm_cell_fwd(XP, REC, C_PREV, C_OUT, CT_OUT, CR_OUT, G_OUT, M_OUT, PEEP, MASK_C,
                  n_active, n, H, forget_bias, cell_clip, rate_c,
                  PEEPHOLES: tl.constexpr, CLIP: tl.constexpr, RULE: tl.constexpr, BLOCK: tl.constexpr):
    """The cell side of a step: gates, :math:`\\tilde c_t` (``CT_OUT``, raw ``CR_OUT`` with a clip),
    the state ``C_OUT``, the gate activations ``G_OUT`` ``(B, 4H)`` and :math:`m_t` (``M_OUT``)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < n
    active = offs < n_active
    row = offs // H
    col = offs % H
    gate = row * 4 * H + col
    c_prev = tl.load(C_PREV + offs, mask=inside, other=0.0)
    a_i = preactivation(XP, REC, gate, active)
    a_f = preactivation(XP, REC, gate + H, active)
    a_g = preactivation(XP, REC, gate + 2 * H, active)
    a_o = preactivation(XP, REC, gate + 3 * H, active)
    a_f = a_f + forget_bias
    if PEEPHOLES:
        a_i = a_i + tl.load(PEEP + col, mask=inside, other=0.0) * c_prev
        a_f = a_f + tl.load(PEEP + H + col, mask=inside, other=0.0) * c_prev
    i = sigmoid(a_i)
    f = sigmoid(a_f)
    g = tanh(a_g)
    c_raw = f * c_prev + i * g
    c_new = c_raw
    if CLIP:
        c_new = tl.minimum(tl.maximum(c_raw, -cell_clip), cell_clip)
        tl.store(CR_OUT + offs, c_raw, mask=active)
    if PEEPHOLES:
        a_o = a_o + tl.load(PEEP + 2 * H + col, mask=inside, other=0.0) * c_new
    o = sigmoid(a_o)
    m = o * tanh(c_new)
    mask_c = load_rule_mask(MASK_C, offs, active, RULE)
    c_state = apply_rule(c_new, c_prev, mask_c, rate_c, RULE)
    tl.store(CT_OUT + offs, tl.where(active, c_new, 0.0), mask=inside)  # zero rows: the GEMMs after the loop read them
    tl.store(G_OUT + gate, i, mask=active)
    tl.store(G_OUT + gate + H, f, mask=active)
    tl.store(G_OUT + gate + 2 * H, g, mask=active)
    tl.store(G_OUT + gate + 3 * H, o, mask=active)
    tl.store(M_OUT + offs, tl.where(active, m, 0.0), mask=inside)
    tl.store(C_OUT + offs, tl.where(active, c_state, c_prev), mask=inside)


@triton.jit
def h_side_fwd(HRAW, H_PREV, H_OUT, Y_OUT, HT_OUT, MASK_H, n_active, n, proj_clip, rate_h,
               CLIP: tl.constexpr, RULE: tl.constexpr, Y_IS_STATE: tl.constexpr, BLOCK: tl.constexpr):
    """The h side of a step on ``(B, P)``: :math:`\\tilde h_t = \\mathrm{clip}(` ``HRAW`` :math:`)` (saved in
    ``HT_OUT``), the state ``H_OUT`` after the rule, the output ``Y_OUT`` (the state when ``Y_IS_STATE``,
    else :math:`\\tilde h_t`). The first ``n_active`` elements are the active rows; past them the state is
    carried and the output is zero."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < n
    active = offs < n_active
    h_prev = tl.load(H_PREV + offs, mask=inside, other=0.0)
    h_new = tl.load(HRAW + offs, mask=active, other=0.0)
    if CLIP:
        h_new = tl.minimum(tl.maximum(h_new, -proj_clip), proj_clip)
    mask_h = load_rule_mask(MASK_H, offs, active, RULE)
    h_state = apply_rule(h_new, h_prev, mask_h, rate_h, RULE)
    if Y_IS_STATE:
        y = h_state
    else:
        y = h_new
    tl.store(HT_OUT + offs, h_new, mask=active)
    tl.store(H_OUT + offs, tl.where(active, h_state, h_prev), mask=inside)
    tl.store(Y_OUT + offs, tl.where(active, y, 0.0), mask=inside)


@triton.jit
def h_side_bwd(DY, DH, DH_PREV, DHRAW, HRAW, HT, MASK_H, DMASK_H, n_active, n, proj_clip, rate_h,
               CLIP: tl.constexpr, RULE: tl.constexpr, Y_IS_STATE: tl.constexpr, MASK_GRAD: tl.constexpr,
               BLOCK: tl.constexpr):
    """Backward of :func:`h_side_fwd`: from ``DY`` (output) and ``DH`` (state :math:`h_t`), the gradient
    ``DHRAW`` of the raw (pre-clip) :math:`\\tilde h_t` (zero on inactive rows), the direct part of
    :math:`\\partial h_{t-1}` in ``DH_PREV`` (all of it on inactive rows), and (dropout) the mask's
    gradient accumulated in ``DMASK_H``."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < n
    active = offs < n_active
    dh = tl.load(DH + offs, mask=inside, other=0.0)
    dy = tl.load(DY + offs, mask=active, other=0.0).to(tl.float32)
    mask_h = load_rule_mask(MASK_H, offs, active, RULE)
    if Y_IS_STATE:
        d_new, d_prev = rule_grads(dh + dy, mask_h, rate_h, RULE)
    else:
        d_new, d_prev = rule_grads(dh, mask_h, rate_h, RULE)
        d_new = d_new + dy
    if MASK_GRAD:
        h_new = tl.load(HT + offs, mask=active, other=0.0)
        dmask = tl.load(DMASK_H + offs, mask=active, other=0.0)
        tl.store(DMASK_H + offs, dmask + h_new * dh, mask=active)
    if CLIP:
        d_new = d_new * clip_passes(tl.load(HRAW + offs, mask=active, other=0.0), proj_clip)
    tl.store(DHRAW + offs, tl.where(active, d_new, 0.0), mask=inside)
    tl.store(DH_PREV + offs, tl.where(active, d_prev, dh), mask=inside)


@triton.jit
def lstm_cell_bwd(DM, DC, DC_PREV, DA, G, C_PREV, CT, CR, PEEP, MASK_C, DMASK_C,
                  n_active, n, H, cell_clip, rate_c,
                  PEEPHOLES: tl.constexpr, CLIP: tl.constexpr, RULE: tl.constexpr, MASK_GRAD: tl.constexpr,
                  BLOCK: tl.constexpr):
    """Backward of :func:`lstm_cell_fwd`: from ``DM`` (:math:`\\partial m_t`) and ``DC`` (state
    :math:`c_t`), the pre-activation gradients ``DA`` ``(B, 4H)`` (zero on inactive rows; also the
    input projection's gradient) and :math:`\\partial c_{t-1}` in ``DC_PREV``.

    .. math::
        \\partial \\tilde c &= \\partial_{rule} c_t + \\partial m\\, o (1 - \\tanh^2 \\tilde c)
            + p_o \\partial a^o, \\qquad \\partial a^o = \\partial m \\tanh \\tilde c\\, o (1 - o) \\\\
        \\partial c_{raw} &= \\partial \\tilde c \\,[|c_{raw}| \\le c_{clip}],\\quad
        \\partial a^i = \\partial c_{raw} g\\, i(1-i),\\quad \\partial a^f = \\partial c_{raw} c_{t-1} f(1-f),\\quad
        \\partial a^g = \\partial c_{raw} i (1 - g^2) \\\\
        \\partial c_{t-1} &= \\partial c_{raw} f + p_i \\partial a^i + p_f \\partial a^f + \\partial_{rule} c_{t-1}
    """
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < n
    active = offs < n_active
    row = offs // H
    col = offs % H
    gate = row * 4 * H + col
    dc = tl.load(DC + offs, mask=inside, other=0.0)
    dm = tl.load(DM + offs, mask=active, other=0.0)
    i = tl.load(G + gate, mask=active, other=0.0)
    f = tl.load(G + gate + H, mask=active, other=0.0)
    g = tl.load(G + gate + 2 * H, mask=active, other=0.0)
    o = tl.load(G + gate + 3 * H, mask=active, other=0.0)
    c_prev = tl.load(C_PREV + offs, mask=active, other=0.0)
    c_new = tl.load(CT + offs, mask=active, other=0.0)
    mask_c = load_rule_mask(MASK_C, offs, active, RULE)
    d_new, d_prev = rule_grads(dc, mask_c, rate_c, RULE)
    if MASK_GRAD:
        dmask = tl.load(DMASK_C + offs, mask=active, other=0.0)
        tl.store(DMASK_C + offs, dmask + c_new * dc, mask=active)
    tc = tanh(c_new)
    da_o = dm * tc * o * (1.0 - o)
    d_ct = d_new + dm * o * (1.0 - tc * tc)
    if PEEPHOLES:
        p_i = tl.load(PEEP + col, mask=active, other=0.0)
        p_f = tl.load(PEEP + H + col, mask=active, other=0.0)
        p_o = tl.load(PEEP + 2 * H + col, mask=active, other=0.0)
        d_ct = d_ct + p_o * da_o
    if CLIP:
        d_ct = d_ct * clip_passes(tl.load(CR + offs, mask=active, other=0.0), cell_clip)
    da_i = d_ct * g * i * (1.0 - i)
    da_f = d_ct * c_prev * f * (1.0 - f)
    da_g = d_ct * i * (1.0 - g * g)
    dc_prev = d_ct * f + d_prev
    if PEEPHOLES:
        dc_prev = dc_prev + p_i * da_i + p_f * da_f
    tl.store(DA + gate, da_i, mask=active)
    tl.store(DA + gate + H, da_f, mask=active)
    tl.store(DA + gate + 2 * H, da_g, mask=active)
    tl.store(DA + gate + 3 * H, da_o, mask=active)
    tl.store(DC_PREV + offs, tl.where(active, dc_prev, dc), mask=inside)
