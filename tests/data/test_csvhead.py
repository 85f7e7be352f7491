"""csv_header / csv_distinct read as a stream equal the same reads of decode_file's whole text."""

from __future__ import annotations

import csv
import gzip
import io

import pytest

from rnnkit.data.csvhead import csv_distinct, csv_header
from rnnkit.data.errors import DataFileError, decode_file

TEXTS = {
    "plain": "id,label,x\na,1,2\nb,1,3\na,1,4\n",
    "crlf, bom, spaces": "\ufeff id , label,x\r\n a ,1,2\r\n\r\nb,1,3\r\n , 1, 2\r\n",
    "lone cr": "id,x\ra,1\rb,2\r",
    "quoted newline in the header": '"i\nd",x\n"a\nb",1\nc,2\n',
    "short rows": "id,label,x\na\n,1\nb,2,3\n",
    "no trailing newline": "id\nq",
    "blank first line": "\nid,x\na,1\n",
}


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", list(TEXTS))
def test_stream_reads_equal_reads_of_the_whole_text(tmp_path, name, gz):
    data = TEXTS[name].encode("utf-8")
    path = tmp_path / ("d.csv.gz" if gz else "d.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    text = decode_file(path)
    assert csv_header(path) == [h.strip() for h in next(csv.reader(io.StringIO(text)), [])]
    for column in ("id", "i\nd", "x", "nope"):
        ref = list(dict.fromkeys(row[column].strip() for row in csv.DictReader(io.StringIO(text))
                                 if (row.get(column) or "").strip()))
        assert csv_distinct(path, column) == ref


@pytest.mark.parametrize("data, suffix", [(b"", ".csv"), (b"\xff,x\n", ".csv"), (b"\x1f\x8b\x08broken", ".csv.gz"),
                                          (b"id,x\n", ".gz")])
def test_header_errors_are_decode_files(tmp_path, data, suffix):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(data)
    with pytest.raises(DataFileError) as ref:
        decode_file(path)
    with pytest.raises(DataFileError) as got:
        csv_header(path)
    assert str(got.value) == str(ref.value)


def test_a_bad_byte_after_the_header_is_decode_files_error_for_the_column(tmp_path):
    path = tmp_path / "late.csv"
    path.write_bytes(b"id,x\n" + b"a,1\n" * 50_000 + b"\xff,2\n")  # past the header's first decoded block
    assert csv_header(path) == ["id", "x"]
    with pytest.raises(DataFileError) as ref:
        decode_file(path)
    with pytest.raises(DataFileError) as got:
        csv_distinct(path, "id")
    assert str(got.value) == str(ref.value) and "line 50002" in str(got.value)
