"""``tf.nn`` as far as RNNs go: ``v1.nn.dynamic_rnn``, ``v1.nn.rnn_cell.LSTMCell``, ...

Also the activations TF1 RNN code passes to cells (``v1.nn.relu``, ...),
as the torch functions, and the losses and lookups around RNN code with TF1's
keyword arguments and semantics (per-example losses, no reduction).
"""

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as _F

from rnnkit.compat.v1.ops import convert_to_tensor as _tensor

from rnnkit.compat.v1.nn import rnn_cell
from rnnkit.compat.v1.rnn import bidirectional_dynamic_rnn, dynamic_rnn, static_bidirectional_rnn, static_rnn

relu = torch.relu
tanh = torch.tanh
sigmoid = torch.sigmoid
elu = _F.elu
softsign = _F.softsign
softplus = _F.softplus
relu6 = _F.relu6


def softmax(logits: Any, axis: int = -1, name: Any = None) -> Tensor:
    """``tf.nn.softmax``."""
    return torch.softmax(_tensor(logits), axis)


def softmax_cross_entropy_with_logits(_sentinel: Any = None, labels: Any = None, logits: Any = None, dim: int = -1,
                                      name: Any = None, axis: Any = None) -> Tensor:
    """``tf.nn.softmax_cross_entropy_with_logits(labels=..., logits=...)``: ``-sum(labels * log_softmax(logits))``
    per example (no reduction; labels are probabilities, e.g. one-hot). Keywords only, as TF."""
    if _sentinel is not None or labels is None or logits is None:
        raise TypeError("softmax_cross_entropy_with_logits: call it with keywords, labels=... and logits=..., as TF1 "
                        "requires")
    logits = _tensor(logits)
    return -(_tensor(labels).to(logits.dtype) * torch.log_softmax(logits, dim if axis is None else axis)).sum(
        dim if axis is None else axis)


softmax_cross_entropy_with_logits_v2 = softmax_cross_entropy_with_logits


def sparse_softmax_cross_entropy_with_logits(_sentinel: Any = None, labels: Any = None, logits: Any = None,
                                             name: Any = None) -> Tensor:
    """``tf.nn.sparse_softmax_cross_entropy_with_logits``: class indices ``labels (B,)``, per-example loss."""
    if _sentinel is not None or labels is None or logits is None:
        raise TypeError("sparse_softmax_cross_entropy_with_logits: call it with keywords, labels=... and logits=...")
    return _F.cross_entropy(_tensor(logits), _tensor(labels).long(), reduction="none")


def sigmoid_cross_entropy_with_logits(_sentinel: Any = None, labels: Any = None, logits: Any = None,
                                      name: Any = None) -> Tensor:
    """``tf.nn.sigmoid_cross_entropy_with_logits``: element-wise, no reduction."""
    if _sentinel is not None or labels is None or logits is None:
        raise TypeError("sigmoid_cross_entropy_with_logits: call it with keywords, labels=... and logits=...")
    logits = _tensor(logits)
    return _F.binary_cross_entropy_with_logits(logits, _tensor(labels).to(logits.dtype), reduction="none")


def embedding_lookup(params: Tensor, ids: Any, name: Any = None, max_norm: Any = None) -> Tensor:
    """``tf.nn.embedding_lookup``: rows of ``params (V, E)`` for integer ``ids`` of any shape -> ``(*ids.shape, E)``."""
    return _F.embedding(_tensor(ids).long(), params, max_norm=max_norm)

__all__ = [
    "rnn_cell",
    "dynamic_rnn",
    "bidirectional_dynamic_rnn",
    "static_rnn",
    "static_bidirectional_rnn",
    "relu",
    "tanh",
    "sigmoid",
    "elu",
    "softsign",
    "softplus",
    "relu6",
    "softmax",
    "softmax_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits_v2",
    "sparse_softmax_cross_entropy_with_logits",
    "sigmoid_cross_entropy_with_logits",
    "embedding_lookup",
]
