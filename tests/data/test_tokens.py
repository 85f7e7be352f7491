"""Token files: streaming decoding equals read_text_file, ids equal CharVocab's in-memory encoding, cache reuse."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data import tokens
from rnnkit.data.datasets import dataset_status, load_shakespeare
from rnnkit.data.errors import DataFileError
from rnnkit.data.files import read_text_file
from rnnkit.data.text import CharVocab

MIXED = "\ufeffRomeo.\r\nBut soft!\rwhat light\r\n床前明月光，疑是地上霜。\n😀 end\r"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64, 1 << 20])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "latin-1"])
def test_streamed_text_equals_read_text_file(tmp_path, chunk, encoding):
    text = MIXED if encoding != "latin-1" else "caf\xe9\r\nna\xefve\r"
    path = write(tmp_path / "t.txt", text * 3, encoding)
    pieces = list(tokens.iter_text_chunks(path, encoding, chunk))
    assert all(pieces) and "".join(pieces) == read_text_file(path, encoding=encoding)


@pytest.mark.parametrize("chunk", [1, 4, 1 << 20])
def test_decode_errors_are_those_of_read_text_file(tmp_path, chunk):
    bad = tmp_path / "bad.txt"
    bad.write_bytes("line one\nline two ok\n".encode() + b"abc\xff\xfedef\n" + "床前".encode())
    with pytest.raises(DataFileError) as strict:
        read_text_file(bad)
    with pytest.raises(DataFileError) as streamed:
        list(tokens.iter_text_chunks(bad, "utf-8", chunk))
    assert str(streamed.value) == str(strict.value) and streamed.value.line == 3
    cut = tmp_path / "cut.txt"  # a multi-byte character cut off at the end of the file
    cut.write_bytes("ok\n".encode() + "床".encode()[:2])
    with pytest.raises(DataFileError) as strict:
        read_text_file(cut)
    with pytest.raises(DataFileError) as streamed:
        list(tokens.iter_text_chunks(cut, "utf-8", chunk))
    assert str(streamed.value) == str(strict.value)


def test_empty_unknown_encoding_and_directory_errors_match(tmp_path):
    empty = write(tmp_path / "e.txt", "\ufeff")
    for args in ((empty, "utf-8"), (empty, "no-such-codec"), (tmp_path, "utf-8")):
        with pytest.raises(DataFileError) as strict:
            read_text_file(args[0], encoding=args[1])
        with pytest.raises(DataFileError) as streamed:
            list(tokens.iter_text_chunks(*args))
        assert str(streamed.value) == str(strict.value)


@pytest.mark.parametrize("text, dtype", [(MIXED * 5, np.uint8),
                                         ("".join(chr(0x4E00 + i) for i in range(300)) * 2 + "\nab", np.uint16)])
def test_token_file_equals_in_memory_encoding_and_is_reused(tmp_path, text, dtype):
    path = write(tmp_path / "c.txt", text)
    first = tokens.corpus_from_file(path, directory=tmp_path / "cache", chunk_bytes=5)
    expected_text = read_text_file(path)
    vocab = CharVocab.from_text(expected_text)
    assert first.built and first.vocab == vocab and first.tokens.dtype == dtype
    np.testing.assert_array_equal(np.asarray(first.tokens, np.int64), vocab.encode(expected_text).numpy())
    again = tokens.corpus_from_file(path, directory=tmp_path / "cache")
    assert not again.built and isinstance(again.tokens, np.memmap) and again.folder == first.folder
    assert "reused the cached tokens" in again.describe() and "tokenised" in first.describe()
    np.testing.assert_array_equal(again.tokens, first.tokens)


def test_a_changed_file_gets_a_new_entry_and_a_damaged_one_is_rebuilt(tmp_path):
    path = write(tmp_path / "c.txt", "abcabc" * 50)
    cache = tmp_path / "cache"
    a = tokens.corpus_from_file(path, directory=cache)
    st = os.stat(path)
    write(path, "abcabd" * 50)  # same size; the modification time moves on
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    b = tokens.corpus_from_file(path, directory=cache)
    assert b.built and b.folder != a.folder and b.vocab.chars == list("abcd")
    (b.folder / "tokens.bin").write_bytes(b"\x00" * 7)  # truncated by a crash or by hand
    c = tokens.corpus_from_file(path, directory=cache)
    assert c.built and c.folder == b.folder
    np.testing.assert_array_equal(np.asarray(c.tokens), CharVocab.from_text("abcabd").encode("abcabd" * 50).numpy())
    assert sorted(p.name for p in (cache / "corpora").iterdir() if not p.is_dir()) == []  # no temp or lock files


def test_encoding_is_part_of_the_key(tmp_path):
    path = write(tmp_path / "l.txt", "caf\xe9 " * 20, "latin-1")
    a = tokens.corpus_from_file(path, "latin-1", directory=tmp_path / "cache")
    b = tokens.corpus_from_file(path, "cp1252", directory=tmp_path / "cache")
    assert a.folder != b.folder and "\xe9" in a.vocab


@pytest.mark.skipif(not dataset_status()["shakespeare"][0], reason=dataset_status()["shakespeare"][1])
def test_shakespeare_token_file_equals_load_shakespeare(tmp_path):
    from rnnkit.data.datasets.corpora import shakespeare_corpus

    corpus = shakespeare_corpus(cache_dir=tmp_path)
    text = load_shakespeare()
    vocab = CharVocab.from_text(text)
    assert corpus.vocab == vocab and len(corpus.tokens) == len(text)
    np.testing.assert_array_equal(np.asarray(corpus.tokens, np.int64), vocab.encode(text).numpy())
    assert not shakespeare_corpus(cache_dir=tmp_path).built


def test_an_unwritable_cache_names_the_fix(tmp_path):
    path = write(tmp_path / "c.txt", "abc" * 10)
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cannot write the token cache in .*; set RNNKIT_CACHE to a writable"):
        tokens.corpus_from_file(path, directory=blocker)
