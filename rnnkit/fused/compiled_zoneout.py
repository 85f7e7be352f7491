r"""The compiled core around :class:`rnnkit.wrappers.Zoneout` of an :class:`~rnnkit.cells.LSTMCell`.

Zoneout mixes each step's new state with the previous one,

.. math::
    (\tilde h_t, \tilde c_t) &= \mathrm{cell}(x_t, (h_{t-1}, c_{t-1})) \\
    s_t &= d_t \odot s_{t-1} + (1 - d_t) \odot \tilde s_t \quad (s \in \{h, c\}), \qquad y_t = h_t

with keep masks :math:`d_t \sim \mathrm{Bernoulli}(\text{rate})` drawn afresh at
every step in training, and :math:`d_t = \text{rate}` (the expectation) in
evaluation. The LSTM kernel's ``ZONEOUT`` state rule (:mod:`.compiled_lstm`)
applies it in the pointwise pass, its backward the chain rule
(:math:`\partial s_{t-1} \mathrel{+}= d_t \odot \partial s_t`).

Same random numbers as the reference runner: :func:`rnnkit.unroll` calls
``Zoneout.recur`` for every step ``t < max(lengths)`` on the whole batch, and
each call draws one step's masks with ``Zoneout.sample_masks`` (``h`` then
``c``, ``(B, P)`` and ``(B, H)``, none for a rate of 0). :meth:`ZoneoutKernel.prepare`
draws the same numbers before the run (so seeding the global RNG identically
gives identical masks and leaves the generator in the same state): in float32
with the compiled ``keep_masks``, which runs torch's MT19937 stream in
vectorised C++ and compares its 24-bit integers with ``rate * 2**24`` (about
10x faster than ``torch.rand``; checked against ``torch.rand`` once per
process, see :func:`fast_draw_matches`), else as one ``torch.rand((T, B*P + B*H))``
when torch's CPU generator fills tensors serially (checked once per process,
see :func:`one_draw_matches`), else by calling ``sample_masks`` step by step. It
carries them as ``(B, T, .)`` leaves of the state, so that the length sorting
of :func:`rnnkit.fused.sorting.run_sorted` reorders them with the batch.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Optional

import torch
from torch import Tensor

from rnnkit.cells.lstm import LSTMCell
from rnnkit.fused.build import load
from rnnkit.fused.compiled_lstm import ZONEOUT, StateRule, lstm_kernel, lstm_unsupported
from rnnkit.state import LSTMState


class MaskedState(NamedTuple):
    """An LSTM state with the keep masks of every step: ``keep`` holds ``(B, T, P)`` (h) and/or
    ``(B, T, H)`` (c) bool tensors, for the leaves whose rate is not 0, in that order."""

    state: LSTMState
    keep: tuple


class ZoneoutKernel:
    """A :data:`rnnkit.fused.sorting.Kernel` for ``Zoneout(LSTMCell)``, with a :meth:`prepare` step.

    Args:
        cell: the ``Zoneout`` wrapper.
    """

    def __init__(self, cell: Any) -> None:
        self.cell = cell
        self.inner = lstm_kernel(cell.cell)

    def _drawing(self) -> bool:
        return self.cell.training and not self.cell.passthrough

    def prepare(self, x: Tensor, state: LSTMState, lengths: Optional[Tensor]) -> Any:
        """Draw every step's keep masks as the reference would, before sorting.

        Args:
            x: ``(T, B, I)`` inputs (gives ``T``).
            state: the initial ``LSTMState`` (gives shapes, dtype, device).
            lengths: ``(B,)`` or None.

        Returns:
            ``state`` itself when nothing is drawn, else a :class:`MaskedState`.
        """
        if not self._drawing():
            return state
        steps = x.shape[0] if lengths is None else int(lengths.max())
        drawn = [(leaf, rate) for leaf, rate in zip(state, (self.cell.h, self.cell.c)) if rate > 0]
        same = len({(leaf.dtype, leaf.device) for leaf, _ in drawn}) == 1 and drawn[0][0].device.type == "cpu"
        if same and drawn[0][0].dtype == torch.float32 and fast_draw_matches():
            masks = load().keep_masks(steps, [leaf.numel() for leaf, _ in drawn], [rate for _, rate in drawn])
            keep = tuple(m.view(steps, *leaf.shape).transpose(0, 1) for m, (leaf, _) in zip(masks, drawn))
        elif same and one_draw_matches():
            u = torch.rand((steps, sum(leaf.numel() for leaf, _ in drawn)), dtype=drawn[0][0].dtype)
            parts = u.split([leaf.numel() for leaf, _ in drawn], 1)
            keep = tuple((part.view(steps, *leaf.shape) < rate).transpose(0, 1)
                         for part, (leaf, rate) in zip(parts, drawn))
        else:
            masks = [self.cell.sample_masks(state) for _ in range(steps)]
            keep = tuple(torch.stack([m[k] for m in masks], 1) if steps else
                         torch.zeros((state[k].shape[0], 0, state[k].shape[1]), dtype=torch.bool)
                         for k, rate in enumerate((self.cell.h, self.cell.c)) if rate > 0)
        return MaskedState(state, keep)

    def __call__(self, x: Tensor, state: Any, batch_sizes: Tensor, total_steps: int) -> tuple[Tensor, LSTMState]:
        h, c = self.cell.h, self.cell.c
        if self.cell.passthrough:
            return self.inner(x, state, batch_sizes, total_steps)
        if not isinstance(state, MaskedState):  # evaluation: the expectation
            return self.inner(x, state, batch_sizes, total_steps, StateRule(ZONEOUT, rate_h=h, rate_c=c))
        steps = x.shape[0]
        keep = iter(k.transpose(0, 1)[:steps].contiguous() for k in state.keep)
        rule = StateRule(ZONEOUT, next(keep) if h > 0 else None, next(keep) if c > 0 else None, h, c)
        return self.inner(x, state.state, batch_sizes, total_steps, rule)


@functools.lru_cache(maxsize=None)
def fast_draw_matches() -> bool:
    """True when the compiled ``keep_masks`` gives exactly ``torch.rand(n) < rate`` (float32) step by step
    and leaves torch's CPU generator where those draws leave it. The global RNG is left as it was."""
    ext = load()
    if ext is None or not hasattr(ext, "keep_masks"):
        return False
    saved = torch.get_rng_state()
    try:
        torch.rand(5)  # an engine position mid-state
        start = torch.get_rng_state()
        sizes, rates = [700, 3], [0.3, 0.1 + 1e-9]
        fast = ext.keep_masks(4, sizes, rates)
        after_fast = torch.rand(4)
        torch.set_rng_state(start)
        steps = [[torch.rand(n) < r for n, r in zip(sizes, rates)] for _ in range(4)]
        after_ref = torch.rand(4)
        return all(torch.equal(f, torch.stack([s[k] for s in steps])) for k, f in enumerate(fast)) \
            and torch.equal(after_fast, after_ref)
    finally:
        torch.set_rng_state(saved)


@functools.lru_cache(maxsize=None)
def one_draw_matches() -> bool:
    """True when one ``torch.rand((T, N1 + N2))`` gives the numbers of ``T`` steps of ``rand(N1)``,
    ``rand(N2)`` (torch's CPU generator fills tensors element by element). The global RNG is left as it was."""
    saved = torch.get_rng_state()
    try:
        same = True
        for dtype in (torch.float32, torch.float64):
            torch.set_rng_state(saved)
            steps = [torch.cat([torch.rand(3, 7, dtype=dtype).flatten(), torch.rand(3, 6, dtype=dtype).flatten()])
                     for _ in range(4)]
            torch.set_rng_state(saved)
            same = same and torch.equal(torch.stack(steps), torch.rand(4, 39, dtype=dtype))
        return same
    finally:
        torch.set_rng_state(saved)


def zoneout_family(cell: Any) -> Optional[tuple[Callable[[Any], Optional[str]], Callable[[Any], Any]]]:
    """``(unsupported reason, kernel factory)`` for ``Zoneout(LSTMCell)``, else None."""
    from rnnkit.wrappers import Zoneout

    if type(cell) is Zoneout and type(cell.cell) is LSTMCell:
        return (lambda z: lstm_unsupported(z.cell)), ZoneoutKernel
    return None
