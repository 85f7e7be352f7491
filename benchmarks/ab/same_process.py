"""Same-process A/B of a temporary switch in the code under test: ``RNNKIT_AB=0`` and ``=1`` alternate per call.

The VM's speed moves by up to ±10% between processes (benchmarks/README.md), so A/B runs across
processes need several rounds to see a 3% change. This script times both variants in one process
instead, call after call (order swapped each round), beside ``torch.nn.LSTM``: the change under test
reads ``RNNKIT_AB`` per call (a temporary ``std::getenv`` in the kernel, or ``os.environ`` in the
Python wrapper), and is removed once measured. The 2026-12-03 (night) A/B rows of benchmarks/README.md
came from it::

    python benchmarks/ab/same_process.py S1:layernorm:infer,S4:gru:infer 1 21

Cases are SHAPE:CELL:MODE (CELL one of layernorm, lstm, gru, peephole; MODE infer or train), then
the thread count and the number of rounds (medians reported; the first two rounds are warm-up).
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path
from typing import Callable

import torch
from torch import nn

import rnnkit
from rnnkit.cells import GRUCell, LayerNormLSTMCell, LSTMCell

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alternating import once  # noqa: E402 - one inference call or training step, timed

SHAPES = {"S1": (28, 128, 28, 128), "S2": (35, 32, 64, 256), "S3": (100, 64, 128, 512), "S4": (500, 16, 32, 128)}
CELLS: dict[str, Callable[[int, int], nn.Module]] = {
    "layernorm": LayerNormLSTMCell,
    "lstm": LSTMCell,
    "gru": GRUCell,
    "peephole": lambda i, h: LSTMCell(i, h, use_peepholes=True),
}


def main(cases: str, threads: int, rounds: int) -> None:
    torch.set_num_threads(threads)
    for case in cases.split(","):
        parts = case.split(":")
        if len(parts) != 3 or parts[0] not in SHAPES or parts[1] not in CELLS or parts[2] not in ("infer", "train"):
            raise SystemExit(f"case {case!r}: expected SHAPE:CELL:MODE with SHAPE in {sorted(SHAPES)}, CELL in "
                             f"{sorted(CELLS)}, MODE infer or train")
        shape, kind, mode = parts
        T, B, I, H = SHAPES[shape]
        torch.manual_seed(0)
        layer, ref = rnnkit.Recurrent(CELLS[kind](I, H)), nn.LSTM(I, H)
        if mode == "infer":
            layer.eval()
            ref.eval()
        x = torch.randn(T, B, I)
        times: dict[str, list[float]] = {"torch": [], "0": [], "1": []}
        for i in range(rounds + 2):
            for key in ["torch"] + (["0", "1"] if i % 2 == 0 else ["1", "0"]):
                if key == "torch":
                    dt = once(ref, x, mode, None)
                else:
                    os.environ["RNNKIT_AB"] = key
                    dt = once(layer, x, mode, None)
                if i >= 2:
                    times[key].append(dt)
        m = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        print(f"{case:22s} torch {m['torch']:7.2f} ms  A0 {m['0']:7.2f} ({m['0'] / m['torch']:.2f})  "
              f"A1 {m['1']:7.2f} ({m['1'] / m['torch']:.2f})  A1/A0 {m['1'] / m['0']:.3f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1, int(sys.argv[3]) if len(sys.argv) > 3 else 21)
