"""Independently recurrent neural network cell (Li et al., 2018)."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from rnnkit.cells.activations import Activation, resolve_activation
from rnnkit.cells.base import ProjectedCell, linear, uniform_init_
from rnnkit.checks import check_bool, check_positive_int, describe, fail


def indrnn_recurrent_bound(seq_len: int, gamma: float = 2.0) -> float:
    r"""Largest :math:`|u|` that keeps an IndRNN's gradient from exploding over ``seq_len`` steps.

    Li et al. (2018, sec. 3.1) bound each recurrent weight by
    :math:`|u| \le \gamma^{1/T}` so that :math:`|u|^T`, the factor by which a
    gradient grows over ``T`` steps through a unit with slope one, stays below
    ``gamma`` (the paper uses ``gamma = 2`` with ReLU). Pass the result as
    ``IndRNNCell(recurrent_clip=...)``.

    Args:
        seq_len: ``T``, the number of steps gradients flow through (> 0).
        gamma: the largest gradient growth allowed (> 0).

    Returns:
        :math:`\gamma^{1/T}`.
    """
    owner = "indrnn_recurrent_bound"
    check_positive_int(owner, "seq_len", seq_len)
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)):
        fail(owner, "gamma", "a float", describe(gamma), kind=TypeError)
    if not gamma > 0:
        fail(owner, "gamma", "> 0", gamma)
    return math.pow(float(gamma), 1.0 / seq_len)


class IndRNNCell(ProjectedCell):
    r"""IndRNN cell: each unit has one scalar recurrent weight (Li et al., 2018).

    .. math::
        \tilde u &= \mathrm{clip}(u,\ \pm u_{clip}) \quad\text{(the identity without ``recurrent_clip``)} \\
        h_t &= \phi(x_t W_{ih}^\top + b_{ih} + \tilde u \odot h_{t-1})

    ``u`` is ``weight_hh`` of shape ``(H,)``: units do not see each other
    within a layer (stack layers for that). The clip is applied in every
    forward, so the stored ``weight_hh`` may leave the bound while training but
    the cell only ever uses the clipped value (its gradient is zero outside
    the bound). :func:`indrnn_recurrent_bound` gives the paper's bound for a
    sequence length. The output is :math:`y_t = h_t`.

    Initialisation: ``weight_ih`` and ``bias_ih`` ``U(-1/sqrt(H), 1/sqrt(H))``
    as ``torch.nn`` RNNs; ``weight_hh`` ``U(0, 1)`` as in the authors' code
    (then within ``[0, min(1, recurrent_clip)]``).

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: learn ``bias_ih`` ``(H,)``.
        nonlinearity: :math:`\phi`: ``"relu"`` (the paper's), ``"tanh"``, any
            name of :mod:`rnnkit.cells.activations`, or a callable.
        recurrent_clip: ``u_clip > 0``, or None for no clipping.

    Shapes:
        x: ``(B, I)``; state: ``(B, H)``; y = h: ``(B, H)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        nonlinearity: Activation = "relu",
        recurrent_clip: Optional[float] = None,
    ) -> None:
        super().__init__()
        owner = "IndRNNCell"
        self.input_size = check_positive_int(owner, "input_size", input_size)
        self.hidden_size = check_positive_int(owner, "hidden_size", hidden_size)
        check_bool(owner, "bias", bias)
        if recurrent_clip is not None and (
            isinstance(recurrent_clip, bool) or not isinstance(recurrent_clip, (int, float)) or not recurrent_clip > 0
        ):
            fail(owner, "recurrent_clip", "None or a positive number", repr(recurrent_clip))
        self.recurrent_clip: Optional[float] = None if recurrent_clip is None else float(recurrent_clip)
        self.nonlinearity_name: str = (
            nonlinearity if isinstance(nonlinearity, str) else getattr(nonlinearity, "__name__", "custom")
        )
        self.nonlinearity = resolve_activation(owner, "nonlinearity", nonlinearity)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.bias_ih: Optional[nn.Parameter] = nn.Parameter(torch.empty(hidden_size)) if bias else None
        uniform_init_(self, hidden_size)
        upper = 1.0 if self.recurrent_clip is None else min(1.0, self.recurrent_clip)
        self.weight_hh = nn.Parameter(torch.empty(hidden_size).uniform_(0.0, upper))

    def recurrent_weight(self) -> Tensor:
        r"""The recurrent weight the forward uses: :math:`\tilde u`, ``(H,)``."""
        if self.recurrent_clip is None:
            return self.weight_hh
        clip = min(self.recurrent_clip, torch.finfo(self.weight_hh.dtype).max)  # a larger clip overflows the dtype
        return self.weight_hh.clamp(-clip, clip)

    def input_projection(self, inputs: Tensor) -> Tensor:
        """``x W_ih^T + b_ih`` for ``(..., I)`` -> ``(..., H)``."""
        return linear(inputs, self.weight_ih, self.bias_ih)

    def recur(self, projected: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = self.nonlinearity(torch.addcmul(projected, self.recurrent_weight(), state))
        return h, h

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}", f"bias={self.bias_ih is not None}"]
        if self.nonlinearity_name != "relu":
            parts.append(f"nonlinearity={self.nonlinearity_name!r}")
        if self.recurrent_clip is not None:
            parts.append(f"recurrent_clip={self.recurrent_clip}")
        return ", ".join(parts)

