"""Build (just in time) and load rnnkit's compiled kernels.

The C++ sources in ``rnnkit/fused/csrc`` are compiled on first use with
:func:`torch.utils.cpp_extension.load` (needs a C++ compiler and the ``ninja``
package) and cached in torch's extension directory
(``$TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``), so later
processes load the cached library in about a second. The library's name
holds a hash of the sources, torch's version and the CPU's vector
capability, so another torch or machine sharing the cache gets its own
build; torch itself rebuilds (incrementally) when a source changed.

If the build is impossible (no compiler, no ninja, a build error) or the
environment sets ``RNNKIT_NO_COMPILE=1``, :func:`load` returns None, one
warning says that rnnkit uses the slower reference path, and everything
else keeps working.
"""

from __future__ import annotations

import hashlib
import os
import platform
import threading
import warnings
from pathlib import Path
from types import ModuleType
from typing import Optional

import torch

CSRC = Path(__file__).resolve().parent / "csrc"
SOURCES = ("module.cpp", "lstm_forward.cpp", "lstm_backward.cpp", "gru.cpp", "elman.cpp", "lnlstm.cpp", "masks.cpp",
           "workspace.cpp")
HEADERS = ("densegemm.h", "fastmath.h", "lstm_rules.h", "stepgemm.h", "workspace.h")
ENV_DISABLE = "RNNKIT_NO_COMPILE"

_lock = threading.Lock()
_module: Optional[ModuleType] = None
_error: Optional[str] = None
_warned = False


def _flags() -> list[str]:
    flags = ["-O3", "-fopenmp-simd", "-fno-math-errno"]
    if platform.machine().lower() in ("x86_64", "amd64") and platform.system() == "Linux":
        flags.append("-march=native")  # built on the machine that runs it
    return flags


def _name(flags: list[str]) -> str:
    digest = hashlib.sha256()
    capability = torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else ""
    digest.update(" ".join([torch.__version__, capability, platform.machine(), *flags, *SOURCES]).encode())
    return "rnnkit_fused_" + digest.hexdigest()[:16]


def disabled_reason() -> Optional[str]:
    """Why the compiled kernels are off by request (``RNNKIT_NO_COMPILE``), else None."""
    if os.environ.get(ENV_DISABLE, "").strip() not in ("", "0"):
        return f"the compiled core is disabled by {ENV_DISABLE}={os.environ[ENV_DISABLE]}"
    return None


def _warn_once(reason: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"rnnkit: {reason}; cells the compiled core would run use the slower reference runner",
                      RuntimeWarning, stacklevel=3)


def load(verbose: bool = False) -> Optional[ModuleType]:
    """The compiled extension, building it on first call; None if unavailable.

    Args:
        verbose: show the compiler's output.

    Returns:
        The extension module, or None (see :func:`unavailable_reason`).
    """
    global _module, _error
    reason = disabled_reason()
    if reason is not None:
        _warn_once(reason)
        return None
    if _module is not None or _error is not None:
        if _error is not None:
            _warn_once(_error)
        return _module
    with _lock:
        if _module is None and _error is None:
            try:
                from torch.utils import cpp_extension

                flags = _flags()
                name = _name(flags)
                headers = hashlib.sha256(b"".join((CSRC / h).read_bytes() for h in HEADERS)).hexdigest()[:12]
                _module = cpp_extension.load(
                    name=name,
                    sources=[str(CSRC / s) for s in SOURCES],
                    extra_cflags=[*flags, f"-DRNNKIT_HEADERS={headers}"],  # a header edit rebuilds
                    extra_include_paths=[str(CSRC)],
                    verbose=verbose,
                )
            except Exception as err:  # noqa: BLE001 - no compiler, no ninja, a build error: fall back
                first = str(err).strip().splitlines()
                _error = f"the compiled core could not be built ({type(err).__name__}: {first[0] if first else ''})"
    if _error is not None:
        _warn_once(_error)
    return _module


def unavailable_reason() -> Optional[str]:
    """None if :func:`load` gives the extension (building it if needed), else why not."""
    if load() is not None:
        return None
    return disabled_reason() or _error or "the compiled core is unavailable"
