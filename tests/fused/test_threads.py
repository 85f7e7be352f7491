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
