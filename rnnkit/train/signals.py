"""SIGINT/SIGTERM -> "stop after this step and save a checkpoint".

Inside :class:`GracefulStop` the first SIGINT or SIGTERM only sets a flag; the
Trainer checks it after every step, writes a final checkpoint and exits. A
second SIGINT raises ``KeyboardInterrupt`` at once (for an impatient Ctrl-C).
Handlers are installed only in the main thread and restored on exit.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any, Optional


class GracefulStop:
    """Context manager that records SIGINT/SIGTERM in :attr:`signal_name`."""

    def __init__(self) -> None:
        self.signal_name: Optional[str] = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """True once a stop signal arrived."""
        return self.signal_name is not None

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
