"""Reading user files: ``.gz``, the share of a file ``skip_bad`` may drop, hints in the caller's spelling,
and the warning for a time-index column read as a feature."""

from __future__ import annotations

import gzip
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnkit.data import DataFileError, read_labelled_table, read_sequences_csv, read_series_csv, read_text_file
from rnnkit.data.errors import ProblemLog, data_suffix, option_spelling, read_bytes
from rnnkit.data.rows import looks_like_time


def gz(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


def test_gz_files_read_like_plain_ones(tmp_path: Path) -> None:
    text = "date,sales\n2020-01,1.5\n2020-02,NA\n2020-03,3.5\n"
    plain = tmp_path / "s.csv"
    plain.write_text(text, encoding="utf-8")
    packed = gz(tmp_path / "s.csv.gz", text)
    expected = pd.read_csv(plain)["sales"].interpolate().to_numpy()  # pandas as the independent reader
    np.testing.assert_array_equal(read_series_csv(packed, "sales", interpolate_missing=True), expected)
    jsonl = gz(tmp_path / "r.jsonl.gz", '{"text": "good", "label": 1}\n{"text": "bad", "label": 0}\n')
    texts, labels, _ = read_labelled_table(jsonl, "text", "label")  # format from the suffix under .gz
    assert texts == ["good", "bad"] and labels.tolist() == ["1", "0"]
    assert read_text_file(gz(tmp_path / "c.txt.gz", "床前明月光\r\n")) == "床前明月光\n"
    assert data_suffix("a/b.CSV.gz") == ".csv" and data_suffix("b.tsv") == ".tsv"


def test_gz_errors_name_the_file(tmp_path: Path) -> None:
    fake = tmp_path / "fake.csv.gz"
    fake.write_text("value\n1\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=re.escape(f"{fake}: is named .gz but is not gzip-compressed")):
        read_series_csv(fake, "value")
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(b"value\n1\n2\n" * 50)[:-20])
    with pytest.raises(DataFileError, match=re.escape(f"{broken}: damaged gzip file")):
        read_bytes(broken)
    latin = tmp_path / "latin.csv.gz"
    latin.write_bytes(gzip.compress("text,label\ncaf\xe9,1\n".encode("latin-1")))
    with pytest.raises(DataFileError, match=re.escape(f"{latin}, line 2: not valid utf-8")):
        read_labelled_table(latin, "text", "label")
    with pytest.raises(FileNotFoundError, match="nope.csv.gz"):
        read_bytes(tmp_path / "nope.csv.gz")


STRAY_QUOTE = "text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(20)) + '"stray,1\n' + "".join(
    f"row {i},{i % 2}\n" for i in range(20, 200))


def test_stray_quote_that_swallows_the_file_stops_with_the_share(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(STRAY_QUOTE, encoding="utf-8")
    with pytest.raises(DataFileError) as info:
        read_labelled_table(path, "text", "label", skip_bad=True)
    msg = str(info.value)
    # 181 of the 201 data lines (the stray line 22 and the 180 after it) went into one bad row
    assert "90.0% skipped, more than the 10% allowed" in msg and "covering 181 of 201 data lines" in msg
    assert "runs over lines 22-202" in msg and "pass a larger max_skipped_share" in msg
    with pytest.warns(UserWarning, match=r"read 20 rows, skipped 1 bad rows, covering 181 of 201 data lines "
                                         r"\(90.0% of the file dropped"):
        texts, _, report = read_labelled_table(path, "text", "label", skip_bad=True, max_skipped_share=1.0)
    assert len(texts) == 20 and (report.lines_skipped, report.lines_total) == (181, 201)


def test_a_few_bad_rows_warn_with_their_share(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("value\n" + "".join(f"{i}\n" for i in range(95)) + "x\n" * 5, encoding="utf-8")
    with pytest.warns(UserWarning, match=r"read 95 rows, skipped 5 bad rows \(5.0% of the file dropped"):
        values = read_series_csv(path, "value", skip_bad=True)
    np.testing.assert_array_equal(values, np.arange(95.0))
    six = tmp_path / "six.csv"
    six.write_text("value\n" + "".join(f"{i}\n" for i in range(94)) + "x\n" * 6, encoding="utf-8")
    with pytest.raises(DataFileError, match="6.0% skipped, more than the 5% allowed"):
        read_series_csv(six, "value", skip_bad=True, max_skipped_share=0.05)
    with pytest.raises(ValueError, match=r"max_skipped_share must be a number in \[0, 1\], got 2"):
        ProblemLog(path, True, 2)


def test_hints_speak_the_callers_language(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("a,b\n1,2\nx,3\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=re.escape("pass column=... to choose one")):
        read_series_csv(path)
    with pytest.raises(DataFileError, match=re.escape("(pass skip_bad=True to skip bad rows)")):
        read_series_csv(path, "a")
    with option_spelling(column="add --column NAME", skip_bad="add --skip-bad"):
        with pytest.raises(DataFileError, match=re.escape("columns ['a', 'b']; add --column NAME to choose one")):
            read_series_csv(path)
        with pytest.raises(DataFileError) as info:
            read_series_csv(path, "a")
        assert "(add --skip-bad to skip bad rows)" in str(info.value) and "skip_bad" not in str(info.value)
    with option_spelling(skip_bad=None):  # a caller without the option: no hint at all
        with pytest.raises(DataFileError) as info:
            read_series_csv(path, "a")
        assert str(info.value).endswith("'a' must be a finite number, got 'x'")
    latin = tmp_path / "l.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    with option_spelling(encoding="pass --encoding NAME"), pytest.raises(DataFileError, match="pass --encoding NAME"):
        read_text_file(latin)
    with pytest.raises(DataFileError, match=re.escape("pass encoding=...")):  # the block is closed: Python again
        read_text_file(latin)


def test_time_like_feature_column_warns(tmp_path: Path) -> None:
    path = tmp_path / "seq.csv"
    path.write_text("id,timestamp,x,label\ns1,0,1.0,a\ns1,1,2.0,a\ns2,0,3.0,b\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=re.escape("column(s) 'timestamp' look like a time index but are read as "
                                                   "feature(s); pass time_column=... or pass feature_columns")):
        seqs, _ = read_sequences_csv(path, "id", "label")
    assert seqs[0].shape == (2, 2)  # it is still a feature: the warning says so, nothing changes silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seqs, _ = read_sequences_csv(path, "id", "label", time_column="timestamp")
        assert seqs[0].shape == (2, 1)
        read_sequences_csv(path, "id", "label", ["x"])
    assert [looks_like_time(n) for n in ("t", "Date", "time step", "order_date", "x", "temp", "stamp")] == [
        True, True, True, True, False, False, False]
