"""Recurrent cells: one step of a recurrence, ``forward(x_t, state) -> (y_t, state)``."""

from rnnkit.cells.base import Cell, ProjectedCell
from rnnkit.cells.elman import ElmanCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.indrnn import IndRNNCell, indrnn_recurrent_bound
from rnnkit.cells.layernorm import LayerNormGRUCell, LayerNormLSTMCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.minimal import MinGRUCell, MinLSTMCell

__all__ = [
    "Cell",
    "ProjectedCell",
    "ElmanCell",
    "GRUCell",
    "LSTMCell",
    "LayerNormLSTMCell",
    "LayerNormGRUCell",
    "IndRNNCell",
    "indrnn_recurrent_bound",
    "MinGRUCell",
    "MinLSTMCell",
]
