"""The pandas fast path for numeric tables: equal to the strict reader on valid files, the strict reader's
errors (and skip_bad results) on invalid ones, cached arrays memory-mapped on reuse."""

from __future__ import annotations

import gzip
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data import columnar
from rnnkit.data.errors import DataFileError
from rnnkit.data.files import read_sequences_csv, read_series_csv

HEADER = "id,label,t,x,y\n"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(columnar, "CACHE_MIN_BYTES", 0)  # cache even these small files


def strict(fn, *args, **kw):
    """The strict reader's outcome (fast path off): the result, or the error's type and message."""
    old = columnar.ENABLED
    columnar.ENABLED = False
    try:
        return outcome(fn, *args, **kw)
    finally:
        columnar.ENABLED = old


def outcome(fn, *args, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(*args, **kw)
        except (DataFileError, ValueError, TypeError) as err:
            return ("error", type(err).__name__, str(err)), _messages(caught, args)
    return result, _messages(caught, args)


def _messages(caught, args) -> list:
    """The warnings' texts with the file's own path as ``<file>`` (the fast and strict runs read two copies)."""
    return [str(w.message).replace(str(args[0]), "<file>") if args else str(w.message) for w in caught]


def same(a, b) -> bool:
    if isinstance(a, tuple) and a and a[0] == "error":
        return a == b
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    seqs_a, labels_a = a
    seqs_b, labels_b = b
    if len(seqs_a) != len(seqs_b) or any(x.dtype != y.dtype or not np.array_equal(x, y) for x, y in zip(seqs_a, seqs_b)):
        return False
    return (labels_a is None and labels_b is None) or (labels_a.dtype == labels_b.dtype and
                                                       np.array_equal(labels_a, labels_b))


def write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_bytes(text.encode("utf-8"))
    return path


VALID = {
    "plain": HEADER + "a,cat,2,1.5,-2\na,cat,1,3,4e-3\nb,dog,1,0.1,7\n",
    "crlf and blank lines": "\r\n" + HEADER.replace("\n", "\r\n") + "a,cat,1,1,2\r\n\r\n  \r\nb,dog,1,3,4\r\n",
    "spaces and ids that look like numbers": " id , label ,t,x,y\n007, 1 ,1, 1.5 ,2\n7,1,2,3,4\n007,1,0,5,6\n",
    "big and small numbers": HEADER + "a,c,1,1e308,-4.9e-324\na,c,2,123456789012345678,0.1\nb,d,1,+3,.5\n",
}
INVALID = {
    "not a number": HEADER + "a,cat,1,1.5,x\nb,dog,1,1,2\n",
    "empty cell": HEADER + "a,cat,1,,2\nb,dog,1,1,2\n",
    "NA": HEADER + "a,cat,1,NA,2\nb,dog,1,1,2\n",
    "inf": HEADER + "a,cat,1,inf,2\nb,dog,1,1,2\n",
    "short row": HEADER + "a,cat,1,1\nb,dog,1,1,2\n",
    "short row missing the last field": HEADER + "a,cat,1,1,\nb,dog,1,1,2\na,cat,2,3\n",
    "long row": HEADER + "a,cat,1,1,2,3\nb,dog,1,1,2\n",
    "commas only": HEADER + "a,cat,1,1,2\n,,,,\nb,dog,1,1,2\n",
    "empty id": HEADER + " ,cat,1,1,2\nb,dog,1,1,2\n",
    "label changes": HEADER + "a,cat,1,1,2\na,dog,2,1,2\nb,dog,1,1,2\n",
    "empty label": HEADER + "a,,1,1,2\nb,dog,1,1,2\n",
    "time not a number": HEADER + "a,cat,one,1,2\nb,dog,1,1,2\n",
    "bad quoting": HEADER + 'a,"cat"x,1,1,2\nb,dog,1,1,2\n',
    "duplicate header": "id,label,t,x,x\na,cat,1,1,2\n",
    "lone carriage return": HEADER + "a,cat,1,1,2\rb,dog,1,1,2\n",
    "bom": "\ufeff" + HEADER + "a,cat,1,1,2\n",
    "nul": HEADER + "a,cat,1,1,2\nb,d\x00og,1,1,2\n",
    "header only": HEADER,
    "bool": HEADER + "a,cat,1,True,2\n",
}


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
@pytest.mark.parametrize("name", list(VALID))
def test_valid_files_read_fast_equal_the_strict_reader_and_are_cached(tmp_path, name, suffix):
    path = write(tmp_path / f"d{suffix}", VALID[name])
    plain = write(tmp_path / "plain.csv", VALID[name])  # the reference: the strict reader on the plain file
    for kw in ({"time_column": "t"}, {"time_column": None}, {"feature_columns": ["y"]}):
        label = "label"
        ref, ref_warned = strict(read_sequences_csv, plain, "id", label, **kw)
        got, warned = outcome(read_sequences_csv, path, "id", label, **kw)
        assert columnar.last_read["status"] == "parsed", columnar.last_read
        assert same(got, ref) and warned == ref_warned
        again, _ = outcome(read_sequences_csv, path, "id", label, **kw)
        assert columnar.last_read["status"] == "cached" and same(again, ref)
        assert isinstance(again[0][0].base, np.memmap) or isinstance(again[0][0], np.memmap)
    ref, _ = strict(read_sequences_csv, plain, "id", None, ["x", "y"], time_column="t")
    got, _ = outcome(read_sequences_csv, path, "id", None, ["x", "y"], time_column="t")
    assert columnar.last_read["status"] == "parsed" and got[1] is None and same(got, ref)


@pytest.mark.parametrize("skip_bad", [False, True])
@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_files_give_the_strict_readers_errors_and_skips(tmp_path, name, skip_bad):
    path = write(tmp_path / "d.csv", INVALID[name])
    ref, ref_warned = strict(read_sequences_csv, path, "id", "label", time_column="t", skip_bad=skip_bad)
    got, warned = outcome(read_sequences_csv, path, "id", "label", time_column="t", skip_bad=skip_bad)
    assert columnar.last_read["status"] == "declined", columnar.last_read
    assert same(got, ref) and warned == ref_warned


SERIES_VALID = {"one column": "v\n1\n2.5\n\n-3\n", "gaps": "v\n1\nNA\n\nnan\n4\n?\nNone\n7\n",
                "other columns": "date,v\n2020,1\n2021,\n2022,3\n", "crlf": "v\r\n1\r\nnull\r\n3\r\n"}
SERIES_INVALID = {"short row": "date,v\n2020,1\n2021\n2022,3\n", "commas": "date,v\n2020,1\n,\n2022,3\n",
                  "word": "v\n1\nx\n3\n", "inf": "v\n1\ninf\n3\n", "all missing": "v\nNA\n\nnan\n",
                  "padded NA": "v\n1\n NA \n3\n"}


@pytest.mark.parametrize("interpolate", [True, False])
@pytest.mark.parametrize("text", list(SERIES_VALID.values()) + list(SERIES_INVALID.values()))
def test_series_fast_path_equals_the_strict_reader(tmp_path, text, interpolate):
    path = write(tmp_path / "s.csv", text)
    ref, ref_warned = strict(read_series_csv, path, "v", interpolate_missing=interpolate)
    got, warned = outcome(read_series_csv, path, "v", interpolate_missing=interpolate)
    assert same(got, ref) and warned == ref_warned
    if text in SERIES_INVALID.values():
        assert columnar.last_read["status"] == "declined"
    if columnar.last_read["status"] == "parsed":
        assert same(outcome(read_series_csv, path, "v", interpolate_missing=interpolate)[0], ref)
        assert columnar.last_read["status"] == "cached"


def test_random_files_agree_with_the_strict_reader(tmp_path):
    """Differential: random small files, some perturbed, give the same result or the same error."""
    rng = np.random.default_rng(0)
    pieces = ["", " ", "NA", "x", "1e5", "-0", ",", '"', "\r", "inf", "2.5"]
    parsed = 0
    for k in range(120):
        rows = [HEADER.rstrip("\n")]
        for i in range(int(rng.integers(1, 12))):
            sid = f"s{rng.integers(0, 4)}"
            rows.append(f"{sid},{'ab'[int(sid[1]) % 2]},{rng.integers(0, 9)},{rng.normal():.6g},{rng.integers(-5, 5)}")
        if rng.random() < 0.5:
            r = int(rng.integers(1, len(rows)))
            pos = int(rng.integers(0, len(rows[r]) + 1))
            rows[r] = rows[r][:pos] + str(rng.choice(pieces)) + rows[r][pos:]
        path = write(tmp_path / f"r{k}.csv", "\n".join(rows) + "\n")
        ref, ref_warned = strict(read_sequences_csv, path, "id", "label", time_column="t", skip_bad=bool(k % 2))
        got, warned = outcome(read_sequences_csv, path, "id", "label", time_column="t", skip_bad=bool(k % 2))
        assert same(got, ref) and warned == ref_warned, (k, rows, columnar.last_read)
        parsed += columnar.last_read["status"] == "parsed"
    assert parsed > 40  # the fast path did take the clean files


def test_a_changed_file_is_parsed_again(tmp_path):
    path = write(tmp_path / "d.csv", VALID["plain"])
    read_sequences_csv(path, "id", "label")
    st = os.stat(path)
    write(path, VALID["plain"].replace("1.5", "2.5"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    seqs, _ = read_sequences_csv(path, "id", "label")
    assert columnar.last_read["status"] == "parsed" and seqs[0][0, 1] == 2.5  # columns t, x, y


def test_small_files_are_parsed_every_time_and_not_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(columnar, "CACHE_MIN_BYTES", 1 << 20)
    path = write(tmp_path / "d.csv", VALID["plain"])
    for _ in range(2):
        read_sequences_csv(path, "id", "label")
        assert columnar.last_read["status"] == "parsed" and columnar.last_read["folder"] == ""
    assert not (tmp_path / "cache").exists()


# ---- labelled text tables (sentiment) -------------------------------------------------------------
TABLES = {
    "plain.csv": "text,label\ngood film,pos\n  bad film ,neg\n\nok,  pos \n",
    "tabs.tsv": "label\ttext\npos\tgood, really\nneg\tbad\r\n",
    "bom.csv": "\ufefftext,label\ngood,pos\n",
    "quoted.csv": 'text,label\n"good, really",pos\nbad,neg\n',
    "bad quote.csv": 'text,label\n"good"x,pos\nbad,neg\n',
    "empty text.csv": "text,label\n   ,pos\nbad,neg\n",
    "empty label.csv": "text,label\ngood,\nbad,neg\n",
    "short.csv": "text,label\ngood\nbad,neg\n",
    "long.csv": "text,label\ngood,pos,x\nbad,neg\n",
    "missing column.csv": "words,label\ngood,pos\n",
    "rows.jsonl": '{"text": "good", "label": "pos"}\n{"text": "bad", "label": "neg"}\n',
    "no suffix": "text,label\ngood,pos\n",
}


@pytest.mark.parametrize("skip_bad", [False, True])
@pytest.mark.parametrize("name", list(TABLES))
def test_labelled_tables_fast_path_equals_the_strict_reader(tmp_path, name, skip_bad):
    from rnnkit.data.files import read_labelled_table

    path = write(tmp_path / name, TABLES[name])

    def read():
        texts, labels, report = read_labelled_table(path, "text", "label", skip_bad=skip_bad)
        return texts, labels.tolist(), labels.dtype, (report.rows_read, report.rows_skipped, report.problems)

    ref, ref_warned = strict(read)
    got, warned = outcome(read)
    assert got == ref and warned == ref_warned
    expect = "parsed" if name in ("plain.csv", "tabs.tsv") else "declined"
    assert columnar.last_read["status"] == expect, columnar.last_read
    if expect == "parsed":
        assert outcome(read)[0] == ref and columnar.last_read["status"] == "cached"


def test_a_long_first_row_and_short_rows_in_unused_columns_are_declined(tmp_path):
    """Without the per-line scan (every column used): pandas reads a first row's extra leading fields as an
    index; the separator count catches it. With an unused column, the per-line scan still runs."""
    path = write(tmp_path / "long.csv", HEADER + "a,cat,1,1,2,3\n")
    ref, _ = strict(read_sequences_csv, path, "id", "label", time_column="t")
    got, _ = outcome(read_sequences_csv, path, "id", "label", time_column="t")
    assert columnar.last_read["status"] == "declined" and same(got, ref) and got[0] == "error"
    path = write(tmp_path / "short.csv", HEADER + "a,cat,1,1,2\nb,dog,1,1\n")
    ref, _ = strict(read_sequences_csv, path, "id", "label", ["x"], time_column="t")
    got, _ = outcome(read_sequences_csv, path, "id", "label", ["x"], time_column="t")
    assert columnar.last_read["status"] == "declined" and same(got, ref) and got[0] == "error"
    path = write(tmp_path / "commas.csv", ",,,,\n" + HEADER + "a,cat,1,1,2\n")
    got, _ = outcome(read_sequences_csv, path, "id", "label", time_column="t")
    assert columnar.last_read["status"] == "declined" and same(got, strict(read_sequences_csv, path, "id", "label",
                                                                           time_column="t")[0])


@pytest.mark.parametrize("shuffle", [False, True])
def test_many_chunks_in_and_out_of_order_equal_the_strict_reader(tmp_path, monkeypatch, shuffle):
    monkeypatch.setattr(columnar, "CHUNK_ROWS", 7)
    monkeypatch.setattr(columnar, "SCAN_BYTES", 64)
    rng = np.random.default_rng(3)
    rows = [f"s{i},{'ab'[i % 2]},{t},{rng.normal():.6g},{rng.integers(-9, 9)}" for i in range(9)
            for t in range(int(rng.integers(1, 12)))]
    if shuffle:
        rows = [rows[i] for i in rng.permutation(len(rows))]
    path = write(tmp_path / "d.csv", HEADER + "\r\n".join(rows) + "\r\n")
    for kw in ({"time_column": "t"}, {"time_column": None}):
        ref, _ = strict(read_sequences_csv, path, "id", "label", **kw)
        got, _ = outcome(read_sequences_csv, path, "id", "label", **kw)
        assert columnar.last_read["status"] == "parsed" and same(got, ref)
