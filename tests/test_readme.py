"""Every Python block in README.md is a complete program, and runs.

Generic on purpose: it runs whatever ```python blocks the README holds (other
sections add theirs). A block that is intentionally not runnable is preceded by
an HTML comment ``<!-- not-run: reason -->`` on the line before its opening
fence; keep that rare. Each block runs in a fresh namespace as ``__main__``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```[ \t]*(python|py)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(\S.*?)\s*-->\s*$")


def python_blocks() -> list[tuple[str, str, str | None]]:
    """``(id, code, reason not to run or None)`` for every Python block, ids naming the section."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()]
        headings = re.findall(r"^#+\s+(.*)$", before, re.M)
        section = re.sub(r"[^a-z0-9]+", "-", (headings[-1] if headings else "top").lower()).strip("-")
        line_no = before.count("\n") + 1
        previous = before.rstrip("\n").rsplit("\n", 1)[-1]
        skip = NOT_RUN.search(previous)
        blocks.append((f"{section}-line{line_no}", match.group(2), skip.group(1) if skip else None))
    return blocks


BLOCKS = python_blocks()


def test_the_readme_has_python_blocks_and_marks_skips_with_a_reason() -> None:
    assert len(BLOCKS) >= 3
    text = README.read_text(encoding="utf-8")
    for line in text.splitlines():  # a malformed marker would silently run (or not): refuse it
        if "not-run" in line:
            assert NOT_RUN.search(line), f"malformed not-run marker: {line!r} (use <!-- not-run: reason -->)"


@pytest.mark.parametrize("block_id, code, skip", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_readme_block_runs(block_id: str, code: str, skip: str | None) -> None:
    if skip is not None:
        pytest.skip(f"marked not-run in README.md: {skip}")
    compiled = compile(code, f"README.md:{block_id}", "exec")
    torch.manual_seed(0)
    exec(compiled, {"__name__": "__main__"})
