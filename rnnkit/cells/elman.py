"""Elman (vanilla) recurrent cell."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from rnnkit.cells.base import ProjectedCell, linear, uniform_init_
from rnnkit.checks import check_bool, check_choice, check_positive_int


class ElmanCell(ProjectedCell):
    r"""Elman RNN cell, as ``torch.nn.RNNCell``.

    .. math::
        h_t = \phi(x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh})

    with :math:`\phi` = tanh or relu. The output is :math:`y_t = h_t`.

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: learn ``b_ih`` and ``b_hh``.
        nonlinearity: ``"tanh"`` or ``"relu"``.

    Shapes:
        x: ``(B, I)``; state: ``(B, H)``; y: ``(B, H)``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        super().__init__()
        self.input_size = check_positive_int("ElmanCell", "input_size", input_size)
        self.hidden_size = check_positive_int("ElmanCell", "hidden_size", hidden_size)
        self.nonlinearity = check_choice("ElmanCell", "nonlinearity", nonlinearity, ("tanh", "relu"))
        check_bool("ElmanCell", "bias", bias)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias_ih: Optional[nn.Parameter] = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.bias_hh: Optional[nn.Parameter] = nn.Parameter(torch.empty(hidden_size)) if bias else None
        uniform_init_(self, hidden_size)

    def input_projection(self, inputs: Tensor) -> Tensor:
        """``x W_ih^T + b_ih + b_hh`` for ``(..., I)`` -> ``(..., H)``."""
        return linear(inputs, *self.input_weight_and_bias())

    def input_weight_and_bias(self) -> tuple[Tensor, Optional[Tensor]]:
        """``(W_ih, b_ih + b_hh)`` of :meth:`input_projection` (the bias None without biases)."""
        return self.weight_ih, None if self.bias_ih is None else self.bias_ih + self.bias_hh

    def recur(self, projected: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        pre = torch.addmm(projected, state, self.weight_hh.t())
        h = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return h, h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}, bias={self.bias_ih is not None}"
