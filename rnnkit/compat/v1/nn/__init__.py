"""``tf.nn`` as far as RNNs go: ``v1.nn.dynamic_rnn``, ``v1.nn.rnn_cell.LSTMCell``, ...

Also the activations TF1 RNN code passes to cells (``v1.nn.relu``, ...),
as the torch functions.
"""

import torch
from torch.nn import functional as _F

from rnnkit.compat.v1.nn import rnn_cell
from rnnkit.compat.v1.rnn import bidirectional_dynamic_rnn, dynamic_rnn, static_bidirectional_rnn, static_rnn

relu = torch.relu
tanh = torch.tanh
sigmoid = torch.sigmoid
elu = _F.elu
softsign = _F.softsign
softplus = _F.softplus
relu6 = _F.relu6

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
]
