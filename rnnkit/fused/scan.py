r"""Parallel-in-time path for the minimal RNNs (:class:`~rnnkit.cells.MinGRUCell`,
:class:`~rnnkit.cells.MinLSTMCell`): a log-space scan (Heinsen, 2023).

Those cells compute :math:`h_t = a_t \odot h_{t-1} + b_t` with gates that
depend on the input only (:math:`0 < a_t < 1`, :math:`b_t > 0`, given as
``log a``, ``log b`` by ``cell.scan_coefficients``). Unrolled,

.. math::
    h_t = e^{a^*_t} \odot h_0 + \exp\Big(a^*_t + \operatorname{logcumsumexp}_{k \le t}
          (\log b_k - a^*_k)\Big), \qquad a^*_t = \sum_{k \le t} \log a_k .

The second term is Heinsen's scan started from a zero state; the initial state
enters *linearly* through the first term instead of being folded in as
:math:`\log h_0`. So any real :math:`h_0` works (negative or zero entries
included) without a fallback or a positive/negative split, and with the same
result as the sequential loop.

Precision: in floating point :math:`a^*_t + \operatorname{logcumsumexp}(\cdot)`
loses about :math:`|a^*_t| \cdot \varepsilon` relative accuracy, and
:math:`|a^*_t|` grows linearly with :math:`t`. The scan therefore runs in
chunks of ``chunk_size`` steps (parallel inside a chunk, the chunk's last state
carried to the next through the linear :math:`h_0` term), which bounds
:math:`|a^*|` and keeps float32 within ``1e-5`` relative of the sequential loop.

Lengths: the recurrence is causal, so the scan runs over every step and then
outputs past ``lengths[b]`` are set to zero and the final state is taken at
step ``lengths[b] - 1`` (the initial state for a zero length): exactly
:func:`rnnkit.unroll`'s semantics, with no ``log 0 = -inf`` entries (and so no
NaN gradients). ``reverse`` uses :func:`rnnkit.unroll.reverse_padded`.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from rnnkit.cells.minimal import MinGRUCell, MinLSTMCell
from rnnkit.checks import check_positive_int
from rnnkit.fused import register
from rnnkit.unroll import reverse_padded

DEFAULT_CHUNK_SIZE = 32
"""Steps scanned in parallel before carrying the state to the next chunk."""

SUPPORTED_CELLS = (MinGRUCell, MinLSTMCell)


def log_space_scan(log_a: Tensor, log_b: Tensor, h0: Tensor, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Tensor:
    r"""Solve :math:`h_t = a_t \odot h_{t-1} + b_t` for all ``t`` at once.

    Args:
        log_a: ``(T, B, H)``, :math:`\log a_t` (finite).
        log_b: ``(T, B, H)``, :math:`\log b_t` (finite).
        h0: ``(B, H)``, any real values.
        chunk_size: steps per parallel chunk (> 0); see the module docstring.

    Returns:
        ``(T, B, H)``: :math:`h_1 \dots h_T`, in the promoted dtype of ``log_a``
        and ``h0``. Half-precision coefficients are scanned in float32 (a
        cumulative sum in bfloat16 would lose the state within a few steps).
    """
    check_positive_int("log_space_scan", "chunk_size", chunk_size)
    out_dtype = torch.promote_types(log_a.dtype, h0.dtype)
    work = torch.promote_types(out_dtype, torch.float32)
    log_a, log_b, h0 = log_a.to(work), log_b.to(work), h0.to(work)
    chunks = []
    h_prev = h0
    for start in range(0, log_a.shape[0], chunk_size):
        a_star = log_a[start : start + chunk_size].cumsum(0)
        from_zero = torch.exp(a_star + torch.logcumsumexp(log_b[start : start + chunk_size] - a_star, 0))
        h = torch.exp(a_star) * h_prev + from_zero
        chunks.append(h)
        h_prev = h[-1]
    if not chunks:
        return log_a.new_zeros(log_a.shape, dtype=out_dtype)
    return (torch.cat(chunks, 0) if len(chunks) > 1 else chunks[0]).to(out_dtype)


def scan_unroll(
    cell: Any,
    x: Tensor,
    state: Optional[Tensor],
    lengths: Optional[Tensor],
    reverse: bool,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> tuple[Tensor, Tensor]:
    """:func:`rnnkit.unroll.unroll_unchecked` for a minimal RNN cell, by the parallel scan.

    Args:
        cell: a :class:`MinGRUCell` or :class:`MinLSTMCell`.
        x: ``(T, B, I)``, validated.
        state: ``(B, H)`` or None (zeros).
        lengths: ``(B,)`` int64 on ``x``'s device, or None.
        reverse: process each sequence backwards within its length.
        chunk_size: see :func:`log_space_scan`.

    Returns:
        ``(outputs (T, B, H), final_state (B, H))`` with the runner's semantics.
    """
    T, B = x.shape[0], x.shape[1]
    if state is None:
        state = cell.initial_state(B, device=x.device, dtype=x.dtype)
    steps = T
    if lengths is not None and B > 0:
        steps = int(lengths.max())
    if steps == 0 or B == 0:
        return x.new_zeros((T, B, cell.hidden_size)), state
    if reverse:
        x = reverse_padded(x, lengths)
    log_a, log_b = cell.scan_coefficients(cell.input_projection(x[:steps]))
    h = log_space_scan(log_a, log_b, state, chunk_size=chunk_size)
    if lengths is None:
        out, final = h, h[-1]
    else:
        valid = torch.arange(steps, device=x.device).unsqueeze(1) < lengths.unsqueeze(0)
        out = torch.where(valid.unsqueeze(-1), h, torch.zeros((), dtype=h.dtype, device=h.device))
        last = h[(lengths - 1).clamp(min=0), torch.arange(B, device=x.device)]
        final = torch.where((lengths > 0).unsqueeze(-1), last, state)
    if steps < T:
        out = torch.cat([out, out.new_zeros((T - steps, B, out.shape[2]))])
    if reverse:
        out = reverse_padded(out, lengths)
    return out, final


class MinRNNScanPath:
    """The fast path: :func:`scan_unroll` for exactly :class:`MinGRUCell` / :class:`MinLSTMCell`.

    Subclasses of those cells are not taken (they may change the step), nor
    are wrapped cells; they run through the reference runner.
    """

    name = "scan"

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.chunk_size = check_positive_int("MinRNNScanPath", "chunk_size", chunk_size)

    def supports(self, cell: Any, x: Tensor, lengths: Optional[Tensor]) -> Optional[str]:
        if type(cell) not in SUPPORTED_CELLS:
            return f"only MinGRUCell and MinLSTMCell run as a parallel scan, got {type(cell).__name__}"
        if x.device.type == "cpu" and not torch.is_grad_enabled():
            return "CPU inference runs the sequential step (CPU logcumsumexp makes the scan ~2x slower there)"
        return None

    def run(
        self, cell: Any, x: Tensor, state: Optional[Tensor], lengths: Optional[Tensor], reverse: bool
    ) -> tuple[Tensor, Tensor]:
        return scan_unroll(cell, x, state, lengths, reverse, chunk_size=self.chunk_size)


register(MinRNNScanPath())
