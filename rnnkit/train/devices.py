"""Check a ``--device`` value before anything is built on it: one line that says what to use instead."""

from __future__ import annotations

import torch

from rnnkit.errors import UsageError


def check_device(owner: str, device: str, flag: str = "--device") -> None:
    """Raise :class:`~rnnkit.errors.UsageError` unless ``device`` names a device this machine has.

    Accepted: ``cpu``; ``cuda`` / ``cuda:N`` when CUDA is available and has GPU ``N``;
    ``mps`` when the Metal backend is available.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"{owner}: {flag} must be cpu, cuda, cuda:N or mps, got {device!r}") from None
    if dev.type == "cpu":
        return
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"{owner}: {flag} {device}: CUDA is not available on this machine "
                             f"(torch {torch.__version__}, built {'with' if torch.version.cuda else 'without'} "
                             "CUDA); use --device cpu")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise UsageError(f"{owner}: {flag} {device}: this machine has {count} CUDA device(s) "
                             f"(cuda:0 to cuda:{count - 1})")
        return
    if dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UsageError(f"{owner}: {flag} mps: the Metal (MPS) backend is not available on this machine; "
                             "use --device cpu")
        return
    raise UsageError(f"{owner}: {flag} must be cpu, cuda, cuda:N or mps, got {device!r} (rnnkit runs on those)")
