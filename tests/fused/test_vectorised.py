"""The compiled kernels' pointwise loops are vectorised, checked on the built library's machine code.

GCC's heuristics twice silently de-vectorised these loops after unrelated edits (loop unswitching
left one variant scalar; a grown translation unit stopped inlining ``exp_f``), each time making
every compiled LSTM 1.3-1.5x slower with every parity test still passing; and GCC 12 never
vectorised a loop reading a ``bool`` mask (the zoneout rules), found with this check's counts. This test disassembles
the built extension (``objdump``) and asks of each hot function that it calls none of rnnkit's
activations out of line and carries packed single-precision vector code on ``ymm``/``zmm``
registers (a few hundred instructions today; the thresholds are about half of that). It skips
where the tools or an AVX build are missing.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess

import pytest

from tests.fused.core import compiled_core

# function (the start of its mangled name; lambdas, "_ZZ...", are other symbols) -> the fewest packed
# ymm/zmm float instructions it must contain
HOT_FUNCTIONS = {
    "_ZN6rnnkit11lstm_detail11forward_rowIf": 150,  # 316-355 today in each variant
    "_ZN6rnnkit11lstm_detail12backward_rowIf": 25,  # 58-86
    "_ZN6rnnkit12lstm_forward": 60,  # the state rules' loops around the rows: 123 (59 with bool-mask loops scalar)
    "_ZN6rnnkit13lstm_backward": 80,  # 165 (88 with bool-mask loops scalar)
    "_ZN6rnnkit14lnlstm_forward": 150,  # 355
    "_ZN6rnnkit15lnlstm_backward": 60,  # 131
    "_ZN6rnnkit11gru_forward": 150,  # 372
    "_ZN6rnnkit12gru_backward": 50,  # 110
    "_ZN6rnnkit13elman_forward": 40,  # 86
}
PACKED = re.compile(r"\sv[a-z0-9]+ps\s.*%[yz]mm")
ACTIVATION_CALL = re.compile(r"call\s.*<_ZN6rnnkit[^>]*(exp_f|sigmoid_f|tanh_f|sigm|tanh_)")
GATHER = re.compile(r"\sv(p)?gather\w+\s")


@pytest.fixture(scope="module")
def library() -> str:
    if platform.machine().lower() not in ("x86_64", "amd64") or platform.system() != "Linux":
        pytest.skip("the check reads x86-64 machine code")
    if shutil.which("objdump") is None or shutil.which("nm") is None:
        pytest.skip("needs binutils (objdump, nm)")
    module = compiled_core()
    with open("/proc/cpuinfo") as f:
        if " avx2" not in f.read():
            pytest.skip("the build targets a CPU without AVX2: no ymm code to look for")
    return module.__file__


def _symbols(library: str, prefix: str) -> list[str]:
    out = subprocess.run(["nm", library], capture_output=True, text=True, check=True).stdout
    names = [line.split()[-1] for line in out.splitlines() if re.search(r"\s[TtWw]\s", line)]
    names = [n for n in names if n.startswith(prefix)]
    return [n for n in names if not n.endswith(".cold")]  # GCC's out-of-line error paths


def _disassembly(library: str, symbol: str) -> str:
    cmd = ["objdump", "-d", "--no-show-raw-insn", f"--disassemble={symbol}", library]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def _with_lambdas(library: str, symbol: str) -> str:
    """The disassembly of ``symbol`` and of every lambda defined in it (``_ZZ...<symbol>E...``, at any depth):
    the kernels run their time loop in a lambda per thread's row range (csrc/rowsplit.h), which GCC keeps
    out of line."""
    nested = re.compile(r"^_Z{2,}" + re.escape(symbol[2:]) + "E")
    return "".join(_disassembly(library, s) for s in [symbol, *_symbols(library, "_ZZ")] if s == symbol or
                   nested.match(s))


@pytest.mark.parametrize("prefix", sorted(HOT_FUNCTIONS))
def test_hot_loops_are_vectorised(library: str, prefix: str) -> None:
    symbols = _symbols(library, prefix)
    assert symbols, f"no function named {prefix!r}... in {library}"
    for symbol in symbols:
        code = _with_lambdas(library, symbol)
        calls = ACTIVATION_CALL.findall(code)
        assert not calls, f"{symbol} calls an activation out of line ({calls[:3]}): its loop is not vectorised"
        packed = len(PACKED.findall(code))
        assert packed >= HOT_FUNCTIONS[prefix], (
            f"{symbol}: {packed} packed ymm/zmm float instructions, expected >= {HOT_FUNCTIONS[prefix]}: "
            "a pointwise loop lost its vectorisation (check with -fopt-info-vec-missed)")


def test_kernels_hold_no_vector_gathers(library: str) -> None:
    """No gathers in rnnkit's functions (and their lambdas): every operand of their loops is contiguous or
    a scalar. GCC vectorised a loop's reads of a loop-invariant scalar or pointer that it reached through a
    lambda's by-reference capture as gathers, one per vector (of the pointer, then of the values): 27 in the
    layer-norm LSTM's loops and 13 in the LSTM backward's rule loops until 2026-12-03, costing the
    layer-norm LSTM's training 7-12% (benchmarks/README.md, issue 15) with every other test passing."""
    symbols = [s for s in _symbols(library, "_Z") if "6rnnkit" in s[:40]]
    assert any(s.startswith("_ZN6rnnkit14lnlstm_forward") for s in symbols)
    found = [f"{symbol[:60]}: {line.strip()}" for symbol in symbols
             for line in _disassembly(library, symbol).splitlines() if GATHER.search(line)]
    assert not found, "vector gathers (a loop reads a captured variable?):\n" + "\n".join(found[:10])
