"""The Triton fast path, registered with :mod:`rnnkit.fused` on import.

It runs the built-in families of :data:`FAMILIES` (and :mod:`.wrappers` around
them) on CUDA tensors when Triton imports, in float32, float16 or bfloat16
(float32 state and accumulation), with lengths, ``reverse`` and an initial state,
with exactly :func:`rnnkit.unroll`'s semantics. Elsewhere ``supports`` gives the
reason and the next path (or the reference runner) takes the call.

Test mode: ``TritonPath(allow_interpreter=True)`` also accepts CPU tensors when
the process runs Triton's interpreter (``TRITON_INTERPRET=1`` set before the
kernels are imported). The registered instance never does; tests build their own.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor

from rnnkit.cells.elman import ElmanCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.layernorm import LayerNormLSTMCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.fused import native as _native  # noqa: F401  registered first: torch's kernels (cuDNN on a GPU),
from rnnkit.fused import compiled as _compiled  # noqa: F401  the CPU core, then this path, whoever imports it
from rnnkit.fused import register
from rnnkit.fused.sorting import contiguous_state, run_sorted
from rnnkit.fused.triton.availability import device_reason
from rnnkit.fused.triton.wrappers import wrapper_family
from rnnkit.state import State

DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _lstm() -> tuple[Callable[[Any], Optional[str]], Callable[[Any], Any]]:
    from rnnkit.fused.triton import lstm

    return lstm.lstm_unsupported, lstm.lstm_kernel


def _gru() -> tuple[Callable[[Any], Optional[str]], Callable[[Any], Any]]:
    from rnnkit.fused.triton import gru

    return gru.gru_unsupported, gru.gru_kernel


def _elman() -> tuple[Callable[[Any], Optional[str]], Callable[[Any], Any]]:
    from rnnkit.fused.triton import elman

    return elman.elman_unsupported, elman.elman_kernel


def _layernorm_lstm() -> tuple[Callable[[Any], Optional[str]], Callable[[Any], Any]]:
    from rnnkit.fused.triton import layernorm

    return layernorm.layernorm_lstm_unsupported, layernorm.layernorm_lstm_kernel


def _lazy(load: Callable[[], tuple]) -> tuple[Callable[[Any], Optional[str]], Callable[[Any], Any]]:
    """``(reason, factory)`` that import the family's module (and so Triton) only when called."""
    return (lambda cell: load()[0](cell)), (lambda cell: load()[1](cell))


FAMILIES: dict[type, tuple[Callable[[Any], Optional[str]], Callable[[Any], Any]]] = {
    LSTMCell: _lazy(_lstm),
    GRUCell: _lazy(_gru),
    ElmanCell: _lazy(_elman),
    LayerNormLSTMCell: _lazy(_layernorm_lstm),
}


def _family(cell: Any) -> Optional[tuple[Callable[[Any], Optional[str]], Callable[[Any], Any]]]:
    return FAMILIES.get(type(cell)) or wrapper_family(cell, FAMILIES)


class TritonPath:
    """Fast path running built-in cells' recurrent loop as Triton kernels.

    Args:
        allow_interpreter: test-only: accept CPU tensors under ``TRITON_INTERPRET=1``.
    """

    def __init__(self, allow_interpreter: bool = False) -> None:
        self.allow_interpreter = allow_interpreter
        self.name = "triton-interpreter" if allow_interpreter else "triton"

    def supports(self, cell: Any, x: Tensor, lengths: Optional[Tensor]) -> Optional[str]:
        """None if this path runs the call, else the reason it cannot."""
        family = _family(cell)
        if family is None:
            names = ", ".join(sorted(k.__name__ for k in FAMILIES))
            return (f"the Triton path runs {names} (and Dropout around them, Zoneout around LSTMCell), "
                    f"not {type(cell).__name__}")
        reason = device_reason(x.device.type, self.allow_interpreter)
        if reason is not None:
            return reason
        if torch.is_autocast_enabled(x.device.type):
            return "the Triton path does not run under autocast (give it float16/bfloat16 parameters instead)"
        if x.dtype not in DTYPES:
            return f"the Triton path computes float32, float16 and bfloat16, not {x.dtype}"
        reason = _compiled.operand_reason(cell, x)
        if reason is not None:
            return reason
        return family[0](cell)

    def run(
        self, cell: Any, x: Tensor, state: Optional[State], lengths: Optional[Tensor], reverse: bool
    ) -> tuple[Tensor, State]:
        """:func:`rnnkit.unroll` on validated, time-major arguments."""
        if state is None:
            state = cell.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
        kernel = _family(cell)[1](cell)
        prepare = getattr(kernel, "prepare", None)  # zoneout draws every step's masks in the caller's order
        if prepare is not None:
            state = prepare(x, state, lengths)
        return run_sorted(kernel, x, contiguous_state(state), lengths, reverse)


PATH = TritonPath()
register(PATH)
