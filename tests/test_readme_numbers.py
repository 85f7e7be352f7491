"""The quality numbers in README.md are those of benchmarks/RESULTS.md (one source), with its run dates."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def results() -> dict[str, dict[str, str]]:
    """``{"<recipe> <data>": {column: cell}}`` from RESULTS.md's table."""
    lines = [ln for ln in (ROOT / "benchmarks" / "RESULTS.md").read_text().splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|"))))
        rows[f"{cells['recipe']} {cells['data']}"] = cells
    return rows


def _row(rows: dict, recipe: str, data_word: str) -> dict[str, str]:
    (row,) = [r for k, r in rows.items() if k.startswith(recipe + " ") and data_word in k]
    return row


def _pct(cell: str) -> str:
    return f"{100 * float(cell.split()[0]):.1f}%"


def test_readme_quality_numbers_are_results_md_numbers() -> None:
    readme = re.sub(r"\s+", " ", (ROOT / "README.md").read_text())
    rows = results()
    mnist, digits = _row(rows, "rowmnist", "MNIST"), _row(rows, "rowmnist", "digits")
    expected = [
        f"2 cores, {_pct(mnist['result'])} test accuracy in the run of",
        f"rowmnist {_pct(mnist['result'])} test on the MNIST 5k subset in {mnist['wall time']}",
        f"digits {_pct(digits['result'])} in {digits['wall time']}",
        f"tsclass {_pct(_row(rows, 'tsclass', 'JapaneseVowels')['result'])}",
        f"sentiment {_pct(_row(rows, 'sentiment', 'Rotten')['result'])} in {_row(rows, 'sentiment', 'Rotten')['wall time']}",
    ]
    charlm = _row(rows, "charlm", "Shakespeare")
    value, bits = re.match(r"([0-9.]+) \(([0-9.]+) bits/char\)", charlm["result"]).groups()
    expected.append(f"charlm {float(value):.3f} nats/char ({bits} bits/char) on held-out test text in "
                    f"{charlm['wall time']}")
    for data_word, fmt in (("CO2", "CO₂ ({:.2f} vs {:.2f} ppm)"), ("airline", "airline ({:.1f} vs {:.1f})")):
        got, naive = map(float, re.match(r"([0-9.]+) \(naive ([0-9.]+)\)",
                                         _row(rows, "forecast", data_word)["result"]).groups())
        expected.append(fmt.format(got, naive))
    missing = [e for e in expected if e not in readme]
    assert not missing, f"README.md does not quote benchmarks/RESULTS.md here: {missing}"
    dates = re.search(r"Runs finished between (\S+ \S+) and (\S+ \S+) \(UTC\)",
                      (ROOT / "benchmarks" / "RESULTS.md").read_text()).groups()
    assert f"finished between {dates[0]} and {dates[1]} UTC" in readme
