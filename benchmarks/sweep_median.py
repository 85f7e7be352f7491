"""Median over several ``speed.py --json`` runs of each row's ratio to torch.nn.LSTM, as one markdown table.

The host's speed moves between runs (benchmarks/README.md), so the README's sweep tables give the median of
three runs' same-run ratios with their range::

    for i in 1 2 3; do python benchmarks/speed.py --shapes S1,S2,S4 --threads 1,2 --repeats 7 --json run$i.json; done
    python benchmarks/sweep_median.py run1.json run2.json run3.json

Columns: training and inference at each thread count (median (min-max) of the runs' ratios), and the scaling
1 -> 2 threads of the row's own median times, torch's in brackets, when both counts ran.
"""

from __future__ import annotations

import json
import statistics
import sys


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main(paths: list[str]) -> None:
    if not paths:
        raise SystemExit("usage: python benchmarks/sweep_median.py RUN.json [RUN.json ...] (speed.py --json files)")
    runs = [json.load(open(p))["results"] for p in paths]
    threads = sorted(runs[0], key=int)
    modes = ("train", "infer")
    head = [f"{m} ×torch @{t}" for m in modes for t in threads]
    if len(threads) == 2:
        head += [f"{m} scaling {threads[0]}→{threads[1]} (torch)" for m in modes]
    print("| shape | row | " + " | ".join(head) + " |")
    print("|---" * (2 + len(head)) + "|")
    for shape, table in runs[0][threads[0]].items():
        for key, row in table["rows"].items():
            if not key.startswith("rnnkit"):
                continue
            cells = []
            for mode in modes:
                for t in threads:
                    cells.append(_cell([r[t][shape]["rows"][key][mode]["ratio_to_torch"] for r in runs]))
            if len(threads) == 2:
                for mode in modes:
                    def ms(k: str, t: str) -> float:
                        return statistics.median(r[t][shape]["rows"][k][mode]["median_ms"] for r in runs)
                    mine = ms(key, threads[0]) / ms(key, threads[1])
                    ref = ms("torch", threads[0]) / ms("torch", threads[1])
                    cells.append(f"{mine:.2f} ({ref:.2f})")
            print(f"| {shape} | {row['note'].removeprefix('rnnkit ')} ({row['path']}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
