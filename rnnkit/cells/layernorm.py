r"""Layer-normalised LSTM and GRU cells (Ba et al., 2016), as haste's
``LayerNormLSTM`` / ``LayerNormGRU``.

Layer norm here is :math:`\mathrm{LN}(v; \gamma, \beta) = \gamma \odot
(v - \mu(v)) / \sqrt{\sigma^2(v) + \epsilon} + \beta` with the mean and
(biased) variance taken over the last dimension of ``v`` for each example,
exactly ``torch.nn.functional.layer_norm``.

The input-side norm depends on ``x_t`` only, so it is part of
``input_projection`` and the runner computes it for all steps at once.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells.base import ProjectedCell, linear, uniform_init_
from rnnkit.checks import check_bool, check_positive_int, describe, fail
from rnnkit.state import LSTMState


MIN_EPS = torch.finfo(torch.float32).tiny
"""Smallest accepted ``eps``: a smaller one rounds to 0 in float32, and a constant input then gives 0/0 = NaN."""


def check_eps(owner: str, eps: Any) -> float:
    """Check a layer-norm epsilon: a finite float, at least :data:`MIN_EPS`."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        fail(owner, "eps", "a float", describe(eps), kind=TypeError)
    if not eps > 0:
        fail(owner, "eps", "> 0", eps)
    if not math.isfinite(eps) or eps < MIN_EPS:
        fail(owner, "eps", f"finite and >= {MIN_EPS:.4g} (a smaller eps is 0 in float32: 0/0 on constant input)", eps)
    return float(eps)


def _norm_params(module: nn.Module, prefix: str, size: int, bias: bool) -> None:
    """Register ``ln_<prefix>_weight`` (ones) and ``ln_<prefix>_bias`` (zeros, or None)."""
    module.register_parameter(f"ln_{prefix}_weight", nn.Parameter(torch.ones(size)))
    module.register_parameter(f"ln_{prefix}_bias", nn.Parameter(torch.zeros(size)) if bias else None)


class LayerNormLSTMCell(ProjectedCell):
    r"""LSTM with layer norm on the input and recurrent pre-activations and on
    the cell state (haste ``LayerNormLSTM``). Gate order i, f, g, o.

    .. math::
        a_t &= \mathrm{LN}(x_t W_{ih}^\top;\ \gamma_{ih}, \beta_{ih})
             + \mathrm{LN}(h_{t-1} W_{hh}^\top;\ \gamma_{hh}, \beta_{hh})
             = [a^i_t, a^f_t, a^g_t, a^o_t] \\
        i_t &= \sigma(a^i_t), \quad f_t = \sigma(a^f_t + b_{forget}), \quad
        g_t = \tanh(a^g_t), \quad o_t = \sigma(a^o_t) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(\mathrm{LN}(c_t;\ \gamma_c, \beta_c))

    Both gate norms normalise over all ``4H`` pre-activations at once (not per
    gate), as haste does; ``TF contrib LayerNormBasicLSTMCell`` instead
    normalises each gate of the summed pre-activation separately and carries
    the normalised ``c``. Here, as in haste and Ba et al. (eq. 20-22), the
    carried cell state ``c_t`` is *not* normalised: only its copy going into
    the output is. :math:`\beta_{ih} + \beta_{hh}` together play the role of
    haste's single ``bias`` (two vectors, as ``torch.nn.LSTM`` has
    ``bias_ih`` and ``bias_hh``). ``b_forget`` is ``forget_bias``, a constant
    added at run time (TF1 style; haste instead initialises its bias to it).

    Parameters (gains start at one, shifts at zero, weights
    ``U(-1/sqrt(H), 1/sqrt(H))``):

    * ``weight_ih`` ``(4H, I)``, ``weight_hh`` ``(4H, H)``,
    * ``ln_ih_weight``, ``ln_ih_bias``, ``ln_hh_weight``, ``ln_hh_bias``: ``(4H,)``
      (:math:`\gamma_{ih}, \beta_{ih}, \gamma_{hh}, \beta_{hh}`; the shifts
      only with ``bias=True``),
    * ``ln_c_weight``, ``ln_c_bias``: ``(H,)`` (:math:`\gamma_c, \beta_c`, always).

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: learn the gate shifts :math:`\beta_{ih}, \beta_{hh}`.
        forget_bias: constant added to the forget gate's pre-activation.
        eps: :math:`\epsilon` of every layer norm.

    Shapes:
        x: ``(B, I)``; state: ``LSTMState(h=(B, H), c=(B, H))``; y = h: ``(B, H)``.
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, *, forget_bias: float = 0.0, eps: float = 1e-5
    ) -> None:
        super().__init__()
        owner = "LayerNormLSTMCell"
        self.input_size = check_positive_int(owner, "input_size", input_size)
        self.hidden_size = check_positive_int(owner, "hidden_size", hidden_size)
        check_bool(owner, "bias", bias)
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float)):
            fail(owner, "forget_bias", "a float", describe(forget_bias), kind=TypeError)
        if not math.isfinite(forget_bias):
            fail(owner, "forget_bias", "finite", forget_bias)
        self.forget_bias = float(forget_bias)
        self.eps = check_eps(owner, eps)
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        uniform_init_(self, hidden_size)
        _norm_params(self, "ih", 4 * hidden_size, bias)
        _norm_params(self, "hh", 4 * hidden_size, bias)
        _norm_params(self, "c", hidden_size, True)

    @property
    def state_size(self) -> LSTMState:
        return LSTMState(h=self.hidden_size, c=self.hidden_size)

    def input_projection(self, inputs: Tensor) -> Tensor:
        r""":math:`\mathrm{LN}(x W_{ih}^\top; \gamma_{ih}, \beta_{ih} + \beta_{hh})`: ``(..., I)`` -> ``(..., 4H)``."""
        shift = None if self.ln_ih_bias is None else self.ln_ih_bias + self.ln_hh_bias
        return F.layer_norm(linear(inputs, self.weight_ih, None), (4 * self.hidden_size,), self.ln_ih_weight, shift,
                            self.eps)

    def recur(self, projected: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        h, c = state
        rec = F.layer_norm(h @ self.weight_hh.t(), (4 * self.hidden_size,), self.ln_hh_weight, None, self.eps)
        a_i, a_f, a_g, a_o = (projected + rec).chunk(4, 1)
        if self.forget_bias != 0.0:
            a_f = a_f + self.forget_bias
        c_new = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
        c_norm = F.layer_norm(c_new, (self.hidden_size,), self.ln_c_weight, self.ln_c_bias, self.eps)
        h_new = torch.sigmoid(a_o) * torch.tanh(c_norm)
        return h_new, LSTMState(h_new, c_new)

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}", f"bias={self.ln_ih_bias is not None}"]
        if self.forget_bias:
            parts.append(f"forget_bias={self.forget_bias}")
        if self.eps != 1e-5:
            parts.append(f"eps={self.eps}")
        return ", ".join(parts)


class LayerNormGRUCell(ProjectedCell):
    r"""GRU with layer norm on the input and recurrent pre-activations (haste
    ``LayerNormGRU``). Gate order r, z, n as ``torch.nn.GRUCell``; the reset
    gate acts after the recurrent product (``reset_after``, the torch/cuDNN
    formulation, the only one haste has).

    .. math::
        [u^r_t, u^z_t, u^n_t] &= \mathrm{LN}(x_t W_{ih}^\top;\ \gamma_{ih}, \beta_{ih}) \\
        [v^r_t, v^z_t, v^n_t] &= \mathrm{LN}(h_{t-1} W_{hh}^\top;\ \gamma_{hh}, \beta_{hh}) \\
        r_t &= \sigma(u^r_t + v^r_t), \quad z_t = \sigma(u^z_t + v^z_t) \\
        n_t &= \tanh(u^n_t + r_t \odot v^n_t) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    Each norm is over all ``3H`` pre-activations at once, as in haste (whose
    gate layout is z, r, n and whose ``bias``/``recurrent_bias`` are
    :math:`\beta_{ih}`/:math:`\beta_{hh}` here). There is no other bias: the
    shift of each norm is the bias.

    Parameters: ``weight_ih`` ``(3H, I)``, ``weight_hh`` ``(3H, H)``
    (``U(-1/sqrt(H), 1/sqrt(H))``); ``ln_ih_weight``, ``ln_ih_bias``,
    ``ln_hh_weight``, ``ln_hh_bias`` ``(3H,)`` (gains start at one, shifts
    at zero; shifts only with ``bias=True``).

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: learn the shifts :math:`\beta_{ih}, \beta_{hh}`.
        eps: :math:`\epsilon` of both layer norms.

    Shapes:
        x: ``(B, I)``; state: ``(B, H)``; y = h: ``(B, H)``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, eps: float = 1e-5) -> None:
        super().__init__()
        owner = "LayerNormGRUCell"
        self.input_size = check_positive_int(owner, "input_size", input_size)
        self.hidden_size = check_positive_int(owner, "hidden_size", hidden_size)
        check_bool(owner, "bias", bias)
        self.eps = check_eps(owner, eps)
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        uniform_init_(self, hidden_size)
        _norm_params(self, "ih", 3 * hidden_size, bias)
        _norm_params(self, "hh", 3 * hidden_size, bias)

    def input_projection(self, inputs: Tensor) -> Tensor:
        r""":math:`\mathrm{LN}(x W_{ih}^\top; \gamma_{ih}, \beta_{ih})`: ``(..., I)`` -> ``(..., 3H)``."""
        return F.layer_norm(linear(inputs, self.weight_ih, None), (3 * self.hidden_size,), self.ln_ih_weight,
                            self.ln_ih_bias, self.eps)

    def recur(self, projected: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = state
        rec = F.layer_norm(h @ self.weight_hh.t(), (3 * self.hidden_size,), self.ln_hh_weight, self.ln_hh_bias,
                           self.eps)
        u_r, u_z, u_n = projected.chunk(3, 1)
        v_r, v_z, v_n = rec.chunk(3, 1)
        r = torch.sigmoid(u_r + v_r)
        z = torch.sigmoid(u_z + v_z)
        n = torch.tanh(u_n + r * v_n)
        h_new = n + z * (h - n)
        return h_new, h_new

    def extra_repr(self) -> str:
        eps = f", eps={self.eps}" if self.eps != 1e-5 else ""
        return f"{self.input_size}, {self.hidden_size}, bias={self.ln_ih_bias is not None}{eps}"

