"""Shared check: under torchrun each rank keeps its rows of every batch (split_batch): disjoint stretches."""

from __future__ import annotations

from rnnkit.data.batching import TBPTTStream
from rnnkit.data.spans import TokenSpans


def assert_ranks_read_disjoint_stretches(positions: TokenSpans, batch_size: int = 8, bptt: int = 25) -> None:
    """Two ranks splitting each batch of a TBPTT stream over ``positions`` read disjoint halves that cover it.

    Args:
        positions: ``N`` token ids that are their own positions ``0 .. N - 1`` (in memory or a mapped file).
        batch_size, bptt: the stream's rows and window length.

    The inputs of the stream (row ``b`` reads the ``b``-th of ``batch_size`` contiguous stretches of the
    first ``batch_size * ((N - 1) // batch_size)`` positions; the targets are those shifted by one) are
    split between the ranks: together they read every input position once, and rank 0 the first half
    of the rows, rank 1 the second (all of rank 0's positions below all of rank 1's).
    """
    from rnnkit.train.distributed import split_batch

    stream = TBPTTStream(positions, batch_size, bptt)
    seen: dict[int, set[int]] = {0: set(), 1: set()}
    for k in range(len(stream)):
        for rank in (0, 1):
            (x, _), _ = split_batch(stream[k], rank, 2)
            seen[rank].update(x.flatten().tolist())
    both = seen[0] & seen[1]
    assert not both, f"{len(both)} positions read by both ranks, e.g. {sorted(both)[:5]}"
    missed = set(range(batch_size * ((len(positions) - 1) // batch_size))) ^ (seen[0] | seen[1])
    assert not missed, f"{len(missed)} positions missed or out of range, e.g. {sorted(missed)[:5]}"
    assert max(seen[0]) < min(seen[1]), (max(seen[0]), min(seen[1]))  # rank 0 the first rows, rank 1 the rest
