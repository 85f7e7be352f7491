"""Corpus parts as spans of the token file equal charlm's in-memory split and encoding."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data import charsplit, tokens
from rnnkit.data.text import CharVocab


def in_memory_split(text: str, holdout: float, block_chars: int) -> dict:
    """The split charlm made before token files (kept here as the independent reference)."""
    period = max(3, round(1 / holdout))
    block = max(1, min(block_chars, len(text) // (2 * period)))
    parts = {"train": [], "val": [], "test": []}
    for i, start in enumerate(range(0, len(text), block)):
        r = i % period
        key = "val" if r == period // 3 else "test" if r == (2 * period) // 3 else "train"
        parts[key].append(text[start:start + block])
    return {k: "".join(v) for k, v in parts.items()}


@pytest.mark.parametrize("n, holdout, block", [(10_007, 0.02, 100), (5000, 0.1, 10_000), (61, 0.3, 7), (600, 0.02, 3)])
def test_block_spans_equal_the_in_memory_split(n, holdout, block):
    text = "".join(chr(65 + (i * 7919) % 50) for i in range(n))
    spans = charsplit.block_spans(n, holdout, block)
    ref = in_memory_split(text, holdout, block)
    for k in ("train", "val", "test"):
        assert "".join(text[a:b] for a, b in spans[k].tolist()) == ref[k]


@pytest.fixture
def corpus(tmp_path):
    text = "".join(chr(97 + (i * 31) % 26) + ("Z" if i > 25_000 else "") for i in range(30_000))
    path = tmp_path / "c.txt"
    path.write_text(text, encoding="utf-8")
    return text, tokens.corpus_from_file(path, directory=tmp_path / "cache")


def test_parts_equal_encoding_the_split_text(corpus):
    text, c = corpus
    parts, skipped = charsplit.corpus_parts(c, len(c.tokens), 0.02, 1000)
    vocab = CharVocab.from_text(text)
    ref = in_memory_split(text, 0.02, 1000)
    assert skipped == 0
    for k in ref:
        np.testing.assert_array_equal(parts[k][:], vocab.encode(ref[k]).numpy())
        assert parts[k].base is c.tokens or np.shares_memory(parts[k].base, c.tokens)  # views, not copies


def test_prefix_vocabulary_and_skipping_characters_a_saved_vocabulary_lacks(corpus):
    text, c = corpus
    small = charsplit.vocab_of_prefix(c, 20_000)
    assert small == CharVocab.from_text(text[:20_000]) and "Z" not in small
    parts, skipped = charsplit.corpus_parts(c, len(c.tokens), 0.02, 1000, small)
    ref = in_memory_split(text, 0.02, 1000)
    assert skipped == text.count("Z")
    for k in ref:
        np.testing.assert_array_equal(parts[k][:], small.encode(ref[k], errors="skip").numpy())
