"""Validation of user input at public entry points, with one error wording.

Messages follow ``"<owner>: <argument> must be <expected>, got <actual>"`` so a
user can act on them. These checks run once per call of a public entry point,
never inside a step loop.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from rnnkit.errors import user_error
from rnnkit.state import is_namedtuple, leaf_shape, size_is_leaf


class ShapeError(ValueError, RuntimeError):
    """A wrong shape, length or device, where ``torch.nn`` raises ``RuntimeError``.

    rnnkit's contract is ``ValueError``; ``torch.nn.LSTM`` & co. raise
    ``RuntimeError`` for the same mistakes. The drop-ins raise this class, so
    both ``except ValueError`` and ``except RuntimeError`` catch it.
    """


class DtypeError(TypeError, ValueError):
    """A wrong dtype, where ``torch.nn`` raises ``ValueError``.

    rnnkit's contract is ``TypeError``; ``torch.nn.LSTM`` raises ``ValueError``
    for an input whose dtype differs from the weights'. Both catch this class.
    """


def fail(owner: str, name: str, expected: str, actual: Any, *, kind: type = ValueError) -> None:
    """Raise ``kind`` (as its :mod:`rnnkit.errors` subclass) with the project's standard wording."""
    raise user_error(kind)(f"{owner}: {name} must be {expected}, got {actual}")


_MAX_REPR = 80


def describe(value: Any) -> str:
    """A short description of ``value`` for error messages.

    Tensors and arrays are summarised (type, shape, dtype), never printed;
    other values show their ``repr``, cut to 80 characters.
    """
    if isinstance(value, Tensor):
        return f"Tensor of shape {tuple(value.shape)}, dtype {value.dtype}, device {value.device}"
    if isinstance(value, type):
        return f"type {value.__module__}.{value.__qualname__}"
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if isinstance(shape, tuple) and dtype is not None:  # numpy arrays and scalars, jax/cupy arrays, ...
        kind = f"{type(value).__module__.split('.')[0]}.{type(value).__name__}"
        return f"{kind} of shape {shape}, dtype {dtype}" if shape else f"{kind} {value!r}"[:_MAX_REPR]
    if is_namedtuple(value):
        return f"{type(value).__name__} with {len(value)} fields"
    if isinstance(value, tuple):
        return f"tuple of length {len(value)}"
    if isinstance(value, (list, dict)):
        return f"{type(value).__name__} of length {len(value)}"
    text = f"{type(value).__name__} {value!r}"
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def check_positive_int(owner: str, name: str, value: Any, *, allow_zero: bool = False) -> int:
    """Check that ``value`` is an int > 0 (or >= 0) and return it."""
    if isinstance(value, bool) or not isinstance(value, int):
        fail(owner, name, "an int", describe(value), kind=TypeError)
    if value < 0 or (value == 0 and not allow_zero):
        fail(owner, name, ">= 0" if allow_zero else "> 0", value)
    return value


def check_bool(owner: str, name: str, value: Any) -> bool:
    """Check that ``value`` is a bool (not merely truthy: ``bias="no"`` must not mean True)."""
    if not isinstance(value, bool):
        fail(owner, name, "a bool", describe(value), kind=TypeError)
    return value


def check_probability(owner: str, name: str, value: Any, *, allow_one: bool = False) -> float:
    """Check that ``value`` is a float in ``[0, 1)`` (or ``[0, 1]``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(owner, name, "a float", describe(value), kind=TypeError)
    hi_ok = value <= 1.0 if allow_one else value < 1.0
    if not (0.0 <= value and hi_ok):
        fail(owner, name, "in [0, 1]" if allow_one else "in [0, 1)", value)
    return float(value)


def check_clip(owner: str, name: str, value: Any) -> Optional[float]:
    """A clipping bound: None, inf, or a positive number that float32 can hold."""
    if value is None:
        return None
    f32_max = torch.finfo(torch.float32).max
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or (
        value != float("inf") and value > f32_max
    ):
        fail(owner, name, f"None, inf or a positive number <= {f32_max:.4g} (float32's largest)", repr(value))
    return float(value)


def check_choice(owner: str, name: str, value: Any, choices: tuple) -> Any:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        fail(owner, name, "one of " + ", ".join(repr(c) for c in choices), repr(value))
    return value


def check_tensor(owner: str, name: str, value: Any) -> Tensor:
    """Check that ``value`` is a floating-point Tensor."""
    if not isinstance(value, Tensor):
        fail(owner, name, "a torch.Tensor", describe(value), kind=TypeError)
    if not value.is_floating_point():
        fail(owner, name, "a floating-point tensor", f"dtype {value.dtype}", kind=TypeError)
    return value


def check_step_input(owner: str, x: Any, input_size: int) -> Tensor:
    """Check a single-step input ``x`` of shape ``(B, input_size)``."""
    check_tensor(owner, "x", x)
    if x.dim() != 2 or x.shape[1] != input_size:
        fail(owner, "x", f"of shape (B, {input_size})", tuple(x.shape))
    return x


def check_sequence_input(owner: str, inputs: Any, input_size: Optional[int], *, batch_first: bool) -> Tensor:
    """Check a sequence input ``(T, B, I)`` (or ``(B, T, I)`` with batch_first)."""
    check_tensor(owner, "inputs", inputs)
    layout = "(B, T, {})" if batch_first else "(T, B, {})"
    size = "I" if input_size is None else str(input_size)
    if inputs.dim() != 3 or (input_size is not None and inputs.shape[2] != input_size):
        fail(owner, "inputs", "of shape " + layout.format(size), tuple(inputs.shape))
    return inputs


def check_lengths(owner: str, lengths: Any, batch_size: int, max_time: int, device: torch.device) -> Tensor:
    """Validate per-sequence lengths and return them as int64 on ``device``.

    Lengths may be a list, tuple or integer Tensor on any device, in any order;
    every value must lie in ``[0, max_time]``.
    """
    if isinstance(lengths, (list, tuple)):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in lengths):
            fail(owner, "lengths", "a sequence of ints", describe(list(lengths)), kind=TypeError)
        lengths = torch.tensor(list(lengths), dtype=torch.long)
    if not isinstance(lengths, Tensor):
        fail(owner, "lengths", "a 1-D integer Tensor or a list of ints", describe(lengths), kind=TypeError)
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        fail(owner, "lengths", "an integer tensor", f"dtype {lengths.dtype}", kind=TypeError)
    if lengths.dim() != 1 or lengths.shape[0] != batch_size:
        fail(owner, "lengths", f"of shape ({batch_size},), one length per sequence", tuple(lengths.shape))
    if lengths.is_meta:
        fail(owner, "lengths", "a tensor with values (any device but meta)", describe(lengths))
    if lengths.numel() > 0:
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 0 or hi > max_time:
            fail(owner, "lengths", f"in [0, {max_time}] (the time dimension)", f"values in [{lo}, {hi}]")
    return lengths.to(device=device, dtype=torch.long)


def check_state(owner: str, state: Any, size: Any, batch_size: int, like: Tensor, name: str = "state") -> None:
    """Check that ``state`` has the structure and shapes that ``size`` describes.

    Args:
        owner: who is checking (for the message).
        state: the user's state.
        size: the cell's ``state_size``.
        batch_size: the expected batch size.
        like: a tensor whose dtype and device every leaf must match.
        name: the argument path, for nested messages.
    """
    if size_is_leaf(size):
        if not isinstance(state, Tensor):
            fail(owner, name, "a Tensor", describe(state), kind=TypeError)
        shape = (batch_size, *leaf_shape(size))
        if tuple(state.shape) != shape:
            fail(owner, name, f"of shape {shape}", tuple(state.shape))
        if state.dtype != like.dtype:
            fail(owner, name, f"of dtype {like.dtype} (the input's)", state.dtype, kind=TypeError)
        if state.device != like.device:
            fail(owner, name, f"on device {like.device} (the input's)", state.device)
        return
    if not isinstance(state, tuple) or len(state) != len(size):
        expected = f"{type(size).__name__} of {len(size)} entries" if is_namedtuple(size) else f"a tuple of {len(size)} entries"
        fail(owner, name, expected, describe(state), kind=TypeError)
    fields = getattr(size, "_fields", None)
    for i, (s, z) in enumerate(zip(state, size)):
        check_state(owner, s, z, batch_size, like, f"{name}.{fields[i]}" if fields else f"{name}[{i}]")


def check_matches_parameters(owner: str, name: str, x: Tensor, module: Any) -> None:
    """Check that ``x`` has the dtype and device of ``module``'s parameters.

    Skipped under autocast (which casts on purpose) and for modules without
    parameters.
    """
    params = getattr(module, "parameters", None)
    param = next(iter(params()), None) if callable(params) else None
    if param is None:
        return
    if x.device != param.device:
        fail(owner, name, f"on device {param.device} (the parameters')", x.device)
    if x.dtype != param.dtype and param.is_floating_point() and not torch.is_autocast_enabled(x.device.type):
        fail(owner, name, f"of dtype {param.dtype} (the parameters'); convert with .to({param.dtype}) "
             "or the module with .to(dtype)", x.dtype, kind=TypeError)
