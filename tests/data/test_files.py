"""User data files: correct parses, and every error names the file and the line; skip_bad counts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data import (
    DataFileError,
    encode_labels,
    read_labelled_table,
    read_sequences_csv,
    read_series_csv,
    read_text_column,
    read_text_file,
    read_ts_file,
)


def write(tmp_path: Path, name: str, content: "str | bytes") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def raises_at(path: Path, line: "int | None", fragment: str):
    """Expect a DataFileError naming ``path`` and ``line`` and containing ``fragment``."""
    where = f"{path}, line {line}: " if line is not None else f"{path}: "
    return pytest.raises(DataFileError, match=re.escape(where) + ".*" + re.escape(fragment))


# ---------------------------------------------------------------- text files

def test_text_file_utf8_chinese_bom_and_crlf(tmp_path: Path) -> None:
    path = write(tmp_path, "poem.txt", "\ufeff床前明月光，\r\n疑是地上霜。\rend")
    assert read_text_file(path) == "床前明月光，\n疑是地上霜。\nend"


def test_text_file_wrong_encoding_names_line_and_offset(tmp_path: Path) -> None:
    data = "first\nsecond\nna\u00efve third\n".encode("latin-1")
    path = write(tmp_path, "latin.txt", data)
    offset = data.index(b"\xef")
    with raises_at(path, 3, f"not valid utf-8: byte(s) ef at byte offset {offset} (column 3)") as info:
        read_text_file(path)
    assert info.value.line == 3 and info.value.path == str(path)
    assert read_text_file(path, encoding="latin-1") == "first\nsecond\nna\u00efve third\n"


def test_text_file_empty_unknown_encoding_missing(tmp_path: Path) -> None:
    empty = write(tmp_path, "empty.txt", "")
    with raises_at(empty, None, "the file is empty"):
        read_text_file(empty)
    with raises_at(empty, None, "unknown encoding 'utf-99'"):
        read_text_file(empty, encoding="utf-99")
    with pytest.raises(FileNotFoundError):
        read_text_file(tmp_path / "nope.txt")
    with raises_at(tmp_path, None, "is a directory"):
        read_text_file(tmp_path)


# ---------------------------------------------------------------- labelled tables

GOOD_CSV = 'id,review,stars\n1,"Great, really great",pos\n2,"two\nlines",neg\n\n3,plain, neutral \n'


def test_csv_table_reads_quotes_multiline_and_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", GOOD_CSV)
    texts, labels, report = read_labelled_table(path, "review", "stars")
    assert texts == ["Great, really great", "two\nlines", "plain"]
    assert labels.tolist() == ["pos", "neg", "neutral"]
    assert (report.rows_read, report.rows_skipped, report.problems) == (3, 0, [])


def test_tsv_and_jsonl_and_format_override(tmp_path: Path) -> None:
    tsv = write(tmp_path, "r.tsv", "text\tlabel\ngood film\t1\nbad, film\t0\n")
    texts, labels, _ = read_labelled_table(tsv, "text", "label")
    assert texts == ["good film", "bad, film"] and labels.tolist() == ["1", "0"]
    rows = [{"text": "好电影", "label": 1}, {"text": "bad", "label": 0, "extra": [1]}]
    jsonl = write(tmp_path, "r.txt", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n")
    texts, labels, _ = read_labelled_table(jsonl, "text", "label")
    assert texts == ["好电影", "bad"] and labels.tolist() == ["1", "0"]
    with pytest.raises(DataFileError):  # read as CSV it lacks the columns
        read_labelled_table(jsonl, "text", "label", format="csv")
    with pytest.raises(ValueError, match="format must be one of 'csv', 'tsv', 'jsonl' or None, got 'xml'"):
        read_labelled_table(jsonl, "text", "label", format="xml")


def test_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", GOOD_CSV)
    with raises_at(path, 1, "no column(s) 'label' in the header; columns are ['id', 'review', 'stars']"):
        read_labelled_table(path, "review", "label")


BAD_CSV = (
    "text,label\n"          # 1
    "ok one,1\n"            # 2
    "too,many,fields\n"     # 3
    '"multi\nline",0\n'     # 4-5
    ",1\n"                  # 6 empty text
    "no label,\n"           # 7 empty label
    "short\n"               # 8 one field
    "ok two,0\n"            # 9
)


@pytest.mark.parametrize(
    "drop,line,fragment",
    [
        (None, 3, "expected 2 fields (as the header), got 3"),
        (3, 6, "'text' must be non-empty text, got ''"),
        (6, 7, "'label' (the label) is empty or not a scalar: ''"),
        (7, 8, "expected 2 fields (as the header), got 1"),
    ],
)
def test_csv_bad_rows_name_their_line(tmp_path: Path, drop: "int | None", line: int, fragment: str) -> None:
    lines = BAD_CSV.split("\n")
    # Blank out earlier bad lines (keeping line numbers) so each case is the first error.
    for k in {3: [3], 6: [3, 6], 7: [3, 6, 7]}.get(drop, []):
        lines[k - 1] = ""
    path = write(tmp_path, "bad.csv", "\n".join(lines))
    with raises_at(path, line, fragment + " (pass skip_bad=True to skip bad rows)"):
        read_labelled_table(path, "text", "label")


def test_csv_skip_bad_counts_and_warns(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", BAD_CSV)
    with pytest.warns(UserWarning, match=r"read 3 rows, skipped 4 bad rows \(50.0% of the file dropped; "
                                         r"line 3: .*; and 1 more\)"):
        texts, labels, report = read_labelled_table(path, "text", "label", skip_bad=True, max_skipped_share=0.5)
    assert texts == ["ok one", "multi\nline", "ok two"] and labels.tolist() == ["1", "0", "0"]
    assert report.rows_read == 3 and report.rows_skipped == 4
    assert [ln for ln, _ in report.problems] == [3, 6, 7, 8]


def test_csv_unclosed_quote_and_empty_and_header_only(tmp_path: Path) -> None:
    path = write(tmp_path, "q.csv", 'text,label\nfine,1\n"never closed,0\n')
    with raises_at(path, 3, "malformed CSV"):
        read_labelled_table(path, "text", "label")
    empty = write(tmp_path, "e.csv", "")
    with raises_at(empty, None, "the file is empty"):
        read_labelled_table(empty, "text", "label")
    blank = write(tmp_path, "b.csv", "\n\n  \n")
    with raises_at(blank, None, "no header row"):
        read_labelled_table(blank, "text", "label")
    header = write(tmp_path, "h.csv", "text,label\n")
    with raises_at(header, None, "no data rows found"):
        read_labelled_table(header, "text", "label")
    dup = write(tmp_path, "d.csv", "text,text\na,b\n")
    with raises_at(dup, 1, "duplicate column name 'text'"):
        read_labelled_table(dup, "text", "text")


def test_all_rows_bad_is_an_error_even_with_skip_bad(tmp_path: Path) -> None:
    path = write(tmp_path, "allbad.csv", "text,label\n,1\nx,\n")
    with raises_at(path, None, "no usable data rows: all were bad"):
        read_labelled_table(path, "text", "label", skip_bad=True)


def test_table_wrong_encoding_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "enc.csv", "text,label\ncaf\xe9,1\n".encode("cp1252"))
    with raises_at(path, 2, "not valid utf-8"):
        read_labelled_table(path, "text", "label")
    texts, _, _ = read_labelled_table(path, "text", "label", encoding="cp1252")
    assert texts == ["caf\xe9"]


def test_jsonl_bad_lines(tmp_path: Path) -> None:
    content = "\n".join([
        '{"text": "good", "label": "pos"}',   # 1
        '{"text": "broken", ',                # 2 malformed
        '["a", "list"]',                      # 3 not an object
        '{"text": "no label key"}',           # 4 missing key
        '{"text": "null label", "label": null}',  # 5
        '{"text": 5, "label": "neg"}',        # 6 text not a string
        '{"text": "fine", "label": "neg"}',   # 7
    ])
    path = write(tmp_path, "r.jsonl", content)
    with raises_at(path, 2, "malformed JSON"):
        read_labelled_table(path, "text", "label")
    with pytest.warns(UserWarning, match="skipped 5 bad rows"):
        texts, labels, report = read_labelled_table(path, "text", "label", skip_bad=True, max_skipped_share=1.0)
    assert texts == ["good", "fine"] and labels.tolist() == ["pos", "neg"]
    assert [ln for ln, _ in report.problems] == [2, 3, 4, 5, 6]
    assert "expected a JSON object, got list" in report.problems[1][1]
    assert "missing key(s) 'label'" in report.problems[2][1]
    deep = write(tmp_path, "deep.jsonl", '{"text": "ok", "label": 1}\n' + "[" * 100_000 + "\n")
    with raises_at(deep, 2, "malformed JSON: nested too deeply"):
        read_labelled_table(deep, "text", "label")


def test_text_column_and_argument_types(tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", GOOD_CSV)
    texts, report = read_text_column(path, "review")
    assert texts == ["Great, really great", "two\nlines", "plain"] and report.rows_read == 3
    with pytest.raises(TypeError, match="text_column must be a column name \\(str\\), got int 0"):
        read_labelled_table(path, 0, "stars")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="skip_bad must be a bool, got str 'yes'"):
        read_labelled_table(path, "review", "stars", skip_bad="yes")  # type: ignore[arg-type]


# ---------------------------------------------------------------- labels

def test_encode_labels() -> None:
    idx, classes = encode_labels(["10", "2", "1", "2"])
    assert classes == ["1", "2", "10"] and idx.tolist() == [2, 1, 0, 1]
    idx, classes = encode_labels(np.array(["pos", "neg", "pos"]))
    assert classes == ["neg", "pos"] and idx.tolist() == [1, 0, 1] and idx.dtype == np.int64
    idx, _ = encode_labels(["b"], classes=["a", "b"])
    assert idx.tolist() == [1]
    with pytest.raises(ValueError, match=r"labels must be one of the classes \['a', 'b'\], got unknown label\(s\) \['c'\]"):
        encode_labels(["a", "c"], classes=["a", "b"])


# ---------------------------------------------------------------- series

def test_series_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", "date,value\n2020-01,1.5\n2020-02,2\n2020-03,-3e1\n")
    np.testing.assert_array_equal(read_series_csv(path, "value"), [1.5, 2.0, -30.0])
    with raises_at(path, 1, "has 2 columns ['date', 'value']; pass column=..."):
        read_series_csv(path)
    with raises_at(path, 1, "no column 'v'"):
        read_series_csv(path, "v")
    single = write(tmp_path, "one.csv", "x\n1\n2\n")
    np.testing.assert_array_equal(read_series_csv(single), [1.0, 2.0])


def test_series_bad_values_and_missing(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", "value\n1\n\n2\nabc\nNA\n5\ninf\n")
    with raises_at(path, 5, "'value' must be a finite number, got 'abc'"):
        read_series_csv(path, "value")
    with pytest.warns(UserWarning, match="skipped 3 bad rows"):
        values = read_series_csv(path, "value", skip_bad=True, max_skipped_share=0.5)
    np.testing.assert_array_equal(values, [1.0, 2.0, 5.0])
    gaps = write(tmp_path, "g.csv", "date,value\nd1,NA\nd2,1\nd3,\nd4,3\nd5,nan\n")
    with raises_at(gaps, 2, "(pass interpolate_missing=True to fill gaps)"):
        read_series_csv(gaps, "value")
    np.testing.assert_array_equal(read_series_csv(gaps, "value", interpolate_missing=True), [1.0, 1.0, 2.0, 3.0, 3.0])


# ---------------------------------------------------------------- sequences

SEQ_CSV = (
    "sid,t,a,b,label\n"  # 1
    "s1,0,1,10,x\n"       # 2
    "s2,1,5,50,y\n"       # 3
    "s1,2,3,30,x\n"       # 4
    "s2,0,4,40,y\n"       # 5
    "s1,1,2,20,x\n"       # 6
    "s3,0,7,70,x\n"       # 7
)


def test_sequences_csv_groups_by_id_in_order(tmp_path: Path) -> None:
    path = write(tmp_path, "q.csv", SEQ_CSV)
    seqs, labels = read_sequences_csv(path, "sid", "label", ["a", "b"])
    assert labels.tolist() == ["x", "y", "x"]
    np.testing.assert_array_equal(seqs[0], [[1, 10], [3, 30], [2, 20]])
    np.testing.assert_array_equal(seqs[1], [[5, 50], [4, 40]])
    assert seqs[2].shape == (1, 2) and seqs[0].dtype == np.float32
    seqs, _ = read_sequences_csv(path, "sid", "label", time_column="t")
    np.testing.assert_array_equal(seqs[0], [[1, 10], [2, 20], [3, 30]])  # sorted by t; t not a feature
    np.testing.assert_array_equal(seqs[1], [[4, 40], [5, 50]])
    seqs, labels = read_sequences_csv(path, "sid", None, ["a"])
    assert labels is None and [len(s) for s in seqs] == [3, 2, 1]


def test_sequences_csv_errors(tmp_path: Path) -> None:
    bad = SEQ_CSV + "s2,2,6,oops,y\n" + "s1,3,4,40,y\n" + ",0,1,1,x\n"  # lines 8, 9, 10
    path = write(tmp_path, "q.csv", bad)
    with raises_at(path, 8, "feature 'b' must be a finite number, got 'oops'"):
        read_sequences_csv(path, "sid", "label", ["a", "b"])
    with pytest.warns(UserWarning, match="skipped 3 bad rows"):
        seqs, labels = read_sequences_csv(path, "sid", "label", ["a", "b"], skip_bad=True, max_skipped_share=0.5)
    assert [len(s) for s in seqs] == [3, 2, 1]
    lines = bad.split("\n")
    lines[7] = ""
    path2 = write(tmp_path, "q2.csv", "\n".join(lines))
    with raises_at(path2, 9, "sequence 's1' has label 'y' here but 'x' on line 2"):
        read_sequences_csv(path2, "sid", "label", ["a", "b"])
    with raises_at(path, 1, "no column(s) 'c'"):
        read_sequences_csv(path, "sid", "label", ["a", "c"])
    with raises_at(path, 1, "no column(s) 'speaker'"):
        read_sequences_csv(path, "sid", "speaker")
    with pytest.raises(TypeError, match="feature_columns must be a list of column names"):
        read_sequences_csv(path, "sid", "label", "a")  # type: ignore[arg-type]


# ---------------------------------------------------------------- .ts files

TS = """# a comment
@problemName Tiny
@timeStamps false
@univariate false
@dimensions 2
@equalLength false
@classLabel true a b
@data
1,2,3:4,5,6:a
7,?:8,9:b

0.5:1e-3:a
"""


def test_ts_file_variable_length_multivariate(tmp_path: Path) -> None:
    seqs, labels = read_ts_file(write(tmp_path, "t.ts", TS))
    assert labels.tolist() == ["a", "b", "a"]
    np.testing.assert_array_equal(seqs[0], [[1, 4], [2, 5], [3, 6]])
    assert seqs[1].shape == (2, 2) and np.isnan(seqs[1][1, 0]) and seqs[1][1, 1] == 9
    np.testing.assert_allclose(seqs[2], [[0.5, 1e-3]])
    assert all(s.dtype == np.float32 for s in seqs)


def test_ts_file_unlabelled(tmp_path: Path) -> None:
    text = TS.replace("@classLabel true a b", "@classLabel false").replace(":a\n", "\n").replace(":b\n", "\n")
    seqs, labels = read_ts_file(write(tmp_path, "u.ts", text))
    assert labels is None and [len(s) for s in seqs] == [3, 2, 1]


@pytest.mark.parametrize(
    "old,new,line,fragment",
    [
        ("7,?:8,9:b", "7,?:8,9:c", 10, "label 'c' is not one of the declared class labels ['a', 'b']"),
        ("7,?:8,9:b", "7,?:b", 10, "expected 2 channels (as @dimensions), got 1"),
        ("7,?:8,9:b", "7,x:8,9:b", 10, "channel 1 has a value that is not a number: '7,x'"),
        ("7,?:8,9:b", "7,,1:8,9,1:b", 10, "channel 1 has a value that is not a number"),
        ("7,?:8,9:b", "7,1:8:b", 10, "channels of one case must have equal lengths, got [1, 2]"),
        ("@timeStamps false", "@timeStamps true", 3, "time-stamped .ts files (@timeStamps true) are not supported"),
        ("@dimensions 2", "@dimensions two", 5, "@dimensions must be an integer, got 'two'"),
        ("@classLabel true a b\n", "", 7, "the header has no @classLabel line"),
        ("# a comment", "garbage", 1, "expected a '@key value' header line or '@data'"),
    ],
)
def test_ts_file_errors_name_their_line(tmp_path: Path, old: str, new: str, line: int, fragment: str) -> None:
    path = write(tmp_path, "bad.ts", TS.replace(old, new))
    with raises_at(path, line, fragment):
        read_ts_file(path)


def test_ts_file_no_data_and_skip_bad(tmp_path: Path) -> None:
    path = write(tmp_path, "nodata.ts", TS.split("@data")[0])
    with raises_at(path, None, "no '@data' line"):
        read_ts_file(path)
    path = write(tmp_path, "skip.ts", TS.replace("7,?:8,9:b", "7,x:8,9:b"))
    with pytest.warns(UserWarning, match="skipped 1 bad rows"):
        seqs, labels = read_ts_file(path, skip_bad=True, max_skipped_share=0.5)
    assert labels.tolist() == ["a", "a"] and len(seqs) == 2
    only_header = write(tmp_path, "empty.ts", TS.split("@data")[0] + "@data\n")
    with raises_at(only_header, None, "no cases after @data found"):
        read_ts_file(only_header)


def test_sequence_ids_come_back_with_their_sequences(tmp_path):
    """``return_ids``: one id per returned sequence, as the file spells it (stripped), from the fast reader
    on a clean file and from the strict one when ``skip_bad`` drops a whole sequence (its id goes too)."""
    rows = ["sid,x,label", "007,1,a", "007,2,a", "1.0,3,b", " 2 ,4,a"]
    clean = tmp_path / "clean.csv"
    clean.write_text("\n".join(rows) + "\n")
    seqs, labels, ids = read_sequences_csv(clean, "sid", "label", return_ids=True)
    assert ids == ["007", "1.0", "2"]
    assert [s.ravel().tolist() for s in seqs] == [[1.0, 2.0], [3.0], [4.0]] and labels.tolist() == ["a", "b", "a"]
    dropped = tmp_path / "dropped.csv"
    dropped.write_text("\n".join(rows[:3] + ["x9,oops,b", "x9,nan?,b"] + rows[3:]) + "\n")
    with pytest.warns(UserWarning) as said:
        seqs, labels, ids = read_sequences_csv(dropped, "sid", "label", return_ids=True, skip_bad=True,
                                               max_skipped_share=0.5)
    messages = [str(w.message) for w in said]
    assert any("skipped 2 bad rows" in m for m in messages)
    assert any("1 sequence(s) had every row skipped as bad and are left out: 'x9'" in m for m in messages)
    assert ids == ["007", "1.0", "2"]
    assert [s.ravel().tolist() for s in seqs] == [[1.0, 2.0], [3.0], [4.0]] and labels.tolist() == ["a", "b", "a"]
    assert read_sequences_csv(clean, "sid", "label")[0][0].tolist() == [[1.0], [2.0]]  # default: two values back
