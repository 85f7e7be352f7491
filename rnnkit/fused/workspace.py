"""The compiled kernels' buffer pool: what it holds, and a way to free it.

The compiled core keeps its big per-call buffers (saved gates, gradient rows: 256 KiB and up)
between calls and hands one out again only when no tensor uses it any more, because glibc
returns freed blocks of that size to the OS and every training step would otherwise pay a
page fault per 4 KiB page to get them back (with the pool off vs on, same run: S4 training of
a peephole LSTM 75.1 vs 68.4 ms, of a layer-norm LSTM 93.5 vs 79.0 ms; S1/S2 within the noise;
``benchmarks/README.md``). It works like torch's CUDA caching allocator:

* the pool holds at most ``RNNKIT_WORKSPACE_MB`` megabytes (default 1024; ``0`` turns it
  off), read at each kernel call;
* :func:`release_workspace` frees the buffers nobody uses (as ``torch.cuda.empty_cache``).

Example:
    >>> import rnnkit.fused.workspace as ws
    >>> freed = ws.release_workspace()  # e.g. after training, before a memory-hungry evaluation
"""

from __future__ import annotations

from rnnkit.fused import build


def _ask(function: str) -> int:
    """``function()`` of the extension if it is already loaded, else 0 (these calls never trigger a build)."""
    module = build._module
    return int(getattr(module, function)()) if module is not None else 0


def workspace_bytes() -> int:
    """Bytes the pool holds, in use or free (0 if the compiled core is not loaded)."""
    return _ask("workspace_bytes")


def workspace_free_bytes() -> int:
    """Bytes of the pool that no tensor uses: what :func:`release_workspace` would free."""
    return _ask("workspace_free_bytes")


def workspace_limit() -> int:
    """The pool's limit in bytes (``RNNKIT_WORKSPACE_MB``); 0 if the compiled core is not loaded."""
    return _ask("workspace_limit")


def release_workspace() -> int:
    """Free the pooled buffers no tensor uses; returns the bytes freed."""
    return _ask("release_workspace")
