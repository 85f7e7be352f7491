"""Layers: a cell over time (:class:`Recurrent`), both directions
(:class:`Bidirectional`) and stacks (:class:`Stacked`).

Every layer has ``forward(inputs, state=None, *, lengths=None) ->
(outputs, state)``, ``initial_state(batch_size)`` and ``state_size``, so layers
nest: a stack of bidirectional layers of custom cells is just composition.
Internally layers talk time-major through ``run(x, state, lengths)`` on
already-validated arguments; validation happens once, at the outermost call.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.checks import (
    check_bool,
    check_choice,
    check_lengths,
    check_matches_parameters,
    check_positive_int,
    check_probability,
    check_sequence_input,
    check_state,
    describe,
    fail,
)
from rnnkit.fused import FusedMode, check_fused_mode, choose
from rnnkit.state import State
from rnnkit.unroll import unroll_unchecked


class Layer(nn.Module):
    """Base class: validation and batch-first handling around ``run``."""

    input_size: int
    output_size: int
    batch_first: bool

    @property
    def state_size(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> State:  # pragma: no cover
        raise NotImplementedError

    def run(self, x: Tensor, state: Optional[State], lengths: Optional[Tensor]) -> tuple[Tensor, State]:  # pragma: no cover
        raise NotImplementedError

    def forward(self, inputs: Tensor, state: Optional[State] = None, *, lengths: Any = None) -> tuple[Tensor, State]:
        """Run the layer.

        Args:
            inputs: ``(T, B, I)``, or ``(B, T, I)`` if the layer is batch-first.
            state: initial state (structure: ``state_size``); default zeros.
            lengths: ``(B,)`` valid lengths in ``[0, T]``, any order and device.

        Returns:
            ``(outputs, final_state)``; outputs ``(T, B, output_size)`` (or
            batch-first), exactly zero past each length.
        """
        owner = type(self).__name__
        check_sequence_input(owner, inputs, self.input_size, batch_first=self.batch_first)
        check_matches_parameters(owner, "inputs", inputs, self)
        x = inputs.transpose(0, 1) if self.batch_first else inputs
        if lengths is not None:
            lengths = check_lengths(owner, lengths, x.shape[1], x.shape[0], x.device)
        if state is not None:
            check_state(owner, state, self.state_size, x.shape[1], x)
        out, final = self.run(x, state, lengths)
        return (out.transpose(0, 1) if self.batch_first else out), final


def as_layer(obj: Any, *, reverse: bool = False) -> "Layer":
    """Wrap a cell in :class:`Recurrent`; pass layers through."""
    if isinstance(obj, Layer):
        return obj
    if callable(obj) and callable(getattr(obj, "initial_state", None)):
        return Recurrent(obj, reverse=reverse)
    fail("rnnkit layers", "each cell or layer", "a cell (with initial_state) or an rnnkit layer", describe(obj),
         kind=TypeError)


class Recurrent(Layer):
    """One cell unrolled over time.

    Args:
        cell: any cell honouring the contract (built-in or user-defined).
        reverse: run each sequence from its last valid step backwards.
        batch_first: inputs/outputs ``(B, T, ...)``.
        fused: ``"auto"`` runs the fastest path that supports the call (see
            :mod:`rnnkit.fused`), ``False`` the reference runner, ``True``
            requires a fast path and raises if none applies.
        checkpoint: when training, keep activations only at segment
            boundaries and recompute each segment in backward, so activation
            memory grows like ``sqrt(T)`` (:mod:`rnnkit.fused.checkpointed`);
            results and gradients equal the plain run.
        segment_length: steps per segment with ``checkpoint`` (default
            ``ceil(sqrt(T))`` of the longest length).
    """

    def __init__(
        self,
        cell: nn.Module,
        *,
        reverse: bool = False,
        batch_first: bool = False,
        fused: FusedMode = "auto",
        checkpoint: bool = False,
        segment_length: Optional[int] = None,
    ) -> None:
        super().__init__()
        if not callable(getattr(cell, "initial_state", None)):
            fail("Recurrent", "cell", "a cell with an initial_state method", type(cell).__name__, kind=TypeError)
        self.fused = check_fused_mode("Recurrent", fused)
        if not isinstance(checkpoint, bool):
            fail("Recurrent", "checkpoint", "a bool", repr(checkpoint), kind=TypeError)
        if segment_length is not None:
            check_positive_int("Recurrent", "segment_length", segment_length)
        self.checkpoint = checkpoint
        self.segment_length = segment_length
        self.cell = cell
        self.reverse = check_bool("Recurrent", "reverse", reverse)
        self.batch_first = check_bool("Recurrent", "batch_first", batch_first)
        self.input_size = cell.input_size
        self.output_size = getattr(cell, "output_size", cell.hidden_size)

    @property
    def state_size(self) -> Any:
        return self.cell.state_size

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> State:
        return self.cell.initial_state(batch_size, device=device, dtype=dtype)

    def run(self, x: Tensor, state: Optional[State], lengths: Optional[Tensor]) -> tuple[Tensor, State]:
        if self.checkpoint and torch.is_grad_enabled():
            from rnnkit.fused.checkpointed import unroll_checkpointed

            return unroll_checkpointed(self.cell, x, state, lengths, self.reverse, self.segment_length, self.fused)
        path = choose("Recurrent", self.cell, x, lengths, self.fused)
        if path is not None:
            return path.run(self.cell, x, state, lengths, self.reverse)
        return unroll_unchecked(self.cell, x, state, lengths, self.reverse)

    def extra_repr(self) -> str:
        return f"reverse={self.reverse}" + (", batch_first=True" if self.batch_first else "")


class Bidirectional(Layer):
    """A forward and a backward layer over the same inputs, correct per length.

    The backward direction reverses each sequence within its own length, so
    padding never leaks into it (unlike ``nn.LSTM(bidirectional=True)`` on a
    padded tensor).

    Args:
        fw: cell (or layer) for the forward direction.
        bw: cell for the backward direction (a cell is run with ``reverse=True``).
        merge: ``"concat"`` (output ``O_fw + O_bw``) or ``"sum"`` (sizes must match).
        batch_first: inputs/outputs ``(B, T, ...)``.

    State: ``(fw_state, bw_state)``.
    """

    def __init__(self, fw: Any, bw: Any, merge: str = "concat", *, batch_first: bool = False) -> None:
        super().__init__()
        self.merge = check_choice("Bidirectional", "merge", merge, ("concat", "sum"))
        self.fw = as_layer(fw)
        self.bw = as_layer(bw, reverse=True)
        if self.fw.input_size != self.bw.input_size:
            fail("Bidirectional", "bw.input_size", f"equal to fw.input_size ({self.fw.input_size})", self.bw.input_size)
        if merge == "sum" and self.fw.output_size != self.bw.output_size:
            fail("Bidirectional", "bw.output_size", f"equal to fw.output_size ({self.fw.output_size}) with merge='sum'",
                 self.bw.output_size)
        self.batch_first = check_bool("Bidirectional", "batch_first", batch_first)
        self.input_size = self.fw.input_size
        self.output_size = self.fw.output_size + (self.bw.output_size if merge == "concat" else 0)

    @property
    def state_size(self) -> Any:
        return (self.fw.state_size, self.bw.state_size)

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> State:
        return (
            self.fw.initial_state(batch_size, device=device, dtype=dtype),
            self.bw.initial_state(batch_size, device=device, dtype=dtype),
        )

    def run(self, x: Tensor, state: Optional[State], lengths: Optional[Tensor]) -> tuple[Tensor, State]:
        s_fw, s_bw = (None, None) if state is None else state
        out_fw, f_fw = self.fw.run(x, s_fw, lengths)
        out_bw, f_bw = self.bw.run(x, s_bw, lengths)
        out = torch.cat([out_fw, out_bw], -1) if self.merge == "concat" else out_fw + out_bw
        return out, (f_fw, f_bw)


class Stacked(Layer):
    """Layers applied one after another; the state is a tuple, one per layer.

    Args:
        layers: cells or layers; layer ``k`` must accept layer ``k-1``'s output size.
        dropout: dropout probability on each layer's output except the last
            (as ``torch.nn.LSTM``), in training mode only.
        residual: add each layer's input to its output (from the second layer
            on; sizes must match), as TF1 ``ResidualWrapper``.
        batch_first: inputs/outputs ``(B, T, ...)``.
    """

    def __init__(
        self,
        layers: Sequence[Any],
        *,
        dropout: float = 0.0,
        residual: bool = False,
        batch_first: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(layers, (list, tuple, nn.ModuleList)) or len(layers) == 0:
            fail("Stacked", "layers", "a non-empty list of cells or layers", type(layers).__name__, kind=TypeError)
        self.layers = nn.ModuleList([as_layer(layer) for layer in layers])
        for k in range(1, len(self.layers)):
            prev, cur = self.layers[k - 1].output_size, self.layers[k].input_size
            if prev != cur:
                fail("Stacked", f"layers[{k}].input_size", f"equal to layers[{k - 1}].output_size ({prev})", cur)
            if residual and cur != self.layers[k].output_size:
                fail("Stacked", f"layers[{k}].output_size", f"equal to its input size ({cur}) with residual=True",
                     self.layers[k].output_size)
        self.dropout = check_probability("Stacked", "dropout", dropout)
        self.residual = check_bool("Stacked", "residual", residual)
        self.batch_first = check_bool("Stacked", "batch_first", batch_first)
        self.input_size = self.layers[0].input_size
        self.output_size = self.layers[-1].output_size

    @property
    def state_size(self) -> Any:
        return tuple(layer.state_size for layer in self.layers)

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> State:
        return tuple(layer.initial_state(batch_size, device=device, dtype=dtype) for layer in self.layers)

    def run(self, x: Tensor, state: Optional[State], lengths: Optional[Tensor]) -> tuple[Tensor, State]:
        finals = []
        n = len(self.layers)
        for k, layer in enumerate(self.layers):
            out, final = layer.run(x, None if state is None else state[k], lengths)
            if self.residual and k > 0:
                out = out + x
                if lengths is not None:
                    valid = torch.arange(x.shape[0], device=x.device).unsqueeze(1) < lengths.unsqueeze(0)
                    out = out * valid.unsqueeze(-1).to(out.dtype)
            if k < n - 1 and self.dropout > 0.0 and self.training:
                out = F.dropout(out, self.dropout, training=True)
            finals.append(final)
            x = out
        return x, tuple(finals)
