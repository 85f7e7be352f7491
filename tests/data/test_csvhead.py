"""csv_header read as a stream equals csv_rows' read of decode_file's whole text."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from rnnkit.data.csvhead import csv_header
from rnnkit.data.errors import DataFileError, ProblemLog, decode_file
from rnnkit.data.rows import csv_rows

CHUNK = 8192
"""io's default buffer: the stream decodes the file in blocks about this large."""

TEXTS = {
    "plain": "id,label,x\na,1,2\nb,1,3\na,1,4\n",
    "crlf, bom, spaces": "\ufeff id , label,x\r\n a ,1,2\r\n\r\nb,1,3\r\n , 1, 2\r\n",
    "lone cr": "id,x\ra,1\rb,2\r",
    "quoted newline in the header": '"i\nd",x\n"a\nb",1\nc,2\n',
    "short rows": "id,label,x\na\n,1\nb,2,3\n",
    "no trailing newline": "id\nq",
    "blank first line": "\nid,x\na,1\n",
    "blank and whitespace-only leading rows": "\n  \n , \t,\r\n\nid,x\na,1\n",
    "bom then a blank line": "\ufeff\n\nid,x\na,1\n",
    "quoted names with separators": '"a,b","c""d",x\n1,2,3\n',
    "quoted header with a newline after blank lines": '\n\n"i\r\nd",x\n"a",1\n',
    "blank lines past the read chunk": "\n" * (3 * CHUNK) + "id,x\na,1\n",
    "header longer than the read chunk": ",".join(f"col{i}" for i in range(3000)) + "\n" + "1," * 2999 + "1\n",
    "crlf split across the chunk boundary": "\n" * (CHUNK - 1) + "\r\nid,x\r\na,1\r\n",
    "spaces around names": "  id ,\tx  \na,1\n",
}


def whole_read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of the whole-text reader (bad rows skipped)."""
    header, rows = csv_rows(path, decode_file(path), ",", ProblemLog(path, True))
    return header, [row for _, row in rows]


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", list(TEXTS))
def test_stream_reads_equal_reads_of_the_whole_text(tmp_path, name, gz):
    data = TEXTS[name].encode("utf-8")
    path = tmp_path / ("d.csv.gz" if gz else "d.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    header, _ = whole_read(path)
    assert csv_header(path) == header


def test_the_whole_read_skips_blank_leading_rows_and_strips_names(tmp_path):
    """Pins what the references above mean, so that both sides cannot drift together unnoticed."""
    cases = {"blank and whitespace-only leading rows": ["id", "x"], "bom then a blank line": ["id", "x"],
             "quoted names with separators": ["a,b", 'c"d', "x"], "spaces around names": ["id", "x"],
             "quoted header with a newline after blank lines": ["i\nd", "x"]}
    for name, expected in cases.items():
        path = tmp_path / "p.csv"
        path.write_bytes(TEXTS[name].encode("utf-8"))
        assert csv_header(path) == whole_read(path)[0] == expected, name


def test_the_header_is_read_without_the_rest_of_the_file(tmp_path):
    """A bad byte far past the header: the whole read fails, the header read does not get there."""
    path = tmp_path / "late.csv"
    path.write_bytes(b"\xef\xbb\xbf\n\ntime, value\n" + b"2000-01,1\n" * 50_000 + b"\xff,2\n")
    with pytest.raises(DataFileError, match="line 50004"):
        decode_file(path)
    assert csv_header(path) == ["time", "value"]


@pytest.mark.parametrize("text, problem", [
    ("\n\nid,x,id\n" + "a,1,2\n" * 5_000, "line 3: duplicate column name 'id' in the header"),
    ("\ufeff\n id ,x,id\n" + "a,1,2\n" * 5_000, "line 2: duplicate column name 'id' in the header"),
    ('\n"a,"b\n' + "1\n" * 5_000, "line 2: malformed header"),
    ("\n \n,\n", "the file has no header row"),
    ("\ufeff", "the file is empty"),
])
def test_header_problems_are_the_whole_reads_errors(tmp_path, text, problem):
    path = tmp_path / "h.csv"
    path.write_bytes(text.encode("utf-8"))
    with pytest.raises(DataFileError) as ref:
        whole_read(path)
    with pytest.raises(DataFileError) as got:
        csv_header(path)
    assert str(got.value) == str(ref.value) and problem in str(got.value)


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


def test_a_bad_byte_after_the_header_is_not_read(tmp_path):
    path = tmp_path / "late.csv"
    path.write_bytes(b"id,x\n" + b"a,1\n" * 50_000 + b"\xff,2\n")  # past the header's first decoded block
    assert csv_header(path) == ["id", "x"]
    with pytest.raises(DataFileError, match="line 50002"):
        decode_file(path)
