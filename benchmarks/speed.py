"""Side-by-side speed of rnnkit layers against torch.nn.LSTM (see shared/perf.md).

For each reference shape S1-S5 this times training (forward + backward) and
inference of every implementation, alternating implementations run by run
after a warm-up, and prints a markdown table (median ms, min-max spread, ratio
to ``torch.nn.LSTM`` measured in the same run, GFLOP/s and the fraction of the
GEMM rate measured here). Every rnnkit row is first checked against the
reference runner (``fused=False``): outputs and all gradients.

Usage::

    python benchmarks/speed.py                       # everything, 1 thread
    python benchmarks/speed.py --threads 1,2         # a sweep: tables at 1 and at 2 threads + scaling
    python benchmarks/speed.py --quick               # S1,S4, 3 repeats, fewer rows
    python benchmarks/speed.py --shapes S3 --impl torch,rnnkit-lstm,rnnkit-lstm-len --json out.json
    python benchmarks/speed.py --twin RNNKIT_ONEDNN_GEMM=0   # + each rnnkit row with that variable set
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rnnkit  # noqa: E402
from rnnkit.fused import choose  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed_report import markdown  # noqa: E402

SHAPES: dict[str, tuple[int, int, int, int]] = {  # name: (T, B, I, H)
    "S1": (28, 128, 28, 128),
    "S2": (35, 32, 64, 256),
    "S3": (100, 64, 128, 512),
    "S4": (500, 16, 32, 128),
    "S5": (1000, 1, 32, 128),
}
GATES = {"lstm": 4, "gru": 3, "elman": 1}


@dataclass
class Impl:
    """One row: ``build(I, H) -> (module, fn(x, lengths) -> outputs)``."""

    name: str
    family: str
    build: Callable[[int, int], tuple[nn.Module, Callable[[Tensor, Optional[Tensor]], Tensor]]]
    lengths: bool = False
    rnnkit_cell: bool = False
    note: str = ""
    results: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)  # environment variables set around each of this row's runs


class PythonLoopLSTM(nn.Module):
    """Baseline: an LSTM written as a Python loop of explicit torch ops."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(input_size, hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        B, H = x.shape[1], self.cell.hidden_size
        h = c = x.new_zeros(B, H)
        outs = []
        for t in range(x.shape[0]):
            gates = x[t] @ self.cell.weight_ih.t() + self.cell.bias_ih + h @ self.cell.weight_hh.t() + self.cell.bias_hh
            i, f, g, o = gates.chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs)


def _torch_lstm(I: int, H: int) -> tuple[nn.Module, Callable]:
    m = nn.LSTM(I, H)
    return m, lambda x, lengths: m(x)[0]


def _torch_packed(I: int, H: int) -> tuple[nn.Module, Callable]:
    m = nn.LSTM(I, H)

    def fn(x: Tensor, lengths: Optional[Tensor]) -> Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        out, _ = m(packed)
        return nn.utils.rnn.pad_packed_sequence(out, total_length=x.shape[0])[0]

    return m, fn


def _python_loop(I: int, H: int) -> tuple[nn.Module, Callable]:
    m = PythonLoopLSTM(I, H)
    return m, lambda x, lengths: m(x)


def _rnnkit(make_cell: Callable[[int, int], nn.Module]) -> Callable[[int, int], tuple[nn.Module, Callable]]:
    def build(I: int, H: int) -> tuple[nn.Module, Callable]:
        layer = rnnkit.Recurrent(make_cell(I, H))
        return layer, lambda x, lengths: layer(x, lengths=lengths)[0]

    return build


def _optional_cells() -> dict[str, Any]:
    """Cells and wrappers written by other modules; missing ones are skipped."""
    found: dict[str, Any] = {}
    try:
        from rnnkit.cells.layernorm import LayerNormLSTMCell

        found["LayerNormLSTMCell"] = LayerNormLSTMCell
    except ImportError:
        pass
    try:
        from rnnkit.wrappers import Dropout, Zoneout

        found["Dropout"], found["Zoneout"] = Dropout, Zoneout
    except ImportError:
        pass
    return found


def build_impls() -> list[Impl]:
    """Every row of the table, in order (missing optional cells become notes)."""
    impls = [
        Impl("torch", "lstm", _torch_lstm, note="torch.nn.LSTM (oneDNN), padded"),
        Impl("torch-packed", "lstm", _torch_packed, lengths=True, note="torch.nn.LSTM on a PackedSequence"),
        Impl("python-loop", "lstm", _python_loop, note="Python loop of explicit ops"),
    ]
    cells: list[tuple[str, str, Optional[Callable[[int, int], nn.Module]], str]] = [
        ("lstm", "lstm", lambda I, H: rnnkit.LSTMCell(I, H), "LSTMCell"),
        ("gru", "gru", lambda I, H: rnnkit.GRUCell(I, H), "GRUCell"),
        ("elman", "elman", lambda I, H: rnnkit.ElmanCell(I, H), "ElmanCell"),
        ("peephole", "lstm", lambda I, H: rnnkit.LSTMCell(I, H, use_peepholes=True), "LSTMCell(use_peepholes)"),
        ("gru-v1", "gru", lambda I, H: rnnkit.GRUCell(I, H, reset_after=False), "GRUCell(reset_after=False)"),
    ]
    extra = _optional_cells()
    ln = extra.get("LayerNormLSTMCell")
    cells.append(("layernorm", "lstm", (lambda I, H: ln(I, H)) if ln else None, "LayerNormLSTMCell"))
    drop, zone = extra.get("Dropout"), extra.get("Zoneout")
    cells.append(("dropout-io", "lstm", (lambda I, H: drop(rnnkit.LSTMCell(I, H), input_dropout=0.25,
                                                           output_dropout=0.25, variational=True)) if drop else None,
                  "LSTMCell + variational input/output dropout 0.25"))
    cells.append(("dropout", "lstm", (lambda I, H: drop(rnnkit.LSTMCell(I, H), input_dropout=0.25, output_dropout=0.25,
                                                        state_dropout=0.25, variational=True)) if drop else None,
                  "LSTMCell + variational dropout 0.25 (input, output, state)"))
    cells.append(("zoneout", "lstm", (lambda I, H: zone(rnnkit.LSTMCell(I, H), h=0.1, c=0.05)) if zone else None,
                  "LSTMCell + zoneout (h 0.1, c 0.05)"))
    for key, family, make, label in cells:
        for with_len in (False, True):
            name = f"rnnkit-{key}" + ("-len" if with_len else "")
            note = f"rnnkit {label}" + (", lengths" if with_len else "")
            if make is None:
                impls.append(Impl(name, family, None, with_len, True, note + " (skipped: class not found)"))
            else:
                impls.append(Impl(name, family, _rnnkit(make), with_len, True, note))
    return impls


def check_correct(impl: Impl, module: nn.Module, x: Tensor, lengths: Optional[Tensor]) -> str:
    """Outputs and every gradient of the layer vs ``fused=False`` on a short prefix."""
    T = min(x.shape[0], 12)
    xs = x[:T].detach().clone()
    ls = None if lengths is None else lengths.clamp(max=T)
    results = []
    for fused in ("auto", False):
        module.fused = fused
        xr = xs.clone().requires_grad_(True)
        module.zero_grad(set_to_none=True)
        with torch.random.fork_rng():
            torch.manual_seed(1)
            out, _ = module(xr, lengths=ls)
        out.backward(torch.linspace(-1, 1, out.numel()).view_as(out))
        results.append([out.detach(), xr.grad] + [p.grad for p in module.parameters()])
    module.fused = "auto"
    for a, b in zip(results[0], results[1]):
        scale = float(b.abs().max()) if b.numel() else 1.0  # gradients are sums over T*B terms
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * max(scale, 1.0))
    if lengths is not None:
        return "ok" if torch.count_nonzero(results[0][0][ls.max():]) == 0 else "nonzero past lengths"
    return "ok"


def gemm_rate(M: int, K: int, N: int) -> float:
    """Measured GFLOP/s of a (M, K) x (K, N) float32 GEMM."""
    a, b = torch.randn(M, K), torch.randn(K, N)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(7):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * M * K * N / best / 1e9


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Any:
    """Set ``values`` in ``os.environ`` for the block (the compiled core reads RNNKIT_PACKED_GEMM,
    RNNKIT_ONEDNN_GEMM and RNNKIT_WORKSPACE_MB per call)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def twins(impls: list[Impl], variants: list[tuple[str, dict[str, str]]]) -> list[Impl]:
    """After each rnnkit row, the same row once per variant (suffix, env), each with only its own ``env``
    set (named ``<row><suffix>``; variants are not combined).

    A twin runs right after a run of the same layer, while the first row of a layer runs after another
    implementation: that first row is 5-20% slower (a no-op twin, ``--twin RNNKIT_NOOP=1``, measured
    S1 GRU 10.4 vs 9.2 ms), so compare twins with twins (e.g. ``--twin X=0 --twin X=1``), not with the
    first row.
    """
    out: list[Impl] = []
    for impl in impls:
        out.append(impl)
        if impl.rnnkit_cell and impl.build is not None:
            for suffix, env in variants:
                note = ", ".join(f"{k}={v}" for k, v in env.items())
                out.append(Impl(impl.name + suffix, impl.family, impl.build, impl.lengths, True,
                                impl.note + ", " + note, env={**impl.env, **env}))
    return out


def run_shape(shape: str, impls: list[Impl], repeats: int, modes: list[str]) -> dict:
    T, B, I, H = SHAPES[shape]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, I, generator=g)
    lengths = torch.randint(max(T // 4, 1), T + 1, (B,), generator=g)
    lengths[0] = T
    rate = gemm_rate(T * B, I + H, 4 * H)
    live = []
    for impl in impls:
        if impl.build is None:
            continue
        torch.manual_seed(0)
        module, fn = impl.build(I, H)
        module.train()
        ls = lengths if impl.lengths else None
        info = {"path": "-", "check": "-"}
        if impl.rnnkit_cell:
            with torch.no_grad():  # the path can depend on whether the call records gradients
                paths = [choose("bench", module.cell, x, ls, "auto")]
            paths.insert(0, choose("bench", module.cell, x, ls, "auto"))
            train_path, infer_path = (p.name if p is not None else "reference" for p in paths)
            info["path"] = train_path if train_path == infer_path else f"{train_path} / {infer_path} (infer)"
            with environment(impl.env):
                info["check"] = check_correct(impl, module, x, ls)
        gy = torch.randn(T, B, module.cell.output_size if impl.rnnkit_cell else H, generator=g)
        live.append((impl, module, fn, ls, gy, info))
    times: dict[str, dict[str, list[float]]] = {i.name: {m: [] for m in modes} for i, *_ in live}

    def once(impl: Impl, mode: str, module: nn.Module, fn: Callable, ls: Optional[Tensor], gy: Tensor) -> float:
        with environment(impl.env):
            return timed(mode, module, fn, ls, gy)

    def timed(mode: str, module: nn.Module, fn: Callable, ls: Optional[Tensor], gy: Tensor) -> float:
        if mode == "train":
            module.train()
            xr = x.clone().requires_grad_(True)
            t0 = time.perf_counter()
            out = fn(xr, ls)
            out.backward(gy)
            dt = time.perf_counter() - t0
            module.zero_grad(set_to_none=True)
            return dt
        module.eval()
        with torch.inference_mode():
            t0 = time.perf_counter()
            fn(x, ls)
            return time.perf_counter() - t0

    for mode in modes:
        for impl, module, fn, ls, gy, _ in live:  # warm-up
            once(impl, mode, module, fn, ls, gy)
        for _ in range(repeats):
            for impl, module, fn, ls, gy, _ in live:
                times[impl.name][mode].append(once(impl, mode, module, fn, ls, gy) * 1e3)
    out = {"T": T, "B": B, "I": I, "H": H, "gemm_gflops": rate, "rows": {}}
    base = {m: statistics.median(times["torch"][m]) for m in modes} if "torch" in times else {}
    for impl, module, fn, ls, gy, info in live:
        tokens = float(ls.sum()) if ls is not None else float(T * B)
        fwd_flops = 2 * tokens * (I + H) * GATES[impl.family] * H
        row = {"note": impl.note, **info}
        for m in modes:
            ts = times[impl.name][m]
            med = statistics.median(ts)
            flops = fwd_flops * (3 if m == "train" else 1)
            row[m] = {"median_ms": med, "min_ms": min(ts), "max_ms": max(ts), "runs": ts,
                      "ratio_to_torch": med / base[m] if base else None,
                      "gflops": flops / med / 1e6, "gemm_fraction": flops / med / 1e6 / rate}
        out["rows"][impl.name] = row
    return out


def main(argv: Optional[list[str]] = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default="S1,S2,S3,S4,S5", help="comma-separated subset of " + ",".join(SHAPES))
    p.add_argument("--impl", default="", help="comma-separated row names (default: all); e.g. torch,rnnkit-lstm-len")
    p.add_argument("--threads", default="1", help="thread count, or a comma-separated sweep (e.g. 1,2): "
                   "each count runs every shape (ratios against torch at the same count), then a scaling table")
    p.add_argument("--device", default="cpu", help="cpu (this script); cuda runs benchmarks/speed_cuda.py "
                   "(its rows against cuDNN) with --shapes (if given), --repeats and --json")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per implementation (>= 5 for a report)")
    p.add_argument("--modes", default="train,infer")
    p.add_argument("--quick", action="store_true", help="S1,S4, 3 repeats, core rows only")
    p.add_argument("--path-order", default="", help="try these fast paths first, e.g. compiled,native "
                   "(to compare the compiled core with torch's kernels on the cells both run)")
    p.add_argument("--twin", action="append", default=[], metavar="NAME=VALUE",
                   help="add each rnnkit row again with this environment variable set around its runs, e.g. "
                        "RNNKIT_WORKSPACE_MB=0 (buffer pool off), RNNKIT_ONEDNN_GEMM=0 / 1 (GEMMs on at::mm / "
                        "oneDNN; default: at::mm on Intel CPUs) or "
                        "RNNKIT_PACKED_GEMM=0 (no MKL packed step GEMMs); "
                        "repeatable: one twin per option, each with only its own variable set")
    p.add_argument("--json", default="", help="write the results here")
    p.add_argument("--markdown", default="", help="also write the markdown table to this file")
    args = p.parse_args(argv)
    try:
        thread_counts = [int(n) for n in args.threads.split(",")]
    except ValueError:
        p.error(f"--threads takes a count or a comma-separated list of counts, got {args.threads!r}")
    if any(n < 1 for n in thread_counts):
        p.error(f"--threads counts must be >= 1, got {args.threads!r}")
    if args.path_order:
        import rnnkit.fused as fused

        fused.registered()  # load the built-in paths, then reorder the registry (benchmark-only)
        order = args.path_order.split(",")
        fused._PATHS.sort(key=lambda path: order.index(path.name) if path.name in order else len(order))
    impls = build_impls()
    shapes = args.shapes.split(",")
    if args.quick:
        shapes = ["S1", "S4"] if args.shapes == p.get_default("shapes") else shapes
        args.repeats = min(args.repeats, 3)
        if not args.impl:
            args.impl = "torch,torch-packed,rnnkit-lstm,rnnkit-lstm-len,rnnkit-peephole,rnnkit-gru-v1-len"
    if args.impl:
        wanted = args.impl.split(",")
        unknown = [w for w in wanted if w not in {i.name for i in impls}]
        if unknown:
            p.error(f"unknown --impl {unknown}; choose from {[i.name for i in impls]}")
        impls = [i for i in impls if i.name in wanted or i.name == "torch"]
    variants = []
    for twin in args.twin:
        name, sep, value = twin.partition("=")
        if not name or not sep:
            p.error(f"--twin takes NAME=VALUE, got {twin!r}")
        variants.append((f"-{name.lower()}-{value}", {name: value}))
    if variants:
        impls = twins(impls, variants)
    for s in shapes:
        if s not in SHAPES:
            p.error(f"unknown shape {s!r}; choose from {list(SHAPES)}")
    modes = args.modes.split(",")
    if args.device != "cpu":  # the hook for other devices: their rows live in benchmarks/speed_<device>.py
        import importlib

        kind = args.device.split(":")[0]
        try:
            device_module = importlib.import_module(f"speed_{kind}")
        except ImportError:
            p.error(f"--device {args.device!r}: no benchmarks/speed_{kind}.py")
        forwarded = ["--repeats", str(args.repeats)] + (["--json", args.json] if args.json else [])
        if args.shapes != p.get_default("shapes"):
            forwarded += ["--shapes", args.shapes]
        return device_module.main(forwarded)
    results: dict[int, dict] = {}
    for n in thread_counts:
        torch.set_num_threads(n)
        results[n] = {}
        for s in shapes:
            print(f"running {s} at {n} thread(s) ...", file=sys.stderr, flush=True)
            results[n][s] = run_shape(s, impls, args.repeats, modes)
    header = (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, torch {torch.__version__}, "
              f"{platform.processor() or platform.machine()}, threads={args.threads}, repeats={args.repeats}"
              f"{', path order ' + args.path_order if args.path_order else ''}\n"
              f"command: python benchmarks/speed.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    table = header + "\n" + markdown(results, impls, modes)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": header, "results": results}, indent=1))
    return results


if __name__ == "__main__":
    main()
