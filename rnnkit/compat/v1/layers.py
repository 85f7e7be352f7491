"""``tf.layers.Dense`` (and what ``tf.contrib.layers.fully_connected`` did) as a module.

TF1's ``fully_connected(x, n, activation_fn=...)`` and ``tf.layers.dense`` made
their variables where they were called, once, when the graph was built. Eager
code calls every line at every step, so the layer must be made once, outside
the step: ``fc = tf.layers.Dense(1, activation=tf.sigmoid)``, then
``fc(x)``. Like the TF1-face cells it learns its input size at its first call
(``torch.nn.LazyLinear``): create the optimizer after that call, or use
``tf.train.*Optimizer.minimize``, which finds it.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor

from rnnkit.checks import check_positive_int, describe, fail


class Dense(torch.nn.Module):
    """``tf.layers.Dense(units, activation=None, use_bias=True)``: ``activation(x W + b)``.

    Initialised as TF1: Glorot-uniform kernel, zero bias. Shapes: ``(..., I) -> (..., units)``.
    """

    def __init__(self, units: int, activation: Optional[Callable[[Tensor], Tensor]] = None, use_bias: bool = True,
                 name: Any = None) -> None:
        super().__init__()
        self.units = check_positive_int("Dense", "units", units)
        if activation is not None and not callable(activation):
            fail("Dense", "activation", "None or a callable (e.g. tf.sigmoid)", describe(activation), kind=TypeError)
        self.activation = activation
        self.linear = torch.nn.LazyLinear(units, bias=use_bias)

    def forward(self, inputs: Tensor) -> Tensor:
        first = isinstance(self.linear, torch.nn.LazyLinear) and self.linear.has_uninitialized_params()
        y = self.linear(inputs)
        if first:
            with torch.no_grad():
                torch.nn.init.xavier_uniform_(self.linear.weight)
                if self.linear.bias is not None:
                    self.linear.bias.zero_()
            y = self.linear(inputs)
        return y if self.activation is None else self.activation(y)


__all__ = ["Dense"]
