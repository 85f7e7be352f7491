"""Export mode: a copy of a model whose rnnkit layers trace without host syncs.

:func:`prepare_for_export` deep-copies a model, puts it in evaluation mode and
swaps the class of every rnnkit layer and drop-in in the copy for an
*export variant* (a subclass, the way ``torch.ao`` swaps modules for
quantisation); the original model is never touched. The variants compute the
same function, but

* validate only what is static (ranks, sizes, dtypes, devices): the values of
  ``lengths`` are data, and reading them (``int(lengths.max())``) is a host
  sync that a tracer either bakes in or refuses;
* run every layer through :func:`rnnkit.export.runner.traceable_unroll`
  (all ``T`` steps, masked) instead of a fast path, whose dispatch also reads
  the lengths (the fused kernels themselves are not exportable anyway);
* drop-ins (``rnnkit.LSTM`` ...) always take their reference path (rnnkit
  cells per layer), also without lengths.

Models that call :func:`rnnkit.unroll` directly (not through a layer) keep
its host sync; wrap the cell in :class:`rnnkit.Recurrent` to export them.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.checks import (
    check_choice,
    check_matches_parameters,
    check_sequence_input,
    check_state,
    describe,
    fail,
)
from rnnkit.export.runner import LOOP_STYLES, traceable_unroll
from rnnkit.layers import Layer, Recurrent
from rnnkit.state import State

from rnnkit.dropin.base import DropInRNN


def check_lengths_static(owner: str, lengths: Any, batch_size: Any, like: Tensor) -> Tensor:
    """What can be checked of ``lengths`` without reading its values.

    Args:
        owner: class name for messages.
        lengths: ``(B,)`` integer tensor.
        batch_size: ``B`` (an int or a symbolic size while exporting).
        like: the input; lengths are moved to its device as int64.

    Raises:
        TypeError: not an integer tensor.
        ValueError: not of shape ``(B,)``.
    """
    if not isinstance(lengths, Tensor):
        fail(owner, "lengths", "a 1-D integer Tensor when exporting", describe(lengths), kind=TypeError)
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        fail(owner, "lengths", "an integer tensor", f"dtype {lengths.dtype}", kind=TypeError)
    if lengths.dim() != 1 or lengths.shape[0] != batch_size:
        fail(owner, "lengths", f"of shape ({batch_size},), one length per sequence", tuple(lengths.shape))
    return lengths.to(device=like.device).long()


class ExportLayer:
    """Mixin: :meth:`rnnkit.layers.Layer.forward` with static checks only."""

    def forward(self, inputs: Tensor, state: State | None = None, *, lengths: Any = None) -> tuple[Tensor, State]:
        """As :meth:`rnnkit.layers.Layer.forward` (lengths are not range-checked)."""
        owner = type(self).__name__
        check_sequence_input(owner, inputs, self.input_size, batch_first=self.batch_first)
        check_matches_parameters(owner, "inputs", inputs, self)
        x = inputs.transpose(0, 1) if self.batch_first else inputs
        if lengths is not None:
            lengths = check_lengths_static(owner, lengths, x.shape[1], x)
        if state is not None:
            check_state(owner, state, self.state_size, x.shape[1], x)
        out, final = self.run(x, state, lengths)
        return (out.transpose(0, 1) if self.batch_first else out), final


class ExportRecurrent(ExportLayer):
    """Mixin for :class:`rnnkit.Recurrent`: every call runs :func:`traceable_unroll`."""

    export_style: str = "loop"

    def run(self, x: Tensor, state: State | None, lengths: Tensor | None) -> tuple[Tensor, State]:
        return traceable_unroll(self.cell, x, state, lengths, self.reverse, style=self.export_style)


class ExportDropIn:
    """Mixin for the ``torch.nn`` drop-ins: the reference path with static checks only."""

    def forward(self, input: Any, hx: Any = None, *, lengths: Any = None) -> tuple[Any, Any]:
        """As the drop-in's ``forward`` for padded input (PackedSequence is not exportable)."""
        from rnnkit.dropin.io import check_hx, check_like_parameters, check_padded_input

        owner = type(self).__name__
        if not isinstance(input, Tensor):
            fail(owner, "input", "a padded Tensor when exporting (PackedSequence is not exportable; pass lengths)",
                 describe(input), kind=TypeError)
        x, batched = check_padded_input(owner, input, self.input_size, self.batch_first)
        check_like_parameters(owner, x, self._flat_weights[0])
        B = x.shape[0] if self.batch_first else x.shape[1]
        states = check_hx(owner, hx, self._hx_specs(), self.num_layers * self.num_directions, B, x, batched)
        if lengths is not None:
            lengths = check_lengths_static(owner, lengths, B, x)
        x_tm = x.transpose(0, 1) if self.batch_first else x
        out, final = self._run_layers(x_tm, states, lengths, False)
        out = out.transpose(0, 1) if self.batch_first else out
        if not batched:
            out = out.squeeze(0 if self.batch_first else 1)
            final = tuple(f.squeeze(1) for f in final)
        return out, self._hx_out(final)


_VARIANTS: dict[type, type] = {}


def _variant(cls: type, mixin: type) -> type:
    """The export variant of ``cls`` (a subclass with ``mixin`` first), made once and cached."""
    if cls not in _VARIANTS:
        _VARIANTS[cls] = type(cls.__name__, (mixin, cls), {"__module__": __name__,
                                                           "__qualname__": f"export.{cls.__qualname__}"})
    return _VARIANTS[cls]


def _swap(module: Any, style: str) -> None:
    cls = type(module)
    if cls in _VARIANTS.values():
        return
    if isinstance(module, Recurrent):
        module.__class__ = _variant(cls, ExportRecurrent)
        module.export_style = style
    elif isinstance(module, Layer):
        module.__class__ = _variant(cls, ExportLayer)
    elif isinstance(module, DropInRNN):
        module.__class__ = _variant(cls, ExportDropIn)
        for inner in module._stack.modules():  # the drop-in's layers live outside the module tree
            _swap(inner, style)


def prepare_for_export(model: nn.Module, *, style: str = "scan") -> nn.Module:
    """An evaluation-mode copy of ``model`` whose rnnkit layers are traceable.

    Args:
        model: any ``nn.Module`` built from rnnkit layers, cells and drop-ins.
        style: ``"scan"`` (time dimension dynamic: ``torch.export``/ONNX) or
            ``"loop"`` (time unrolled: ``torch.jit.trace``).

    Returns:
        A deep copy in ``eval()`` mode computing the same outputs (see the
        module docstring); ``model`` itself is unchanged.
    """
    if not isinstance(model, nn.Module):
        fail("prepare_for_export", "model", "a torch.nn.Module", describe(model), kind=TypeError)
    check_choice("prepare_for_export", "style", style, LOOP_STYLES)
    prepared = copy.deepcopy(model).eval()
    for module in list(prepared.modules()):
        _swap(module, style)
    return prepared
