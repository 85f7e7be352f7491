"""The drop-ins and the tools built around ``torch.nn``'s own RNN classes.

``rnnkit.LSTM``/``GRU``/``RNN`` are **not** subclasses of ``torch.nn.LSTM``
& co. (see the README's "torch.nn drop-ins" for why). Tools that need torch's
class (``torch.ao.quantization.quantize_dynamic``, libraries that swap
``nn.LSTM`` for their own) get one through
:func:`to_torch`: a ``torch.nn`` module with the same configuration and a copy
of the weights. :func:`from_torch` goes the other way. ``torch.jit.script``
on a drop-in stops with :class:`NotScriptableError`, which says what to use
(tracing and ``torch.export`` work; with torch 2.13 even ``torch.nn.LSTM``
does not script).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from rnnkit.checks import fail

TORCH_CLASSES: dict[str, type] = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}


class NotScriptableError(RuntimeError):
    """``torch.jit.script`` was asked to compile a drop-in."""


def _config(module: Any, kind: str) -> dict[str, Any]:
    config = {k: getattr(module, k) for k in ("input_size", "hidden_size", "num_layers", "bias", "batch_first",
                                             "dropout", "bidirectional")}
    if kind == "LSTM":
        config["proj_size"] = module.proj_size
    if kind == "RNN":
        config["nonlinearity"] = module.nonlinearity
    return config


def to_torch(module: Any) -> nn.Module:
    """A ``torch.nn.LSTM``/``GRU``/``RNN`` with ``module``'s configuration and a copy of its weights.

    Same device, dtype and train/eval mode. The result has no ``lengths``
    argument (pack a ``PackedSequence`` instead) and does not share
    parameters with ``module``.
    """
    kind = type(module).__name__
    first = next(iter(module.parameters()))
    out = TORCH_CLASSES[kind](**_config(module, kind), device=first.device, dtype=first.dtype)
    out.load_state_dict(module.state_dict())
    return out.train(module.training)


def from_torch(cls: type, module: Any, **kwargs: Any) -> Any:
    """An rnnkit drop-in of class ``cls`` with ``module``'s configuration and a copy of its weights.

    Args:
        cls: ``rnnkit.LSTM``, ``rnnkit.GRU`` or ``rnnkit.RNN``.
        module: an instance of the matching ``torch.nn`` class.
        **kwargs: extra drop-in arguments (``fused=...``).

    Raises:
        TypeError: when ``module`` is not an instance of the matching ``torch.nn`` class.
    """
    kind = cls.__name__
    torch_cls = TORCH_CLASSES[kind]
    if not isinstance(module, torch_cls):
        fail(f"{kind}.from_torch", "module", f"a torch.nn.{kind}", f"{type(module).__module__}.{type(module).__name__}",
             kind=TypeError)
    first = next(iter(module.parameters()))
    out = cls(**_config(module, kind), device=first.device, dtype=first.dtype, **kwargs)
    out.load_state_dict(module.state_dict())
    return out.train(module.training)


def refuse_script(module: Any) -> None:
    """Raise :class:`NotScriptableError` naming the alternatives."""
    kind = type(module).__name__
    raise NotScriptableError(
        f"rnnkit.{kind} cannot be compiled by torch.jit.script: its forward chooses a fast path in Python "
        f"(lengths, PackedSequence, compiled kernels). Use torch.jit.trace, torch.export or "
        f"rnnkit.export.export_model(..., format='torchscript'|'exported'|'onnx'), where lengths stay a runtime input")
