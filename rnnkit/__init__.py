"""rnnkit: recurrent neural networks on PyTorch, fast and flexible."""

from rnnkit.cells import (
    Cell,
    ElmanCell,
    GRUCell,
    IndRNNCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    LSTMCell,
    MinGRUCell,
    MinLSTMCell,
    indrnn_recurrent_bound,
)
from rnnkit.layers import Bidirectional, Recurrent, Stacked
from rnnkit.state import LSTMState
from rnnkit.unroll import unroll

__version__ = "0.1.0"

__all__ = [
    "Cell",
    "ElmanCell",
    "GRUCell",
    "LSTMCell",
    "LayerNormLSTMCell",
    "LayerNormGRUCell",
    "IndRNNCell",
    "indrnn_recurrent_bound",
    "MinGRUCell",
    "MinLSTMCell",
    "LSTMState",
    "Recurrent",
    "Bidirectional",
    "Stacked",
    "unroll",
]
