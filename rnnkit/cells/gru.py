"""Gated recurrent unit (Cho et al., 2014), both formulations."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from rnnkit.cells.base import ProjectedCell, linear, uniform_init_
from rnnkit.checks import check_bool, check_positive_int


class GRUCell(ProjectedCell):
    r"""GRU cell. Gate order r, z, n as ``torch.nn.GRUCell``.

    With ``reset_after=True`` (torch/cuDNN formulation, the default):

    .. math::
        r_t &= \sigma(x_t W_{ir}^\top + b_{ir} + h_{t-1} W_{hr}^\top + b_{hr}) \\
        z_t &= \sigma(x_t W_{iz}^\top + b_{iz} + h_{t-1} W_{hz}^\top + b_{hz}) \\
        n_t &= \tanh(x_t W_{in}^\top + b_{in} + r_t \odot (h_{t-1} W_{hn}^\top + b_{hn})) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    With ``reset_after=False`` (the original 2014 formulation) the reset gate
    acts before the recurrent product:
    :math:`n_t = \tanh(x_t W_{in}^\top + b_{in} + (r_t \odot h_{t-1}) W_{hn}^\top + b_{hn})`.

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: learn ``b_ih`` and ``b_hh`` (each ``(3H,)``).
        reset_after: which formulation (see above).

    Shapes:
        x: ``(B, I)``; state: ``(B, H)``; y = h: ``(B, H)``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, reset_after: bool = True) -> None:
        super().__init__()
        self.input_size = check_positive_int("GRUCell", "input_size", input_size)
        self.hidden_size = check_positive_int("GRUCell", "hidden_size", hidden_size)
        check_bool("GRUCell", "bias", bias)
        self.reset_after = check_bool("GRUCell", "reset_after", reset_after)
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias_ih: Optional[nn.Parameter] = nn.Parameter(torch.empty(3 * hidden_size)) if bias else None
        self.bias_hh: Optional[nn.Parameter] = nn.Parameter(torch.empty(3 * hidden_size)) if bias else None
        uniform_init_(self, hidden_size)

    def input_projection(self, inputs: Tensor) -> Tensor:
        """``x W_ih^T + b_ih`` for ``(..., I)`` -> ``(..., 3H)``."""
        return linear(inputs, *self.input_weight_and_bias())

    def input_weight_and_bias(self) -> tuple[Tensor, Optional[Tensor]]:
        """``(W_ih, b_ih)`` of :meth:`input_projection` (the bias None without biases)."""
        return self.weight_ih, self.bias_ih

    def recur(self, projected: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = state
        H = self.hidden_size
        x_r, x_z, x_n = projected.chunk(3, 1)
        if self.reset_after:
            h_r, h_z, h_n = linear(h, self.weight_hh, self.bias_hh).chunk(3, 1)
            r = torch.sigmoid(x_r + h_r)
            z = torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + r * h_n)
        else:
            b_rz = None if self.bias_hh is None else self.bias_hh[: 2 * H]
            b_n = None if self.bias_hh is None else self.bias_hh[2 * H :]
            h_r, h_z = linear(h, self.weight_hh[: 2 * H], b_rz).chunk(2, 1)
            r = torch.sigmoid(x_r + h_r)
            z = torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + linear(r * h, self.weight_hh[2 * H :], b_n))
        h_new = n + z * (h - n)
        return h_new, h_new

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, reset_after={self.reset_after}, bias={self.bias_ih is not None}"
