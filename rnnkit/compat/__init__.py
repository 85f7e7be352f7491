"""Compatibility faces for code written against other RNN libraries.

``rnnkit.compat.v1`` is the TensorFlow 1 face: ``tf.nn.rnn_cell`` cells,
wrappers and ``tf.nn.dynamic_rnn`` & co. with TF1 r1.15 signatures and
semantics, so TF1 tutorial code ports by changing its imports::

    from rnnkit.compat import v1 as tf
"""

from rnnkit.compat import v1

__all__ = ["v1"]
