"""TF-style dtype names (``tf.float32`` -> ``v1.float32``) and their parsing,
and the conversion of numpy arrays that TF1 code feeds.

The aliases are plain ``torch.dtype`` objects, so ported code such as
``cell.zero_state(32, tf.float32)`` passes a torch dtype straight through;
numpy dtypes (``np.float32``, ``np.dtype("float64")``) and names
(``"float32"``) are accepted wherever a dtype is.

Dtype rules for arrays (TF1 fed numpy arrays into typed placeholders, which
cast them): a numpy array given as inputs, state or weights becomes a tensor
of the dtype the cell needs (its parameters' dtype, else the ``dtype``
argument, else float32, TF's default). Torch tensors are never cast: a
float64 tensor given to a float32 cell is an error that says so.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

import numpy as np
from torch import Tensor

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
    if not isinstance(value, (str, torch.dtype)) and _is_numpy_dtype(value):
        value = np.dtype(value).name
    if isinstance(value, str):
        key = value[3:] if value.startswith("tf.") else value
        if key in _NAMES:
            return _NAMES[key]
        fail(owner, name, "a floating dtype (e.g. torch.float32 or 'float32')", repr(value), kind=TypeError)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        fail(owner, name, "a floating dtype (e.g. torch.float32 or 'float32')", describe(value), kind=TypeError)
    return value


def _is_numpy_dtype(value: Any) -> bool:
    """True for ``np.float32`` (the scalar type) and ``np.dtype("float32")``."""
    return isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic))


def is_array(value: Any) -> bool:
    """True for a numpy array (or numpy scalar), which TF1 code feeds freely."""
    return isinstance(value, (np.ndarray, np.generic))


def from_array(owner: str, name: str, value: Any, dtype: torch.dtype) -> Any:
    """A numpy array -> a tensor of ``dtype`` (floating arrays only); anything else unchanged.

    Raises:
        TypeError: for an array that is not of a real number dtype.
    """
    if not is_array(value):
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        fail(owner, name, "a tensor or a numeric array", describe(value), kind=TypeError)
    return torch.as_tensor(array).to(dtype)


def state_from_arrays(owner: str, name: str, state: Any, dtype: torch.dtype) -> Any:
    """Convert every numpy leaf of a (nested) TF state to a tensor of ``dtype``."""
    if is_array(state):
        return from_array(owner, name, state, dtype)
    if isinstance(state, tuple) and not isinstance(state, Tensor):
        items = [state_from_arrays(owner, f"{name}[{i}]", s, dtype) for i, s in enumerate(state)]
        return type(state)(*items) if hasattr(state, "_fields") else tuple(items)
    if isinstance(state, list):
        return [state_from_arrays(owner, f"{name}[{i}]", s, dtype) for i, s in enumerate(state)]
    return state
