r"""Scalar functions shared by the Triton kernels (inlined into each kernel).

State rules (what a step hands on as its state :math:`s_t` given the cell's
new value :math:`\tilde s_t`, see :mod:`rnnkit.fused.compiled_lstm`):

* ``RULE_NONE``: :math:`s_t = \tilde s_t`;
* ``RULE_DROPOUT``: :math:`s_t = m \odot \tilde s_t` (one mask per sequence);
* ``RULE_ZONEOUT``: :math:`s_t = d_t \odot s_{t-1} + (1 - d_t) \odot \tilde s_t`
  with bool keep masks :math:`d_t` (training);
* ``RULE_EXPECT``: :math:`s_t = \tilde s_t + r (s_{t-1} - \tilde s_t)` (zoneout
  in evaluation, rate :math:`r`).
"""

from __future__ import annotations

import triton
import triton.language as tl

RULE_NONE, RULE_DROPOUT, RULE_ZONEOUT, RULE_EXPECT = 0, 1, 2, 3


@triton.jit
def sigmoid(x):
    r""":math:`\sigma(x) = 1 / (1 + e^{-x})` (written here rather than ``tl.sigmoid``, a ``@triton.jit``
    function of triton's own, so that every jit function the kernels call is defined in this package)."""
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def tanh(x):
    r""":math:`\tanh x = \mathrm{sign}(x) (1 - e^{-2|x|}) / (1 + e^{-2|x|})` (no overflow for large ``|x|``)."""
    e = tl.exp(-2.0 * tl.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(x >= 0, t, -t)


@triton.jit
def preactivation(XP, REC, idx, mask):
    """``XP[idx] + REC[idx]`` in float32 (``XP`` in the input dtype, ``REC`` float32), 0 where masked."""
    return tl.load(XP + idx, mask=mask, other=0.0).to(tl.float32) + tl.load(REC + idx, mask=mask, other=0.0)


@triton.jit
def clip_passes(raw, clip):
    """1.0 where ``clamp(raw, -clip, clip)`` passes its gradient (``-clip <= raw <= clip``), else 0.0."""
    return tl.where((raw >= -clip) & (raw <= clip), 1.0, 0.0)


@triton.jit
def load_rule_mask(MASK, offs, mask, RULE: tl.constexpr):
    """The rule's mask (float32) at ``offs``; without a mask (``RULE_NONE``, ``RULE_EXPECT``) nothing is read:
    ``MASK`` is then a one-element placeholder that must not be indexed."""
    if RULE == 1 or RULE == 2:
        out = tl.load(MASK + offs, mask=mask, other=0).to(tl.float32)
    else:
        out = offs.to(tl.float32) * 0.0
    return out


@triton.jit
def apply_rule(new, prev, mask, rate, RULE: tl.constexpr):
    """The state a step hands on (see the module docstring); ``mask`` is the dropout mask or keep mask."""
    if RULE == 1:
        out = mask * new
    elif RULE == 2:
        out = tl.where(mask != 0, prev, new)
    elif RULE == 3:
        out = new + rate * (prev - new)
    else:
        out = new
    return out


@triton.jit
def rule_grads(grad, mask, rate, RULE: tl.constexpr):
    """``(d new, d prev)`` of :func:`apply_rule` given ``grad`` of its result (dropout: ``d new`` only)."""
    if RULE == 1:
        d_new = mask * grad
        d_prev = 0.0 * grad
    elif RULE == 2:
        keep = mask != 0
        d_new = tl.where(keep, 0.0, grad)
        d_prev = tl.where(keep, grad, 0.0)
    elif RULE == 3:
        d_new = (1.0 - rate) * grad
        d_prev = rate * grad
    else:
        d_new = grad
        d_prev = 0.0 * grad
    return d_new, d_prev


@triton.jit
def _add(a, b):
    return a + b


@triton.jit
def total(x):
    """The sum of a 1-D block (``tl.reduce`` with a combine function of this package, see :func:`sigmoid`)."""
    return tl.reduce(x, 0, _add)
