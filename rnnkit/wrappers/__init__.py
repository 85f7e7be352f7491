"""Cell wrappers: regularisers, a residual connection and a learned initial state.

Every wrapper is itself a cell (:class:`rnnkit.cells.Cell`), wraps any cell
and nests, e.g. ``Dropout(Zoneout(LSTMCell(32, 64), h=0.1, c=0.05),
output_dropout=0.3, variational=True)``.
"""

from rnnkit.wrappers.base import (
    Wrapper,
    innermost_cell,
    peel_passthrough,
    replace_innermost_state,
    unwrap_state,
)
from rnnkit.wrappers.dropconnect import DropConnect, DropConnectState
from rnnkit.wrappers.dropout import (
    Dropout,
    DropoutMasks,
    DropoutState,
    default_state_filter,
)
from rnnkit.wrappers.initial_state import LearnedInitialState
from rnnkit.wrappers.residual import Residual
from rnnkit.wrappers.zoneout import Zoneout

__all__ = [
    "Wrapper",
    "Dropout",
    "DropoutMasks",
    "DropoutState",
    "default_state_filter",
    "Zoneout",
    "DropConnect",
    "DropConnectState",
    "Residual",
    "LearnedInitialState",
    "innermost_cell",
    "unwrap_state",
    "replace_innermost_state",
    "peel_passthrough",
]
