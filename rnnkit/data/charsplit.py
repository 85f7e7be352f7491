"""Train / validation / test parts of a tokenised corpus, as views of its memory map.

:func:`block_spans` cuts ``n`` characters into blocks and deals every
``period``-th block to validation and another to test (``period = 1 /
holdout``), exactly as ``charlm`` has always split the text in memory;
:func:`corpus_parts` turns those spans into :class:`~rnnkit.data.spans.TokenSpans`
over a :class:`~rnnkit.data.tokens.TokenCorpus`, re-mapping ids when a run's
saved vocabulary differs from the corpus's own.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from rnnkit.data.spans import TokenSpans
from rnnkit.data.text import CharVocab
from rnnkit.data.tokens import TokenCorpus

__all__ = ["block_spans", "corpus_parts", "vocab_of_prefix"]

PARTS = ("train", "val", "test")


def _merge(spans: np.ndarray) -> np.ndarray:
    """Join ``[start, stop)`` spans that touch (fewer spans, same sequence)."""
    if len(spans) <= 1:
        return spans
    cut = np.flatnonzero(spans[1:, 0] != spans[:-1, 1]) + 1
    first = np.concatenate([[0], cut])
    last = np.concatenate([cut - 1, [len(spans) - 1]])
    return np.stack([spans[first, 0], spans[last, 1]], axis=1)


def block_spans(n: int, holdout_fraction: float, block_chars: int) -> Dict[str, np.ndarray]:
    """``[start, stop)`` spans of each part of ``n`` characters.

    Blocks are ``block = max(1, min(block_chars, n // (2 * period)))`` long
    (shorter for short texts, so each held-out part gets at least two blocks),
    ``period = max(3, round(1 / holdout_fraction))``; block ``i`` goes to
    validation when ``i % period == period // 3``, to test when it equals
    ``(2 * period) // 3``, else to training.

    Returns:
        ``{"train": (S, 2), "val": ..., "test": ...}`` int64 arrays.
    """
    period = max(3, round(1 / holdout_fraction))
    block = max(1, min(block_chars, n // (2 * period)))
    starts = np.arange(0, n, block, dtype=np.int64)
    spans = np.stack([starts, np.minimum(starts + block, n)], axis=1)
    r = np.arange(len(starts)) % period
    val, test = r == period // 3, r == (2 * period) // 3
    return {"train": _merge(spans[~val & ~test]), "val": _merge(spans[val]), "test": _merge(spans[test])}


def vocab_of_prefix(corpus: TokenCorpus, n: int) -> CharVocab:
    """The vocabulary of the corpus's first ``n`` characters (``CharVocab.from_text(text[:n])``)."""
    used = np.unique(np.asarray(corpus.tokens[:n]))
    return CharVocab([corpus.vocab.chars[i] for i in used])


def corpus_parts(corpus: TokenCorpus, n: int, holdout_fraction: float, block_chars: int,
                 vocab: Optional[CharVocab] = None) -> Tuple[Dict[str, TokenSpans], int]:
    """The parts of the corpus's first ``n`` characters, in the ids of ``vocab``.

    Args:
        corpus: the tokenised corpus.
        n: how many characters to use (all, or fewer for ``--tiny``).
        holdout_fraction, block_chars: see :func:`block_spans`.
        vocab: the vocabulary the ids must use (a run's saved one); default the corpus's.

    Returns:
        ``({"train", "val", "test"}: TokenSpans, skipped)``: characters the vocabulary does not
        hold are skipped (as ``CharVocab.encode(..., errors="skip")``), and counted.
    """
    spans = block_spans(n, holdout_fraction, block_chars)
    base, lut = corpus.tokens[:n], None
    if vocab is not None and vocab.chars != corpus.vocab.chars:
        lut = np.array([vocab.index.get(c, -1) for c in corpus.vocab.chars], dtype=np.int64)
    if lut is None or (lut >= 0).all():
        return {k: TokenSpans(base, spans[k], lut) for k in PARTS}, 0
    # Characters outside the saved vocabulary: drop them, as the in-memory path did (the parts are copied).
    parts, skipped = {}, 0
    for k in PARTS:
        ids = TokenSpans(base, spans[k], lut)[:]
        keep = ids >= 0
        skipped += int((~keep).sum())
        kept = ids[keep]
        parts[k] = TokenSpans(kept, [(0, len(kept))])
    return parts, skipped
