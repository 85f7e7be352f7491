"""Property-based tests of the user-file readers and the data helpers (issue 7, "Bad input").

Arbitrary bytes given to any reader either parse or raise ``DataFileError`` (a
ValueError naming the file), never another exception; well-formed tables written
by the csv/json modules read back exactly. ``HYPOTHESIS_PROFILE=fuzz`` runs many
more examples (see tests/conftest.py).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rnnkit.data import (
    CharVocab,
    DataFileError,
    TBPTTStream,
    bucket_batches,
    pad_sequences,
    read_labelled_table,
    read_sequences_csv,
    read_series_csv,
    read_text_file,
    read_ts_file,
    stratified_split,
)

_DIR = tempfile.TemporaryDirectory(prefix="rnnkit-fuzz-")
_COUNTER = itertools.count()


def _write(content: bytes, suffix: str) -> Path:
    path = Path(_DIR.name) / f"f{next(_COUNTER)}{suffix}"
    path.write_bytes(content)
    return path


# Bytes that look like the formats: pieces of CSV/JSONL/.ts syntax, text, and raw junk.
_PIECES = st.sampled_from(
    [b",", b"\n", b"\r\n", b'"', b"{", b"}", b":", b"@data\n", b"@classLabel true a b\n", b"@dimensions 2\n",
     b"text", b"label", b"value", b"id", b"1", b"2.5", b"nan", b"?", b"NA", b" ", b"\t", b"\xff", b"\xc3\xa9",
     "世界".encode(), b'"text": "x"', b'"label": 1', b"\x00"]
)
FILE_BYTES = st.one_of(st.binary(max_size=300), st.lists(_PIECES, max_size=60).map(b"".join))

READERS: dict = {
    "table.csv": lambda p, s: read_labelled_table(p, "text", "label", skip_bad=s),
    "table.jsonl": lambda p, s: read_labelled_table(p, "text", "label", skip_bad=s),
    "series.csv": lambda p, s: read_series_csv(p, "value", skip_bad=s, interpolate_missing=not s),
    "seq.csv": lambda p, s: read_sequences_csv(p, "id", "label", skip_bad=s),
    "file.ts": lambda p, s: read_ts_file(p, skip_bad=s),
    "text.txt": lambda p, s: read_text_file(p),
}


# A fraction of the active profile's examples for the cheap helper properties (CI: 100; fuzz: 5,000).
SMALL = settings(max_examples=max(50, settings.default.max_examples // 4))
HALF = settings(max_examples=max(50, settings.default.max_examples // 2))


@pytest.mark.filterwarnings("ignore::UserWarning")
@given(kind=st.sampled_from(sorted(READERS)), content=FILE_BYTES, skip_bad=st.booleans())
def test_fuzz_readers_parse_or_raise_data_file_error(kind: str, content: bytes, skip_bad: bool) -> None:
    path = _write(content, "." + kind.split(".")[1])
    reader: Callable = READERS[kind]
    try:
        reader(path, skip_bad)
    except DataFileError as err:
        assert str(path) in str(err)


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), min_size=1, max_size=40)
_LABEL = st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=5)


@HALF
@given(rows=st.lists(st.tuples(_TEXT, _LABEL), min_size=1, max_size=20), jsonl=st.booleans())
def test_fuzz_tables_round_trip(rows: list, jsonl: bool) -> None:
    assume(all(t.strip() for t, _ in rows))
    if jsonl:
        content = "".join(json.dumps({"text": t, "label": lab}, ensure_ascii=False) + "\n" for t, lab in rows)
    else:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)
        content = buf.getvalue()
        assume(all(t.strip(" \t\n") or "," in t for t, _ in rows))
    path = _write(content.encode("utf-8"), ".jsonl" if jsonl else ".csv")
    texts, labels, report = read_labelled_table(path, "text", "label")
    assert texts == [t for t, _ in rows] and labels.tolist() == [lab for _, lab in rows]
    assert report.rows_read == len(rows) and report.rows_skipped == 0


@SMALL
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200),
       extra=st.text(st.characters(blacklist_categories=("Cs",)), max_size=20))
def test_fuzz_char_vocab_round_trip_and_unknowns(text: str, extra: str) -> None:
    vocab = CharVocab.from_text(text)
    assert vocab.decode(vocab.encode(text)) == text
    unknown = [c for c in extra if c not in vocab]
    if unknown:
        with pytest.raises(ValueError, match="CharVocab.encode: text must use only"):
            vocab.encode(extra)
    assert vocab.decode(vocab.encode(extra, errors="skip")) == "".join(c for c in extra if c in vocab)


@SMALL
@given(lengths=st.lists(st.integers(0, 50), min_size=1, max_size=60), batch_size=st.integers(1, 9),
       seed=st.integers(0, 2**32), shuffle=st.booleans())
def test_fuzz_bucket_batches_partition(lengths: list, batch_size: int, seed: int, shuffle: bool) -> None:
    batches = bucket_batches(lengths, batch_size, seed, shuffle)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert all(1 <= len(b) <= batch_size for b in batches)


@SMALL
@given(n=st.integers(2, 300), batch_size=st.integers(1, 8), bptt=st.integers(1, 20), start=st.integers(0, 40))
def test_fuzz_tbptt_windows_tile_the_rows(n: int, batch_size: int, bptt: int, start: int) -> None:
    ids = torch.arange(n)
    if (n - 1) // batch_size < 1:
        with pytest.raises(ValueError, match="TBPTTStream: ids must hold at least"):
            TBPTTStream(ids, batch_size, bptt)
        return
    stream = TBPTTStream(ids, batch_size, bptt)
    rows = torch.cat([x for x, _ in stream], dim=1)
    length = (n - 1) // batch_size
    assert torch.equal(rows, ids[: batch_size * length].view(batch_size, length))
    assert all(torch.equal(y, x + 1) for x, y in stream)
    assert len(list(stream.iter_from(start))) == max(0, len(stream) - start)


@SMALL
@given(labels=st.lists(st.integers(0, 4), min_size=1, max_size=80), seed=st.integers(0, 1000),
       cut=st.floats(0.05, 0.95))
def test_fuzz_stratified_split_partition(labels: list, seed: int, cut: float) -> None:
    parts = stratified_split(labels, (cut, 1.0 - cut), seed)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(labels)))
    y = np.array(labels)
    for c in set(labels):
        n_c = int((y == c).sum())
        assert abs(int((y[parts[0]] == c).sum()) - cut * n_c) <= 1


@SMALL
@given(shapes=st.lists(st.integers(0, 6), min_size=1, max_size=6), feat=st.integers(1, 3))
def test_fuzz_pad_sequences(shapes: list, feat: int) -> None:
    seqs = [torch.arange(t * feat, dtype=torch.float32).view(t, feat) + 1 for t in shapes]
    padded, lengths = pad_sequences(seqs)
    assert lengths.tolist() == shapes
    for b, s in enumerate(seqs):
        assert torch.equal(padded[b, : len(s)], s) and not padded[b, len(s) :].any()
