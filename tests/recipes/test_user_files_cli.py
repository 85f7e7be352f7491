"""User files through the CLI: .gz accepted, and errors that name the file and the flag to type."""

from __future__ import annotations

import gzip
import json

from rnnkit.cli import main


def test_charlm_text_errors_name_the_file_and_the_flag(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    latin = tmp_path / "corpus.txt"
    latin.write_bytes(("caf\xe9 " * 50).encode("latin-1"))
    assert main(["train", "charlm", "--text", str(latin), "--tiny", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"{latin}, line 1: not valid utf-8" in err and "add --encoding NAME" in err and "encoding=" not in err


def test_sentiment_gz_data_and_skip_bad_share(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rows = [{"text": f"good film number {i}" if i % 2 else f"bad film number {i}", "label": i % 2} for i in range(60)]
    lines = [json.dumps(r) for r in rows]
    lines[5] = '{"text": "broken'  # one malformed line of 60
    data = tmp_path / "reviews.jsonl.gz"
    data.write_bytes(gzip.compress("\n".join(lines).encode()))
    base = ["train", "sentiment", "--data", str(data), "--tiny", "--epochs", "1", "--no-progress"]
    assert main(base) == 1
    err = capsys.readouterr().err
    assert "reviews.jsonl.gz, line 6: malformed JSON" in err and "(add --skip-bad to skip bad rows)" in err
    assert main([*base, "--skip-bad", "--run-dir", str(tmp_path / "r")]) == 0
    assert "read 59 rows, skipped 1 bad rows (1.7% of the file dropped" in capsys.readouterr().out


def test_charlm_reads_a_gz_corpus_like_the_plain_one(tmp_path):
    from rnnkit.data.tokens import corpus_from_file

    text = "To be, or not to be: that is the question.\n" * 40
    (tmp_path / "c.txt").write_text(text, encoding="utf-8")
    (tmp_path / "c.txt.gz").write_bytes(gzip.compress(text.encode()))
    plain = corpus_from_file(tmp_path / "c.txt", directory=tmp_path / "cache1")
    packed = corpus_from_file(tmp_path / "c.txt.gz", directory=tmp_path / "cache2")
    assert packed.vocab.chars == plain.vocab.chars and (packed.tokens[:] == plain.tokens[:]).all()
