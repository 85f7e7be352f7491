"""Windows of a memory-mapped token file read with pread: the same ids as through the map, pages kept out of RSS."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from rnnkit.data import fileread
from rnnkit.data.batching import RandomWindowStream, TBPTTStream
from rnnkit.data.fileread import FileReader
from rnnkit.data.spans import TokenSpans
from tests.data.ddp import assert_ranks_read_disjoint_stretches


@pytest.fixture()
def mapped(tmp_path):
    ids = np.random.default_rng(0).integers(0, 60_000, 50_000).astype(np.uint16)
    (tmp_path / "tokens.bin").write_bytes(b"\0" * 6 + ids.tobytes())  # at a byte offset, as a header would put it
    return ids, np.memmap(tmp_path / "tokens.bin", dtype=np.uint16, mode="r", offset=6, shape=(len(ids),))


def test_spans_of_a_map_read_with_pread_equal_the_in_memory_spans(mapped, monkeypatch):
    ids, mm = mapped
    spans = [(0, 700), (900, 20_000), (20_000, 20_001), (30_000, 49_990)]
    lut = np.arange(60_000, dtype=np.int64)[::-1].copy()
    for base in (mm, mm[:45_000], mm[1000:]):  # views at other offsets too
        ref_base = np.array(base)
        spans_in = [(a, min(b, len(base))) for a, b in spans if a < len(base)]
        got, ref = TokenSpans(base, spans_in, lut), TokenSpans(ref_base, spans_in, lut)
        assert got.reader is not None and ref.reader is None
        np.testing.assert_array_equal(got[:], ref[:])
        pos = np.random.default_rng(1).integers(0, len(ref), (9, 17))
        np.testing.assert_array_equal(got.take(pos), ref.take(pos))
        windows = np.arange(len(ref) - 101)[::997][:, None] + np.arange(101)[None, :]
        np.testing.assert_array_equal(got.take(windows), ref.take(windows))
        for a, b in [(650, 900), (0, 1), (len(ref) - 3, len(ref))]:
            np.testing.assert_array_equal(got[a:b], ref[a:b])
        monkeypatch.setattr(fileread, "MAX_RUNS", 3)  # many stretches: read through the map, same ids
        np.testing.assert_array_equal(got.take(pos), ref.take(pos))
        monkeypatch.setattr(fileread, "MAX_RUNS", 4096)
        stream, ref_stream = RandomWindowStream(got, 8, 32, 3, seed=4), RandomWindowStream(ref, 8, 32, 3, seed=4)
        assert all(torch.equal(u, v) for a, b in zip(stream, ref_stream) for u, v in zip(a, b))
        assert all(torch.equal(u, v) for a, b in zip(TBPTTStream(got, 4, 50), TBPTTStream(ref, 4, 50))
                   for u, v in zip(a, b))
    again = pickle.loads(pickle.dumps(got.reader))  # a worker process opens its own file
    np.testing.assert_array_equal(again.read(5, 9), np.array(mm[1005:1009]))


def _rss_file_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssFile in /proc/self/status")


def test_reading_every_window_of_a_large_map_does_not_grow_resident_memory(tmp_path):
    n = 48 << 20  # 48 MB of uint8 ids
    path = tmp_path / "big.bin"
    with open(path, "wb") as fh:
        for _ in range(n >> 20):
            fh.write(np.random.default_rng(0).integers(0, 256, 1 << 20).astype(np.uint8).tobytes())
    seq = TokenSpans(np.memmap(path, dtype=np.uint8, mode="r"), [(0, n)])
    before = _rss_file_mb()
    for k in range(0, n - 4096, 1 << 20):  # a window in every MB, then one whole read
        seq.take(np.arange(k, k + 4096)[None, :])
    total = sum(int(seq[a:a + (8 << 20)].sum() > 0) for a in range(0, n, 8 << 20))
    assert total == 6 and _rss_file_mb() - before < 8, _rss_file_mb() - before
    mapped = np.memmap(path, dtype=np.uint8, mode="r")  # through the map the same reads would stay resident
    int(mapped[::4096].sum())
    assert _rss_file_mb() - before > 32


def test_only_contiguous_memmap_views_get_a_reader(mapped):
    _, mm = mapped
    assert FileReader.of(np.arange(5)) is None and FileReader.of(mm[::2]) is None
    assert FileReader.of(mm[10:]).offset == 6 + 20
    with pytest.raises(IndexError, match=r"\[0, 50001\) must lie in \[0, 50000\]"):
        FileReader.of(mm).read(0, 50_001)


def test_ddp_ranks_read_disjoint_stretches_of_a_mapped_file(tmp_path):
    """As tests/data/test_batching.py's in-memory case, through pread: each rank keeps its own rows."""
    np.arange(10_001, dtype=np.int64).tofile(tmp_path / "pos.bin")  # each id is its position
    positions = TokenSpans(np.memmap(tmp_path / "pos.bin", dtype=np.int64, mode="r"), [(0, 10_001)])
    assert positions.reader is not None
    assert_ranks_read_disjoint_stretches(positions)
