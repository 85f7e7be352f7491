"""The TF1 face of rnnkit: TF1 RNN code ports by changing its imports.

::

    from rnnkit.compat import v1 as tf

    cell = tf.nn.rnn_cell.BasicLSTMCell(128)          # or tf.contrib.rnn.BasicLSTMCell
    outputs, state = tf.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=tf.float32)
    logits = head(state.h)                               # LSTMStateTuple(c, h), TF order

Names match TF1 r1.15 (``tf.compat.v1``), with its signatures and semantics:
``BasicRNNCell``, ``BasicLSTMCell``, ``LSTMCell``, ``GRUCell``,
``MultiRNNCell``, ``DropoutWrapper``, ``ResidualWrapper``, ``LSTMStateTuple``,
``dynamic_rnn``, ``bidirectional_dynamic_rnn``, ``static_rnn``,
``static_bidirectional_rnn`` (also under ``v1.nn``, ``v1.nn.rnn_cell`` and
``v1.contrib.rnn``), and the dtypes ``v1.float32``/``v1.float64`` (torch
dtypes).

The cells are ``torch.nn.Module`` s running rnnkit cells (see
:mod:`rnnkit.compat.v1.base`). Like TF, they learn their input size at the
first call: **create the optimizer after the first call**, or build first
with ``cell.build(input_size)``. Dropout follows ``.train()``/``.eval()``.
"""

from rnnkit.compat.v1 import contrib, nn
from rnnkit.compat.v1.base import LSTMStateTuple, RNNCell
from rnnkit.compat.v1.cells import BasicLSTMCell, BasicRNNCell, GRUCell, LSTMCell
from rnnkit.compat.v1.dtypes import bfloat16, float16, float32, float64, int32, int64
from rnnkit.compat.v1.multi import MultiRNNCell
from rnnkit.compat.v1.rnn import bidirectional_dynamic_rnn, dynamic_rnn, static_bidirectional_rnn, static_rnn
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
    "dynamic_rnn",
    "bidirectional_dynamic_rnn",
    "static_rnn",
    "static_bidirectional_rnn",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "int32",
    "int64",
    "nn",
    "contrib",
]
