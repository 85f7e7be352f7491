"""What a first build of the compiled core prints: one line saying what and where, then progress.

torch's extension builder runs ninja silently (unless verbose); this watches the
build directory instead: each finished translation unit leaves an object file
(``*.o``), so ``k/n files`` is real progress. On a terminal one line is
rewritten in place every second; into a log file (not a terminal) a line is
written every 15 s, so a log of a long build shows it alive without flooding.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Optional, TextIO

IDLE_SECONDS = "under a minute on 2 idle cores, a few minutes on a busy machine"
LOG_EVERY_S = 15.0


class BuildProgress:
    """Announce a build of the compiled core and report its progress on ``stream`` (stderr).

    Args:
        where: the build directory (object files appear there).
        total: how many translation units the build compiles.
        compiler: the compiler's version line, for the announcement.
        cpu: the CPU the flags target (e.g. ``rocketlake``), '' if unknown.
        stream: where to print (default ``sys.stderr``).
    """

    def __init__(self, where: Path, total: int, compiler: str, cpu: str, stream: Optional[TextIO] = None) -> None:
        self.where, self.total, self.compiler, self.cpu = where, total, compiler, cpu
        self.stream = stream if stream is not None else sys.stderr
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._t0 = 0.0

    def _tty(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty()) and os.environ.get("TERM", "") != "dumb"

    def _print(self, text: str, end: str = "\n") -> None:
        try:
            self.stream.write(text + end)
            self.stream.flush()
        except (OSError, ValueError):  # a closed stream must not break the build
            pass

    def done_files(self) -> int:
        """Object files in the build directory (those of an interrupted earlier build count: ninja keeps them)."""
        try:
            return sum(1 for _ in self.where.glob("*.o"))
        except OSError:
            return 0

    def start(self) -> None:
        """Print the announcement and start the progress thread."""
        self._t0 = time.time()
        target = f", for this CPU ({self.cpu})" if self.cpu else ""
        self._print(f"rnnkit: building the compiled C++ core once for this environment ({self.total} files with "
                    f"{self.compiler or 'the C++ compiler'}{target}; {IDLE_SECONDS}) in {self.where}; "
                    f"`rnnkit build-core` does this ahead of time")
        self._thread = threading.Thread(target=self._run, name="rnnkit-build-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        tty = self._tty()
        last_log = time.time()
        while not self._stop.wait(1.0):
            elapsed = time.time() - self._t0
            line = f"rnnkit: compiled core {min(self.done_files(), self.total)}/{self.total} files, {elapsed:.0f} s"
            if tty:
                self._print("\r" + line, end="")
            elif time.time() - last_log >= LOG_EVERY_S:
                last_log = time.time()
                self._print(line)

    def stop(self, ok: bool) -> float:
        """Stop the progress thread and print the outcome; returns the seconds the build took."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        elapsed = time.time() - self._t0
        prefix = "\r" if self._tty() else ""
        if ok:
            self._print(f"{prefix}rnnkit: compiled core built in {elapsed:.0f} s" + " " * 20)
        else:
            self._print(f"{prefix}rnnkit: building the compiled core failed after {elapsed:.0f} s" + " " * 20)
        return elapsed
