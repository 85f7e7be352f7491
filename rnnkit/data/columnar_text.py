"""The fast path for labelled text tables (``sentiment``): pandas' C parser, the result cached by content hash.

:func:`rnnkit.data.files.read_labelled_table` first asks :func:`read_labelled_fast`,
which follows the rules of :mod:`rnnkit.data.columnar`: the exact result of the
strict reader for a plainly clean CSV/TSV file, else ``None`` and the strict
reader reads it (and reports any bad row by file and line). Files with quote
characters are declined (most CSVs of free text quote their fields: those are
read strictly, and their parse is not cached); JSONL is always read strictly.
"""

from __future__ import annotations

import codecs
from contextlib import closing
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from rnnkit.data import columnar
from rnnkit.data.cache import PathLike, pack_strings, unpack_strings
from rnnkit.data.errors import ReadReport

__all__ = ["read_labelled_fast"]

_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}


def _separator(path: PathLike, fmt: Optional[str]) -> str:
    """The field separator the strict reader would use, or decline (JSONL, an unknown suffix)."""
    if fmt is not None:
        if fmt in ("csv", "tsv"):
            return "," if fmt == "csv" else "\t"
        raise columnar._Declined(f"format {fmt!r}")
    name = str(path).lower()
    name = name[:-3] if name.endswith(".gz") else name
    sep = _SUFFIXES.get(Path(name).suffix)
    if sep is None:
        raise columnar._Declined("not a .csv / .tsv file")
    return sep


def read_labelled_fast(path: PathLike, text_column: str, label_column: str, *, format: Optional[str] = None,
                       encoding: str = "utf-8") -> Optional[Tuple[List[str], np.ndarray, ReadReport]]:
    """``read_labelled_table``'s result for a clean CSV/TSV file, or None (read it strictly)."""
    try:
        sep = _separator(path, format)
        columnar._check_source(path, encoding)
        header = columnar._header(path, encoding, sep)
    except (columnar._Declined, UnicodeDecodeError, OSError, LookupError) as err:
        columnar.last_read = {"path": str(path), "status": "declined", "why": str(err), "folder": ""}
        return None
    args = (text_column, label_column, sep, codecs.lookup(encoding).name)

    def parse(counts: Tuple[int, int]) -> Dict[str, np.ndarray]:  # noqa: ARG001 (scan counts, unused)
        if text_column not in header or label_column not in header or text_column == label_column:
            raise columnar._Declined("columns")
        texts: List[str] = []
        labels: List[np.ndarray] = []
        with closing(columnar._read_chunks(path, header, header, encoding, sep)) as chunks:
            for df in chunks:
                text = df[text_column]
                if text.isna().any():
                    raise columnar._Declined("short rows")
                text = text.astype(object).to_numpy(dtype=object)
                if any(not t.strip() for t in text):
                    raise columnar._Declined(f"empty {text_column!r}")
                texts.extend(text.tolist())
                labels.append(columnar._text(df, label_column))
        if not texts:
            raise columnar._Declined("no rows")
        packed = pack_strings(texts)
        return {"text_bytes": packed["bytes"], "text_offsets": packed["offsets"],
                "labels": np.array(np.concatenate(labels).tolist(), dtype=str)}

    arrays = columnar._run(path, "labelled", args, ["text_bytes", "text_offsets", "labels"], parse, len(header),
                           sep)
    if arrays is None:
        return None
    texts = unpack_strings(np.asarray(arrays["text_bytes"]), np.asarray(arrays["text_offsets"]))
    labels = np.array(arrays["labels"])
    return texts, labels, ReadReport(path=str(path), rows_read=len(texts))
