"""``tf.contrib.rnn``: the same cells, wrappers and ``static_rnn`` as ``tf.nn``."""

from rnnkit.compat.v1.nn.rnn_cell import (
    BasicLSTMCell, BasicRNNCell, DropoutWrapper, GRUCell, LSTMCell, LSTMStateTuple, MultiRNNCell, ResidualWrapper,
    RNNCell,
)
from rnnkit.compat.v1.rnn import static_bidirectional_rnn, static_rnn

__all__ = [
    "RNNCell",
    "BasicRNNCell",
    "BasicLSTMCell",
    "LSTMCell",
    "GRUCell",
    "MultiRNNCell",
    "DropoutWrapper",
    "ResidualWrapper",
    "LSTMStateTuple",
    "static_rnn",
    "static_bidirectional_rnn",
]
