"""Argument handling shared by the ``torch.nn`` drop-ins: input and ``hx``
validation (with the project's error wording), ``hx`` layout conversion, and
packing of reference-path outputs back into a :class:`PackedSequence`.

Shape and device errors are :class:`rnnkit.checks.ShapeError` (a
``ValueError`` and a ``RuntimeError``, the type ``torch.nn`` raises), dtype
errors :class:`rnnkit.checks.DtypeError` (a ``TypeError`` and a
``ValueError``, ``torch.nn``'s type), so code written against ``torch.nn``
catches them unchanged.

Internally a drop-in carries its states as a tuple of ``(L*D, B, ·)``
tensors: ``(h,)`` for GRU/RNN, ``(h, c)`` for LSTM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from rnnkit.checks import DtypeError, ShapeError, check_tensor, describe, fail

HxSpec = tuple[str, int]
"""``(argument name, size of the last dimension)`` of one ``hx`` tensor."""


def check_padded_input(owner: str, value: Any, input_size: int, batch_first: bool) -> tuple[Tensor, bool]:
    """Validate a padded input; return it batched (3-D) and whether it was.

    Args:
        owner: class name for messages.
        value: ``(T, B, I)`` / ``(B, T, I)``, or unbatched ``(T, I)``.
        input_size: ``I``.
        batch_first: the module's layout.
    """
    if isinstance(value, torch.Tensor) and not value.is_floating_point():  # torch.nn: ValueError (dtype mismatch)
        fail(owner, "input", "a floating-point tensor", f"dtype {value.dtype}", kind=DtypeError)
    check_tensor(owner, "input", value)
    if value.dim() not in (2, 3) or value.shape[-1] != input_size:
        layout = "(B, T, {0})" if batch_first else "(T, B, {0})"
        fail(owner, "input", f"of shape {layout.format(input_size)} or unbatched (T, {input_size})",
             tuple(value.shape), kind=ShapeError)
    batched = value.dim() == 3
    return (value if batched else value.unsqueeze(0 if batch_first else 1)), batched


def check_packed_input(owner: str, packed: PackedSequence, input_size: int) -> Tensor:
    """Validate a PackedSequence's data ``(N, I)`` and return it."""
    if isinstance(packed.data, torch.Tensor) and not packed.data.is_floating_point():
        fail(owner, "input.data", "a floating-point tensor", f"dtype {packed.data.dtype}", kind=DtypeError)
    check_tensor(owner, "input.data", packed.data)
    if packed.data.dim() != 2 or packed.data.shape[1] != input_size:
        fail(owner, "input.data (PackedSequence)", f"of shape (N, {input_size})", tuple(packed.data.shape),
             kind=ShapeError)
    if packed.batch_sizes.numel() == 0 or packed.data.shape[0] == 0:
        fail(owner, "input (PackedSequence)", "a packed batch with at least one time step",
             f"batch_sizes of shape {tuple(packed.batch_sizes.shape)} and data of shape {tuple(packed.data.shape)}",
             kind=ShapeError)
    return packed.data


def check_like_parameters(owner: str, x: Tensor, param: Tensor) -> None:
    """The input must share the parameters' dtype (unless autocast is on) and device."""
    if x.dtype != param.dtype and not torch.is_autocast_enabled(x.device.type):
        fail(owner, "input", f"of dtype {param.dtype} (the parameters' dtype; convert the input or the module)",
             x.dtype, kind=DtypeError)
    if x.device != param.device:
        fail(owner, "input", f"on device {param.device} (the parameters' device)", x.device, kind=ShapeError)


def check_hx(
    owner: str,
    hx: Any,
    specs: Sequence[HxSpec],
    num_states: int,
    batch_size: int,
    like: Tensor,
    batched: bool,
) -> Optional[tuple[Tensor, ...]]:
    """Validate ``hx`` and return it as a tuple of batched ``(L*D, B, ·)`` tensors.

    Args:
        owner: class name for messages.
        hx: None, a Tensor (one spec) or a tuple of Tensors (several specs).
        specs: name and last-dimension size of each tensor.
        num_states: ``L*D``.
        batch_size: ``B``.
        like: the input (dtype and device to match).
        batched: False for unbatched input, whose ``hx`` has no batch dimension.
    """
    if hx is None:
        return None
    if len(specs) == 1:
        tensors: Sequence[Any] = (hx,)
    else:
        if not isinstance(hx, (tuple, list)) or len(hx) != len(specs):
            names = ", ".join(name for name, _ in specs)
            fail(owner, "hx", f"a tuple ({names})", describe(hx), kind=TypeError)
        tensors = hx
    out = []
    for (name, size), t in zip(specs, tensors):
        if not isinstance(t, Tensor):
            fail(owner, name, "a Tensor", describe(t), kind=TypeError)
        shape = (num_states, batch_size, size) if batched else (num_states, size)
        if tuple(t.shape) != shape:
            layout = "(num_layers * num_directions, B, {})" if batched else "(num_layers * num_directions, {})"
            fail(owner, name, f"of shape {shape} = {layout.format(size)}", tuple(t.shape), kind=ShapeError)
        if t.dtype != like.dtype:
            fail(owner, name, f"of dtype {like.dtype} (the input's)", t.dtype, kind=DtypeError)
        if t.device != like.device:
            fail(owner, name, f"on device {like.device} (the input's)", t.device, kind=ShapeError)
        out.append(t if batched else t.unsqueeze(1))
    return tuple(out)


def zero_hx(specs: Sequence[HxSpec], num_states: int, batch_size: int, like: Tensor) -> tuple[Tensor, ...]:
    """Zero states ``(L*D, B, size)`` for each spec."""
    return tuple(like.new_zeros((num_states, batch_size, size)) for _, size in specs)


def permute_hx(hx: tuple[Tensor, ...], index: Optional[Tensor]) -> tuple[Tensor, ...]:
    """Reorder the batch dimension of every state tensor (``index`` None: unchanged)."""
    if index is None:
        return hx
    return tuple(t.index_select(1, index.to(t.device)) for t in hx)


def repack(out: Tensor, batch_sizes: Tensor, sorted_indices: Optional[Tensor]) -> Tensor:
    """Packed data of a padded time-major output in the user's batch order.

    Args:
        out: ``(T, B, O)`` with ``T == len(batch_sizes)``, batch in the order
            ``pad_packed_sequence`` returns (the user's).
        batch_sizes: the PackedSequence's ``batch_sizes`` (CPU int64).
        sorted_indices: the PackedSequence's ``sorted_indices`` or None.

    Returns:
        ``(N, O)`` rows in packed order, matching ``batch_sizes``.
    """
    if sorted_indices is not None:
        out = out.index_select(1, sorted_indices.to(out.device))
    mask = torch.arange(out.shape[1]).unsqueeze(0) < batch_sizes.unsqueeze(1)
    return out[mask.to(out.device)]
