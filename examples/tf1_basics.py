"""The TF1 ``tf.nn.rnn_cell`` basics tutorial (BasicRNNCell, BasicLSTMCell, ``state_size``,
``zero_state``, ``cell.call``, ``dynamic_rnn``), ported to rnnkit's TF1 face.

What differs from the original, and why:

* ``import tensorflow as tf`` -> ``from rnnkit.compat import v1 as tf``.
* ``inputs = tf.placeholder(np.float32, shape=(32, 100))`` -> a numpy array of that
  shape and dtype: rnnkit runs eagerly (no graph, no session), so there is nothing
  to feed later; the array is the data. Numpy arrays and numpy dtypes
  (``np.float32``) are accepted as in TF1.
* Printing a shape prints ``torch.Size([32, 128])`` instead of ``(32, 128)``.
* The tutorial only lists ``dynamic_rnn``'s arguments; here it runs, with
  ``initial_state`` and with ``sequence_length`` (TF1 semantics: outputs are zero
  past each length and the state stops at each sequence's last valid step).

Run: ``python examples/tf1_basics.py`` (it is already tiny; ``--tiny`` is accepted).
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

import numpy as np

from rnnkit.compat import v1 as tf  # was: import tensorflow as tf


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="accepted for uniformity; the example is tiny already")
    parser.parse_args(argv)
    rng = np.random.default_rng(0)

    # 3.1 BasicRNNCell ------------------------------------------------------------------------------
    cell = tf.nn.rnn_cell.BasicRNNCell(num_units=128)  # state_size = 128
    print(cell.state_size)  # 128
    inputs = rng.standard_normal((32, 100)).astype(np.float32)  # was: tf.placeholder(np.float32, shape=(32, 100))
    h0 = cell.zero_state(32, np.float32)  # all-zero state (batch_size, state_size)
    output, h1 = cell.call(inputs, h0)
    print(h1.shape)  # (32, 128)

    # 3.2 BasicLSTMCell -----------------------------------------------------------------------------
    lstm_cell = tf.nn.rnn_cell.BasicLSTMCell(num_units=128, forget_bias=1.0, state_is_tuple=True)
    print(lstm_cell.state_size)  # LSTMStateTuple(c=128, h=128)

    # 3.3 dynamic_rnn: many steps at once -----------------------------------------------------------
    batch_size, time_steps, input_size = 32, 10, 100
    sequence = rng.standard_normal((batch_size, time_steps, input_size)).astype(np.float32)
    initial_state = lstm_cell.zero_state(batch_size, tf.float32)
    outputs, state = tf.nn.dynamic_rnn(lstm_cell, sequence, initial_state=initial_state)
    print(outputs.shape, state.h.shape)  # (32, 10, 128): every step's output; the last state (c, h)

    lengths = rng.integers(0, time_steps + 1, batch_size)  # sequence_length as a numpy array
    outputs_len, state_len = tf.nn.dynamic_rnn(lstm_cell, sequence, sequence_length=lengths, dtype=tf.float32)
    print("outputs past each length are zero:",
          all(not outputs_len[b, n:].any() for b, n in enumerate(lengths)))
    return {"cell": cell, "inputs": inputs, "h0": h0, "output": output, "h1": h1, "lstm_cell": lstm_cell,
            "sequence": sequence, "outputs": outputs, "state": state, "lengths": lengths,
            "outputs_len": outputs_len, "state_len": state_len}


if __name__ == "__main__":
    main()
