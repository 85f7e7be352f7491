r"""The TF1 ops that surround RNN code in the tutorials, as eager torch functions
with TF1's names, arguments and semantics.

Only what the classic TF1 RNN tutorials use (row-by-row MNIST, sentiment,
the ``rnn_cell`` basics): tensors (``constant``, ``Variable``,
``random_normal``, ``zeros``), shapes (``reshape``, ``transpose``,
``unstack``, ``stack``, ``concat``), math (``matmul``, ``reduce_mean``,
``reduce_sum``, ``argmax``, ``equal``, ``cast``, ``round``), and under
:mod:`rnnkit.compat.v1.nn`, ``losses``, ``train`` and ``layers`` the losses,
optimizers and a dense layer. Everything else: ``docs/porting-tf1.md`` maps
TF1 to torch side by side.

There are no placeholders, sessions or graphs: every op runs at once on
tensors (numpy arrays are accepted where TF accepted them). ``axis``
follows TF (``None`` = all axes); ``Variable`` returns a
``torch.nn.Parameter``.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from rnnkit.checks import describe, fail

_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64,
           "int32": torch.int32, "int64": torch.int64, "bool": torch.bool, "uint8": torch.uint8}


def dtype_of(owner: str, dtype: Any) -> Optional[torch.dtype]:
    """Any dtype TF1 code passes (``tf.float32``, ``np.int32``, ``"int64"``) as a ``torch.dtype``."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    except TypeError:
        name = None
    if isinstance(name, str) and name.removeprefix("tf.") in _DTYPES:
        return _DTYPES[name.removeprefix("tf.")]
    fail(owner, "dtype", "a dtype (tf.float32, np.int32, 'int64', ...)", describe(dtype), kind=TypeError)
    raise AssertionError  # pragma: no cover


def convert_to_tensor(value: Any, dtype: Any = None) -> Tensor:
    """``tf.convert_to_tensor``: tensors pass through (cast if ``dtype``); arrays and lists become tensors.

    A float64 numpy array becomes float32 unless ``dtype`` says otherwise, as TF1 code expects.
    """
    dt = dtype_of("convert_to_tensor", dtype)
    if isinstance(value, Tensor):
        return value if dt is None else value.to(dt)
    t = torch.as_tensor(np.asarray(value))
    if dt is None and t.dtype == torch.float64:
        dt = torch.float32
    return t if dt is None else t.to(dt)


def constant(value: Any, dtype: Any = None, shape: Optional[Sequence[int]] = None, name: Any = None) -> Tensor:
    """``tf.constant``: a scalar ``value`` with ``shape`` fills it (default float32 for Python floats)."""
    dt = dtype_of("constant", dtype)
    if shape is not None and np.ndim(value) == 0:
        if dt is None:
            dt = torch.float32 if isinstance(value, float) else None
        return torch.full(tuple(shape), value, dtype=dt)
    t = convert_to_tensor(value, dt)
    return t.reshape(tuple(shape)) if shape is not None else t


def zeros(shape: Sequence[int], dtype: Any = torch.float32, name: Any = None) -> Tensor:
    """``tf.zeros``."""
    return torch.zeros(tuple(shape), dtype=dtype_of("zeros", dtype))


def random_normal(shape: Sequence[int], mean: float = 0.0, stddev: float = 1.0, dtype: Any = torch.float32,
                  seed: Optional[int] = None, name: Any = None) -> Tensor:
    """``tf.random_normal`` (``seed`` seeds a private generator; default: torch's global RNG)."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    return torch.randn(tuple(shape), generator=g, dtype=dtype_of("random_normal", dtype)) * stddev + mean


def random_uniform(shape: Sequence[int], minval: float = 0.0, maxval: Optional[float] = None,
                   dtype: Any = torch.float32, seed: Optional[int] = None, name: Any = None) -> Tensor:
    """``tf.random_uniform``: U[minval, maxval) (``maxval`` default 1 for floats)."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    hi = 1.0 if maxval is None else maxval
    return torch.rand(tuple(shape), generator=g, dtype=dtype_of("random_uniform", dtype)) * (hi - minval) + minval


def Variable(initial_value: Any, trainable: bool = True, name: Any = None, dtype: Any = None) -> torch.nn.Parameter:
    """``tf.Variable``: a ``torch.nn.Parameter`` (give it to an optimizer, or let ``minimize`` find it)."""
    return torch.nn.Parameter(convert_to_tensor(initial_value, dtype).detach().clone(), requires_grad=trainable)


def matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False, name: Any = None) -> Tensor:
    """``tf.matmul``."""
    a, b = convert_to_tensor(a), convert_to_tensor(b)
    return torch.matmul(a.transpose(-1, -2) if transpose_a else a, b.transpose(-1, -2) if transpose_b else b)


def reshape(tensor: Any, shape: Sequence[int], name: Any = None) -> Tensor:
    """``tf.reshape`` (``-1`` infers one dimension)."""
    return convert_to_tensor(tensor).reshape(tuple(int(s) for s in shape))


def transpose(a: Any, perm: Optional[Sequence[int]] = None, name: Any = None) -> Tensor:
    """``tf.transpose``: reverses the axes unless ``perm`` is given."""
    a = convert_to_tensor(a)
    return a.permute(*(perm if perm is not None else reversed(range(a.dim()))))


def unstack(value: Any, num: Optional[int] = None, axis: int = 0, name: Any = None) -> list[Tensor]:
    """``tf.unstack``: a list of tensors along ``axis`` (``num``, if given, must match)."""
    value = convert_to_tensor(value)
    if num is not None and value.shape[axis] != num:
        fail("unstack", "num", f"the size of axis {axis} ({value.shape[axis]})", num)
    return list(value.unbind(axis))


def stack(values: Sequence[Any], axis: int = 0, name: Any = None) -> Tensor:
    """``tf.stack``."""
    return torch.stack([convert_to_tensor(v) for v in values], axis)


def concat(values: Sequence[Any], axis: int, name: Any = None) -> Tensor:
    """``tf.concat``."""
    return torch.cat([convert_to_tensor(v) for v in values], axis)


def _reduce(fn: Any, x: Any, axis: Any, keepdims: bool) -> Tensor:
    x = convert_to_tensor(x)
    if axis is None:
        out = fn(x)
        return out.reshape([1] * x.dim()) if keepdims else out
    return fn(x, dim=tuple(axis) if isinstance(axis, (list, tuple)) else axis, keepdim=keepdims)


def reduce_mean(input_tensor: Any, axis: Any = None, keepdims: bool = False, name: Any = None) -> Tensor:
    """``tf.reduce_mean`` (``axis=None``: over everything). Integer tensors average in float, unlike TF."""
    x = convert_to_tensor(input_tensor)
    return _reduce(torch.mean, x if x.is_floating_point() else x.float(), axis, keepdims)


def reduce_sum(input_tensor: Any, axis: Any = None, keepdims: bool = False, name: Any = None) -> Tensor:
    """``tf.reduce_sum``."""
    return _reduce(torch.sum, input_tensor, axis, keepdims)


def argmax(input: Any, axis: int = 0, output_type: Any = torch.int64, name: Any = None) -> Tensor:
    """``tf.argmax`` (TF1's default ``axis`` is 0)."""
    return convert_to_tensor(input).argmax(axis).to(dtype_of("argmax", output_type))


def equal(x: Any, y: Any, name: Any = None) -> Tensor:
    """``tf.equal``: elementwise, with broadcasting; a bool tensor."""
    return torch.eq(convert_to_tensor(x), convert_to_tensor(y))


def cast(x: Any, dtype: Any, name: Any = None) -> Tensor:
    """``tf.cast`` (float -> int truncates toward zero, as TF)."""
    return convert_to_tensor(x).to(dtype_of("cast", dtype))


def round(x: Any, name: Any = None) -> Tensor:  # noqa: A001 - TF's name
    """``tf.round``: half to even, as TF."""
    return torch.round(convert_to_tensor(x))


sigmoid = torch.sigmoid
tanh = torch.tanh

__all__ = ["convert_to_tensor", "constant", "zeros", "random_normal", "random_uniform", "Variable", "matmul", "reshape", "transpose",
           "unstack", "stack", "concat", "reduce_mean", "reduce_sum", "argmax", "equal", "cast", "round",
           "sigmoid", "tanh"]
