"""Vocabularies and tokenisation: characters (any Unicode) and words.

``CharVocab`` maps every distinct character (a Unicode code point, so Chinese
works as well as English) to an id; encoding millions of characters is
vectorised with NumPy. ``WordVocab`` reserves ``<pad>`` = 0 and ``<unk>`` = 1.
Both save to and load from JSON (UTF-8, human-readable, never pickled).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

PathLike = Union[str, "os.PathLike[str]"]
Ids = Union[Tensor, np.ndarray, Sequence[int]]

__all__ = ["CharVocab", "WordVocab", "tokenize"]

_ERRORS = ("strict", "replace", "skip")
# CJK, kana and hangul characters are words on their own (scripts written without spaces).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_RE = re.compile(f"([{_CJK}])")
_TOKEN_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*|\d+(?:[.,]\d+)*|[^\w\s]")


def tokenize(text: str) -> List[str]:
    """Lower-case word tokens: words (with inner apostrophes), numbers, single punctuation marks.

    CJK characters are one token each. ``"It's 2.5 stars!"`` gives
    ``["it's", "2.5", "stars", "!"]``.
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize: text must be a str, got {type(text).__name__}")
    return _TOKEN_RE.findall(_CJK_RE.sub(r" \1 ", text.lower()))


def _ids_array(owner: str, ids: Ids) -> np.ndarray:
    """``ids`` (a 1-D tensor, array or list of ints) as an int64 array."""
    if isinstance(ids, Tensor):
        if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool or ids.dim() > 1:
            raise TypeError(f"{owner}: ids must be a 1-D integer tensor, got dtype {ids.dtype}, shape {tuple(ids.shape)}")
        return ids.detach().cpu().reshape(-1).numpy().astype(np.int64, copy=False)
    arr = np.asarray(ids)
    if arr.size and (arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{owner}: ids must be a 1-D sequence of ints, got dtype {arr.dtype}, shape {arr.shape}")
    return arr.astype(np.int64).reshape(-1)


class CharVocab:
    """Characters to ids and back.

    Args:
        chars: the distinct characters, in id order.
        unk: an optional character used for characters not in ``chars`` (added to the
            vocabulary when it is not already in it); without it, unknown characters
            are an error unless ``encode(..., errors="skip")``.

    Example:
        >>> vocab = CharVocab.from_text("hello 世界")
        >>> vocab.decode(vocab.encode("hello"))
        'hello'
    """

    def __init__(self, chars: Sequence[str], unk: Optional[str] = None) -> None:
        chars = list(chars)
        if unk is not None:
            if not isinstance(unk, str) or len(unk) != 1:
                raise ValueError(f"CharVocab: unk must be a single character or None, got {unk!r}")
            if unk not in chars:
                chars.append(unk)
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise ValueError(f"CharVocab: chars must be single characters, got {bad[:3]!r}")
        if len(set(chars)) != len(chars):
            dup = sorted({c for c in chars if chars.count(c) > 1})
            raise ValueError(f"CharVocab: chars must be distinct, got duplicates {dup[:5]!r}")
        if not chars:
            raise ValueError("CharVocab: chars must not be empty, got an empty sequence")
        self.chars: List[str] = chars
        self.unk = unk
        self.index: Dict[str, int] = {c: i for i, c in enumerate(chars)}
        codes = np.array([ord(c) for c in chars], dtype=np.int64)
        self._codes = codes.astype(np.uint32)
        # Dense code point -> id table (at most 0x110000 entries); -1 marks unknown characters.
        self._table = np.full(int(codes.max()) + 2, -1, dtype=np.int32)
        self._table[codes] = np.arange(len(chars), dtype=np.int32)

    @classmethod
    def from_text(cls, text: str, unk: Optional[str] = None) -> "CharVocab":
        """The vocabulary of ``text``'s distinct characters, sorted by code point."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"CharVocab.from_text: text must be a non-empty str, got {text!r:.40}")
        return cls(sorted(set(text)), unk=unk)

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: object) -> bool:
        return char in self.index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and self.chars == other.chars and self.unk == other.unk

    def __repr__(self) -> str:
        return f"CharVocab(size={len(self)}, unk={self.unk!r})"

    def encode(self, text: str, *, errors: Optional[str] = None) -> Tensor:
        """Encode ``text`` to ids.

        Args:
            text: any string.
            errors: what to do with characters not in the vocabulary: ``"strict"``
                (raise, naming the character and its position), ``"replace"`` (use
                ``unk``) or ``"skip"`` (drop them). Default ``"replace"`` when the
                vocabulary has ``unk``, else ``"strict"``.

        Returns:
            int64 tensor ``(len(text),)`` (shorter with ``"skip"``).
        """
        if not isinstance(text, str):
            raise TypeError(f"CharVocab.encode: text must be a str, got {type(text).__name__}")
        mode = errors if errors is not None else ("replace" if self.unk is not None else "strict")
        if mode not in _ERRORS:
            raise ValueError(f"CharVocab.encode: errors must be one of {_ERRORS}, got {mode!r}")
        if mode == "replace" and self.unk is None:
            raise ValueError("CharVocab.encode: errors='replace' needs a vocabulary built with unk=..., got unk=None")
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        ids = self._table[np.minimum(codes, len(self._table) - 1)].astype(np.int64)
        known = ids >= 0
        if not known.all():
            if mode == "strict":
                where = int(np.flatnonzero(~known)[0])
                raise ValueError(
                    f"CharVocab.encode: text must use only the vocabulary's {len(self)} characters, got {text[where]!r} "
                    f"at position {where}; build the vocabulary with unk=... or pass errors='skip'"
                )
            ids = ids[known] if mode == "skip" else np.where(known, ids, self.index[self.unk])  # type: ignore[index]
        return torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))

    def decode(self, ids: Ids) -> str:
        """The string of ``ids`` (a 1-D tensor, array or list of ints)."""
        values = _ids_array("CharVocab.decode", ids)
        bad = (values < 0) | (values >= len(self.chars))
        if bad.any():
            raise ValueError(f"CharVocab.decode: ids must be in [0, {len(self.chars) - 1}], got {int(values[bad][0])}")
        return self._codes[values].tobytes().decode("utf-32-le", "surrogatepass")

    def to_dict(self) -> dict:
        """A JSON-ready description."""
        return {"type": "CharVocab", "chars": self.chars, "unk": self.unk}

    @classmethod
    def from_dict(cls, data: dict) -> "CharVocab":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, dict) or data.get("type") != "CharVocab" or not isinstance(data.get("chars"), list):
            raise ValueError("CharVocab.from_dict: data must be a dict written by CharVocab.to_dict (type 'CharVocab', a 'chars' list)")
        return cls(data["chars"], unk=data.get("unk"))

    def save(self, path: PathLike) -> None:
        """Write the vocabulary as UTF-8 JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: PathLike) -> "CharVocab":
        """Read a vocabulary written by :meth:`save`."""
        return cls.from_dict(_read_json(path, "CharVocab.load"))


def _read_json(path: PathLike, owner: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{owner}: {path} must be a vocabulary JSON file, got unreadable content ({err})") from None


class WordVocab:
    """Words to ids, with ``<pad>`` = 0 and ``<unk>`` = 1.

    Args:
        words: the words in id order after the two special tokens.
    """

    PAD = "<pad>"
    UNK = "<unk>"
    pad_id = 0
    unk_id = 1

    def __init__(self, words: Sequence[str]) -> None:
        words = [w for w in words if w not in (self.PAD, self.UNK)]
        if len(set(words)) != len(words):
            raise ValueError("WordVocab: words must be distinct")
        self.itos: List[str] = [self.PAD, self.UNK] + list(words)
        self.stoi: Dict[str, int] = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        *,
        min_freq: int = 1,
        max_size: Optional[int] = None,
    ) -> "WordVocab":
        """Build a vocabulary from tokenised texts.

        Words are ordered by frequency (most frequent first), ties alphabetically.

        Args:
            token_lists: one list of tokens per text (e.g. ``map(tokenize, texts)``).
            min_freq: keep words seen at least this often.
            max_size: keep at most this many words, the two special tokens included.
        """
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"WordVocab.build: min_freq must be an int >= 1, got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 2):
            raise ValueError(f"WordVocab.build: max_size must be None or an int >= 2, got {max_size!r}")
        counts: Counter = Counter()
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise TypeError("WordVocab.build: token_lists must hold lists of tokens, got a str (tokenize it first)")
            counts.update(tokens)
        words = sorted((w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[: max_size - 2]
        return cls(words)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: object) -> bool:
        return word in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WordVocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"WordVocab(size={len(self)})"

    def encode(self, tokens: Sequence[str]) -> List[int]:
        """Ids of ``tokens``; unknown words map to ``unk_id``."""
        if isinstance(tokens, str):
            raise TypeError("WordVocab.encode: tokens must be a list of tokens, got a str (use encode_text)")
        return [self.stoi.get(t, self.unk_id) for t in tokens]

    def encode_text(self, text: str) -> List[int]:
        """``encode(tokenize(text))``."""
        return self.encode(tokenize(text))

    def decode(self, ids: Ids) -> List[str]:
        """The tokens of ``ids``."""
        values = _ids_array("WordVocab.decode", ids).tolist()
        bad = [i for i in values if not 0 <= i < len(self.itos)]
        if bad:
            raise ValueError(f"WordVocab.decode: ids must be in [0, {len(self.itos) - 1}], got {bad[0]}")
        return [self.itos[i] for i in values]

    def to_dict(self) -> dict:
        """A JSON-ready description."""
        return {"type": "WordVocab", "itos": self.itos}

    @classmethod
    def from_dict(cls, data: dict) -> "WordVocab":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, dict) or data.get("type") != "WordVocab" or not isinstance(data.get("itos"), list):
            raise ValueError("WordVocab.from_dict: data must be a dict written by WordVocab.to_dict (type 'WordVocab', an 'itos' list)")
        itos = data["itos"]
        if itos[:2] != [cls.PAD, cls.UNK]:
            raise ValueError(f"WordVocab.from_dict: itos must start with {cls.PAD!r}, {cls.UNK!r}, got {itos[:2]!r}")
        return cls(itos[2:])

    def save(self, path: PathLike) -> None:
        """Write the vocabulary as UTF-8 JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: PathLike) -> "WordVocab":
        """Read a vocabulary written by :meth:`save`."""
        return cls.from_dict(_read_json(path, "WordVocab.load"))
