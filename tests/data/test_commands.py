"""rnnkit prepare / rnnkit cache through rnnkit.cli.main."""

from __future__ import annotations

import numpy as np

from rnnkit.cli import main
from rnnkit.data import columnar


def test_prepare_caches_list_shows_clear_removes(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    monkeypatch.setenv("RNNKIT_CACHE", str(cache))
    monkeypatch.setattr(columnar, "CACHE_MIN_BYTES", 0)
    text = tmp_path / "t.txt"
    text.write_text("to be or not to be\n" * 200, encoding="utf-8")
    rng = np.random.default_rng(0)
    table = tmp_path / "ts.csv"
    table.write_text("id,t,label,a\n" + "".join(f"s{i // 20},{i % 20},{i // 20 % 2},{rng.normal():.4f}\n"
                                                for i in range(400)), encoding="utf-8")
    assert main(["prepare", "charlm", "--text", str(text)]) == 0
    out = capsys.readouterr().out
    assert "tokenised in" in out and "cached corpus corpora/" in out and str(cache) in out
    assert main(["prepare", "tsclass", "--data", str(table), "--time-column", "t"]) == 0
    assert "cached table tables/" in capsys.readouterr().out
    assert main(["prepare", "tsclass", "--data", str(table), "--time-column", "t"]) == 0
    assert "reused the cached table" in capsys.readouterr().out
    assert main(["cache"]) == 0
    listing = capsys.readouterr().out
    assert "2 entries" in listing and str(text) in listing and f"sequences {table}" in listing
    corpus = next(line.split()[0] for line in listing.splitlines() if "corpora/" in line)
    assert main(["cache", "clear", "corpora/none"]) == 1
    assert "no entry named corpora/none" in capsys.readouterr().err
    assert main(["cache", "clear", corpus]) == 0
    assert "removed 1 entries" in capsys.readouterr().out and not (cache / corpus).exists()
    assert main(["cache", "clear"]) == 0
    assert main(["cache", "list"]) == 0
    assert "0 entries" in capsys.readouterr().out
    assert not any((cache / "tables").iterdir())
