"""``rnnkit.LSTM``, ``rnnkit.GRU`` and ``rnnkit.RNN``: drop-in replacements for
``torch.nn.LSTM``/``GRU``/``RNN`` that also take ``lengths`` (TF1 semantics)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from rnnkit.cells.elman import ElmanCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.checks import check_choice, fail
from rnnkit.dropin.base import DropInRNN, States
from rnnkit.dropin.io import HxSpec
from rnnkit.fused import FusedMode
from rnnkit.state import LSTMState

_SHAPES = """
    Shapes (``L`` = num_layers, ``D`` = 2 if bidirectional else 1):
        input: ``(T, B, I)`` (``(B, T, I)`` with ``batch_first``), unbatched
            ``(T, I)``, or a ``PackedSequence``.
        lengths: optional ``(B,)`` ints in ``[0, T]``, any order, any device
            (list or Tensor). Equivalent to packing with
            ``pack_padded_sequence(..., enforce_sorted=False)``, without
            packing; additionally a length of 0 returns the initial state.
        output: ``(T, B, D*O)`` (or batch-first), exactly zero past each
            length; a ``PackedSequence`` for packed input.
"""


def _no_projection(owner: str, proj_size: Any) -> None:
    """``torch.nn.GRU``/``RNN`` refuse any ``proj_size`` with a ValueError; so do we."""
    if proj_size is not None:
        fail(owner, "proj_size", "left out (proj_size is only supported for LSTM, not RNN or GRU, as in torch.nn)",
             repr(proj_size))


class LSTM(DropInRNN):
    r"""Multi-layer LSTM, a drop-in for ``torch.nn.LSTM``.

    Each layer and direction runs :class:`rnnkit.cells.LSTMCell`:

    .. math::
        i_t, f_t, o_t &= \sigma(x_t W_{i\cdot}^\top + b_{i\cdot} + h_{t-1} W_{h\cdot}^\top + b_{h\cdot}) \\
        g_t &= \tanh(x_t W_{ig}^\top + b_{ig} + h_{t-1} W_{hg}^\top + b_{hg}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t)
              \ (\text{then } h_t W_{hr}^\top \text{ with proj\_size})

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout,
        bidirectional, proj_size, device, dtype: as ``torch.nn.LSTM``.
        fused: ``"auto"`` (fastest exact path), ``True`` (a fused kernel or
            an error saying why not) or ``False`` (the reference runner); see
            :mod:`rnnkit.dropin`.

    ``forward(input, hx=None, *, lengths=None) -> (output, (h_n, c_n))`` with
    ``hx = (h_0, c_0)``, ``h`` of shape ``(L*D, B, O)`` where ``O`` is
    ``proj_size`` or ``hidden_size``, ``c`` of shape ``(L*D, B, hidden_size)``
    (no batch dimension for unbatched input).
    """ + _SHAPES

    mode = "LSTM"
    gate_multiplier = 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
        *,
        fused: FusedMode = "auto",
    ) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size,
                         device=device, dtype=dtype, fused=fused)

    def _make_cell(self, input_size: int) -> nn.Module:
        return LSTMCell(input_size, self.hidden_size, self.bias, proj_size=self.proj_size)

    def _hx_specs(self) -> list[HxSpec]:
        return [("hx[0] (h_0)", self.proj_size or self.hidden_size), ("hx[1] (c_0)", self.hidden_size)]

    def _cell_state(self, leaves: list[Tensor]) -> Any:
        return LSTMState(leaves[0], leaves[1])

    def _hx_out(self, states: States) -> tuple[Tensor, Tensor]:
        return states[0], states[1]


class GRU(DropInRNN):
    r"""Multi-layer GRU, a drop-in for ``torch.nn.GRU``.

    Each layer and direction runs :class:`rnnkit.cells.GRUCell` (``reset_after=True``):

    .. math::
        r_t, z_t &= \sigma(x_t W_{i\cdot}^\top + b_{i\cdot} + h_{t-1} W_{h\cdot}^\top + b_{h\cdot}) \\
        n_t &= \tanh(x_t W_{in}^\top + b_{in} + r_t \odot (h_{t-1} W_{hn}^\top + b_{hn})) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout,
        bidirectional, device, dtype: as ``torch.nn.GRU``.
        fused: see :class:`LSTM`.

    ``forward(input, hx=None, *, lengths=None) -> (output, h_n)`` with ``h``
    of shape ``(L*D, B, hidden_size)`` (``O = hidden_size``).
    """ + _SHAPES

    mode = "GRU"
    gate_multiplier = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        fused: FusedMode = "auto",
        proj_size: Any = None,
    ) -> None:
        _no_projection("GRU", proj_size)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype, fused=fused)

    def _make_cell(self, input_size: int) -> nn.Module:
        return GRUCell(input_size, self.hidden_size, self.bias)

    def _hx_specs(self) -> list[HxSpec]:
        return [("hx", self.hidden_size)]

    def _cell_state(self, leaves: list[Tensor]) -> Any:
        return leaves[0]

    def _hx_out(self, states: States) -> Tensor:
        return states[0]


class RNN(DropInRNN):
    r"""Multi-layer Elman RNN, a drop-in for ``torch.nn.RNN``.

    Each layer and direction runs :class:`rnnkit.cells.ElmanCell`:
    :math:`h_t = \phi(x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh})`,
    :math:`\phi` = tanh or relu.

    Args:
        input_size, hidden_size, num_layers, nonlinearity, bias, batch_first,
        dropout, bidirectional, device, dtype: as ``torch.nn.RNN``.
        fused: see :class:`LSTM`.

    ``forward(input, hx=None, *, lengths=None) -> (output, h_n)`` as :class:`GRU`.
    """ + _SHAPES

    gate_multiplier = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        fused: FusedMode = "auto",
        proj_size: Any = None,
    ) -> None:
        _no_projection("RNN", proj_size)
        self.nonlinearity = check_choice("RNN", "nonlinearity", nonlinearity, ("tanh", "relu"))
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype, fused=fused)

    def _make_cell(self, input_size: int) -> nn.Module:
        return ElmanCell(input_size, self.hidden_size, self.bias, nonlinearity=self.nonlinearity)

    def _hx_specs(self) -> list[HxSpec]:
        return [("hx", self.hidden_size)]

    def _cell_state(self, leaves: list[Tensor]) -> Any:
        return leaves[0]

    def _hx_out(self, states: States) -> Tensor:
        return states[0]

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + ", nonlinearity='relu'"
