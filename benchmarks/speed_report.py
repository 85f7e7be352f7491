"""Markdown tables of ``speed.py``'s results: one table per thread count and shape, and the thread scaling.

``results`` maps a thread count to ``{shape: run_shape(...) result}``; every ratio in a table is against
``torch.nn.LSTM`` (oneDNN) timed in the same run at the same thread count.
"""

from __future__ import annotations

from typing import Any


def shape_table(threads: int, shape: str, res: dict, impls: list[Any], modes: list[str]) -> list[str]:
    """One shape's rows at one thread count: ms (min-max), ratio to torch, GFLOP/s (GEMM fraction)."""
    lines = [f"\n### {shape}, {threads} thread{'s' if threads > 1 else ''}: T={res['T']} B={res['B']} I={res['I']} "
             f"H={res['H']} (GEMM {res['gemm_gflops']:.0f} GFLOP/s)\n"]
    head = "| impl | path | check |"
    for m in modes:
        head += f" {m} ms (min-max) | {m} × torch | {m} GFLOP/s (GEMM frac) |"
    lines.append(head)
    lines.append("|" + "---|" * (3 + 3 * len(modes)))
    for impl in impls:
        row = res["rows"].get(impl.name)
        if row is None:
            lines.append(f"| {impl.note} | - | skipped |" + " - | - | - |" * len(modes))
            continue
        line = f"| {row['note']} | {row['path']} | {row['check']} |"
        for m in modes:
            r = row[m]
            ratio = f"{r['ratio_to_torch']:.2f}" if r["ratio_to_torch"] is not None else "-"
            line += (f" {r['median_ms']:.2f} ({r['min_ms']:.2f}-{r['max_ms']:.2f}) | {ratio} |"
                     f" {r['gflops']:.1f} ({r['gemm_fraction']:.2f}) |")
        lines.append(line)
    return lines


def scaling_table(results: dict[int, dict], impls: list[Any], modes: list[str]) -> list[str]:
    """Per shape and row: the ratio to torch at each thread count and the scaling (time at the fewest
    threads / time at the most), beside torch's own scaling."""
    counts = sorted(results)
    lo, hi = counts[0], counts[-1]
    lines = [f"\n### Thread scaling: time at {lo} / time at {hi} threads (each ratio × torch at its own "
             f"thread count, same run)\n"]
    head = "| shape | impl |"
    for m in modes:
        head += "".join(f" {m} × torch @{n} |" for n in counts) + f" {m} scaling {lo}→{hi} |"
    lines.append(head)
    lines.append("|" + "---|" * (2 + len(modes) * (len(counts) + 1)))
    for shape in results[lo]:
        for impl in impls:
            rows = [results[n].get(shape, {}).get("rows", {}).get(impl.name) for n in counts]
            if any(r is None for r in rows):
                continue
            line = f"| {shape} | {rows[0]['note']} |"
            for m in modes:
                for r in rows:
                    ratio = r[m]["ratio_to_torch"]
                    line += f" {ratio:.2f} |" if ratio is not None else " - |"
                line += f" {rows[0][m]['median_ms'] / rows[-1][m]['median_ms']:.2f} |"
            lines.append(line)
    return lines


def markdown(results: dict[int, dict], impls: list[Any], modes: list[str]) -> str:
    """Every table: per thread count and shape, then the scaling table when several thread counts ran."""
    lines: list[str] = []
    for threads, shapes in results.items():
        for shape, res in shapes.items():
            lines += shape_table(threads, shape, res, impls, modes)
    if len(results) > 1:
        lines += scaling_table(results, impls, modes)
    return "\n".join(lines)
