"""Training on very long sequences with segment checkpointing.

1. Equality: gradients of :func:`rnnkit.fused.checkpointed.unroll_checkpointed`
   equal the unsegmented run's (on ``--check-T`` steps).
2. Memory: peak resident memory of one training step (forward + backward)
   for each ``T`` in ``--Ts``, segmented (segment length ``sqrt(T)``) and, up
   to ``--max-plain-T``, unsegmented. Each run is a fresh subprocess; the
   number reported is ``ru_maxrss`` minus the resident size just before the
   step (inputs, parameters and the interpreter excluded).

Usage::

    python benchmarks/long_sequence.py                 # T = 1e3, 1e4, 1e5; B = 8, H = 128
    python benchmarks/long_sequence.py --cell peephole --json long.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rnnkit  # noqa: E402
from rnnkit.fused.checkpointed import default_segment_length, unroll_checkpointed  # noqa: E402
from rnnkit.unroll import unroll_unchecked  # noqa: E402

CELLS = {
    "lstm": lambda I, H: rnnkit.LSTMCell(I, H),
    "peephole": lambda I, H: rnnkit.LSTMCell(I, H, use_peepholes=True),
    "gru": lambda I, H: rnnkit.GRUCell(I, H),
}


def rss_mb() -> float:
    """Current resident set size in MB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def train_step(cell: Any, x: torch.Tensor, segment: Optional[int], run: str) -> None:
    """One forward + backward of ``sum(outputs * w)`` through the whole sequence."""
    if run == "segmented":
        out, final = unroll_checkpointed(cell, x, None, None, False, segment)
    else:
        layer = rnnkit.Recurrent(cell)
        out, final = layer(x)
    (out.sum() + final[0].sum()).backward()


def child(args: argparse.Namespace) -> None:
    """Measure one (T, run) in this process and print a JSON line."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cell = CELLS[args.cell](args.I, args.H)
    x = torch.randn(args.T, args.B, args.I)
    segment = default_segment_length(args.T)
    train_step(cell, x[:4].clone(), 2, args.run)  # warm-up: load kernels and libraries before measuring
    cell.zero_grad(set_to_none=True)
    before = rss_mb()
    t0 = time.perf_counter()
    train_step(cell, x, segment, args.run)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"T": args.T, "run": args.run, "segment": segment if args.run == "segmented" else None,
                      "peak_mb_over_start": peak - before, "seconds": seconds}))


def check_equal(cell_name: str, T: int, B: int, I: int, H: int) -> float:
    """Max abs difference of outputs and all gradients, segmented vs not."""
    torch.manual_seed(0)
    cell = CELLS[cell_name](I, H)
    x = torch.randn(T, B, I)
    lengths = torch.randint(T // 4, T + 1, (B,))
    results = []
    for segmented in (True, False):
        xr = x.clone().requires_grad_(True)
        if segmented:
            out, final = unroll_checkpointed(cell, xr, None, lengths, False, default_segment_length(T))
        else:
            out, final = unroll_unchecked(cell, xr, None, lengths, False)
        loss = (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum() + final[0].sum()
        grads = torch.autograd.grad(loss, [xr, *cell.parameters()])
        results.append([out.detach(), *grads])
    return max(float((a - b).abs().max() / b.abs().max().clamp(min=1e-12)) for a, b in zip(*results))


def main(argv: Optional[list[str]] = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cell", choices=sorted(CELLS), default="peephole")
    p.add_argument("--Ts", default="1000,10000,100000")
    p.add_argument("--max-plain-T", type=int, default=10000, help="largest T run without segments")
    p.add_argument("--B", type=int, default=8)
    p.add_argument("--I", type=int, default=32)
    p.add_argument("--H", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--check-T", type=int, default=2000)
    p.add_argument("--json", default="")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--T", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--run", default="segmented", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return []
    torch.set_num_threads(args.threads)
    err = check_equal(args.cell, args.check_T, args.B, args.I, args.H)
    print(f"{args.cell}: segmented vs unsegmented at T={args.check_T}, B={args.B}, H={args.H}, lengths in [T/4, T]: "
          f"max relative difference of outputs and gradients {err:.2e}")
    rows = []
    for T in (int(v) for v in args.Ts.split(",")):
        for run in ("segmented", "plain"):
            if run == "plain" and T > args.max_plain_T:
                continue
            cmd = [sys.executable, __file__, "--child", "--T", str(T), "--run", run, "--cell", args.cell,
                   "--B", str(args.B), "--I", str(args.I), "--H", str(args.H), "--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    x_mb = lambda T: T * args.B * (args.I + args.H) * 4 / 2**20  # noqa: E731
    print("\n| T | run | segment | peak MB over start | inputs+outputs MB | seconds |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['T']} | {r['run']} | {r['segment'] or '-'} | {r['peak_mb_over_start']:.0f} | "
              f"{x_mb(r['T']):.0f} | {r['seconds']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"max_rel_diff": err, "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
