"""TF-style dtype names (``tf.float32`` -> ``v1.float32``) and their parsing.

The aliases are plain ``torch.dtype`` objects, so ported code such as
``cell.zero_state(32, tf.float32)`` passes a torch dtype straight through.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from rnnkit.checks import describe, fail

float16 = torch.float16
bfloat16 = torch.bfloat16
float32 = torch.float32
float64 = torch.float64
int32 = torch.int32
int64 = torch.int64

_NAMES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float": torch.float32,
    "float64": torch.float64,
    "double": torch.float64,
}


def as_dtype(owner: str, name: str, value: Any, *, allow_none: bool = True) -> Optional[torch.dtype]:
    """Parse a floating-point dtype given as a ``torch.dtype`` or a name.

    Args:
        owner: who asks (for the error message).
        name: the argument's name (for the error message).
        value: a floating ``torch.dtype`` (``v1.float32`` is one), a name such
            as ``"float32"`` or ``"tf.float64"``, or None.
        allow_none: whether None is accepted (and returned).

    Returns:
        The ``torch.dtype`` (or None).

    Raises:
        TypeError: for anything that is not a floating-point dtype.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, str):
        key = value[3:] if value.startswith("tf.") else value
        if key in _NAMES:
            return _NAMES[key]
        fail(owner, name, "a floating dtype (e.g. torch.float32 or 'float32')", repr(value), kind=TypeError)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        fail(owner, name, "a floating dtype (e.g. torch.float32 or 'float32')", describe(value), kind=TypeError)
    return value
