r"""Triton kernels of one layer-norm LSTM step (loop in :mod:`.layernorm`).

One program per row (the norms reduce over a row: ``4H`` gate pre-activations,
``H`` cell values); rows ``>= bs`` are inactive (state carried, output and
gradients zero). With :math:`u_t` the normalised input projection (computed
before the loop, shifts :math:`\beta_{ih} + \beta_{hh}` included) and
:math:`\rho_t = h_{t-1} W_{hh}^\top`:

.. math::
    \hat\rho &= (\rho - \mu(\rho)) / \sqrt{\sigma^2(\rho) + \epsilon}, \qquad
    a = u_t + \gamma_{hh} \odot \hat\rho \\
    c_t &= \sigma(a^f + b_{forget}) c_{t-1} + \sigma(a^i) \tanh(a^g), \qquad
    \hat c = (c_t - \mu(c_t)) / \sqrt{\sigma^2(c_t) + \epsilon} \\
    h_t &= \sigma(a^o) \tanh(\gamma_c \odot \hat c + \beta_c)

Backward of a layer norm :math:`\hat v = (v - \mu) r` given :math:`\partial \hat v`:
:math:`\partial v = r\, (\partial \hat v - \overline{\partial \hat v} - \hat v\, \overline{\partial \hat v \hat v})`
(bars: means over the row).
"""

from __future__ import annotations

import triton
import triton.language as tl

from rnnkit.fused.triton.jitmath import sigmoid, tanh, total


@triton.jit
def lnlstm_fwd(XP, REC, C_PREV, H_PREV, C_OUT, H_OUT, Y_OUT, G_OUT, VH_OUT, XC_OUT, RS_OUT, G_HH, G_C, B_C,
               bs, H, forget_bias, eps, BLOCK_H: tl.constexpr):
    """One row: gates ``G_OUT`` ``(B, 4H)``, :math:`\\hat\\rho` ``VH_OUT``, :math:`\\hat c` ``XC_OUT`` (zero
    on inactive rows), the two reciprocal standard deviations ``RS_OUT`` ``(B, 2)``, state and output."""
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_H)
    cm = cols < H
    active = (cols * 0 + row) < bs  # a block, like the column mask
    am = cm & active
    base = row * 4 * H + cols
    r_i = tl.load(REC + base, mask=am, other=0.0)
    r_f = tl.load(REC + base + H, mask=am, other=0.0)
    r_g = tl.load(REC + base + 2 * H, mask=am, other=0.0)
    r_o = tl.load(REC + base + 3 * H, mask=am, other=0.0)
    mean = (total(r_i) + total(r_f) + total(r_g) + total(r_o)) / (4 * H)
    d_i = tl.where(am, r_i - mean, 0.0)
    d_f = tl.where(am, r_f - mean, 0.0)
    d_g = tl.where(am, r_g - mean, 0.0)
    d_o = tl.where(am, r_o - mean, 0.0)
    var = (total(d_i * d_i) + total(d_f * d_f) + total(d_g * d_g) + total(d_o * d_o)) / (4 * H)
    rstd = 1.0 / tl.sqrt(var + eps)
    v_i, v_f, v_g, v_o = d_i * rstd, d_f * rstd, d_g * rstd, d_o * rstd
    a_i = tl.load(XP + base, mask=am, other=0.0).to(tl.float32) + tl.load(G_HH + cols, mask=cm, other=0.0) * v_i
    a_f = (tl.load(XP + base + H, mask=am, other=0.0).to(tl.float32)
           + tl.load(G_HH + H + cols, mask=cm, other=0.0) * v_f)
    a_g = (tl.load(XP + base + 2 * H, mask=am, other=0.0).to(tl.float32)
           + tl.load(G_HH + 2 * H + cols, mask=cm, other=0.0) * v_g)
    a_o = (tl.load(XP + base + 3 * H, mask=am, other=0.0).to(tl.float32)
           + tl.load(G_HH + 3 * H + cols, mask=cm, other=0.0) * v_o)
    i = sigmoid(a_i)
    f = sigmoid(a_f + forget_bias)
    g = tanh(a_g)
    o = sigmoid(a_o)
    c_prev = tl.load(C_PREV + row * H + cols, mask=cm, other=0.0)
    c = f * c_prev + i * g
    mean_c = total(tl.where(am, c, 0.0)) / H
    dc = tl.where(am, c - mean_c, 0.0)
    rstd_c = 1.0 / tl.sqrt(total(dc * dc) / H + eps)
    xc = dc * rstd_c
    h = o * tanh(tl.load(G_C + cols, mask=cm, other=0.0) * xc + tl.load(B_C + cols, mask=cm, other=0.0))
    tl.store(G_OUT + base, i, mask=am)
    tl.store(G_OUT + base + H, f, mask=am)
    tl.store(G_OUT + base + 2 * H, g, mask=am)
    tl.store(G_OUT + base + 3 * H, o, mask=am)
    tl.store(VH_OUT + base, v_i, mask=cm)  # zero on inactive rows: read by the sums after the loop
    tl.store(VH_OUT + base + H, v_f, mask=cm)
    tl.store(VH_OUT + base + 2 * H, v_g, mask=cm)
    tl.store(VH_OUT + base + 3 * H, v_o, mask=cm)
    tl.store(XC_OUT + row * H + cols, xc, mask=cm)
    tl.store(RS_OUT + row * 2, rstd)
    tl.store(RS_OUT + row * 2 + 1, rstd_c)
    h_prev = tl.load(H_PREV + row * H + cols, mask=cm, other=0.0)
    tl.store(C_OUT + row * H + cols, tl.where(active, c, c_prev), mask=cm)
    tl.store(H_OUT + row * H + cols, tl.where(active, h, h_prev), mask=cm)
    tl.store(Y_OUT + row * H + cols, tl.where(active, h, 0.0), mask=cm)


@triton.jit
def lnlstm_bwd(DY, DH, DC, DH_PREV, DC_PREV, DA, DREC, DCHAT, G, VH, XC, RS, C_PREV, G_HH, G_C, B_C,
               bs, H, BLOCK_H: tl.constexpr):
    """Backward of :func:`lnlstm_fwd` for one row: ``DA`` (:math:`\\partial a`, also :math:`\\partial u_t`),
    ``DREC`` (:math:`\\partial \\rho`), ``DCHAT`` (:math:`\\partial` of the normalised cell's affine output,
    for :math:`\\partial\\gamma_c, \\partial\\beta_c`), :math:`\\partial c_{t-1}`; ``DH_PREV`` gets
    :math:`\\partial h_t` on inactive rows and zero on active ones (the GEMM adds :math:`\\partial\\rho W_{hh}`)."""
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_H)
    cm = cols < H
    active = (cols * 0 + row) < bs  # a block, like the column mask
    am = cm & active
    base = row * 4 * H + cols
    hc = row * H + cols
    dh = tl.load(DH + hc, mask=cm, other=0.0)
    dc = tl.load(DC + hc, mask=cm, other=0.0)
    grad = tl.where(am, dh + tl.load(DY + hc, mask=am, other=0.0).to(tl.float32), 0.0)
    i = tl.load(G + base, mask=am, other=0.0)
    f = tl.load(G + base + H, mask=am, other=0.0)
    g = tl.load(G + base + 2 * H, mask=am, other=0.0)
    o = tl.load(G + base + 3 * H, mask=am, other=0.0)
    xc = tl.load(XC + hc, mask=am, other=0.0)
    rstd_c = tl.load(RS + row * 2 + 1)
    rstd = tl.load(RS + row * 2)
    gamma_c = tl.load(G_C + cols, mask=cm, other=0.0)
    tc = tanh(gamma_c * xc + tl.load(B_C + cols, mask=cm, other=0.0))
    da_o = grad * tc * o * (1.0 - o)
    dchat = grad * o * (1.0 - tc * tc)
    dxc = dchat * gamma_c
    dc_ln = rstd_c * (dxc - total(dxc) / H - xc * (total(dxc * xc) / H))
    dct = tl.where(am, dc + dc_ln, 0.0)
    c_prev = tl.load(C_PREV + hc, mask=am, other=0.0)
    da_i = dct * g * i * (1.0 - i)
    da_f = dct * c_prev * f * (1.0 - f)
    da_g = dct * i * (1.0 - g * g)
    v_i = tl.load(VH + base, mask=am, other=0.0)
    v_f = tl.load(VH + base + H, mask=am, other=0.0)
    v_g = tl.load(VH + base + 2 * H, mask=am, other=0.0)
    v_o = tl.load(VH + base + 3 * H, mask=am, other=0.0)
    dv_i = da_i * tl.load(G_HH + cols, mask=cm, other=0.0)
    dv_f = da_f * tl.load(G_HH + H + cols, mask=cm, other=0.0)
    dv_g = da_g * tl.load(G_HH + 2 * H + cols, mask=cm, other=0.0)
    dv_o = da_o * tl.load(G_HH + 3 * H + cols, mask=cm, other=0.0)
    mean_dv = (total(dv_i) + total(dv_f) + total(dv_g) + total(dv_o)) / (4 * H)
    mean_dvv = (total(dv_i * v_i) + total(dv_f * v_f) + total(dv_g * v_g) + total(dv_o * v_o)) / (4 * H)
    tl.store(DA + base, da_i, mask=am)
    tl.store(DA + base + H, da_f, mask=am)
    tl.store(DA + base + 2 * H, da_g, mask=am)
    tl.store(DA + base + 3 * H, da_o, mask=am)
    tl.store(DREC + base, rstd * (dv_i - mean_dv - v_i * mean_dvv), mask=am)
    tl.store(DREC + base + H, rstd * (dv_f - mean_dv - v_f * mean_dvv), mask=am)
    tl.store(DREC + base + 2 * H, rstd * (dv_g - mean_dv - v_g * mean_dvv), mask=am)
    tl.store(DREC + base + 3 * H, rstd * (dv_o - mean_dv - v_o * mean_dvv), mask=am)
    tl.store(DCHAT + hc, dchat, mask=am)
    tl.store(DC_PREV + hc, tl.where(active, dct * f, dc), mask=cm)
    tl.store(DH_PREV + hc, tl.where(active, 0.0, dh), mask=cm)
