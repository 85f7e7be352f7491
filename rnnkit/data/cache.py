"""A small on-disk cache of parsed arrays (``.npz``), so datasets are parsed once.

The cache directory is ``$RNNKIT_CACHE`` when set, else ``~/.cache/rnnkit``.
Every entry is keyed by a name and a fingerprint of its source files (path,
size, modification time) and a format version, so upgrading a dataset package
re-parses it. Files are written atomically (temporary file, then ``os.replace``)
and read with ``allow_pickle=False``: a cache file never runs code. An entry
that cannot be read is parsed again; a cache directory that cannot be written
only costs the speed-up (a warning says so).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]
Arrays = Dict[str, np.ndarray]

#: Bump when a loader changes what it stores, so stale entries are ignored.
CACHE_FORMAT = 1


def cache_dir(override: Optional[PathLike] = None) -> Path:
    """The directory that holds cached arrays.

    Args:
        override: use this directory instead of ``$RNNKIT_CACHE`` / ``~/.cache/rnnkit``.

    Returns:
        The directory path (not created here).
    """
    if override is not None:
        return Path(override)
    env = os.environ.get("RNNKIT_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "rnnkit"


def fingerprint(files: Iterable[PathLike], *extra: object) -> str:
    """A short hash of the files' paths, sizes and modification times plus ``extra``."""
    h = hashlib.sha1(f"format={CACHE_FORMAT}".encode())
    for f in files:
        st = os.stat(f)
        h.update(f"|{os.path.abspath(f)}|{st.st_size}|{st.st_mtime_ns}".encode())
    for e in extra:
        h.update(f"|{e!r}".encode())
    return h.hexdigest()[:16]


def cache_path(name: str, key: str, directory: Optional[PathLike] = None) -> Path:
    """Where the entry ``name`` with fingerprint ``key`` lives."""
    return cache_dir(directory) / f"{name}-{key}.npz"


def save_arrays(path: PathLike, arrays: Arrays) -> None:
    """Write ``arrays`` to ``path`` as ``.npz`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_arrays(path: PathLike) -> Arrays:
    """Read an ``.npz`` written by :func:`save_arrays` (never unpickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def cached(
    name: str,
    sources: Sequence[PathLike],
    build: Callable[[], Arrays],
    *,
    directory: Optional[PathLike] = None,
    use_cache: bool = True,
    extra: Sequence[object] = (),
) -> Arrays:
    """Return ``build()``'s arrays, from the cache when a valid entry exists.

    Args:
        name: the entry's name (e.g. ``"mnist5k"``).
        sources: the files the arrays are parsed from (their fingerprint is the key).
        build: parses the sources; returns a dict of numeric/bytes arrays.
        directory: the cache directory (default :func:`cache_dir`).
        use_cache: ``False`` always parses and writes nothing.
        extra: more values that change the parsed result (e.g. a split name).

    Returns:
        A dict of arrays.
    """
    if not use_cache:
        return build()
    path = cache_path(name, fingerprint(sources, *extra), directory)
    if path.exists():
        try:
            return load_arrays(path)
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
            warnings.warn(f"rnnkit cache: ignoring unreadable cache file {path} ({err}); parsing again", stacklevel=2)
    arrays = build()
    try:
        save_arrays(path, arrays)
    except OSError as err:
        warnings.warn(f"rnnkit cache: could not write {path} ({err}); set RNNKIT_CACHE to a writable directory", stacklevel=2)
    return arrays


def pack_strings(strings: Sequence[str]) -> Arrays:
    """Pack strings into two arrays (UTF-8 bytes, offsets) that ``.npz`` stores without pickle."""
    encoded: List[bytes] = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
    return {"bytes": blob, "offsets": offsets}


def unpack_strings(blob: np.ndarray, offsets: np.ndarray) -> List[str]:
    """Inverse of :func:`pack_strings`."""
    raw = blob.tobytes()
    return [raw[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(len(offsets) - 1)]


def pack_sequences(sequences: Sequence[np.ndarray]) -> Arrays:
    """Pack arrays ``(T_i, ...)`` into one concatenated array and their lengths."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    values = np.concatenate(sequences, axis=0) if len(sequences) else np.zeros((0,))
    return {"values": values, "lengths": lengths}


def unpack_sequences(values: np.ndarray, lengths: np.ndarray) -> List[np.ndarray]:
    """Inverse of :func:`pack_sequences`."""
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [values[bounds[i] : bounds[i + 1]] for i in range(len(lengths))]
