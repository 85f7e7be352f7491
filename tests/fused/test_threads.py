"""The compiled kernels at two threads: the batch split over threads (csrc/rowsplit.h) gives the reference
runner's outputs, final states and every gradient, with and without lengths, both directions, and equals
the unsplit run (RNNKIT_BATCH_SPLIT=0)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
import torch

from tests.fused.test_compiled import CONFIGS, _assert_float32_match, _float32_case, _run_both, path  # noqa: F401

NAMES = sorted(CONFIGS)


@pytest.fixture
def two_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("name", NAMES)
def test_batch_split_matches_reference(path: Any, name: str, two_threads: None) -> None:  # noqa: F811
    """B = 40 splits into two ranges of ~20 rows (each range's step GEMMs on MKL's packed path); lengths
    leave the second range's rows shorter, so the ranges balance work, not rows, and end at different steps."""
    assert torch.get_num_threads() == 2
    T, B = 7, 40
    cell, x, state, g = _float32_case(path, CONFIGS[name], T, B, seed=21)
    lengths = torch.randint(0, T + 1, (B,), generator=g)
    lengths[0] = T
    for lens, reverse in ((None, False), (lengths, False), (lengths, True)):
        _assert_float32_match(*_run_both(path, cell, x, state, lens, reverse))


@pytest.mark.parametrize("name", ["lstm-everything", "gru", "gru-reset-before", "elman-relu", "lnlstm",
                                  "dropout-variational-state-c", "zoneout-everything"])
@pytest.mark.parametrize("B", [16, 17, 70])
def test_batch_split_equals_unsplit(path: Any, name: str, B: int, two_threads: None,  # noqa: F811
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """At B = 16 (two ranges of 8 rows: the small-row GEMM loop), 17 and 70 (oneDNN's step GEMMs) the
    split run equals the run with RNNKIT_BATCH_SPLIT=0 to float32 rounding (the GEMMs' row blocks differ)."""
    T = 5
    cell, x, state, g = _float32_case(path, CONFIGS[name], T, B, seed=B)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    split = _run_both(path, cell, x, state, lengths, False)[0]
    monkeypatch.setenv("RNNKIT_BATCH_SPLIT", "0")
    unsplit = _run_both(path, cell, x, state, lengths, False)[0]
    _assert_float32_match(split, unsplit)


def test_split_rule(two_threads: None, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """rowsplit.h's rule: split unless the step weights exceed a core's L2 and each range would get fewer
    than 128 rows; RNNKIT_BATCH_SPLIT=1 forces the split, =0 turns it off."""
    from rnnkit.fused.build import load

    core = load()
    assert core is not None
    l2 = core.l2_bytes()
    assert l2 > 0
    T = 4
    monkeypatch.delenv("RNNKIT_BATCH_SPLIT", raising=False)
    assert core.row_ranges([64] * T, 64, l2) == [0, 32, 64]
    assert core.row_ranges([64] * T, 64, l2 + 1) == [0, 64]
    assert core.row_ranges([255] * T, 255, l2 + 1) == [0, 255]  # ranges of 127 rows: too few
    assert core.row_ranges([256] * T, 256, l2 + 1) == [0, 128, 256]
    assert core.row_ranges([15] * T, 15, 0) == [0, 15]  # fewer than 2 x 8 rows
    monkeypatch.setenv("RNNKIT_BATCH_SPLIT", "1")
    assert core.row_ranges([64] * T, 64, l2 + 1) == [0, 32, 64]
    monkeypatch.setenv("RNNKIT_BATCH_SPLIT", "0")
    assert core.row_ranges([64] * T, 64, 0) == [0, 64]


@pytest.mark.parametrize("family", ["gru", "lstm"])
def test_big_weight_both_branches(path: Any, family: str, two_threads: None,  # noqa: F811
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A recurrent weight larger than L2 at B = 24: the rule keeps the batch whole (each step's GEMM and
    passes threaded), RNNKIT_BATCH_SPLIT=1 splits it; both give the reference runner's results."""
    from rnnkit.cells import GRUCell, LSTMCell
    from rnnkit.fused.build import load
    from tests.fused.test_compiled import _random_state

    core = load()
    gates = 3 if family == "gru" else 4
    H = int((core.l2_bytes() / (4 * gates)) ** 0.5) + 8  # gates * H * H float32 weights > L2
    T, B = 3, 24
    torch.manual_seed(0)
    cell = GRUCell(3, H) if family == "gru" else LSTMCell(3, H, use_peepholes=True)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(T, B, 3, generator=g)
    state = _random_state(cell, B, torch.float32, g)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[0] = T
    monkeypatch.delenv("RNNKIT_BATCH_SPLIT", raising=False)
    assert core.row_ranges([B] * T, B, gates * H * H * 4) == [0, B]  # the rule's branch: no split
    for mode in ("rule", "1"):
        if mode == "1":
            monkeypatch.setenv("RNNKIT_BATCH_SPLIT", "1")
        for lens, reverse in ((None, False), (lengths, True)):
            _assert_float32_match(*_run_both(path, cell, x, state, lens, reverse))
