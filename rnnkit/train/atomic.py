"""Atomic, durable file writes: a crash at any moment leaves either the old
file or the new one, never a mix.

The recipe: write to a temporary file in the *same directory*, flush, fsync,
``os.replace`` it over the target (atomic on POSIX and Windows), then fsync
the directory so the rename itself survives a power cut.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Union

PathLike = Union[str, "os.PathLike[str]"]


def fsync_dir(path: PathLike) -> None:
    """fsync a directory (makes renames/creations in it durable); a no-op where unsupported."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_tmp(directory: Path, data: bytes, prefix: str = ".tmp-") -> Path:
    """Write ``data`` to a new temporary file in ``directory``, flushed and fsynced; return its path."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def commit(tmp: Path, target: Path) -> None:
    """Atomically move ``tmp`` over ``target`` and make the rename durable."""
    os.replace(tmp, target)
    fsync_dir(target.parent)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    target = Path(path)
    tmp = write_tmp(target.parent, data, prefix=f".tmp-{target.name}-")
    try:
        commit(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: PathLike, text: str) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically and durably."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: PathLike, obj: Any) -> None:
    """Replace ``path`` with ``obj`` as indented JSON, atomically and durably."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
