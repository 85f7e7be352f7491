"""Streaming batch-1 inference (S5: I = 32, H = 128, B = 1): microseconds per step, one step per call.

Rows, timed alternately in one process after a warm-up (median of ``--repeats`` runs of ``--steps`` steps):

* ``torch.nn.LSTM`` called once per step with its state (oneDNN): the baseline (``× oneDNN``);
* a hand-written torch loop (``addmm`` + ``chunk`` + five pointwise ops per step);
* ``torch.nn.LSTMCell`` called once per step;
* ``rnnkit.LSTMCell`` called directly, and through ``Stream.step`` (the difference is Stream's
  overhead per step), and ``Stream.step`` for the peephole LSTM, GRU and layer-norm LSTM;
* ``Stream.feed`` of one-step chunks (the peephole LSTM): the path ``Stream.step`` took before it
  called the cell directly (runner, fast-path choice and a compiled-core call per step);
* for reference, the whole sequence in one call (``torch.nn.LSTM``, rnnkit's peephole LSTM on the
  compiled core), per step.

Usage::

    python benchmarks/streaming.py                 # 1 thread, 1000 steps, 7 repeats
    python benchmarks/streaming.py --markdown stream.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rnnkit  # noqa: E402
from rnnkit.streaming import Stream  # noqa: E402

I, H = 32, 128


def rows(x: torch.Tensor) -> dict[str, tuple[str, Callable[[], None]]]:
    """name -> (description, run all steps once)."""
    T = x.shape[0]
    out: dict[str, tuple[str, Callable[[], None]]] = {}
    lstm = torch.nn.LSTM(I, H)

    def onednn_steps() -> None:
        state = None
        for t in range(T):
            _, state = lstm(x[t:t + 1], state)

    out["torch-step"] = ("torch.nn.LSTM, one call per step (oneDNN)", onednn_steps)
    w = torch.randn(4 * H, I + H) * 0.1
    b = torch.zeros(4 * H)

    def hand_loop() -> None:
        h = c = x.new_zeros(1, H)
        for t in range(T):
            gates = torch.addmm(b, torch.cat([x[t], h], 1), w.t())
            i, f, g, o = gates.chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)

    out["hand-loop"] = ("hand-written torch loop (addmm, chunk, 5 pointwise ops)", hand_loop)
    cell_t = torch.nn.LSTMCell(I, H)

    def torch_cell() -> None:
        state = None
        for t in range(T):
            state = cell_t(x[t], state)

    out["torch-cell"] = ("torch.nn.LSTMCell, one call per step", torch_cell)
    plain = rnnkit.LSTMCell(I, H)

    def direct() -> None:
        state = plain.initial_state(1)
        for t in range(T):
            _, state = plain(x[t], state)

    out["rnnkit-cell"] = ("rnnkit.LSTMCell called directly", direct)
    cells: dict[str, tuple[str, torch.nn.Module]] = {
        "stream-lstm": ("Stream.step, rnnkit.LSTMCell", plain),
        "stream-peephole": ("Stream.step, rnnkit.LSTMCell(use_peepholes)", rnnkit.LSTMCell(I, H, use_peepholes=True)),
        "stream-gru": ("Stream.step, rnnkit.GRUCell", rnnkit.GRUCell(I, H)),
    }
    try:
        from rnnkit.cells.layernorm import LayerNormLSTMCell

        cells["stream-layernorm"] = ("Stream.step, LayerNormLSTMCell", LayerNormLSTMCell(I, H))
    except ImportError:  # pragma: no cover
        pass
    for name, (note, cell) in cells.items():
        stream = Stream(rnnkit.Recurrent(cell), batch_size=1)

        def stream_steps(stream: Stream = stream) -> None:
            stream.reset()
            for t in range(T):
                stream.step(x[t])

        out[name] = (note, stream_steps)
        if name == "stream-peephole":  # A/B: what Stream.step ran before it called the cell directly
            def feed_steps(stream: Stream = stream) -> None:
                stream.reset()
                for t in range(T):
                    stream.feed(x[t:t + 1])

            out["feed-peephole"] = ("Stream.feed of one-step chunks, peephole (Stream.step's path before "
                                    "2026-12-03: runner + compiled core per step)", feed_steps)
    out["torch-seq"] = ("whole sequence in one call: torch.nn.LSTM (oneDNN)", lambda: lstm(x))
    peep = rnnkit.Recurrent(rnnkit.LSTMCell(I, H, use_peepholes=True))
    out["rnnkit-seq"] = ("whole sequence in one call: rnnkit peephole LSTM (compiled core)", lambda: peep(x))
    return out


def main(argv: Optional[list[str]] = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--markdown", default="", help="also write the table here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    x = torch.randn(args.steps, 1, I, generator=torch.Generator().manual_seed(0))
    table = rows(x)
    times: dict[str, list[float]] = {k: [] for k in table}
    with torch.inference_mode():
        for _, run in table.values():  # warm-up (builds or loads the compiled core)
            run()
        for _ in range(args.repeats):
            for name, (_, run) in table.items():
                t0 = time.perf_counter()
                run()
                times[name].append((time.perf_counter() - t0) / args.steps * 1e6)
    base = statistics.median(times["torch-step"])
    lines = [f"threads={args.threads}, steps={args.steps}, repeats={args.repeats}, torch {torch.__version__}\n",
             "| row | µs per step (min-max) | × oneDNN per step |", "|---|---|---|"]
    for name, (note, _) in table.items():
        med = statistics.median(times[name])
        lines.append(f"| {note} | {med:.1f} ({min(times[name]):.1f}-{max(times[name]):.1f}) | {med / base:.2f} |")
    overhead = statistics.median(times["stream-lstm"]) - statistics.median(times["rnnkit-cell"])
    lines.append(f"\nStream.step overhead per step (Stream.step - the cell called directly, rnnkit.LSTMCell): "
                 f"{overhead:.1f} µs; hand-written torch loop: {statistics.median(times['hand-loop']):.1f} µs per step")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return times


if __name__ == "__main__":
    main()
