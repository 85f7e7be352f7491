"""rnnkit drop-ins vs torch.nn on CPU: training (forward+backward) ms, side by side in one run.

Rows per shape (2-layer bidirectional, fp32):
  padded torch.nn          torch.nn.X on the padded batch (no lengths)
  padded rnnkit auto       rnnkit.X(fused="auto") on the padded batch: the same _VF call
  lengths torch.nn packed  torch.nn.X on pack_padded_sequence(enforce_sorted=False) + pad_packed_sequence
  lengths rnnkit auto      rnnkit.X(x, lengths=...) (lengths uniform in [T/4, T]): per-layer fast paths

Correctness is checked (rnnkit with lengths == torch.nn on the packed batch) before timing.
Usage: python benchmarks/dropin.py [--kinds LSTM,GRU] [--shapes S1,S2,S4] [--repeats 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit

SHAPES = {"S1": (28, 128, 28, 128), "S2": (35, 32, 64, 256), "S3": (100, 64, 128, 512), "S4": (500, 16, 32, 128)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", default="LSTM,GRU")
    parser.add_argument("--shapes", default="S1,S2,S4")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    print("| kind | shape | implementation | median ms | min–max | ratio to padded torch.nn | ratio to packed torch.nn |")
    print("|---|---|---|---|---|---|---|")
    for kind in args.kinds.split(","):
        for name in args.shapes.split(","):
            T, B, I, H = SHAPES[name]
            torch.manual_seed(0)
            ours = getattr(rnnkit, kind)(I, H, num_layers=2, bidirectional=True)
            ref = getattr(nn, kind)(I, H, num_layers=2, bidirectional=True)
            ref.load_state_dict(ours.state_dict())
            x = torch.randn(T, B, I, requires_grad=True)
            lengths = torch.randint(T // 4, T + 1, (B,))

            def torch_packed() -> torch.Tensor:
                out, _ = ref(pack_padded_sequence(x, lengths, enforce_sorted=False))
                return pad_packed_sequence(out, total_length=T)[0]

            impls = {
                "padded torch.nn": lambda: ref(x)[0],
                "padded rnnkit auto": lambda: ours(x)[0],
                "lengths torch.nn packed": torch_packed,
                "lengths rnnkit auto": lambda: ours(x, lengths=lengths)[0],
            }
            torch.testing.assert_close(ours(x, lengths=lengths)[0], torch_packed(), atol=1e-5, rtol=1e-4)
            times: dict[str, list[float]] = {k: [] for k in impls}
            for rep in range(args.repeats + 1):  # alternate implementations; the first round is warm-up
                for k, fn in impls.items():
                    t0 = time.perf_counter()
                    fn().sum().backward()
                    if rep:
                        times[k].append(1000 * (time.perf_counter() - t0))
            base_padded = statistics.median(times["padded torch.nn"])
            base_packed = statistics.median(times["lengths torch.nn packed"])
            for k, v in times.items():
                med = statistics.median(v)
                rows.append(dict(kind=kind, shape=name, impl=k, median_ms=med, min_ms=min(v), max_ms=max(v)))
                print(f"| {kind} | {name} | {k} | {med:.1f} | {min(v):.1f}–{max(v):.1f} | "
                      f"{med / base_padded:.2f} | {med / base_packed:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
