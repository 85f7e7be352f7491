"""Write a model as ONNX, TorchScript or a ``torch.export`` program.

=============  =============================  =========================  ==========================
format         how                            file (load with)           dynamic at run time
=============  =============================  =========================  ==========================
``onnx``       ``torch.onnx.export``          ``.onnx`` (onnxruntime)    batch, time, lengths
               (dynamo exporter, ``scan``)
``exported``   ``torch.export.export``        ``.pt2``                   batch, time, lengths
                                              (``torch.export.load``)
``torchscript`` ``torch.jit.trace`` (loop      ``.pt`` (``torch.jit.load``) batch, lengths; time fixed
               unrolled over the example T)                              to the example's ``T``: another
                                                                         ``T`` raises an error naming both
=============  =============================  =========================  ==========================

Every format takes ``lengths`` as a run-time tensor input (int64 ``(B,)``),
and its outputs equal the eager model's on lengths other than the example's.
Inputs and outputs are flat: the inputs in the order of the model's
``forward`` signature (positional, then ``example_kwargs``), the outputs the
tensors of the model's (nested) result in depth-first order, named for what
they are (``output``, ``h_n``, ``c_n``, see :mod:`rnnkit.export.signature`).
Layouts, names and loading examples per format: ``docs/export.md``.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils import _pytree as pytree

from rnnkit.checks import check_choice, describe, fail
from rnnkit.errors import MissingDependencyError
from rnnkit.export.prepare import prepare_for_export
from rnnkit.export.signature import fixed_time_guard, output_names

FORMATS = ("onnx", "torchscript", "exported")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt", "exported": ".pt2"}
AXES = ("batch", "time")


@dataclass
class ExportInfo:
    """What :func:`export_model` wrote.

    Attributes:
        path: the file.
        format: ``"onnx"``, ``"torchscript"`` or ``"exported"``.
        input_names: the flat inputs, in order.
        output_names: the flat outputs, in order.
        dynamic: input name -> ``{dim: "batch" | "time"}``, the sizes that may
            change at run time (``time`` never for TorchScript).
        fixed_time: the ``T`` a TorchScript file is traced for (None elsewhere).
    """

    path: Path
    format: str
    input_names: list[str]
    output_names: list[str]
    dynamic: dict[str, dict[int, str]] = field(default_factory=dict)
    fixed_time: int | None = None


class FlatIO(nn.Module):
    """``forward(*tensors) -> tuple of tensors``: the model with flat inputs and outputs."""

    def __init__(self, model: nn.Module, n_positional: int, kw_names: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.n_positional = n_positional
        self.kw_names = list(kw_names)

    def forward(self, *tensors: Tensor) -> tuple[Tensor, ...]:
        args = tensors[: self.n_positional]
        kwargs = dict(zip(self.kw_names, tensors[self.n_positional:]))
        return tuple(pytree.tree_leaves(self.model(*args, **kwargs)))


def _input_names(model: nn.Module, n_positional: int, kw_names: Sequence[str]) -> list[str]:
    params = [p for p in inspect.signature(model.forward).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [params[i].name if i < len(params) else f"input_{i}" for i in range(n_positional)]
    return names + list(kw_names)


def _batch_first(model: nn.Module) -> bool:
    """The layout of the first rnnkit layer or drop-in in ``model`` (default batch-first)."""
    for module in model.modules():
        if hasattr(module, "batch_first") and hasattr(module, "input_size"):
            return bool(module.batch_first)
    return True


def default_dynamic(model: nn.Module, names: Sequence[str], tensors: Sequence[Tensor]) -> dict[str, dict[int, str]]:
    """Guess the dynamic sizes: the first input is the sequence, 1-D integer inputs are lengths.

    The sequence (``(B, T, ...)`` or ``(T, B, ...)`` by the model's first
    rnnkit layer's ``batch_first``; token ids ``(B, T)`` alike) gets a
    ``batch`` and a ``time`` axis, 1-D integer tensors a ``batch`` axis. Any
    other input is static; pass ``dynamic=`` to say otherwise.
    """
    bf = _batch_first(model)
    dynamic: dict[str, dict[int, str]] = {}
    for i, (name, t) in enumerate(zip(names, tensors)):
        if i == 0 and t.dim() >= 2:
            dynamic[name] = {0: "batch", 1: "time"} if bf else {0: "time", 1: "batch"}
        elif t.dim() == 1 and not t.is_floating_point():
            dynamic[name] = {0: "batch"}
    return dynamic


def _check_dynamic(dynamic: dict[str, dict[int, str]], names: Sequence[str], tensors: Sequence[Tensor]) -> None:
    owner = "export_model"
    for name, axes in dynamic.items():
        if name not in names:
            fail(owner, "dynamic", f"keyed by input names ({', '.join(names)})", repr(name))
        t = tensors[names.index(name)]
        for dim, axis in axes.items():
            check_choice(owner, f"dynamic[{name!r}][{dim}]", axis, AXES)
            if not 0 <= dim < t.dim():
                fail(owner, f"dynamic[{name!r}]", f"dims of a {t.dim()}-D input", dim)
            if t.shape[dim] < 2:
                fail(owner, f"example input {name!r}", f"of size >= 2 along its dynamic {axis} dim {dim} "
                     "(torch.export specialises sizes 0 and 1)", tuple(t.shape))


def export_model(
    model: nn.Module,
    example_inputs: Sequence[Tensor],
    path: Any,
    format: str = "onnx",
    *,
    example_kwargs: dict[str, Tensor] | None = None,
    dynamic: dict[str, dict[int, str]] | None = None,
    opset_version: int | None = None,
) -> ExportInfo:
    """Export an inference model built from rnnkit layers, cells and drop-ins.

    Args:
        model: the model (left unchanged; an evaluation-mode copy is exported,
            see :func:`rnnkit.export.prepare_for_export`).
        example_inputs: positional tensors for ``model.forward``, e.g.
            ``(x, lengths)`` with ``x`` ``(B, T, F)`` and ``lengths`` ``(B,)`` int64.
        path: the file to write (parent directories are created).
        format: ``"onnx"``, ``"torchscript"`` or ``"exported"`` (see the module docstring).
        example_kwargs: keyword tensors (e.g. ``{"lengths": ...}`` for a drop-in).
        dynamic: input name -> ``{dim: "batch" | "time"}``; default
            :func:`default_dynamic`. Example sizes along dynamic dims must be >= 2.
        opset_version: ONNX opset (default: the exporter's).

    Returns:
        An :class:`ExportInfo`.

    Raises:
        TypeError, ValueError: bad arguments (the message names which).
    """
    owner = "export_model"
    check_choice(owner, "format", format, FORMATS)
    if not isinstance(model, nn.Module):
        fail(owner, "model", "a torch.nn.Module", describe(model), kind=TypeError)
    example_kwargs = dict(example_kwargs or {})
    if not isinstance(example_inputs, (tuple, list)):
        fail(owner, "example_inputs", "a tuple of tensors", describe(example_inputs), kind=TypeError)
    tensors = [*example_inputs, *example_kwargs.values()]
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            fail(owner, f"example input {i}", "a Tensor", describe(t), kind=TypeError)
    path = Path(path)
    if format == "exported" and path.suffix != ".pt2":
        fail(owner, "path", "a file name ending in .pt2 for format='exported' (torch.export.load needs it)",
             str(path))
    if format == "onnx":
        for package in ("onnx", "onnxscript"):
            if importlib.util.find_spec(package) is None:
                raise MissingDependencyError(f"export_model: format='onnx' needs the onnx and onnxscript packages "
                                  f"(pip install onnx onnxscript; onnxruntime to run the file); {package} is missing")
    names = _input_names(model, len(example_inputs), list(example_kwargs))
    dynamic = default_dynamic(model, names, tensors) if dynamic is None else dynamic
    if format == "torchscript":
        dynamic = {n: {d: a for d, a in axes.items() if a != "time"} for n, axes in dynamic.items()}
    _check_dynamic(dynamic, names, tensors)
    prepared = prepare_for_export(model, style="loop" if format == "torchscript" else "scan")
    flat = FlatIO(prepared, len(example_inputs), list(example_kwargs)).eval()
    with torch.no_grad():
        outs = output_names(prepared(*example_inputs, **example_kwargs), model)
    path.parent.mkdir(parents=True, exist_ok=True)
    args = tuple(tensors)
    fixed_time = None
    if format == "torchscript":
        fixed_time = _time_size(model, tensors[0])
        with torch.no_grad():
            traced = torch.jit.trace(flat, args, check_trace=False, strict=False)
        if fixed_time is not None:
            traced = fixed_time_guard(traced, len(args), 1 if _batch_first(model) else 0, fixed_time)
        torch.jit.save(traced, str(path))
    else:
        dims = {axis: torch.export.Dim(axis, min=1, max=1 << 20) for axis in AXES}
        shapes = tuple({d: dims[a] for d, a in dynamic.get(n, {}).items()} or None for n in names)
        if format == "exported":
            program = torch.export.export(flat, args, dynamic_shapes=(shapes,))
            torch.export.save(program, str(path))
        else:
            torch.onnx.export(flat, args, str(path), input_names=names, output_names=outs,
                              dynamic_shapes=(shapes,), opset_version=opset_version, dynamo=True,
                              external_data=False, verbose=False)
    return ExportInfo(path, format, names, outs, dynamic, fixed_time)


def _time_size(model: nn.Module, x: Tensor) -> int | None:
    if x.dim() < 2:
        return None
    return int(x.shape[1] if _batch_first(model) else x.shape[0])
