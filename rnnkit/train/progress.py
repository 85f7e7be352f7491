"""The training progress bar (tqdm): loss, examples per second and ETA."""

from __future__ import annotations

import sys
from typing import Optional

from tqdm.auto import tqdm


def progress_bar(total: int, *, initial: int, desc: str, enabled: bool) -> tqdm:
    """A tqdm bar over ``total`` batches starting at ``initial``.

    Hidden when ``enabled`` is False or stderr is not a terminal (``disable=None``);
    tqdm itself shows batches/s and the ETA, :func:`update` adds loss and examples/s.
    """
    return tqdm(total=total, initial=initial, desc=desc, unit="batch", dynamic_ncols=True, leave=False,
                file=sys.stderr, disable=None if enabled else True)


def update(bar: tqdm, loss: Optional[float], examples_per_s: float) -> None:
    """Advance the bar by one batch and show the running loss and throughput."""
    bar.update(1)
    if not bar.disable:
        bar.set_postfix(loss="nan" if loss is None else f"{loss:.4f}", ex_s=f"{examples_per_s:.0f}", refresh=False)
