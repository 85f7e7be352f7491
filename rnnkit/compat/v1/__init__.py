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
with ``cell.build(input_size)`` (a warning says when this is broken), or use
``v1.train.AdamOptimizer(lr).minimize(loss)``, which finds them.
Dropout follows ``.train()``/``.eval()``.

Around the RNN code, the TF1 ops the classic tutorials use run eagerly with
TF1's names and semantics (:mod:`rnnkit.compat.v1.ops`: ``matmul``,
``reshape``, ``reduce_mean``, ``argmax``, ``equal``, ``cast``,
``Variable``, ``random_normal``, ...; ``v1.nn.softmax_cross_entropy_with_logits``,
``v1.nn.embedding_lookup``; ``v1.losses``; ``v1.train``; ``v1.layers.Dense``).
There are no placeholders or sessions: ``docs/porting-tf1.md`` lists what a
TF1 program still changes.
"""

from rnnkit.compat.v1 import contrib, layers, losses, nn, train
from rnnkit.compat.v1.base import LSTMStateTuple, RNNCell
from rnnkit.compat.v1.cells import BasicLSTMCell, BasicRNNCell, GRUCell, LSTMCell
from rnnkit.compat.v1.lazy import UntrainedCellWarning
from rnnkit.compat.v1.dtypes import bfloat16, float16, float32, float64, int32, int64
from rnnkit.compat.v1.ops import (
    Variable, argmax, cast, concat, constant, convert_to_tensor, equal, matmul, random_normal, random_uniform, reduce_mean,
    reduce_sum, reshape, round, sigmoid, stack, tanh, transpose, unstack, zeros,
)
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
    "layers",
    "losses",
    "train",
    "UntrainedCellWarning",
    "Variable",
    "argmax",
    "cast",
    "concat",
    "constant",
    "convert_to_tensor",
    "equal",
    "matmul",
    "random_normal",
    "random_uniform",
    "reduce_mean",
    "reduce_sum",
    "reshape",
    "round",
    "sigmoid",
    "stack",
    "tanh",
    "transpose",
    "unstack",
    "zeros",
]
