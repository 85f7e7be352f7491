"""Long short-term memory cell with the TF1 ``LSTMCell`` options."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from rnnkit.cells.activations import Activation, resolve_activation
from rnnkit.cells.base import ProjectedCell, linear, uniform_init_
from rnnkit.checks import check_bool, check_clip, check_positive_int, fail
from rnnkit.state import LSTMState


class LSTMCell(ProjectedCell):
    r"""LSTM cell. Gate order i, f, g, o as ``torch.nn.LSTMCell``.

    .. math::
        a_t &= x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}
              = [a^i_t, a^f_t, a^g_t, a^o_t] \\
        i_t &= \sigma(a^i_t + p_i \odot c_{t-1}) \\
        f_t &= \sigma(a^f_t + b_{forget} + p_f \odot c_{t-1}) \\
        g_t &= \phi(a^g_t) \\
        c_t &= \mathrm{clip}(f_t \odot c_{t-1} + i_t \odot g_t,\ \pm c_{clip}) \\
        o_t &= \sigma(a^o_t + p_o \odot c_t) \\
        m_t &= o_t \odot \phi(c_t) \\
        h_t &= \mathrm{clip}(m_t W_{hr}^\top,\ \pm p_{clip}) \quad\text{(with projection, else } h_t = m_t)

    ``p_i, p_f, p_o`` are the diagonal peephole weights (``use_peepholes``,
    TF1 ``LSTMCell``: the output gate looks at the new cell state),
    ``b_forget`` is ``forget_bias``, added at run time as TF1 does (default
    0.0 so that torch weights give torch results), :math:`\phi` is
    ``activation`` (tanh). The output is :math:`y_t = h_t`.

    Args:
        input_size: ``I``.
        hidden_size: ``H``, the size of the cell state.
        bias: learn ``b_ih`` and ``b_hh`` (each ``(4H,)``).
        forget_bias: constant added to the forget gate's pre-activation.
        proj_size: ``P > 0`` adds the projection ``W_hr`` of shape ``(P, H)``
            (``torch.nn.LSTM(proj_size)``, TF1 ``num_proj``); then ``h`` is
            ``(B, P)`` and ``W_hh`` is ``(4H, P)``.
        use_peepholes: learn ``weight_peephole`` of shape ``(3, H)`` holding
            ``p_i, p_f, p_o``.
        cell_clip: clip ``c_t`` to ``[-cell_clip, cell_clip]``.
        proj_clip: clip the projected ``h_t`` (needs ``proj_size``).
        activation: :math:`\phi`: a name (``"tanh"``, ``"relu"``, ...) or a callable.

    Shapes:
        x: ``(B, I)``; state: ``LSTMState(h=(B, P or H), c=(B, H))``; y: like h.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        forget_bias: float = 0.0,
        proj_size: int = 0,
        use_peepholes: bool = False,
        cell_clip: Optional[float] = None,
        proj_clip: Optional[float] = None,
        activation: Activation = "tanh",
    ) -> None:
        super().__init__()
        owner = "LSTMCell"
        self.input_size = check_positive_int(owner, "input_size", input_size)
        self.hidden_size = check_positive_int(owner, "hidden_size", hidden_size)
        self.proj_size = check_positive_int(owner, "proj_size", proj_size, allow_zero=True)
        if proj_size >= hidden_size and proj_size > 0:
            fail(owner, "proj_size", f"smaller than hidden_size ({hidden_size})", proj_size)
        cell_clip = check_clip(owner, "cell_clip", cell_clip)
        proj_clip = check_clip(owner, "proj_clip", proj_clip)
        if proj_clip is not None and proj_size == 0:
            fail(owner, "proj_clip", "None unless proj_size > 0", proj_clip)
        check_bool(owner, "bias", bias)
        check_bool(owner, "use_peepholes", use_peepholes)
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float)):
            fail(owner, "forget_bias", "a float", repr(forget_bias), kind=TypeError)
        if not math.isfinite(forget_bias):
            fail(owner, "forget_bias", "a finite float", repr(forget_bias))
        self.forget_bias = float(forget_bias)
        self.cell_clip = None if cell_clip is None else float(cell_clip)
        self.proj_clip = None if proj_clip is None else float(proj_clip)
        self.activation_name = activation if isinstance(activation, str) else getattr(activation, "__name__", "custom")
        self.activation = resolve_activation(owner, "activation", activation)
        out = proj_size or hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, out))
        self.bias_ih: Optional[nn.Parameter] = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        self.bias_hh: Optional[nn.Parameter] = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        self.weight_hr: Optional[nn.Parameter] = nn.Parameter(torch.empty(proj_size, hidden_size)) if proj_size else None
        self.weight_peephole: Optional[nn.Parameter] = (
            nn.Parameter(torch.empty(3, hidden_size)) if use_peepholes else None
        )
        uniform_init_(self, hidden_size)

    @property
    def use_peepholes(self) -> bool:
        return self.weight_peephole is not None

    @property
    def state_size(self) -> LSTMState:
        return LSTMState(h=self.output_size, c=self.hidden_size)

    @property
    def output_size(self) -> int:
        return self.proj_size or self.hidden_size

    @property
    def is_plain(self) -> bool:
        """True when the cell is exactly ``torch.nn.LSTMCell`` (plus maybe projection)."""
        return (
            self.forget_bias == 0.0
            and not self.use_peepholes
            and self.cell_clip is None
            and self.proj_clip is None
            and self.activation is torch.tanh
        )

    def input_projection(self, inputs: Tensor) -> Tensor:
        """``x W_ih^T + b_ih + b_hh`` for ``(..., I)`` -> ``(..., 4H)``."""
        return linear(inputs, *self.input_weight_and_bias())

    def input_weight_and_bias(self) -> tuple[Tensor, Optional[Tensor]]:
        """``(W_ih, b_ih + b_hh)`` of :meth:`input_projection` (the bias None without biases)."""
        return self.weight_ih, None if self.bias_ih is None else self.bias_ih + self.bias_hh

    def recur(self, projected: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        h, c = state
        gates = torch.addmm(projected, h, self.weight_hh.t())
        a_i, a_f, a_g, a_o = gates.chunk(4, 1)
        if self.forget_bias != 0.0:
            a_f = a_f + self.forget_bias
        if self.weight_peephole is not None:
            p_i, p_f, p_o = self.weight_peephole.unbind(0)
            a_i = a_i + p_i * c
            a_f = a_f + p_f * c
        act = self.activation
        c_new = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * act(a_g)
        if self.cell_clip is not None:
            c_new = c_new.clamp(-self.cell_clip, self.cell_clip)
        if self.weight_peephole is not None:
            a_o = a_o + p_o * c_new
        h_new = torch.sigmoid(a_o) * act(c_new)
        if self.weight_hr is not None:
            h_new = h_new @ self.weight_hr.t()
            if self.proj_clip is not None:
                h_new = h_new.clamp(-self.proj_clip, self.proj_clip)
        return h_new, LSTMState(h_new, c_new)

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}"]
        if self.proj_size:
            parts.append(f"proj_size={self.proj_size}")
        if self.forget_bias:
            parts.append(f"forget_bias={self.forget_bias}")
        if self.use_peepholes:
            parts.append("use_peepholes=True")
        if self.cell_clip is not None:
            parts.append(f"cell_clip={self.cell_clip}")
        if self.proj_clip is not None:
            parts.append(f"proj_clip={self.proj_clip}")
        if self.activation_name != "tanh":
            parts.append(f"activation={self.activation_name!r}")
        return ", ".join(parts)
