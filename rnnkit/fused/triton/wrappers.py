r"""The Triton path around :class:`rnnkit.wrappers.Dropout` and :class:`rnnkit.wrappers.Zoneout`.

The same coverage as the compiled core (:mod:`rnnkit.fused.compiled_dropout`,
:mod:`rnnkit.fused.compiled_zoneout`), and the same mechanics:

* ``Dropout`` inactive (evaluation, all probabilities 0): the inner cell's kernel;
  variational: input and output masks are torch products around the inner kernel
  (:func:`rnnkit.fused.compiled_dropout.dropout_kernel`), state masks (LSTM only) the
  ``DROPOUT`` state rule inside the loop;
* ``Zoneout(LSTMCell)``: the ``ZONEOUT`` state rule; in training the keep masks of
  every step are drawn before the run, by calling ``Zoneout.sample_masks`` once per
  step as :func:`rnnkit.unroll` would (same generator, same order, so the same
  numbers on any device), then reordered with the batch.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor

from rnnkit.cells.lstm import LSTMCell
from rnnkit.fused.compiled_dropout import dropout_kernel
from rnnkit.fused.compiled_zoneout import MaskedState, ZoneoutKernel
from rnnkit.state import LSTMState

Reason = Callable[[Any], Optional[str]]
Factory = Callable[[Any], Any]


def dropout_unsupported(cell: Any, inner_reason: Reason) -> Optional[str]:
    """Why the Triton path cannot run this ``Dropout`` wrapper (None if it can)."""
    if cell.passthrough:
        return inner_reason(cell.cell)
    if not cell.variational:
        return ("per-step dropout masks (variational=False) are drawn inside each step; the Triton path runs "
                "variational masks only")
    if cell.state_dropout > 0 and type(cell.cell) is not LSTMCell:
        return (f"state (recurrent) dropout runs in the Triton path around LSTMCell only, not "
                f"{type(cell.cell).__name__}; input and output dropout do")
    return inner_reason(cell.cell)


class TritonZoneoutKernel(ZoneoutKernel):
    """:class:`rnnkit.fused.compiled_zoneout.ZoneoutKernel` with the Triton LSTM inside and the keep
    masks drawn step by step (``Zoneout.sample_masks``) on the input's device."""

    def __init__(self, cell: Any) -> None:
        from rnnkit.fused.triton.lstm import lstm_kernel

        self.cell = cell
        self.inner = lstm_kernel(cell.cell)

    def prepare(self, x: Tensor, state: LSTMState, lengths: Optional[Tensor]) -> Any:
        """Every step's keep masks as ``(B, T, .)`` bool leaves (see the module docstring)."""
        if not self._drawing():
            return state
        steps = x.shape[0] if lengths is None else int(lengths.max())
        masks = [self.cell.sample_masks(state) for _ in range(steps)]
        keep = []
        for k, rate in enumerate((self.cell.h, self.cell.c)):
            if rate > 0:
                leaf = state[k]
                keep.append(torch.stack([m[k] for m in masks], 1) if steps else
                            torch.zeros((leaf.shape[0], 0, leaf.shape[1]), dtype=torch.bool, device=leaf.device))
        return MaskedState(state, tuple(keep))


def wrapper_family(cell: Any, families: dict[type, tuple[Reason, Factory]]) -> Optional[tuple[Reason, Factory]]:
    """``(unsupported reason, kernel factory)`` of a Dropout around a family or Zoneout around an
    LSTMCell, else None."""
    from rnnkit.wrappers import Dropout, Zoneout

    if type(cell) is Dropout and type(cell.cell) in families:
        inner_reason, inner_kernel = families[type(cell.cell)]
        return (lambda c: dropout_unsupported(c, inner_reason)), (lambda c: dropout_kernel(c, inner_kernel(c.cell)))
    if type(cell) is Zoneout and type(cell.cell) is LSTMCell and LSTMCell in families:
        return (lambda z: families[LSTMCell][0](z.cell)), TritonZoneoutKernel
    return None
