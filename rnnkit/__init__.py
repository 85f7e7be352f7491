"""rnnkit: recurrent neural networks on PyTorch, fast and flexible."""

from rnnkit.cells import Cell, ElmanCell, GRUCell, LSTMCell
from rnnkit.layers import Bidirectional, Recurrent, Stacked
from rnnkit.state import LSTMState
from rnnkit.unroll import unroll

__version__ = "0.1.0"

__all__ = [
    "Cell",
    "ElmanCell",
    "GRUCell",
    "LSTMCell",
    "LSTMState",
    "Recurrent",
    "Bidirectional",
    "Stacked",
    "unroll",
]
