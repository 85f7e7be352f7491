"""The Triton path compiled for a real GPU: the interpreter tests' parity cases on CUDA tensors.

Runs in a subprocess (``tests/fused/test_triton_path.py`` imports the kernels in
interpreter mode in the test process, and Triton fixes the mode at import).
Needs a CUDA GPU; skips elsewhere with that reason. Never run yet: no GPU was
available when it was written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import torch
    from rnnkit.fused import choose
    from rnnkit.fused.triton.path import PATH
    from rnnkit.cells import LSTMCell
    from rnnkit.state import map_state
    from tests.fused.test_compiled import CONFIGS, _assert_float32_match, _random_state, _run_both

    torch.backends.cuda.matmul.allow_tf32 = False  # the reference runner's GEMMs in full float32
    failures = []
    for name in sorted(CONFIGS):
        torch.manual_seed(0)
        cell = CONFIGS[name]().cuda()
        g = torch.Generator().manual_seed(1)
        x = torch.randn(7, 5, 3, generator=g).cuda()
        state = map_state(lambda s: s.cuda(), _random_state(cell, 5, torch.float32, g))
        reason = PATH.supports(cell, x, None)
        if reason is not None:
            failures.append(f"{name}: declined: {reason}")
            continue
        for reverse in (False, True):
            for lengths in (None, torch.tensor([3, 0, 7, 1, 4], device="cuda")):
                try:
                    _assert_float32_match(*_run_both(PATH, cell, x, state, lengths, reverse))
                except AssertionError as err:
                    failures.append(f"{name} reverse={reverse} lengths={lengths is not None}: {err}")
    x = torch.randn(7, 5, 3, device="cuda")
    assert choose("t", LSTMCell(3, 4, use_peepholes=True).cuda(), x, None, "auto").name == "triton"
    assert choose("t", LSTMCell(3, 4).cuda(), x, None, "auto").name == "native"
    assert not failures, "\\n".join(failures)
    print("OK")
""")


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="the compiled Triton kernels need a CUDA GPU; none in this run")
def test_parity_on_cuda() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=900,
                          check=False, cwd=ROOT)
    assert proc.returncode == 0 and "OK" in proc.stdout, (proc.stdout[-3000:], proc.stderr[-3000:])
