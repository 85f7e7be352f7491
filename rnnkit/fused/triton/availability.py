"""Whether the Triton path can run here, and why not when it cannot.

Triton decides when a ``@triton.jit`` function is *defined* whether it will be
compiled for a GPU or run by its interpreter (``TRITON_INTERPRET=1``, on CPU
tensors). The kernel modules are therefore imported lazily, and
:func:`interpreted` reports which kind of kernels this process got.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Optional


@functools.lru_cache(maxsize=None)
def triton_missing_reason() -> Optional[str]:
    """None when ``import triton`` works, else why not (cached)."""
    if importlib.util.find_spec("triton") is None:
        return "Triton is not installed (pip install triton)"
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception as err:  # an installed but broken triton: say so, do not crash the caller
        return f"Triton does not import: {type(err).__name__}: {err}"
    return None


KERNEL_MODULES = ("rnnkit.fused.triton.jitmath", "rnnkit.fused.triton.lstm_kernels",
                  "rnnkit.fused.triton.gru_kernels", "rnnkit.fused.triton.elman",
                  "rnnkit.fused.triton.layernorm_kernels")


def import_kernels() -> None:
    """Import every module defining ``@triton.jit`` functions (all get the mode the environment gives now)."""
    import importlib

    for name in KERNEL_MODULES:
        importlib.import_module(name)


def interpreted() -> bool:
    """True when this process's kernels run under Triton's interpreter (decided at their import)."""
    import_kernels()
    from rnnkit.fused.triton import lstm_kernels

    return type(lstm_kernels.lstm_cell_fwd).__name__ == "InterpretedFunction"


def device_reason(device_type: str, allow_interpreter: bool) -> Optional[str]:
    """Why the kernels cannot run on tensors of ``device_type`` (None if they can).

    Args:
        device_type: ``x.device.type``.
        allow_interpreter: the test-only switch: accept CPU tensors when the kernels are interpreted.
    """
    reason = triton_missing_reason()
    if reason is not None:
        return reason
    if device_type == "cuda":
        if interpreted():
            return ("this process imported the Triton kernels under TRITON_INTERPRET=1: they run on the CPU "
                    "only (tests), not on CUDA")
        return None
    if device_type == "cpu" and allow_interpreter:
        if not interpreted():
            return ("the CPU test mode needs TRITON_INTERPRET=1 set before rnnkit.fused.triton's kernels "
                    "are first imported")
        return None
    return f"the Triton path runs on CUDA, not on {device_type}"


def import_kernels_interpreted() -> bool:
    """Test-only: import the kernel modules under ``TRITON_INTERPRET=1`` (then restore the variable), so
    ``TritonPath(allow_interpreter=True)`` runs them on CPU tensors. Returns :func:`interpreted` (False when
    they had already been imported for a GPU in this process)."""
    saved = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"  # before triton's own import too, when this is the first
    try:
        if triton_missing_reason() is not None:
            return False
        import_kernels()
    finally:
        if saved is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = saved
    return interpreted()
