r"""Minimal RNNs of "Were RNNs All We Needed?" (Feng et al., 2024, arXiv 2410.01201).

Their gates depend on the input only, so every step is an affine map of the
previous state with input-dependent coefficients:

.. math::
    h_t = a_t \odot h_{t-1} + b_t, \qquad 0 < a_t < 1,\ b_t > 0.

A cell's ``recur`` is pointwise (one step, for inference); the runner's
parallel-in-time path (:mod:`rnnkit.fused.scan`) solves the whole recurrence
at once from :meth:`scan_coefficients` (``log a_t``, ``log b_t``), computed
stably in log space. Layers (``Recurrent``, ``Bidirectional``, ``Stacked``)
take that path with ``fused="auto"`` or ``True``; :func:`rnnkit.unroll` always
runs the sequential loop (the two agree to rounding). Both use the paper's log-space-compatible candidate
activation

.. math::
    g(x) = \begin{cases} x + \tfrac12 & x \ge 0 \\ \sigma(x) & x < 0 \end{cases}

which is continuous, increasing and positive, so :math:`b_t > 0`.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells.base import ProjectedCell, linear, uniform_init_
from rnnkit.checks import check_bool, check_positive_int


def g(x: Tensor) -> Tensor:
    r""":math:`g(x) = x + 1/2` for :math:`x \ge 0`, else :math:`\sigma(x)` (always > 0)."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    r""":math:`\log g(x)`, finite everywhere (and so are its gradients)."""
    return torch.where(x >= 0, torch.log(torch.relu(x) + 0.5), -F.softplus(-x))


class _MinCell(ProjectedCell):
    """Shared parts: one input linear of ``n_gates * H`` outputs, state ``(B, H)``."""

    n_gates: int
    owner: str

    def __init__(self, input_size: int, hidden_size: int, bias: bool) -> None:
        super().__init__()
        self.input_size = check_positive_int(self.owner, "input_size", input_size)
        self.hidden_size = check_positive_int(self.owner, "hidden_size", hidden_size)
        check_bool(self.owner, "bias", bias)
        self.weight_ih = nn.Parameter(torch.empty(self.n_gates * hidden_size, input_size))
        self.bias_ih: Optional[nn.Parameter] = nn.Parameter(torch.empty(self.n_gates * hidden_size)) if bias else None
        uniform_init_(self, hidden_size)

    def input_projection(self, inputs: Tensor) -> Tensor:
        """``x W_ih^T + b_ih``: ``(..., I)`` -> ``(..., n_gates * H)``, all the layer's matrix work."""
        return linear(inputs, self.weight_ih, self.bias_ih)

    def scan_coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class MinGRUCell(_MinCell):
    r"""minGRU (Feng et al., 2024): a GRU whose gates see only the input.

    .. math::
        [k^z_t, k^h_t] &= x_t W_{ih}^\top + b_{ih} \\
        z_t &= \sigma(k^z_t), \qquad \tilde h_t = g(k^h_t) \\
        h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t

    In log space (the parallel path): :math:`\log a_t = \log(1 - z_t) =
    -\mathrm{softplus}(k^z_t)`, :math:`\log b_t = -\mathrm{softplus}(-k^z_t) +
    \log g(k^h_t)`.

    Parameters: ``weight_ih`` ``(2H, I)`` and ``bias_ih`` ``(2H,)`` (rows: z,
    then the candidate), ``U(-1/sqrt(H), 1/sqrt(H))``. No recurrent weights.
    With ``Recurrent(cell)`` (``fused="auto"``) sequences run through the
    parallel scan of :mod:`rnnkit.fused.scan`.

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: learn ``bias_ih``.

    Shapes:
        x: ``(B, I)``; state: ``(B, H)`` (any real values); y = h: ``(B, H)``.
    """

    n_gates = 2
    owner = "MinGRUCell"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)

    def recur(self, projected: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        k_z, k_h = projected.chunk(2, -1)
        h = torch.lerp(state, g(k_h).to(state.dtype), torch.sigmoid(k_z).to(state.dtype))  # one dtype under autocast
        return h, h

    def scan_coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:
        """``(log a, log b)``, each ``(..., H)``, from ``input_projection``'s ``(..., 2H)``."""
        k_z, k_h = projected.chunk(2, -1)
        return -F.softplus(k_z), -F.softplus(-k_z) + log_g(k_h)


class MinLSTMCell(_MinCell):
    r"""minLSTM (Feng et al., 2024): an LSTM reduced to normalised input-only gates.

    .. math::
        [k^f_t, k^i_t, k^h_t] &= x_t W_{ih}^\top + b_{ih} \\
        f_t &= \sigma(k^f_t), \quad i_t = \sigma(k^i_t), \quad \tilde h_t = g(k^h_t) \\
        f'_t &= \frac{f_t}{f_t + i_t}, \qquad i'_t = \frac{i_t}{f_t + i_t} \\
        h_t &= f'_t \odot h_{t-1} + i'_t \odot \tilde h_t

    computed stably as :math:`f'_t = \sigma(-d_t)`, :math:`i'_t = \sigma(d_t)`
    with :math:`d_t = \log i_t - \log f_t = \mathrm{softplus}(-k^f_t) -
    \mathrm{softplus}(-k^i_t)`; in log space :math:`\log a_t = -\mathrm{softplus}(d_t)`,
    :math:`\log b_t = -\mathrm{softplus}(-d_t) + \log g(k^h_t)`. There is no
    separate cell state: the state is ``h``.

    Parameters: ``weight_ih`` ``(3H, I)`` and ``bias_ih`` ``(3H,)`` (rows: f,
    i, then the candidate), ``U(-1/sqrt(H), 1/sqrt(H))``.

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: learn ``bias_ih``.

    Shapes:
        x: ``(B, I)``; state: ``(B, H)`` (any real values); y = h: ``(B, H)``.
    """

    n_gates = 3
    owner = "MinLSTMCell"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)

    def recur(self, projected: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        k_f, k_i, k_h = projected.chunk(3, -1)
        d = F.softplus(-k_f) - F.softplus(-k_i)
        h = torch.lerp(state, g(k_h).to(state.dtype), torch.sigmoid(d).to(state.dtype))  # one dtype under autocast
        return h, h

    def scan_coefficients(self, projected: Tensor) -> tuple[Tensor, Tensor]:
        """``(log a, log b)``, each ``(..., H)``, from ``input_projection``'s ``(..., 3H)``."""
        k_f, k_i, k_h = projected.chunk(3, -1)
        d = F.softplus(-k_f) - F.softplus(-k_i)
        return -F.softplus(d), -F.softplus(-d) + log_g(k_h)
