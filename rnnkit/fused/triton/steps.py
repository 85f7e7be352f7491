"""Bookkeeping shared by the per-step loops: launch grids and step buffers.

The forward either keeps every step's activations for the backward
(``save=True``: buffers ``(T, B, N)``) or, without gradients, rolls one slot
(``(1, B, N)``; the state history two slots). :class:`Buffers` hands out the
right slot for a step so the loops read the same either way.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

MAX_BLOCK = 1024


def block_for(n: int) -> int:
    """Elements per program: the next power of two of ``n``, at most :data:`MAX_BLOCK` (at least 16)."""
    return max(16, min(MAX_BLOCK, 1 << max(0, (n - 1).bit_length())))


def grid_for(n: int, block: int) -> tuple[int]:
    """A 1-D launch grid covering ``n`` elements with ``block`` per program."""
    return ((n + block - 1) // block,)


class Buffers:
    """Float32 step buffers on one device.

    Args:
        steps: the number of steps the loop runs.
        batch: ``B``.
        device: where the buffers live.
        save: keep every step (for the backward) instead of rolling one slot.
    """

    def __init__(self, steps: int, batch: int, device: torch.device, save: bool) -> None:
        self.steps, self.batch, self.device, self.save = steps, batch, device, save

    def per_step(self, width: int, zeroed: bool = False) -> Tensor:
        """A ``(T or 1, B, width)`` buffer (zeroed when rows may stay unwritten)."""
        shape = (self.steps if self.save else 1, self.batch, width)
        make = torch.zeros if zeroed else torch.empty
        return make(shape, dtype=torch.float32, device=self.device)

    def history(self, first: Tensor) -> Tensor:
        """A ``(T + 1 or 2, B, N)`` state history starting with ``first`` (converted to float32)."""
        hist = torch.empty((self.steps + 1 if self.save else 2, *first.shape), dtype=torch.float32,
                           device=self.device)
        hist[0] = first
        return hist

    def slot(self, buffer: Optional[Tensor], t: int) -> Optional[Tensor]:
        """Step ``t``'s slot of a :meth:`per_step` buffer (None stays None)."""
        if buffer is None:
            return None
        return buffer[t if self.save else 0]

    def state_slots(self, t: int) -> tuple[int, int]:
        """``(before, after)`` indices of step ``t`` in a :meth:`history` buffer."""
        if self.save:
            return t, t + 1
        return t % 2, (t + 1) % 2
