"""``tf.nn.rnn_cell``: the TF1 cells and wrappers."""

from rnnkit.compat.v1.base import LSTMStateTuple, RNNCell
from rnnkit.compat.v1.cells import BasicLSTMCell, BasicRNNCell, GRUCell, LSTMCell
from rnnkit.compat.v1.multi import MultiRNNCell
from rnnkit.compat.v1.wrappers import DropoutWrapper, ResidualWrapper

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
]
