r"""``tf.train`` optimizers with TF1's ``minimize(loss)``, eagerly.

TF1 code writes ``train_op = tf.train.AdamOptimizer(lr).minimize(cost)`` once
and runs ``train_op`` every step. Here the optimizer object is made once and
``minimize(loss)`` is called every step: it finds the trainable tensors the
loss depends on (TF's ``var_list`` default, the trainable variables in the
graph) by walking the autograd graph, zeroes their gradients, back-propagates
and takes one step. Tensors that appear later (a TF1-face cell built at its
first call) join the optimizer when they first appear, so the
optimizer-before-first-call pitfall cannot happen with ``minimize``.

Each class runs the ``torch.optim`` algorithm with TF1's defaults:

* ``AdamOptimizer(learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8)``
  -> ``torch.optim.Adam``. TF1 adds ``epsilon`` to ``sqrt(v_t)`` before the
  bias correction, torch after: the step differs by a factor of at most
  ``1 + epsilon / sqrt(v_hat)``, nothing once ``v_hat >> epsilon**2``;
* ``AdadeltaOptimizer(learning_rate=0.001, rho=0.95, epsilon=1e-8)`` ->
  ``torch.optim.Adadelta`` (the same update; note TF's small default
  learning rate);
* ``GradientDescentOptimizer(learning_rate)`` -> ``torch.optim.SGD``;
* ``RMSPropOptimizer(learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10)``
  -> ``torch.optim.RMSprop`` (TF1 adds epsilon inside the square root,
  torch outside).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor

from rnnkit.checks import describe, fail


def trainable_leaves(loss: Tensor) -> list[Tensor]:
    """The leaf tensors with ``requires_grad`` that ``loss`` depends on, in first-seen order."""
    seen, leaves, stack = set(), [], [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)
        if variable is not None:
            leaves.append(variable)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return leaves


class Optimizer:
    """Base of the ``tf.train`` optimizers: holds one ``torch.optim`` optimizer, made at the first ``minimize``."""

    def __init__(self, make: Callable[[list[Tensor]], torch.optim.Optimizer]) -> None:
        self._make = make
        self.torch_optimizer: Optional[torch.optim.Optimizer] = None
        self._held: set[int] = set()

    def minimize(self, loss: Tensor, global_step: Any = None, var_list: Optional[Sequence[Tensor]] = None,
                 name: Any = None) -> Tensor:
        """One training step on ``loss`` (what running TF's ``train_op`` did); returns ``loss`` detached.

        Args:
            loss: a scalar tensor.
            global_step: ignored (count steps yourself).
            var_list: the tensors to train; default every trainable tensor ``loss`` depends on.
        """
        owner = f"{type(self).__name__}.minimize"
        if not isinstance(loss, Tensor) or loss.numel() != 1 or loss.grad_fn is None:
            fail(owner, "loss", "a scalar tensor computed from trainable tensors", describe(loss), kind=TypeError)
        params = list(var_list) if var_list is not None else trainable_leaves(loss)
        new = [p for p in params if id(p) not in self._held]
        if self.torch_optimizer is None:
            self.torch_optimizer = self._make(new)
        elif new:
            self.torch_optimizer.add_param_group({"params": new})
        self._held.update(id(p) for p in new)
        for p in params:
            p.grad = None
        loss.backward()
        self.torch_optimizer.step()
        return loss.detach()


class AdamOptimizer(Optimizer):
    """``tf.train.AdamOptimizer`` on ``torch.optim.Adam`` (see the module docstring)."""

    def __init__(self, learning_rate: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, use_locking: bool = False, name: Any = None) -> None:
        super().__init__(lambda p: torch.optim.Adam(p, lr=learning_rate, betas=(beta1, beta2), eps=epsilon))


class AdadeltaOptimizer(Optimizer):
    """``tf.train.AdadeltaOptimizer`` on ``torch.optim.Adadelta``."""

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.95, epsilon: float = 1e-8,
                 use_locking: bool = False, name: Any = None) -> None:
        super().__init__(lambda p: torch.optim.Adadelta(p, lr=learning_rate, rho=rho, eps=epsilon))


class GradientDescentOptimizer(Optimizer):
    """``tf.train.GradientDescentOptimizer`` on ``torch.optim.SGD``."""

    def __init__(self, learning_rate: float, use_locking: bool = False, name: Any = None) -> None:
        super().__init__(lambda p: torch.optim.SGD(p, lr=learning_rate))


class RMSPropOptimizer(Optimizer):
    """``tf.train.RMSPropOptimizer`` on ``torch.optim.RMSprop``."""

    def __init__(self, learning_rate: float, decay: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-10,
                 use_locking: bool = False, centered: bool = False, name: Any = None) -> None:
        super().__init__(lambda p: torch.optim.RMSprop(p, lr=learning_rate, alpha=decay, momentum=momentum,
                                                       eps=epsilon, centered=centered))


__all__ = ["AdamOptimizer", "AdadeltaOptimizer", "GradientDescentOptimizer", "RMSPropOptimizer", "trainable_leaves"]
