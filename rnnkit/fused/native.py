"""Native fast path: torch's own fused RNN kernels for plain built-in cells.

``torch._VF.lstm``/``gru``/``rnn_tanh``/``rnn_relu`` are the kernels behind
``torch.nn.LSTM``/``GRU``/``RNN``: oneDNN on CPU, cuDNN on GPU. They compute
exactly the math of a *plain* built-in cell, so a single-layer
:class:`rnnkit.layers.Recurrent` of such a cell can run on them:

* :class:`~rnnkit.cells.LSTMCell` with ``is_plain`` (a projection is allowed),
* :class:`~rnnkit.cells.GRUCell` with ``reset_after=True``,
* :class:`~rnnkit.cells.ElmanCell` (tanh or relu).

Lengths (TF1 ``dynamic_rnn`` semantics, see :func:`rnnkit.unroll`):

* no lengths, or every length equal to ``T``: one kernel call; ``reverse``
  flips time before and after.
* lengths shorter than ``T`` with GRU/Elman: still exact. The output of these
  cells *is* their state, so the kernel runs on the padded batch (each
  sequence reversed within its own length when ``reverse``), outputs past a
  length are zeroed, and the final state is the output at step
  ``length - 1`` (the initial state for a zero length). Steps past a length
  never influence anything kept, so outputs and gradients are exact.
* lengths shorter than ``T`` with LSTM: the cell state ``c`` at step
  ``length - 1`` is not among the kernel's outputs, so the batch is sorted by
  length and the kernel runs once per run of equal active batch size (one call
  per distinct length), carrying ``(h, c)`` between calls: exact, a shrinking
  batch like ``PackedSequence``. On CPU this path declines where the compiled
  core runs the call (faster at every shape measured); elsewhere where the
  calls would be short (:data:`MIN_STEPS_PER_CHUNK`) and another registered
  path supports the call.

On CPU, LSTM calls that record gradients over long sequences
(:data:`MIN_STEPS_COMPILED_LSTM_TRAINING`) go to the compiled core too (it trains
them faster); inference and short sequences stay on torch's kernel.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import _VF, Tensor

from rnnkit.cells.elman import ElmanCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.fused import register, registered
from rnnkit.fused.sorting import run_sorted
from rnnkit.state import LSTMState, State
from rnnkit.unroll import reverse_padded

KERNEL_DEVICES = ("cpu", "cuda")
KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
MIN_STEPS_PER_CHUNK = 16
"""LSTM with lengths: below this many steps per kernel call on average, another
registered path (the compiled core's per-step loop) wins. Measured on CPU, one
thread, fwd+bwd: T=500, B=16, H=128, 16 distinct lengths (31 steps a call):
chunked native 92 ms, compiled 146 ms, reference runner 3600 ms; T=100, B=16,
H=256, 15 distinct lengths (7 steps a call): chunked 192 ms, compiled 143 ms."""


def kernel_unsupported(x: Tensor, weights: list[Tensor]) -> Optional[str]:
    """Why torch's fused kernels cannot run on ``x`` with ``weights`` (None if they can).

    Args:
        x: the input, any layout.
        weights: the flat weight list in ``torch.nn`` order.
    """
    if x.device.type not in KERNEL_DEVICES:
        return f"torch's fused RNN kernels run on {' and '.join(KERNEL_DEVICES)}, not on device {x.device}"
    if x.dtype not in KERNEL_DTYPES:
        return f"torch's fused RNN kernels do not support dtype {x.dtype}"
    for w in weights:
        if w.dtype != x.dtype or w.device != x.device:
            return (f"the parameters ({w.dtype} on {w.device}) must have the input's dtype and device "
                    f"({x.dtype} on {x.device})")
    return None


def _kind(cell: Any) -> tuple[Optional[str], Optional[str]]:
    """``(kernel name, None)`` for a supported cell, else ``(None, reason)``."""
    kind = type(cell)
    if kind is LSTMCell:
        if not cell.is_plain:
            return None, ("LSTMCell has variant features (forget_bias, peepholes, cell_clip/proj_clip or a non-tanh "
                          "activation) that torch's kernel does not compute")
        return "lstm", None
    if kind is GRUCell:
        if not cell.reset_after:
            return None, "GRUCell(reset_after=False) is not the formulation torch's kernel computes"
        return "gru", None
    if kind is ElmanCell:
        return ("rnn_tanh" if cell.nonlinearity == "tanh" else "rnn_relu"), None
    return None, f"only the built-in LSTMCell, GRUCell and ElmanCell map onto torch's kernels, not {kind.__name__}"


def cell_weights(cell: Any) -> list[Tensor]:
    """The cell's parameters as the flat list ``torch._VF`` expects for one layer."""
    weights = [cell.weight_ih, cell.weight_hh]
    if cell.bias_ih is not None:
        weights += [cell.bias_ih, cell.bias_hh]
    if getattr(cell, "weight_hr", None) is not None:
        weights.append(cell.weight_hr)
    return weights


def _needs_backward(x: Tensor, weights: list[Tensor], state: State) -> bool:
    leaves = [x, *weights, *(state if isinstance(state, tuple) else (state,))]
    return torch.is_grad_enabled() and any(t.requires_grad for t in leaves)


def run_kernel(kind: str, x: Tensor, state: State, weights: list[Tensor], has_bias: bool) -> tuple[Tensor, State]:
    """One single-layer, single-direction kernel call on time-major ``x`` ``(T, B, I)``.

    Returns:
        ``(outputs (T, B, O), final_state)`` with the cell's state structure.
    """
    train = _needs_backward(x, weights, state)  # the kernels keep what backward needs only in train mode
    if kind == "lstm":
        h, c = state
        out, h_n, c_n = _VF.lstm(x, (h.unsqueeze(0), c.unsqueeze(0)), weights, has_bias, 1, 0.0, train, False, False)
        return out, LSTMState(h_n[0], c_n[0])
    fn = getattr(_VF, kind)
    out, h_n = fn(x, state.unsqueeze(0), weights, has_bias, 1, 0.0, train, False, False)
    return out, h_n[0]


def run_lstm_chunked(cell: Any, x: Tensor, state: LSTMState, lengths: Tensor, reverse: bool) -> tuple[Tensor, State]:
    """LSTM with lengths, exactly: sort by length, one kernel call per run of equal batch size.

    Within a chunk every active sequence is valid, so the kernel's final
    ``(h, c)`` are exact; the sequences ending at the chunk's end keep theirs
    and the rest carry on (a shrinking batch, as ``PackedSequence``, but with
    one vendor-kernel call per distinct length instead of per step).
    """
    weights, has_bias = cell_weights(cell), cell.bias_ih is not None

    def kernel(xs: Tensor, st: State, batch_sizes: Tensor, T: int) -> tuple[Tensor, State]:
        steps, B = xs.shape[0], xs.shape[1]
        sizes = batch_sizes.tolist()
        h, c = st
        pieces = [(h[sizes[0]:], c[sizes[0]:])]  # zero-length sequences keep their initial state
        h, c = h[: sizes[0]], c[: sizes[0]]
        outs, t0 = [], 0
        while t0 < steps:
            n, t1 = sizes[t0], t0
            while t1 < steps and sizes[t1] == n:
                t1 += 1
            out, (h, c) = run_kernel("lstm", xs[t0:t1, :n], LSTMState(h, c), weights, has_bias)
            outs.append(torch.nn.functional.pad(out, (0, 0, 0, B - n)))
            n_next = sizes[t1] if t1 < steps else 0
            pieces.append((h[n_next:], c[n_next:]))
            h, c = h[:n_next], c[:n_next]
            t0 = t1
        out = torch.cat(outs)
        if steps < T:
            out = torch.cat([out, out.new_zeros((T - steps, *out.shape[1:]))])
        pieces.reverse()
        return out, LSTMState(torch.cat([p[0] for p in pieces]), torch.cat([p[1] for p in pieces]))

    return run_sorted(kernel, x, state, lengths, reverse)


MIN_STEPS_COMPILED_LSTM_TRAINING = 64
"""CPU LSTM training (a call that records gradients) of at least this many steps goes to the compiled core.
``benchmarks/speed.py --impl torch,rnnkit-lstm --path-order compiled,native`` against the default order
(2026-12-03, median of three runs, × torch.nn.LSTM, training at 1 / 2 threads), compiled against native:
S3 (T = 100) 0.83 / 0.73 against 1.01 / 0.94 (one run), S4 (T = 500) 0.77 / 0.64 against 1.03 / 1.06, S5
(T = 1000, B = 1) 0.94 / 0.82 against 1.02 / 1.03; on short sequences they tie (S1, T = 28: 1.02 / 1.00
against 0.99 / 1.00; S2, T = 35: 0.96 / 1.00 against 0.98 / 1.05), and torch's kernel keeps them: the
README's row-MNIST job (T = 28) trains to the same accuracy as before (a different path's rounding moves
a seed's test accuracy by up to a point: seeds 0-2 gave 0.964 / 0.972 / 0.959 compiled, 0.974 / 0.969 /
0.968 native)."""

PREFER_COMPILED_ON_CPU = True
"""Leave CPU GRU/Elman calls, and LSTM calls with lengths or gradients, to the compiled core where it is faster
(tests of the kernels turn this off)."""


def _compiled_runs(cell: Any, x: Tensor, lengths: Optional[Tensor]) -> bool:
    """Whether the compiled core is registered and runs this call."""
    return any(p.name == "compiled" and p.supports(cell, x, lengths) is None for p in registered())


def _trains(cell: Any, x: Tensor) -> bool:
    """Whether the call records gradients: autograd on, and the input or a parameter of the cell requires one."""
    return torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in cell.parameters()))


class NativePath:
    """Fast path on ``torch._VF`` kernels (see the module docstring)."""

    name = "native"

    def supports(self, cell: Any, x: Tensor, lengths: Optional[Tensor]) -> Optional[str]:
        """None if this path runs the call exactly, else the reason it cannot."""
        kind, reason = _kind(cell)
        if reason is not None:
            return reason
        if (cell.bias_ih is None) != (cell.bias_hh is None):
            return "torch's kernels need both bias_ih and bias_hh, or neither"
        if x.shape[0] == 0:
            return "torch's kernels need at least one time step (T = 0)"
        reason = kernel_unsupported(x, cell_weights(cell))
        if reason is not None:
            return reason
        if kind == "lstm" and lengths is not None and lengths.numel() > 0 and int(lengths.min()) < x.shape[0]:
            return self._lstm_lengths_reason(cell, x, lengths)
        if kind != "lstm" and x.device.type == "cpu" and PREFER_COMPILED_ON_CPU:
            return self._cpu_gru_elman_reason(kind, cell, x, lengths)
        if (kind == "lstm" and x.device.type == "cpu" and PREFER_COMPILED_ON_CPU and _trains(cell, x)
                and x.shape[0] >= MIN_STEPS_COMPILED_LSTM_TRAINING):
            return self._cpu_lstm_training_reason(cell, x, lengths)
        return None

    def _cpu_lstm_training_reason(self, cell: Any, x: Tensor, lengths: Optional[Tensor]) -> Optional[str]:
        """On CPU the compiled core trains a plain LSTM faster than torch's kernel on long sequences.

        See :data:`MIN_STEPS_COMPILED_LSTM_TRAINING` for the measurements. Inference stays here: the
        compiled core's was 1.11 × torch at S2 against 0.98, else about equal.
        """
        if not _compiled_runs(cell, x, lengths):
            return None
        return "on CPU the compiled core trains LSTMCell faster than torch's kernel"

    def _cpu_gru_elman_reason(self, kind: str, cell: Any, x: Tensor, lengths: Optional[Tensor]) -> Optional[str]:
        """On CPU torch's GRU/Elman kernels lose to the compiled core, at every batch size measured.

        Measured with ``benchmarks/speed.py --path-order compiled,native`` (1 thread, training, ratio to
        torch.nn.LSTM): GRU native 1.03/1.30/0.92/2.60/13.8 vs compiled 1.30/1.04/0.85/0.96/1.02 on S1-S5
        (2026-11-23; compiled 0.71/0.86/0.84/0.68 on S1-S4 since its loops vectorise, 2026-12-01);
        Elman native 0.30/0.38/0.27/0.83/3.7 vs compiled 0.24/0.28/0.21/0.26/0.20. GRU at T = 28, I = 28,
        H = 128, fwd+bwd, 1 thread, native vs compiled (2026-12-01): B = 128 28.6 vs 25.9 ms, 256 47.5 vs
        44.0, 512 93.3 vs 81.6.
        """
        if not _compiled_runs(cell, x, lengths):
            return None
        return f"on CPU the compiled core trains {type(cell).__name__} faster than torch's kernel"

    def _lstm_lengths_reason(self, cell: Any, x: Tensor, lengths: Tensor) -> Optional[str]:
        """LSTM with lengths runs one kernel call per distinct length; decline where that loses.

        On CPU the compiled core is faster at every shape measured (2026-12-03, ``benchmarks/speed.py
        --impl torch,rnnkit-lstm-len --path-order compiled,native``, × torch.nn.LSTM on the padded
        batch, training / inference): T=500 B=16 I=32 H=128 with 16 distinct lengths, 1 thread: this path
        0.74 / 1.25, compiled 0.48 / 0.81; 2 threads 0.83 / 1.37 against 0.49 / 0.78. (The rule of
        :data:`MIN_STEPS_PER_CHUNK` dates from 2026-11-23, when the compiled core took 146 ms there
        against this path's 92; it still decides on other devices.)
        """
        if x.device.type == "cpu" and PREFER_COMPILED_ON_CPU and _compiled_runs(cell, x, lengths):
            return "on CPU the compiled core runs LSTMCell with lengths faster than one torch call per length"
        steps, distinct = int(lengths.max()), int(torch.unique(lengths[lengths > 0]).numel())
        if steps >= MIN_STEPS_PER_CHUNK * distinct:
            return None
        others = [p.name for p in registered() if p is not self and p.supports(cell, x, lengths) is None]
        if not others:
            return None  # still much faster than the reference runner
        return (f"LSTMCell with lengths: {distinct} distinct lengths over {steps} steps make kernel calls of "
                f"{steps / distinct:.1f} steps on average (< {MIN_STEPS_PER_CHUNK}); {others[0]} is faster here")

    def run(
        self, cell: Any, x: Tensor, state: Optional[State], lengths: Optional[Tensor], reverse: bool
    ) -> tuple[Tensor, State]:
        """:func:`rnnkit.unroll` semantics on torch's kernel (arguments validated, time-major)."""
        kind, _ = _kind(cell)
        if kind == "lstm" and torch.is_autocast_enabled(x.device.type):
            # torch's fused LSTM kernel would carry c in bf16/fp16: run it in fp32 so c accumulates in fp32
            with torch.autocast(x.device.type, enabled=False):
                return self.run(cell, x, state, lengths, reverse)
        T, B = x.shape[0], x.shape[1]
        if state is None:
            state = cell.initial_state(B, device=x.device, dtype=x.dtype)
        weights = cell_weights(cell)
        has_bias = cell.bias_ih is not None
        if lengths is None or B == 0 or int(lengths.min()) == T:
            out, final = run_kernel(kind, x.flip(0) if reverse else x, state, weights, has_bias)
            return (out.flip(0) if reverse else out), final
        steps = int(lengths.max())
        if steps == 0:
            return x.new_zeros((T, B, cell.output_size)), state
        if kind == "lstm":
            return run_lstm_chunked(cell, x, state, lengths, reverse)
        # GRU / Elman with lengths: the output is the state, so everything is recoverable.
        xs = reverse_padded(x, lengths)[:steps] if reverse else x[:steps]
        out, _ = run_kernel(kind, xs, state, weights, has_bias)
        H = out.shape[-1]
        last = (lengths - 1).clamp(min=0).view(1, B, 1).expand(1, B, H)
        final = torch.where((lengths > 0).unsqueeze(1), out.gather(0, last).squeeze(0), state)
        valid = torch.arange(steps, device=x.device).unsqueeze(1) < lengths.unsqueeze(0)
        out = torch.where(valid.unsqueeze(-1), out, torch.zeros((), dtype=out.dtype, device=out.device))
        if steps < T:
            out = torch.cat([out, out.new_zeros((T - steps, B, H))])
        if reverse:
            out = reverse_padded(out, lengths)
        return out, final


NATIVE = NativePath()
register(NATIVE, first=True)  # vendor kernels are the fastest for the plain cells they support
