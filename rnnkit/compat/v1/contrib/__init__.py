"""``tf.contrib`` as far as the TF1 RNN tutorials use it: ``v1.contrib.rnn`` and ``v1.contrib.layers``."""

from rnnkit.compat.v1.contrib import layers, rnn

__all__ = ["layers", "rnn"]
