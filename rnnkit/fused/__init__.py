"""Fast paths: the same math as :func:`rnnkit.unroll`, run faster.

A fast path is an object with

* ``name: str``,
* ``supports(cell, x, lengths) -> str | None``: None if it can run this call,
  else the reason it cannot (shown to users who ask for ``fused=True``),
* ``run(cell, x, state, lengths, reverse) -> (outputs, final_state)`` on
  validated time-major arguments, with exactly :func:`rnnkit.unroll`'s
  semantics (outputs zero past each length, state carried through).

Paths are tried in registration order (fastest first). ``fused="auto"`` takes
the first that supports the call and falls back to the reference runner;
``fused=True`` raises if none does; ``fused=False`` always uses the reference.
"""

from __future__ import annotations

from typing import Any, Optional, Protocol, Union

from torch import Tensor

from rnnkit.state import State

FusedMode = Union[bool, str]


class FastPath(Protocol):
    name: str

    def supports(self, cell: Any, x: Tensor, lengths: Optional[Tensor]) -> Optional[str]: ...

    def run(
        self, cell: Any, x: Tensor, state: Optional[State], lengths: Optional[Tensor], reverse: bool
    ) -> tuple[Tensor, State]: ...


_PATHS: list[FastPath] = []


def register(path: FastPath, *, first: bool = False) -> None:
    """Add a fast path (``first=True`` puts it ahead of the others)."""
    if any(p.name == path.name for p in _PATHS):
        return
    _PATHS.insert(0, path) if first else _PATHS.append(path)


def registered() -> list[FastPath]:
    """The registered fast paths, in the order they are tried."""
    _load_builtin_paths()
    return list(_PATHS)


def check_fused_mode(owner: str, fused: Any) -> FusedMode:
    """Validate a ``fused`` argument."""
    if not (fused is True or fused is False or (isinstance(fused, str) and fused == "auto")):
        raise ValueError(f"{owner}: fused must be 'auto', True or False, got {fused!r}")
    return fused


def choose(owner: str, cell: Any, x: Tensor, lengths: Optional[Tensor], fused: FusedMode) -> Optional[FastPath]:
    """The fast path to use for this call, or None for the reference runner.

    Raises:
        ValueError: ``fused=True`` and no fast path supports the call.
    """
    if fused is False:
        return None
    reasons = []
    for path in registered():
        reason = path.supports(cell, x, lengths)
        if reason is None:
            return path
        reasons.append(f"{path.name}: {reason}")
    if fused is True:
        detail = "; ".join(reasons) if reasons else "no fast path is available in this installation"
        raise ValueError(f"{owner}: fused=True but no fast path supports this call ({detail}); use fused='auto' "
                         "to fall back to the reference runner")
    return None


_loaded = False


def _load_builtin_paths() -> None:
    """Import the built-in fast-path modules once; each registers itself."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for module in ("rnnkit.fused.native", "rnnkit.fused.compiled", "rnnkit.fused.triton.path", "rnnkit.fused.scan",
                   "rnnkit.fused.cudagraph"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:  # a path not shipped in this build
            if err.name != module:
                raise
