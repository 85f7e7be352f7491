"""Stateful streaming inference: feed a layer one step or one chunk at a time.

A :class:`Stream` owns the recurrent state between calls, so a prompt is read
once and every further step costs one step, not a re-run of the whole context
(as in text generation or online sensor processing). Each call is an ordinary
layer call with the carried state, so chunked streaming equals one
:func:`rnnkit.unroll` over the whole sequence.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from rnnkit.checks import check_positive_int, check_step_input, describe, fail
from rnnkit.layers import Layer, Recurrent, as_layer
from rnnkit.state import State, detach_state, map_state, select_state


class Stream:
    """Carry a layer's state across calls.

    Args:
        layer: an rnnkit layer (``Recurrent``, ``Stacked``, a drop-in's
            layers, ...) or a cell (wrapped in ``Recurrent``).
        batch_size: number of parallel streams ``B``.
        device, dtype: of the state (default: the layer's parameters').

    Example::

        stream = Stream(model.rnn, batch_size=1)
        stream.feed(prompt)             # (T, 1, I) or (1, T, I) if batch-first: read once
        y = stream.step(x_t)            # (1, I) -> (1, O): one step per new token
        stream.reset()                  # start new sequences
    """

    def __init__(self, layer: Any, batch_size: int, *, device: Any = None, dtype: Any = None) -> None:
        if not isinstance(layer, Layer) and not callable(getattr(layer, "initial_state", None)):
            fail("Stream", "layer", "an rnnkit layer (Recurrent, Stacked, ...) or a cell", describe(layer),
                 kind=TypeError)
        self.layer: Layer = as_layer(layer)
        self.batch_size = check_positive_int("Stream", "batch_size", batch_size)
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            fail("Stream", "dtype", "None or a floating torch.dtype", describe(dtype), kind=TypeError)
        if device is not None:
            try:
                device = torch.device(device)
            except (RuntimeError, TypeError):
                fail("Stream", "device", "None or a torch device (e.g. 'cpu', 'cuda:0')", describe(device))
        param = next(iter(self.layer.parameters()), None)
        self.device = device if device is not None else (param.device if param is not None else torch.device("cpu"))
        self.dtype = dtype if dtype is not None else (param.dtype if param is not None else torch.get_default_dtype())
        self.state: State = self._fresh()

    def _fresh(self) -> State:
        return self.layer.initial_state(self.batch_size, device=self.device, dtype=self.dtype)

    @torch.no_grad()
    def feed(self, chunk: Tensor, *, lengths: Any = None) -> Tensor:
        """Run a chunk with the carried state and keep the new state.

        Args:
            chunk: ``(T, B, I)`` (``(B, T, I)`` for a batch-first layer).
            lengths: optional per-stream number of valid steps in this chunk;
                a stream's state is carried unchanged past its length.

        Returns:
            The chunk's outputs, ``(T, B, O)`` (or batch-first).
        """
        batch_dim = 0 if self.layer.batch_first else 1
        if isinstance(chunk, Tensor) and chunk.dim() == 3 and chunk.shape[batch_dim] != self.batch_size:
            layout = "(B, T, I)" if self.layer.batch_first else "(T, B, I)"
            fail("Stream", "chunk", f"of shape {layout} with B = batch_size = {self.batch_size}", tuple(chunk.shape))
        out, self.state = self.layer(chunk, self.state, lengths=lengths)
        return out

    @torch.no_grad()
    def step(self, x: Tensor) -> Tensor:
        """One step for every stream: ``x`` ``(B, I)`` -> ``(B, O)``."""
        check_step_input("Stream", x, self.layer.input_size)
        if x.shape[0] != self.batch_size:
            fail("Stream", "x", f"of shape ({self.batch_size}, {self.layer.input_size})", tuple(x.shape))
        cell = self._step_cell()
        if cell is not None:  # one step of a Recurrent is one cell call: no runner, no fast-path dispatch
            out, self.state = cell(x, self.state)
            return out
        seq = x.unsqueeze(1 if self.layer.batch_first else 0)
        out = self.feed(seq)
        return out.squeeze(1 if self.layer.batch_first else 0)

    def _step_cell(self) -> Any:
        """The cell a single step calls directly, or None to go through the layer.

        A one-step unroll of :class:`~rnnkit.layers.Recurrent` is exactly ``cell(x, state)`` (what the
        reference runner calls), so :meth:`step` skips the runner, the fast-path choice, the length
        sorting and the kernel's set-up, which cost ~10x the step itself at batch 1 (see
        ``benchmarks/streaming.py``). Not with ``fused=True`` (which asks for a fast path) or checkpointing.
        """
        layer = self.layer
        if type(layer) is Recurrent and layer.fused in ("auto", False) and not layer.checkpoint:
            return layer.cell
        return None

    def reset(self, streams: Optional[Any] = None) -> None:
        """Restart all streams, or only those selected.

        Args:
            streams: None for all; else a ``(B,)`` bool mask or a list of indices.
        """
        fresh = self._fresh()
        if streams is None:
            self.state = fresh
            return
        mask = torch.zeros(self.batch_size, dtype=torch.bool, device=self.device)
        try:
            streams = torch.as_tensor(streams)
        except (RuntimeError, TypeError, ValueError):
            fail("Stream", "streams", "None, a bool mask or a list of indices", describe(streams), kind=TypeError)
        if streams.dtype == torch.bool and streams.dim() > 0:
            if streams.shape != (self.batch_size,):
                fail("Stream", "streams", f"a bool mask of shape ({self.batch_size},)", tuple(streams.shape))
            mask = streams.to(self.device)
        else:
            if streams.is_floating_point() or streams.is_complex() or streams.dtype == torch.bool:
                fail("Stream", "streams", "None, a bool mask or integer indices", f"dtype {streams.dtype}",
                     kind=TypeError)
            index = streams.long()
            if index.numel() and (int(index.min()) < 0 or int(index.max()) >= self.batch_size):
                fail("Stream", "streams", f"indices in [0, {self.batch_size})", index.tolist())
            mask[index.to(self.device)] = True
        self.state = select_state(mask, fresh, self.state)

    def detach(self) -> None:
        """Cut the autograd history of the carried state (truncated BPTT)."""
        self.state = detach_state(self.state)

    def to(self, device: Any) -> "Stream":
        """Move the carried state."""
        self.device = torch.device(device)
        self.state = map_state(lambda s: s.to(self.device), self.state)
        return self
