"""``tf.contrib`` as far as the TF1 RNN tutorials use it: ``v1.contrib.rnn``."""

from rnnkit.compat.v1.contrib import rnn

__all__ = ["rnn"]
