"""Model building blocks shared by recipes: ``--cell`` -> cells, stacks, heads.

Every recipe model is the same pipeline, batch-first::

    inputs (B, T, F) or token ids (B, T)
      -> input layer: identity | linear projection (B, T, P) | embedding (B, T, E)
      -> recurrent stack: ``num_layers`` x (cell, or forward+backward cells), dropout between layers
      -> dropout
      -> head: Linear on the final hidden state (B, O), or on every step (B, T, O)

:class:`RNNModel` implements it; ``forward`` returns ``(outputs, state)`` so
recipes that carry the state across batches (TBPTT) pass it back in.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional

import torch
from torch import Tensor, nn

from rnnkit.layers import Bidirectional, Recurrent, Stacked
from rnnkit.state import State, is_namedtuple

CELLS: dict[str, tuple[str, dict[str, Any]]] = {
    "lstm": ("rnnkit.cells.lstm:LSTMCell", {}),
    "gru": ("rnnkit.cells.gru:GRUCell", {}),
    "rnn": ("rnnkit.cells.elman:ElmanCell", {"nonlinearity": "tanh"}),
    "rnn_relu": ("rnnkit.cells.elman:ElmanCell", {"nonlinearity": "relu"}),
    "layernorm_lstm": ("rnnkit.cells.layernorm:LayerNormLSTMCell", {}),
    "layernorm_gru": ("rnnkit.cells.layernorm:LayerNormGRUCell", {}),
    "indrnn": ("rnnkit.cells.indrnn:IndRNNCell", {}),
    "mingru": ("rnnkit.cells.minimal:MinGRUCell", {}),
    "minlstm": ("rnnkit.cells.minimal:MinLSTMCell", {}),
}
"""``--cell`` name -> ``"module:Class"`` and constructor keywords."""


def make_cell(name: str, input_size: int, hidden_size: int) -> nn.Module:
    """Build the cell called ``name`` (a key of :data:`CELLS`)."""
    if name not in CELLS:
        raise ValueError(f"make_cell: cell must be one of {', '.join(CELLS)}, got {name!r}")
    target, kwargs = CELLS[name]
    module_name, cls_name = target.split(":")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"make_cell: cell {name!r} is not available in this rnnkit ({target}): {err}") from err
    return cls(input_size, hidden_size, **kwargs)


def build_stack(cell: str, input_size: int, hidden_size: int, num_layers: int, *,
                bidirectional: bool = False, dropout: float = 0.0) -> Stacked:
    """``num_layers`` recurrent layers of ``cell``, batch-first.

    Args:
        cell: a :data:`CELLS` name.
        input_size: features per step of the first layer.
        hidden_size: units per layer and direction.
        num_layers: depth.
        bidirectional: each layer runs both directions (per-length correct) and concatenates.
        dropout: dropout between layers (training only).

    Returns:
        A :class:`~rnnkit.layers.Stacked` with ``output_size = hidden_size * (2 if bidirectional else 1)``;
        its state is a tuple with one entry per layer.
    """
    layers = []
    size = input_size
    for _ in range(num_layers):
        if bidirectional:
            layers.append(Bidirectional(make_cell(cell, size, hidden_size), make_cell(cell, size, hidden_size)))
        else:
            layers.append(Recurrent(make_cell(cell, size, hidden_size)))
        size = layers[-1].output_size
    return Stacked(layers, dropout=dropout, batch_first=True)


def final_hidden(state: State) -> Tensor:
    """The hidden output of a layer's final state: ``h`` of an LSTM state, the
    tensor of a GRU/Elman state, and both directions concatenated for a
    bidirectional ``(fw, bw)`` pair. Returns ``(B, H)``."""
    if isinstance(state, Tensor):
        return state
    if is_namedtuple(state):
        return state.h if hasattr(state, "h") else final_hidden(state[0])
    if isinstance(state, tuple) and len(state) == 2:
        return torch.cat([final_hidden(state[0]), final_hidden(state[1])], dim=-1)
    raise TypeError(f"final_hidden: state must be a Tensor, a NamedTuple with h, or a (fw, bw) pair, "
                    f"got {type(state).__name__}")


class RNNModel(nn.Module):
    """Input layer -> recurrent stack -> dropout -> linear head (batch-first).

    Args:
        cfg: a :class:`~rnnkit.recipes.base.RunConfig` (cell, hidden_size,
            num_layers, bidirectional, dropout).
        output_size: ``O``, size of the head's output.
        input_size: ``F``, features per step (float inputs); or
        vocab_size: ``V`` for integer token inputs ``(B, T)`` (then ``embed_dim`` > 0
            gives an embedding, ``embed_dim=0`` one-hot inputs).
        embed_dim: embedding size for token inputs.
        proj_size: > 0 adds a linear input projection ``F -> proj_size`` (the TF1 row-MNIST tutorial's ``W_in``).
        per_step: head on every step ``(B, T, O)`` instead of the final state ``(B, O)``.
    """

    def __init__(self, cfg: Any, output_size: int, *, input_size: Optional[int] = None,
                 vocab_size: Optional[int] = None, embed_dim: int = 0, proj_size: int = 0,
                 per_step: bool = False) -> None:
        super().__init__()
        if (input_size is None) == (vocab_size is None):
            raise ValueError("RNNModel: exactly one of input_size and vocab_size must be given, "
                             f"got input_size={input_size}, vocab_size={vocab_size}")
        self.vocab_size = vocab_size
        self.per_step = per_step
        if vocab_size is not None:
            self.embed: Optional[nn.Embedding] = nn.Embedding(vocab_size, embed_dim) if embed_dim > 0 else None
            size = embed_dim if embed_dim > 0 else vocab_size
            self.proj: Optional[nn.Linear] = None
        else:
            self.embed = None
            self.proj = nn.Linear(input_size, proj_size) if proj_size > 0 else None
            size = proj_size if proj_size > 0 else input_size
        self.rnn = build_stack(cfg.cell, size, cfg.hidden_size, cfg.num_layers,
                               bidirectional=cfg.bidirectional, dropout=cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.rnn.output_size, output_size)

    def forward(self, x: Tensor, lengths: Optional[Tensor] = None,
                state: Optional[State] = None) -> tuple[Tensor, State]:
        """Run the model.

        Args:
            x: ``(B, T, F)`` floats, or ``(B, T)`` token ids when built with ``vocab_size``.
            lengths: ``(B,)`` valid lengths (padding past them is ignored), or None.
            state: the stack's state to start from (e.g. carried from the previous batch).

        Returns:
            ``(outputs, final_state)``: outputs ``(B, T, O)`` if ``per_step`` else
            ``(B, O)`` computed from the last layer's final state (the state at each
            sequence's last valid step).
        """
        if self.vocab_size is not None:
            h = self.embed(x) if self.embed is not None else nn.functional.one_hot(x, self.vocab_size).float()
        else:
            h = self.proj(x) if self.proj is not None else x
        out, final = self.rnn(h, state, lengths=lengths)
        if self.per_step:
            return self.head(self.drop(out)), final
        return self.head(self.drop(final_hidden(final[-1]))), final


def strided_lengths(lengths: Tensor, stride: int) -> Tensor:
    """Valid lengths after a convolution with ``stride`` and ``padding = kernel // 2`` (odd kernel):
    ``ceil(T / stride)``, and at least 1."""
    return ((lengths - 1).clamp(min=0) // stride + 1).to(lengths.dtype)


class ConvFrontEnd(nn.Module):
    r"""A small convolutional front end before the recurrent layers, for long series.

    Two 1-D convolutions with ReLU, the first strided, so the recurrent layers read
    ``ceil(T / stride)`` local summaries of ``kernel`` steps each instead of ``T`` raw steps::

        h_1 = \mathrm{ReLU}(W_1 * x)  (kernel k, stride s)     (B, F, ceil(T/s))
        h_2 = \mathrm{ReLU}(W_2 * h_1) (kernel 3, stride 1)     (B, F, ceil(T/s))

    Steps past each sequence's (new) length are zeroed after each convolution, so
    padding never leaks into a shorter sequence's features.

    Args:
        input_size: ``C``, channels per step.
        channels: ``F``, filters of both convolutions.
        kernel: width of the first convolution (odd; padding ``kernel // 2``).
        stride: step of the first convolution (>= 1).
    """

    def __init__(self, input_size: int, channels: int, kernel: int, stride: int) -> None:
        super().__init__()
        if kernel < 1 or kernel % 2 == 0 or stride < 1 or channels < 1:
            raise ValueError(f"ConvFrontEnd: kernel must be odd >= 1, stride and channels >= 1, got kernel={kernel}, "
                             f"stride={stride}, channels={channels}")
        self.stride = stride
        self.output_size = channels
        self.conv1 = nn.Conv1d(input_size, channels, kernel, stride=stride, padding=kernel // 2)
        self.conv2 = nn.Conv1d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor, lengths: Optional[Tensor]) -> tuple[Tensor, Optional[Tensor]]:
        """``x (B, T, C)`` and lengths ``(B,)`` -> ``(B, ceil(T/s), F)`` and the new lengths."""
        new = strided_lengths(lengths, self.stride) if lengths is not None else None
        h = torch.relu(self.conv1(x.transpose(1, 2)))
        mask = None
        if new is not None:
            mask = (torch.arange(h.shape[-1], device=h.device)[None, :] < new[:, None].to(h.device)).unsqueeze(1)
            h = h * mask
        h = torch.relu(self.conv2(h))
        if mask is not None:
            h = h * mask
        return h.transpose(1, 2), new


class SeriesClassifier(nn.Module):
    """Optional conv front end -> recurrent stack -> pooled state -> dropout -> linear head (batch-first).

    Args:
        cfg: a config with ``cell``, ``hidden_size``, ``num_layers``, ``bidirectional``, ``dropout``,
            ``conv_channels``, ``conv_kernel`` and ``pool`` (``"last"``: each sequence's final state;
            ``"mean"``: the mean of the top layer's outputs over valid steps; ``"both"``: concatenated).
        num_classes: ``K``.
        input_size: ``C``, channels per step.
        stride: the front end's stride; ``stride == 1`` and ``cfg.conv_channels == 0`` mean no front end.
    """

    def __init__(self, cfg: Any, num_classes: int, *, input_size: int, stride: int = 1) -> None:
        super().__init__()
        self.pool = cfg.pool
        self.front = (ConvFrontEnd(input_size, cfg.conv_channels, cfg.conv_kernel, stride)
                      if cfg.conv_channels > 0 else None)
        size = self.front.output_size if self.front is not None else input_size
        self.rnn = build_stack(cfg.cell, size, cfg.hidden_size, cfg.num_layers,
                               bidirectional=cfg.bidirectional, dropout=cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)
        width = self.rnn.output_size * (2 if self.pool == "both" else 1)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: Tensor, lengths: Optional[Tensor] = None) -> tuple[Tensor, State]:
        """``x (B, T, C)``, lengths ``(B,)`` -> logits ``(B, K)`` and the stack's final state."""
        if self.front is not None:
            x, lengths = self.front(x, lengths)
        out, final = self.rnn(x, None, lengths=lengths)
        feats = []
        if self.pool in ("last", "both"):
            feats.append(final_hidden(final[-1]))
        if self.pool in ("mean", "both"):
            if lengths is None:
                feats.append(out.mean(1))
            else:
                feats.append(out.sum(1) / lengths.clamp(min=1).to(out.device, out.dtype)[:, None])
        return self.head(self.drop(torch.cat(feats, -1))), final
