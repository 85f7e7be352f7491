"""The ``tsclass`` battery: every UCR/UEA classification dataset bundled offline in sktime, run as a user would.

For each dataset the official train/test split (sktime's ``<Name>_TRAIN.ts`` / ``<Name>_TEST.ts``) goes
through the real command line with the recipe's defaults::

    rnnkit train tsclass --data <Name>_TRAIN.ts --test-data <Name>_TEST.ts --threads 2

(a subprocess; its ``report.json`` gives the test accuracy, and the wall time is measured around the
whole command). On the same split the script computes two classical baselines:

* **1-NN Euclidean**: the series as distributed (no normalisation, as the archives compute theirs), series of unequal length resampled
  linearly to the longest training length, squared Euclidean distance over all channels;
* **1-NN DTW**: the same series (no resampling), dynamic time warping with a Sakoe-Chiba
  band of 10% of the longer series (``dtaidistance``; multivariate series use dependent DTW,
  ``dtw_ndim``, squared Euclidean between steps),

and lists published accuracies where they are known (see :data:`PUBLISHED`).

Results go to ``benchmarks/tsbattery.json`` and a markdown table on stdout::

    python benchmarks/tsbattery.py                         # the whole battery
    python benchmarks/tsbattery.py --datasets GunPoint,ArrowHead
    python benchmarks/tsbattery.py --tiny                  # smoke check: UnitTest only, --tiny --epochs 5
    python benchmarks/tsbattery.py --table-only            # the table from tsbattery.json
    python benchmarks/tsbattery.py --out benchmarks/tsbattery_variants/kfold3.json -- --folds 3   # other flags
    python benchmarks/tsbattery.py --compare tsbattery.json,tsbattery_variants/kfold3.json     # configs side by side

Timings depend on what else runs on the machine; the JSON records the load average at the start and
``OMP_WAIT_POLICY`` (set to ``PASSIVE`` when the machine is loaded, as ``results_table.py`` does).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "tsbattery.json"

DATASETS = ("ACSF1", "ArrowHead", "BasicMotions", "GunPoint", "ItalyPowerDemand", "JapaneseVowels", "OSULeaf",
            "PLAID", "UnitTest")
"""Every classification dataset sktime 1.2 bundles with a TRAIN/TEST pair of ``.ts`` files."""

PUBLISHED: dict[str, dict[str, float]] = {
    "ACSF1": {"ROCKET": 88.6},
    "ArrowHead": {"FCN": 84.3, "ResNet": 84.5, "ROCKET": 81.4},
    "GunPoint": {"FCN": 100.0, "ResNet": 99.1, "ROCKET": 100.0},
    "ItalyPowerDemand": {"FCN": 96.1, "ResNet": 96.3, "ROCKET": 97.0},
    "JapaneseVowels": {"FCN": 99.3, "ResNet": 99.2},
    "OSULeaf": {"FCN": 97.7, "ResNet": 97.9, "ROCKET": 94.1},
    "PLAID": {"ROCKET": 90.3},
}
"""Published test accuracy (%) on the same official train/test splits, each the mean of 10 runs, checked
(2026-12-03) against the authors' own result files:

* FCN, ResNet: Fawaz et al. (2019), "Deep learning for time series classification: a review", Data Mining
  and Knowledge Discovery 33; github.com/hfawaz/dl-4-tsc, ``results/results-uea-avg-std.csv`` (the UCR
  2015 archive: ArrowHead, Gun_Point, ItalyPowerDemand, OSULeaf) and ``results/results-mts-avg-std.csv``
  (Baydogan's multivariate archive: JapaneseVowels, the same 270/370 split).
* ROCKET: Dempster et al. (2020), "ROCKET: exceptionally fast and accurate time series classification
  using random convolutional kernels", Data Mining and Knowledge Discovery 34; github.com/angus924/rocket,
  ``results/results_ucr.csv`` (the 128 univariate UCR 2018 data sets, training/test split).

Not in those files, so no figure: FCN/ResNet for ACSF1 and PLAID (UCR 2018 additions), ROCKET for the
multivariate JapaneseVowels and BasicMotions, anything for UnitTest (sktime's own test data set)."""

SOURCES = {"FCN": "Fawaz et al. 2019", "ResNet": "Fawaz et al. 2019", "ROCKET": "Dempster et al. 2020"}


def data_dir() -> Path:
    """sktime's bundled data folder (read as files; sktime itself is not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("tsbattery: sktime is not installed; pip install --no-deps -r requirements-nodeps.txt")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def files(name: str) -> tuple[Path, Path]:
    """The TRAIN and TEST ``.ts`` files of ``name``."""
    folder = data_dir() / name
    return folder / f"{name}_TRAIN.ts", folder / f"{name}_TEST.ts"


def load_split(name: str) -> tuple[tuple[list[np.ndarray], list[str]], tuple[list[np.ndarray], list[str]]]:
    """``((train series (T_i, C), labels), (test series, labels))`` read with rnnkit's ``.ts`` reader."""
    sys.path.insert(0, str(ROOT))
    from rnnkit.data.tsfile import read_ts_file

    out = []
    for path in files(name):
        seqs, labels = read_ts_file(path)
        out.append((seqs, [str(v) for v in labels]))
    return out[0], out[1]


def _znorm(s: np.ndarray) -> np.ndarray:
    """The series as the archive distributes it (missing values -> 0): the UCR/UEA archives' own 1-NN
    figures are computed without further normalisation (UCR series are mostly z-normalised already)."""
    return np.nan_to_num(np.asarray(s, np.float64))


def _resample(s: np.ndarray, length: int) -> np.ndarray:
    if len(s) == length:
        return s
    old = np.linspace(0.0, 1.0, len(s))
    new = np.linspace(0.0, 1.0, length)
    return np.stack([np.interp(new, old, s[:, c]) for c in range(s.shape[1])], 1)


def nn1_euclidean(train: list[np.ndarray], ytr: list[str], test: list[np.ndarray], yte: list[str]) -> float:
    """1-NN accuracy with the Euclidean distance (see the module docstring)."""
    length = max(len(s) for s in train)
    a = np.stack([_resample(_znorm(s), length).ravel() for s in train])
    b = np.stack([_resample(_znorm(s), length).ravel() for s in test])
    d = (b ** 2).sum(1)[:, None] - 2 * b @ a.T + (a ** 2).sum(1)[None, :]
    pred = np.asarray(ytr)[d.argmin(1)]
    return float(np.mean(pred == np.asarray(yte)))


def nn1_dtw(train: list[np.ndarray], ytr: list[str], test: list[np.ndarray], yte: list[str],
            band: float = 0.1) -> float:
    """1-NN accuracy with DTW in a Sakoe-Chiba band of ``band`` x the longer series (dtaidistance)."""
    from dtaidistance import dtw, dtw_ndim

    series = [_znorm(s) for s in train] + [_znorm(s) for s in test]
    n = len(train)
    window = max(1, int(round(band * max(len(s) for s in series))))
    block = ((0, n), (n, len(series)))
    if series[0].shape[1] == 1:
        d = dtw.distance_matrix_fast([np.ascontiguousarray(s[:, 0]) for s in series], block=block,
                                     window=window, parallel=True)
    else:
        d = dtw_ndim.distance_matrix_fast([np.ascontiguousarray(s) for s in series], block=block,
                                          window=window, parallel=True)
    d = np.asarray(d)[:n, n:].T  # (n_test, n_train); dtaidistance fills the upper block only
    pred = np.asarray(ytr)[np.argmin(d, 1)]
    return float(np.mean(pred == np.asarray(yte)))


def run_rnnkit(name: str, run_dir: Path, extra: list[str], threads: int) -> dict[str, Any]:
    """``rnnkit train tsclass`` on the split, as a subprocess; accuracy and wall time."""
    train, test = files(name)
    cmd = [sys.executable, "-m", "rnnkit", "train", "tsclass", "--data", str(train), "--test-data", str(test),
           "--run-dir", str(run_dir), "--threads", str(threads), "--no-progress", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if "OMP_WAIT_POLICY" not in env and os.getloadavg()[0] >= 0.5:  # as results_table.py: on a shared CPU,
        env["OMP_WAIT_POLICY"] = "PASSIVE"  # spinning OpenMP threads make --threads 2 many times slower
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"tsbattery: {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    report = json.loads((run_dir / "report.json").read_text("utf-8"))
    warns = [line for line in (proc.stdout + proc.stderr).splitlines() if "Warning" in line or "warning" in line]
    out = {"accuracy": report["results"]["test_accuracy"], "wall_s": round(wall, 1), "command": " ".join(cmd[1:]),
           "omp_wait_policy": env.get("OMP_WAIT_POLICY", "default"),
           "warnings": warns[:5], "epochs": report.get("epochs_completed")}
    if "kfold" in report:  # --folds K: the epoch count chosen on the folds, of how many each fold trained
        out["kfold"] = {k: report["kfold"][k]
                        for k in ("folds", "chosen_epochs", "fold_epochs", "best_by_other_metric")}
    return out


def describe(name: str) -> dict[str, Any]:
    (xtr, ytr), (xte, _) = load_split(name)
    lengths = sorted({len(s) for s in xtr + xte})
    return {"n_train": len(xtr), "n_test": len(xte), "channels": int(xtr[0].shape[1]),
            "length": f"{lengths[0]}" if len(lengths) == 1 else f"{lengths[0]}-{lengths[-1]}",
            "classes": len(set(ytr))}


def table(results: dict[str, dict[str, Any]]) -> str:
    """The markdown table of ``results`` (dataset -> record)."""
    head = ("| dataset | n train / test | length | channels | classes | chance | rnnkit tsclass (defaults) | wall "
            "time | 1-NN ED | 1-NN DTW (10% band) | FCN / ResNet (Fawaz et al. 2019) | ROCKET (Dempster et al. 2020) "
            "|\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    accs, eds, dtws = [], [], []
    for name in sorted(results):
        r = results[name]
        pub = PUBLISHED.get(name, {})
        pub_s = f"{pub['FCN']:.1f} / {pub['ResNet']:.1f}" if "FCN" in pub else "n/a"
        rocket = f"{pub['ROCKET']:.1f}" if "ROCKET" in pub else "n/a"
        acc = r.get("rnnkit", {}).get("accuracy")
        mark = ""
        if acc is not None:
            accs.append(acc)
            if acc < r["ed"]:
                mark = " (below ED)"
        eds.append(r["ed"])
        dtws.append(r["dtw"])
        rows.append(f"| {name} | {r['n_train']} / {r['n_test']} | {r['length']} | {r['channels']} | {r['classes']} | "
                    f"{100 * r['chance']:.1f} | {'' if acc is None else f'{100 * acc:.1f}'}{mark} | "
                    f"{r.get('rnnkit', {}).get('wall_s', '')} s | {100 * r['ed']:.1f} | {100 * r['dtw']:.1f} | "
                    f"{pub_s} | "
                    f"{rocket} |")
    if accs and len(accs) == len(eds):
        rows.append(f"| **mean** | | | | | | **{100 * np.mean(accs):.1f}** | | {100 * np.mean(eds):.1f} | "
                    f"{100 * np.mean(dtws):.1f} | | |")
    return "\n".join(rows)


def compare(paths: list[Path]) -> str:
    """One column of rnnkit accuracies per results JSON (a configuration), with 1-NN ED/DTW, means and how many
    data sets are below 1-NN ED; ``*`` marks a data set below 1-NN ED."""
    runs = [json.loads(p.read_text("utf-8")) for p in paths]
    names = sorted(set().union(*runs))
    head = ("| dataset | " + " | ".join(f"`{p.stem}`" for p in paths) + " | 1-NN ED | 1-NN DTW |\n"
            + "|---" * (len(paths) + 3) + "|")
    rows, cols = [head], [[] for _ in paths]
    for name in names:
        base = next(r[name] for r in runs if name in r)
        cells = []
        for k, run in enumerate(runs):
            acc = run.get(name, {}).get("rnnkit", {}).get("accuracy")
            cols[k].append(acc)
            extra = run.get(name, {}).get("rnnkit", {}).get("kfold")
            note = f" ({extra['chosen_epochs']}/{extra['fold_epochs']} ep)" if extra else ""
            cells.append("" if acc is None else f"{100 * acc:.1f}{'*' if acc < base['ed'] else ''}{note}")
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {100 * base['ed']:.1f} | {100 * base['dtw']:.1f} |")
    eds = [next(r[n] for r in runs if n in r)["ed"] for n in names]
    means = ["" if any(a is None for a in c) else f"**{100 * np.mean(c):.1f}**" for c in cols]
    below = ["" if any(a is None for a in c) else str(sum(a < e for a, e in zip(c, eds))) for c in cols]
    rows.append("| **mean** | " + " | ".join(means) + f" | {100 * np.mean(eds):.1f} | "
                f"{100 * np.mean([next(r[n] for r in runs if n in r)['dtw'] for n in names]):.1f} |")
    rows.append("| data sets below 1-NN ED | " + " | ".join(below) + " | | |")
    common = [i for i in range(len(names)) if all(c[i] is not None for c in cols)]
    if 0 < len(common) < len(names):  # a configuration not run on every data set: compare where all were run
        rows.append(f"| mean of the {len(common)} data sets every column has | "
                    + " | ".join(f"{100 * np.mean([c[i] for i in common]):.1f}" for c in cols)
                    + f" | {100 * np.mean([eds[i] for i in common]):.1f} | |")
    return "\n".join(rows)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated subset of " + ", ".join(DATASETS))
    parser.add_argument("--tiny", action="store_true", help="smoke check: UnitTest only, rnnkit with --tiny --epochs 5")
    parser.add_argument("--threads", type=int, default=2, help="--threads for rnnkit")
    parser.add_argument("--no-rnnkit", action="store_true", help="baselines only")
    parser.add_argument("--table-only", action="store_true", help="print the table from tsbattery.json")
    parser.add_argument("--out", default=str(RESULTS), help="results JSON (merged: the newest run of a dataset wins)")
    parser.add_argument("--run-root", default=str(ROOT / "runs" / "tsbattery"), help="where the runs go")
    parser.add_argument("--baselines-from", default="", help="reuse the 1-NN figures of this results JSON (same "
                        "data, same code) instead of recomputing them (1-NN DTW on PLAID takes minutes)")
    parser.add_argument("--compare", default="", help="comma-separated results JSONs (relative to benchmarks/ or "
                        "absolute): print their accuracies side by side and exit")
    parser.add_argument("extra", nargs="*", help="extra flags for rnnkit train tsclass (after --), e.g. -- --folds 3")
    args = parser.parse_args(argv)
    if args.compare:
        print(compare([HERE / p.strip() for p in args.compare.split(",") if p.strip()]))
        return 0
    out = Path(args.out)
    results: dict[str, dict[str, Any]] = json.loads(out.read_text("utf-8")) if out.is_file() else {}
    if args.table_only:
        print(table(results))
        return 0
    names = ["UnitTest"] if args.tiny else [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        parser.error(f"--datasets: unknown {unknown}; choose from {', '.join(DATASETS)}")
    reuse = json.loads(Path(args.baselines_from).read_text("utf-8")) if args.baselines_from else {}
    load = os.getloadavg()[0]
    for name in names:
        (xtr, ytr), (xte, yte) = load_split(name)
        rec = describe(name)
        rec["chance"] = max(np.mean(np.asarray(yte) == c) for c in set(ytr))
        old = reuse.get(name, {})
        rec["ed"] = old["ed"] if "ed" in old else nn1_euclidean(xtr, ytr, xte, yte)
        rec["dtw"] = old["dtw"] if "dtw" in old else nn1_dtw(xtr, ytr, xte, yte)
        if not args.no_rnnkit:
            extra = list(args.extra) + (["--tiny", "--epochs", "5"] if args.tiny else [])
            rec["rnnkit"] = run_rnnkit(name, Path(args.run_root) / name, extra, args.threads)
            rec["rnnkit"]["load_avg_1min_at_start"] = round(load, 2)
            rec["rnnkit"]["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(f"{name}: {json.dumps(rec)}", flush=True)
        if not args.tiny:
            results[name] = rec
            out.write_text(json.dumps(results, indent=1) + "\n", "utf-8")
    print(table(results if not args.tiny else {names[0]: rec}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
