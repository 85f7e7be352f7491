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
from rnnkit import wrappers
from rnnkit.dropin import GRU, LSTM, RNN
from rnnkit.fused.checkpointed import unroll_checkpointed
from rnnkit.layers import Bidirectional, Recurrent, Stacked
from rnnkit.state import LSTMState
from rnnkit.unroll import unroll
from rnnkit.weights import import_weights
from rnnkit.wrappers import DropConnect, Dropout, DropoutState, LearnedInitialState, Residual, Zoneout

__version__ = "0.1.0"

__all__ = [
    "LSTM",
    "GRU",
    "RNN",
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
    "unroll_checkpointed",
    "import_weights",
    "wrappers",
    "Dropout",
    "DropoutState",
    "Zoneout",
    "DropConnect",
    "Residual",
    "LearnedInitialState",
]
