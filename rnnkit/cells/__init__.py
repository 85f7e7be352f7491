"""Recurrent cells: one step of a recurrence, ``forward(x_t, state) -> (y_t, state)``."""

from rnnkit.cells.base import Cell, ProjectedCell
from rnnkit.cells.elman import ElmanCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell

__all__ = ["Cell", "ProjectedCell", "ElmanCell", "GRUCell", "LSTMCell"]
