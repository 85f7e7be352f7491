"""Character corpora as memory-mapped token files: tokenised once, in a streaming pass, mapped on reuse.

A corpus (a ``--text`` file or a built-in corpus) becomes, in the cache
directory (:func:`rnnkit.data.cache.cache_dir`), a folder
``corpora/<content hash>/`` holding:

* ``tokens.bin``: one id per character, ``uint8`` when the vocabulary has at
  most 256 characters, ``uint16`` up to 65,536, else ``uint32`` (nanoGPT's
  ``train.bin``, without the train/val cut, which is a cheap view);
* ``vocab.json``: the :class:`~rnnkit.data.text.CharVocab` (the distinct
  characters sorted by code point, as ``CharVocab.from_text`` builds it);
* ``meta.json``: the source, its size, the number of characters, the dtype.

Building reads the text twice in chunks of ``chunk_chars`` characters (one
pass for the vocabulary, one to write ids), so memory stays bounded by the
chunk whatever the corpus size. The text is decoded as
:func:`rnnkit.data.files.read_text_file` decodes it (strict, ``"\\r\\n"`` and
``"\\r"`` -> ``"\\n"``, a leading byte-order mark removed), so the ids equal
``CharVocab.from_text(text).encode(text)`` of the in-memory path.

The key is a SHA-256 of the file's bytes (plus the encoding); a small stat
index (path, size, modification time, inode -> hash) spares re-hashing an
unchanged file, and any change to the file changes the key. Entries are
written to a temporary folder and renamed into place, under a lock file, so
``torchrun`` ranks starting together tokenise once and share one file.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from rnnkit.data.cache import PathLike, cache_dir
from rnnkit.data.errors import DataFileError
from rnnkit.data.text import CharVocab

__all__ = ["TokenCorpus", "corpus_from_file", "corpus_from_chunks", "iter_text_chunks", "file_digest",
           "CORPORA_DIR", "TOKEN_FORMAT"]

CORPORA_DIR = "corpora"
#: Bump when the layout of a corpus entry changes, so stale entries are rebuilt.
TOKEN_FORMAT = 1
CHUNK_CHARS = 1 << 24
_MAX_CODE = 0x110000


@dataclass
class TokenCorpus:
    """A tokenised corpus: ids memory-mapped from the cache, and its vocabulary.

    Attributes:
        tokens: ``(N,)`` read-only ``np.memmap`` of ids (uint8/uint16/uint32).
        vocab: the vocabulary the ids index.
        folder: the cache entry.
        built: True when this call tokenised the text, False when it reused the cache.
        seconds: time spent building (0 when reused).
    """

    tokens: np.ndarray
    vocab: CharVocab
    folder: Path
    built: bool
    seconds: float = 0.0

    def describe(self) -> str:
        """One line: what was cached (or reused), where, and how big."""
        size = (self.folder / "tokens.bin").stat().st_size
        verb = f"tokenised in {self.seconds:.1f} s and cached" if self.built else "reused the cached tokens"
        return (f"{verb}: {len(self.tokens):,} characters, vocabulary {len(self.vocab)}, "
                f"{self.tokens.dtype} ({size / 1e6:.1f} MB) in {self.folder}")


# ---- decoding -----------------------------------------------------------------------------------
def _check_source(path: PathLike, encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise DataFileError(path, None, f"unknown encoding {encoding!r}; use a Python codec name such as 'utf-8' "
                                        "or 'latin-1'") from None
    if Path(path).is_dir():
        raise DataFileError(path, None, "is a directory, expected a file")
    if not Path(path).exists():
        raise FileNotFoundError(f"[Errno 2] No such file or directory: '{path}'")


def _decode_error(path: PathLike, encoding: str, start: int, end: int) -> DataFileError:
    """The error :func:`rnnkit.data.errors.decode_file` gives for bad bytes ``[start, end)``, found by streaming."""
    lines, last_nl, pos = 0, -1, 0
    with open(path, "rb") as fh:
        while pos < start:
            block = fh.read(min(1 << 22, start - pos))
            if not block:
                break
            lines += block.count(b"\n")
            k = block.rfind(b"\n")
            if k >= 0:
                last_nl = pos + k
            pos += len(block)
        fh.seek(start)
        bad = fh.read(end - start).hex(" ")
    return DataFileError(path, lines + 1, f"not valid {encoding}: byte(s) {bad} at byte offset {start} (column "
                                          f"{start - last_nl}); if the file uses another encoding pass encoding=..., "
                                          "e.g. 'latin-1' or 'cp1252'")


def iter_text_chunks(path: PathLike, encoding: str = "utf-8", chunk_bytes: int = CHUNK_CHARS) -> Iterator[str]:
    """The file's text in pieces, decoded exactly as :func:`rnnkit.data.files.read_text_file` decodes it.

    Args:
        path: the file.
        encoding: a Python codec name.
        chunk_bytes: bytes read per piece (memory stays bounded by a few times this).

    Yields:
        Non-empty strings whose concatenation is the whole text (newlines normalised,
        a leading byte-order mark removed).

    Raises:
        DataFileError: bad bytes (file, line, column and byte offset, as ``read_text_file``),
            an unknown encoding, or an empty file.
    """
    _check_source(path, encoding)
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    fed, first, held, any_text = 0, True, "", False
    with open(path, "rb") as fh:
        while True:
            data = fh.read(chunk_bytes)
            final = not data
            try:
                pending = decoder.getstate()[0]
            except (AttributeError, TypeError, IndexError):
                pending = b""
            try:
                text = decoder.decode(data, final=final)
            except UnicodeDecodeError as err:
                base = fed - len(pending)
                raise _decode_error(path, encoding, base + err.start, base + err.end) from None
            fed += len(data)
            if first and text:
                first = False
                if text.startswith("\ufeff"):
                    text = text[1:]
            text = held + text
            held = ""
            if text.endswith("\r") and not final:  # a "\r\n" may straddle two pieces
                text, held = text[:-1], "\r"
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            if text:
                any_text = True
                yield text
            if final:
                break
    if not any_text:
        raise DataFileError(path, None, "the file is empty")


def _codes(text: str) -> np.ndarray:
    """Code points of ``text`` (uint8 for ASCII text, else uint32)."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


# ---- hashing ------------------------------------------------------------------------------------
def file_digest(path: PathLike, *extra: object, index_dir: Optional[Path] = None) -> str:
    """SHA-256 (hex, 32 chars) of the file's bytes and ``extra``; memoised by (path, size, mtime, inode).

    Args:
        path: the file.
        extra: values mixed into the hash (the encoding, a format version).
        index_dir: where the stat -> hash memo lives (none: always hash).
    """
    st = os.stat(path)
    stat_key = hashlib.sha1(f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{extra!r}"
                            .encode()).hexdigest()
    memo = index_dir / f"{stat_key}.hash" if index_dir is not None else None
    if memo is not None and memo.is_file():
        value = memo.read_text().strip()
        if len(value) == 32:
            return value
    h = hashlib.sha256(repr(extra).encode())
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    value = h.hexdigest()[:32]
    if memo is not None:
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            memo.write_text(value)
        except OSError:
            pass  # only the speed-up is lost; the hash itself is right
    return value


# ---- building -----------------------------------------------------------------------------------
@contextmanager
def _locked(lock: Path) -> Iterator[None]:
    """An exclusive lock on ``lock`` (POSIX ``flock``; a no-op where that does not exist)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as fh:
        try:
            import fcntl
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        except ImportError:  # Windows: two processes may both build; the rename keeps one entry
            pass
        yield


def _dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint8 if vocab_size <= 256 else np.uint16 if vocab_size <= 65536 else np.uint32)


def _build(folder: Path, chunks: Callable[[], Iterator[str]], source: dict) -> None:
    """Tokenise ``chunks()`` into ``folder`` (two streaming passes; written to a temporary folder, then renamed)."""
    seen = np.zeros(_MAX_CODE, dtype=bool)
    n = 0
    for text in chunks():
        codes = _codes(text)
        seen[: 256 if codes.dtype == np.uint8 else _MAX_CODE] |= np.bincount(
            codes, minlength=256 if codes.dtype == np.uint8 else _MAX_CODE).astype(bool)
        n += len(codes)
    if n == 0:
        raise ValueError(f"rnnkit: the corpus {source.get('path', source)} has no characters")
    chars = [chr(c) for c in np.flatnonzero(seen)]
    vocab = CharVocab(chars)
    dtype = _dtype_for(len(vocab))
    table = np.zeros(_MAX_CODE, dtype=dtype)  # every code the text holds is in the vocabulary
    table[np.flatnonzero(seen)] = np.arange(len(vocab))
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", suffix=".tmp", dir=folder.parent))
    try:
        written = 0
        with open(tmp / "tokens.bin", "wb") as fh:
            for text in chunks():
                ids = table[_codes(text)]
                fh.write(ids.tobytes())
                written += len(ids)
            fh.flush()
            os.fsync(fh.fileno())
        if written != n:
            raise RuntimeError(f"rnnkit: the corpus changed while it was tokenised ({n} then {written} characters)")
        vocab.save(tmp / "vocab.json")
        meta = {"format": TOKEN_FORMAT, "source": source, "chars": n, "dtype": dtype.name,
                "vocab_size": len(vocab), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _open(folder: Path) -> Optional[tuple[np.ndarray, CharVocab]]:
    """The entry's memory-mapped ids and vocabulary, or None when it is missing or damaged."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != TOKEN_FORMAT:
            return None
        vocab = CharVocab.load(folder / "vocab.json")
        path = folder / "tokens.bin"
        dtype = np.dtype(meta["dtype"])
        if path.stat().st_size != meta["chars"] * dtype.itemsize or len(vocab) != meta["vocab_size"]:
            return None
        return np.memmap(path, dtype=dtype, mode="r", shape=(meta["chars"],)), vocab
    except (OSError, ValueError, KeyError, TypeError):
        return None


def corpus_from_chunks(key: str, chunks: Callable[[], Iterator[str]], source: dict, *,
                       directory: Optional[PathLike] = None) -> TokenCorpus:
    """The token file of the text ``chunks()`` yields, built once under ``key`` and mapped afterwards.

    Args:
        key: the content key (e.g. a hash of the source bytes); equal keys must mean equal text.
        chunks: a function returning a fresh iterator over the text's pieces (called twice when building).
        source: JSON-able description of the source, kept in ``meta.json``.
        directory: the cache directory (default :func:`~rnnkit.data.cache.cache_dir`).

    Returns:
        The :class:`TokenCorpus`.
    """
    root = cache_dir(directory) / CORPORA_DIR
    folder = root / key
    found = _open(folder)
    if found is not None:
        return TokenCorpus(found[0], found[1], folder, built=False)
    t0 = time.perf_counter()
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=root, prefix=".probe-")
        probe.close()
    except OSError as err:
        raise ValueError(f"rnnkit: cannot write the token cache in {root} ({err.strerror or err}); "
                         "set RNNKIT_CACHE to a writable directory") from None
    with _locked(root / f"{key}.lock"):
        found = _open(folder)  # another process may have built it while we waited
        if found is None:
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)  # damaged or stale: rebuild
            _build(folder, chunks, source)
            found = _open(folder)
            built = True
        else:
            built = False
    try:
        (root / f"{key}.lock").unlink()
    except OSError:
        pass
    if found is None:
        raise RuntimeError(f"rnnkit: could not read back the token file just written in {folder}")
    return TokenCorpus(found[0], found[1], folder, built=built, seconds=time.perf_counter() - t0 if built else 0.0)


def corpus_from_file(path: PathLike, encoding: str = "utf-8", *, directory: Optional[PathLike] = None,
                     chunk_bytes: int = CHUNK_CHARS) -> TokenCorpus:
    """The token file of a text file (see the module docstring); tokenised on first use only.

    Args:
        path: a text file (any size).
        encoding: its encoding.
        directory: the cache directory.
        chunk_bytes: bytes decoded per piece when building.

    Raises:
        DataFileError: as :func:`rnnkit.data.files.read_text_file` (bad bytes, empty file ...).
    """
    _check_source(path, encoding)
    root = cache_dir(directory) / CORPORA_DIR
    key = file_digest(path, "text", codecs.lookup(encoding).name, TOKEN_FORMAT, index_dir=root / "stat")
    source = {"kind": "file", "path": os.path.abspath(path), "bytes": os.path.getsize(path), "encoding": encoding}
    return corpus_from_chunks(key, lambda: iter_text_chunks(path, encoding, chunk_bytes), source,
                              directory=directory)
