"""Ratio of a few rnnkit layers to ``torch.nn.LSTM`` (oneDNN), the two called alternately in one process.

The A/B runs of the 2026-12-03 evening changes (benchmarks/README.md, issue 15) ran this script from two
checkouts (or with an environment switch) one after the other, several times each, and compared the
rnnkit times (the torch times show how much the machine moved between processes)::

    python benchmarks/ab/alternating.py S1:peephole:infer,S4:layernorm:train 1 11

Cases are SHAPE:CELL:MODE, CELL one of peephole, layernorm, gru, zoneout, lstm (append ``-len`` for
lengths uniform in [T/4, T]), MODE infer or train; then the thread count and the number of calls of each
(median reported). One call of each, torch first, alternate, as in ``speed.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Callable, Optional

import torch
from torch import Tensor, nn

import rnnkit
from rnnkit.cells import GRUCell, LayerNormLSTMCell, LSTMCell
from rnnkit.wrappers import Zoneout

SHAPES = {"S1": (28, 128, 28, 128), "S2": (35, 32, 64, 256), "S3": (100, 64, 128, 512), "S4": (500, 16, 32, 128)}
CELLS: dict[str, Callable[[int, int], nn.Module]] = {
    "peephole": lambda i, h: LSTMCell(i, h, use_peepholes=True),
    "layernorm": lambda i, h: LayerNormLSTMCell(i, h),
    "gru": lambda i, h: GRUCell(i, h),
    "zoneout": lambda i, h: Zoneout(LSTMCell(i, h), h=0.1, c=0.05),
    "lstm": lambda i, h: LSTMCell(i, h),
}


def once(module: nn.Module, x: Tensor, mode: str, lengths: Optional[Tensor]) -> float:
    """Seconds of one inference call or one training step (forward + backward of the output's sum)."""
    kwargs = {} if lengths is None else {"lengths": lengths}
    if mode == "infer":
        module.eval()
        with torch.inference_mode():
            t0 = time.perf_counter()
            module(x, **kwargs)
            return time.perf_counter() - t0
    module.train()
    xr = x.clone().requires_grad_(True)
    t0 = time.perf_counter()
    module(xr, **kwargs)[0].sum().backward()
    dt = time.perf_counter() - t0
    module.zero_grad(set_to_none=True)
    return dt


def main(cases: str, threads: int, repeats: int) -> None:
    torch.set_num_threads(threads)
    for case in cases.split(","):
        shape, kind, mode = case.split(":")
        with_len = kind.endswith("-len")
        T, B, I, H = SHAPES[shape]
        g = torch.Generator().manual_seed(0)
        x = torch.randn(T, B, I, generator=g)
        lengths = torch.randint(max(T // 4, 1), T + 1, (B,), generator=g)
        lengths[0] = T
        torch.manual_seed(0)
        ref, layer = nn.LSTM(I, H), rnnkit.Recurrent(CELLS[kind.removesuffix("-len")](I, H))
        ls = lengths if with_len else None
        once(ref, x, mode, None), once(layer, x, mode, ls)  # warm-up
        a, b = [], []
        for _ in range(repeats):
            a.append(once(ref, x, mode, None))
            b.append(once(layer, x, mode, ls))
        ta, tb = statistics.median(a) * 1e3, statistics.median(b) * 1e3
        print(f"{case:22s} torch {ta:7.2f} ms  rnnkit {tb:7.2f} ms  ratio {tb / ta:5.2f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1, int(sys.argv[3]) if len(sys.argv) > 3 else 15)
