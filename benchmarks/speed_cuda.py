"""GPU speed of rnnkit's GPU paths against cuDNN ``torch.nn.LSTM`` (same run, ratio table).

Rows (training: forward + backward, median of ``--repeats`` timed runs after a
warm-up, CUDA events; batch-first ``False``, float32 unless ``--dtype``):

* ``torch-cudnn``: ``torch.nn.LSTM`` (the ratio's denominator);
* ``torch-cudnn-packed``: the same on a ``PackedSequence`` with ragged lengths;
* ``triton-<variant>`` and ``triton-<variant>-len``: every variant the Triton path runs
  (:mod:`rnnkit.fused.triton`), forced through it, without and with ragged lengths;
* ``graph-usercell`` / ``loop-usercell``: a user-defined LSTM-like cell through the
  CUDA-graph fallback (:mod:`rnnkit.fused.cudagraph`) and through the plain reference loop.

Each rnnkit row is first checked against the reference runner on the same inputs
(forward outputs, max abs difference printed in the table). Shapes: S1-S4 of
``benchmarks/speed.py`` and ``L`` (T 100, B 256, I 1024, H 1024).

Usage (needs a CUDA GPU; exits with a message otherwise)::

    python benchmarks/speed_cuda.py                          # every row, S1-S4 and L
    python benchmarks/speed_cuda.py --shapes S1 --rows torch-cudnn,triton-lstm-peepholes --repeats 5
    python benchmarks/speed_cuda.py --dtype bfloat16 --json cuda.json

Not yet run on a GPU (none was available when it was written): no number from it
is quoted anywhere yet.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.speed import SHAPES as CPU_SHAPES  # noqa: E402
from rnnkit.cells import ElmanCell, GRUCell, LSTMCell  # noqa: E402
from rnnkit.cells.layernorm import LayerNormLSTMCell  # noqa: E402
from rnnkit.state import LSTMState  # noqa: E402
from rnnkit.unroll import unroll_unchecked  # noqa: E402
from rnnkit.wrappers import Dropout, Zoneout  # noqa: E402

SHAPES: dict[str, tuple[int, int, int, int]] = {k: CPU_SHAPES[k] for k in ("S1", "S2", "S3", "S4")}
SHAPES["L"] = (100, 256, 1024, 1024)

VARIANTS: dict[str, Callable[[int, int], nn.Module]] = {
    "lstm": lambda i, h: LSTMCell(i, h),
    "lstm-peepholes": lambda i, h: LSTMCell(i, h, use_peepholes=True, forget_bias=1.0),
    "lstm-proj-clip": lambda i, h: LSTMCell(i, h, proj_size=h // 2, cell_clip=3.0, proj_clip=3.0),
    "gru": lambda i, h: GRUCell(i, h),
    "gru-v1": lambda i, h: GRUCell(i, h, reset_after=False),
    "elman": lambda i, h: ElmanCell(i, h),
    "lstm-var-dropout": lambda i, h: Dropout(LSTMCell(i, h), input_dropout=0.2, state_dropout=0.2, variational=True),
    "lstm-zoneout": lambda i, h: Zoneout(LSTMCell(i, h), h=0.1, c=0.1),
    "lnlstm": lambda i, h: LayerNormLSTMCell(i, h),
}


class UserLSTMCell(nn.Module):
    """A user's own LSTM cell in plain torch ops (no built-in path knows it)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.ih = nn.Linear(input_size, 4 * hidden_size)
        self.hh = nn.Linear(hidden_size, 4 * hidden_size)

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> LSTMState:
        z = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return LSTMState(z, z.clone())

    def forward(self, x: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        h, c = state
        i, f, g, o = (self.ih(x) + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, LSTMState(h, c)


def ragged_lengths(T: int, B: int, device: str = "cuda") -> Tensor:
    """Lengths spread over ``[T/4, T]`` (fixed seed)."""
    g = torch.Generator().manual_seed(0)
    return torch.randint(max(1, T // 4), T + 1, (B,), generator=g).to(device)


def rows(I: int, H: int, dtype: torch.dtype, device: str = "cuda",
         triton_path: Any = None) -> dict[str, tuple[nn.Module, Callable[[Tensor, Optional[Tensor]], Tensor]]]:
    """Row name -> (module with the parameters, ``fn(x, lengths) -> outputs``).

    ``device`` and ``triton_path`` exist so that the rows can be smoke-checked on CPU tensors with
    ``TritonPath(allow_interpreter=True)``; the benchmark itself uses CUDA and the registered path.
    """
    from rnnkit.fused import cudagraph
    from rnnkit.fused.triton.path import PATH

    TRITON = triton_path or PATH
    out: dict[str, tuple[nn.Module, Callable]] = {}
    lstm = nn.LSTM(I, H).to(device, dtype)
    out["torch-cudnn"] = (lstm, lambda x, lengths: lstm(x)[0])

    def packed(x: Tensor, lengths: Optional[Tensor]) -> Tensor:
        p = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        return nn.utils.rnn.pad_packed_sequence(lstm(p)[0], total_length=x.shape[0])[0]

    out["torch-cudnn-packed"] = (lstm, packed)
    for name, make in VARIANTS.items():
        cell = make(I, H).to(device, dtype)

        def run(x: Tensor, lengths: Optional[Tensor], cell: nn.Module = cell) -> Tensor:
            reason = TRITON.supports(cell, x, lengths)
            if reason is not None:
                raise RuntimeError(f"the Triton path declined: {reason}")
            return TRITON.run(cell, x, None, lengths, False)[0]

        out[f"triton-{name}"] = (cell, run)
        out[f"triton-{name}-len"] = (cell, run)
    user = UserLSTMCell(I, H).to(device, dtype)

    def graph(x: Tensor, lengths: Optional[Tensor]) -> Tensor:
        cudagraph.enable(True)
        return cudagraph.PATH.run(user, x, None, None, False)[0]

    out["graph-usercell"] = (user, graph)
    out["loop-usercell"] = (user, lambda x, lengths: unroll_unchecked(user, x, None, None, False)[0])
    return out


def max_diff(name: str, module: nn.Module, fn: Callable, x: Tensor, lengths: Optional[Tensor]) -> str:
    """Max abs difference of the forward outputs against the reference runner (rnnkit rows; seeded)."""
    if name.startswith("torch-"):
        return "-"
    with torch.no_grad():
        torch.manual_seed(1)
        got = fn(x, lengths)
        torch.manual_seed(1)
        ref = unroll_unchecked(module, x, None, lengths, False)[0]
    return f"{float((got.float() - ref.float()).abs().max()):.1e}"


def time_row(fn: Callable, module: nn.Module, x: Tensor, lengths: Optional[Tensor], repeats: int) -> list[float]:
    """Milliseconds of forward + backward per run (CUDA events), after two warm-up runs."""
    times = []
    for k in range(repeats + 2):
        module.zero_grad(set_to_none=True)
        xr = x.detach().requires_grad_(True)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        y = fn(xr, lengths)
        y.float().sum().backward()
        end.record()
        torch.cuda.synchronize()
        if k >= 2:
            times.append(start.elapsed_time(end))
    return times


def main(argv: Optional[list[str]] = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated subset of " + ",".join(SHAPES))
    p.add_argument("--rows", default="", help="comma-separated row names (default: all)")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--json", default="", help="write the results here")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        sys.exit("benchmarks/speed_cuda.py needs a CUDA GPU (torch.cuda.is_available() is False)")
    dtype = getattr(torch, args.dtype)
    wanted = [r for r in args.rows.split(",") if r]
    results: dict = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "dtype": args.dtype,
                     "shapes": {}}
    for shape in args.shapes.split(","):
        if shape not in SHAPES:
            p.error(f"--shapes: unknown shape {shape!r}; choose from {list(SHAPES)}")
        T, B, I, H = SHAPES[shape]
        torch.manual_seed(0)
        x = torch.randn(T, B, I, device="cuda", dtype=dtype)
        lengths = ragged_lengths(T, B)
        table = {}
        for name, (module, fn) in rows(I, H, dtype).items():
            if wanted and name not in wanted:
                continue
            ls = lengths if name.endswith("-len") or name == "torch-cudnn-packed" else None
            try:
                diff = max_diff(name, module, fn, x, ls)
                ms = time_row(fn, module, x, ls, args.repeats)
                table[name] = {"median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms),
                               "max_abs_diff": diff}
            except Exception as err:  # a row that fails says so in the table, the others still run
                table[name] = {"error": f"{type(err).__name__}: {err}"[:200]}
            torch.cuda.empty_cache()
        results["shapes"][shape] = table
        base = table.get("torch-cudnn", {}).get("median_ms")
        print(f"\n### {shape} (T {T}, B {B}, I {I}, H {H}), {args.dtype}, {results['device']}\n")
        print("| row | median ms | min-max | / cuDNN | max abs diff vs reference |\n|---|---|---|---|---|")
        for name, r in table.items():
            if "error" in r:
                print(f"| {name} | failed: {r['error']} | | | |")
                continue
            ratio = f"{r['median_ms'] / base:.2f}" if base else "-"
            spread = f"{r['min_ms']:.2f}-{r['max_ms']:.2f}"
            print(f"| {name} | {r['median_ms']:.2f} | {spread} | {ratio} | {r['max_abs_diff']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
