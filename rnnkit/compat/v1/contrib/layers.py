"""``tf.contrib.layers``: only a pointer to what replaces ``fully_connected`` in eager code."""

from __future__ import annotations

from typing import Any


def fully_connected(inputs: Any, num_outputs: int, activation_fn: Any = None, *args: Any, **kwargs: Any) -> Any:
    """Refused with the replacement: TF1 created the layer's variables once, where the graph was built; an eager
    call runs at every step, so the layer must be made once outside the step."""
    raise TypeError("contrib.layers.fully_connected: make the layer once, outside the training step, then call it: "
                    f"fc = tf.layers.Dense({num_outputs!r}, activation=...) ... fc(inputs) (see docs/porting-tf1.md)")


__all__ = ["fully_connected"]
