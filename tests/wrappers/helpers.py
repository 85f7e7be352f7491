"""Test-only helpers for the wrapper tests: a transparent cell, mask recording, a per-example reference loop."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
from torch import Tensor

from rnnkit.cells import Cell
from rnnkit.state import map_state


class IdentityCell(Cell):
    """``y_t = x_t``, ``s_t = x_t``: makes the masks a wrapper applies directly visible."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.input_size = self.hidden_size = size

    def forward(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        return x, x


def record(monkeypatch: pytest.MonkeyPatch, module: Any, method: str) -> list:
    """Record every result of ``module.method`` (e.g. each step's masks) while still returning it."""
    log: list = []
    original = getattr(module, method)

    def recorder(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        log.append(out)
        return out

    monkeypatch.setattr(module, method, recorder)
    return log


def example(masks: Any, b: int) -> Any:
    """Example ``b`` of a batched structure of masks, keeping a batch dimension of 1."""
    return map_state(lambda m: m[b : b + 1], masks)


def per_example_loop(
    step: Callable[[int, int, Tensor, Any], tuple[Tensor, Any]],
    x: Tensor,
    state: Any,
    lengths: list[int],
    out_size: int,
    reverse: bool = False,
) -> tuple[Tensor, list]:
    """Each sequence alone, over its own length: ``step(b, t, x_t (1, I), s) -> (y (1, O), s)``.

    ``t`` counts the steps that sequence has taken (so under ``reverse`` step 0
    reads the sequence's last valid input). Returns padded outputs ``(T, B, O)``
    and the list of per-example final states.
    """
    T, B = x.shape[0], x.shape[1]
    outs, finals = [], []
    for b in range(B):
        s = example(state, b)
        seq = x[: lengths[b], b : b + 1]
        if reverse:
            seq = seq.flip(0)
        ys = []
        for t in range(seq.shape[0]):
            y, s = step(b, t, seq[t], s)
            ys.append(y)
        y_seq = torch.cat(ys) if ys else x.new_zeros(0, out_size)
        if reverse:
            y_seq = y_seq.flip(0)
        outs.append(torch.cat([y_seq, x.new_zeros(T - lengths[b], out_size)]))
        finals.append(s)
    return torch.stack(outs, 1), finals


def cat_examples(finals: list) -> Any:
    """Concatenate per-example states along the batch."""
    return map_state(lambda *leaves: torch.cat(leaves), finals[0], *finals[1:])


