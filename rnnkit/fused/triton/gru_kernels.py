r"""Triton kernels of one GRU step, both formulations, forward and backward (loop in :mod:`.gru`).

Layout as :mod:`.lstm_kernels`: flattened ``(B, H)`` elements, the first
``n_active`` active, the rest carried (state) or zero (output, gradients).
Gate order r, z, n; ``XP`` holds :math:`x_t W_{ih}^\top + b_{ih}` ``(B, 3H)``.

``reset_after=True`` (one kernel after :math:`\rho_t = h_{t-1} W_{hh}^\top + b_{hh}`):

.. math::
    r = \sigma(x^r + \rho^r),\ z = \sigma(x^z + \rho^z),\ n = \tanh(x^n + r \rho^n),\
    h_t = n + z (h_{t-1} - n)

``reset_after=False`` (two kernels around the second GEMM): ``gru_rz_fwd`` gives
:math:`r, z` and :math:`r h_{t-1}`; after :math:`\nu_t = (r h_{t-1}) W_{hn}^\top + b_{hn}`,
``gru_n_fwd`` gives :math:`n = \tanh(x^n + \nu_t)` and :math:`h_t`.
"""

from __future__ import annotations

import triton
import triton.language as tl

from rnnkit.fused.triton.jitmath import preactivation, sigmoid, tanh


@triton.jit
def gru_fwd(XP, REC, H_PREV, H_OUT, Y_OUT, G_OUT, RN_OUT, n_active, n, H, BLOCK: tl.constexpr):
    """``reset_after=True``: ``G_OUT`` ``(B, 3H)`` = r, z, n; ``RN_OUT`` = :math:`\\rho^n`; state and output."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < n
    active = offs < n_active
    gate = (offs // H) * 3 * H + offs % H
    h_prev = tl.load(H_PREV + offs, mask=inside, other=0.0)
    r = sigmoid(preactivation(XP, REC, gate, active))
    z = sigmoid(preactivation(XP, REC, gate + H, active))
    rn = tl.load(REC + gate + 2 * H, mask=active, other=0.0)
    nn = tanh(tl.load(XP + gate + 2 * H, mask=active, other=0.0).to(tl.float32) + r * rn)
    h = nn + z * (h_prev - nn)
    tl.store(G_OUT + gate, r, mask=active)
    tl.store(G_OUT + gate + H, z, mask=active)
    tl.store(G_OUT + gate + 2 * H, nn, mask=active)
    tl.store(RN_OUT + offs, rn, mask=active)
    tl.store(H_OUT + offs, tl.where(active, h, h_prev), mask=inside)
    tl.store(Y_OUT + offs, tl.where(active, h, 0.0), mask=inside)


@triton.jit
def gru_bwd(DY, DH, DH_PREV, DX, DREC, G, RN, H_PREV, n_active, n, H, BLOCK: tl.constexpr):
    """Backward of :func:`gru_fwd`: ``DX`` = :math:`\\partial (x^r, x^z, x^n)`, ``DREC`` =
    :math:`\\partial \\rho` (``(B, 3H)``, zero on inactive rows), the direct :math:`z\\, \\partial h_t`
    part of :math:`\\partial h_{t-1}` in ``DH_PREV``."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < n
    active = offs < n_active
    gate = (offs // H) * 3 * H + offs % H
    dh = tl.load(DH + offs, mask=inside, other=0.0)
    grad = dh + tl.load(DY + offs, mask=active, other=0.0).to(tl.float32)
    r = tl.load(G + gate, mask=active, other=0.0)
    z = tl.load(G + gate + H, mask=active, other=0.0)
    nn = tl.load(G + gate + 2 * H, mask=active, other=0.0)
    rn = tl.load(RN + offs, mask=active, other=0.0)
    h_prev = tl.load(H_PREV + offs, mask=active, other=0.0)
    da_n = grad * (1.0 - z) * (1.0 - nn * nn)
    da_z = grad * (h_prev - nn) * z * (1.0 - z)
    da_r = da_n * rn * r * (1.0 - r)
    tl.store(DX + gate, da_r, mask=active)
    tl.store(DX + gate + H, da_z, mask=active)
    tl.store(DX + gate + 2 * H, da_n, mask=active)
    tl.store(DREC + gate, da_r, mask=active)
    tl.store(DREC + gate + H, da_z, mask=active)
    tl.store(DREC + gate + 2 * H, da_n * r, mask=active)
    tl.store(DH_PREV + offs, tl.where(active, grad * z, dh), mask=inside)


@triton.jit
def gru_rz_fwd(XP, REC, H_PREV, G_OUT, RH_OUT, n_active, n, H, BLOCK: tl.constexpr):
    """``reset_after=False``, first half: r, z (``G_OUT``) from ``REC`` ``(B, 2H)``, and :math:`r h_{t-1}`."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < n
    active = offs < n_active
    row = offs // H
    gate = row * 3 * H + offs % H
    rec = row * 2 * H + offs % H
    h_prev = tl.load(H_PREV + offs, mask=active, other=0.0)
    r = sigmoid(tl.load(XP + gate, mask=active, other=0.0).to(tl.float32) + tl.load(REC + rec, mask=active, other=0.0))
    z = sigmoid(tl.load(XP + gate + H, mask=active, other=0.0).to(tl.float32)
                   + tl.load(REC + rec + H, mask=active, other=0.0))
    tl.store(G_OUT + gate, r, mask=active)
    tl.store(G_OUT + gate + H, z, mask=active)
    tl.store(RH_OUT + offs, tl.where(active, r * h_prev, 0.0), mask=inside)  # zero rows: read by the dW GEMM


@triton.jit
def gru_n_fwd(XP, REC_N, H_PREV, H_OUT, Y_OUT, G_OUT, n_active, n, H, BLOCK: tl.constexpr):
    """``reset_after=False``, second half: :math:`n` (``G_OUT``), state and output from ``REC_N`` = :math:`\\nu_t`."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < n
    active = offs < n_active
    gate = (offs // H) * 3 * H + offs % H
    h_prev = tl.load(H_PREV + offs, mask=inside, other=0.0)
    z = tl.load(G_OUT + gate + H, mask=active, other=0.0)
    nn = tanh(tl.load(XP + gate + 2 * H, mask=active, other=0.0).to(tl.float32)
              + tl.load(REC_N + offs, mask=active, other=0.0))
    h = nn + z * (h_prev - nn)
    tl.store(G_OUT + gate + 2 * H, nn, mask=active)
    tl.store(H_OUT + offs, tl.where(active, h, h_prev), mask=inside)
    tl.store(Y_OUT + offs, tl.where(active, h, 0.0), mask=inside)


@triton.jit
def gru_n_bwd(DY, DH, DH_PREV, DX, G, H_PREV, n_active, n, H, BLOCK: tl.constexpr):
    """``reset_after=False``, backward of :func:`gru_n_fwd`: :math:`\\partial x^z, \\partial x^n` into ``DX``
    and the direct :math:`z\\, \\partial h_t` part of ``DH_PREV``."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < n
    active = offs < n_active
    gate = (offs // H) * 3 * H + offs % H
    dh = tl.load(DH + offs, mask=inside, other=0.0)
    grad = dh + tl.load(DY + offs, mask=active, other=0.0).to(tl.float32)
    z = tl.load(G + gate + H, mask=active, other=0.0)
    nn = tl.load(G + gate + 2 * H, mask=active, other=0.0)
    h_prev = tl.load(H_PREV + offs, mask=active, other=0.0)
    tl.store(DX + gate + H, grad * (h_prev - nn) * z * (1.0 - z), mask=active)
    tl.store(DX + gate + 2 * H, grad * (1.0 - z) * (1.0 - nn * nn), mask=active)
    tl.store(DH_PREV + offs, tl.where(active, grad * z, dh), mask=inside)


@triton.jit
def gru_r_bwd(DRH, DH_PREV, DX, G, H_PREV, n_active, H, BLOCK: tl.constexpr):
    """``reset_after=False``, backward of :func:`gru_rz_fwd` given ``DRH`` = :math:`\\partial (r h_{t-1})`:
    :math:`\\partial x^r` into ``DX``, :math:`r\\, \\partial (r h_{t-1})` added to ``DH_PREV``."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    active = offs < n_active
    gate = (offs // H) * 3 * H + offs % H
    drh = tl.load(DRH + offs, mask=active, other=0.0)
    r = tl.load(G + gate, mask=active, other=0.0)
    h_prev = tl.load(H_PREV + offs, mask=active, other=0.0)
    tl.store(DX + gate, drh * h_prev * r * (1.0 - r), mask=active)
    dh_prev = tl.load(DH_PREV + offs, mask=active, other=0.0)
    tl.store(DH_PREV + offs, dh_prev + drh * r, mask=active)
