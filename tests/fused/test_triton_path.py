"""The Triton path against the reference runner, on CPU tensors under Triton's interpreter.

The kernels are imported with ``TRITON_INTERPRET=1`` (then the variable is restored),
so the same ``@triton.jit`` code that a GPU compiles runs here on CPU tensors through
``TritonPath(allow_interpreter=True)``, the test-only switch. The cases are the
compiled core's (``tests/fused/test_compiled.py``: every option of every family,
Dropout and Zoneout): outputs, final states and every gradient in float32, lengths
(0, 1, T, in between, unsorted), reverse, initial state, batch 1, inference mode
(rolling buffers), and bfloat16/float16 inputs against a float32 reference.
Nothing here runs on a GPU: speed on a GPU is not measured by these tests.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch

from rnnkit.cells import ElmanCell, GRUCell, LSTMCell
from rnnkit.cells.layernorm import LayerNormLSTMCell
from rnnkit.fused.triton import availability
from rnnkit.state import map_state, state_leaves
from rnnkit.unroll import unroll_unchecked
from rnnkit.wrappers import Dropout, Zoneout
from tests.fused.test_compiled import CONFIGS, _assert_float32_match, _random_state, _run_both

NAMES = sorted(CONFIGS)


# at collection, before any test can import the kernels for a GPU: the kernels become interpreted ones
INTERPRETED = availability.import_kernels_interpreted()


@pytest.fixture(scope="module", autouse=True)
def interpreter_env() -> Any:
    """``TRITON_INTERPRET=1`` while this module's tests run (triton imports parts of itself lazily, and
    checks the variable then), restored after."""
    saved = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    yield
    if saved is None:
        del os.environ["TRITON_INTERPRET"]
    else:
        os.environ["TRITON_INTERPRET"] = saved


@pytest.fixture(scope="module")
def path() -> Any:
    """``TritonPath(allow_interpreter=True)`` with every kernel module imported in interpreter mode."""
    reason = availability.triton_missing_reason()
    assert reason is None, f"triton is a test dependency (pyproject [test]): {reason}"
    assert INTERPRETED, "the Triton kernels were imported for a GPU before this module could import them interpreted"
    from rnnkit.fused.triton.path import TritonPath

    return TritonPath(allow_interpreter=True)


class _Reference:
    """A stand-in path that is the reference runner (``_run_both`` then runs only reference code: no interpreter)."""

    @staticmethod
    def run(cell: Any, x: torch.Tensor, state: Any, lengths: Any, reverse: bool) -> Any:
        return unroll_unchecked(cell, x, state, lengths, reverse)


REFERENCE = _Reference()


def _case(path: Any, name: str, T: int, B: int, seed: int, dtype: torch.dtype = torch.float32) -> tuple:
    torch.manual_seed(0)
    cell = CONFIGS[name]().to(dtype)
    reason = path.supports(cell, torch.zeros(2, 2, cell.input_size, dtype=dtype), None)
    assert reason is None, reason
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, cell.input_size, generator=g).to(dtype)
    return cell, x, map_state(lambda s: s.to(dtype), _random_state(cell, B, torch.float32, g))


@pytest.mark.parametrize("name", NAMES)
def test_matches_reference_float32(path: Any, name: str) -> None:
    """Outputs, final states and every gradient; lengths none / ragged (0, 1, T); forward and reverse."""
    T, B = 5, 4
    cell, x, state = _case(path, name, T, B, seed=1)
    for reverse, lengths in ((False, None), (True, None), (False, torch.tensor([3, 0, T, 1])),
                             (True, torch.tensor([2, T, 1, 0]))):
        triton_run, reference = _run_both(path, cell, x, state, lengths, reverse)
        _assert_float32_match(triton_run, reference)
        if lengths is not None:
            for b, length in enumerate(lengths.tolist()):
                assert torch.count_nonzero(triton_run[0][length:, b]) == 0


@pytest.mark.parametrize("name", ["lstm-everything", "gru", "gru-reset-before", "elman-relu", "zoneout-everything",
                                  "dropout-variational-state-c", "lnlstm"])
def test_no_uninitialised_memory_is_read(path: Any, name: str) -> None:
    """With torch's deterministic mode every ``torch.empty`` buffer starts as NaN: any read of a row the loop
    never wrote (padding rows of saved activations feed the weight-gradient GEMMs) would show as NaN."""
    cell, x, state = _case(path, name, 5, 4, seed=2)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        assert torch.isnan(torch.empty(4)).all()  # the fill this test relies on
        triton_run, reference = _run_both(path, cell, x, state, torch.tensor([3, 0, 5, 1]), True)
    finally:
        torch.use_deterministic_algorithms(previous)
    _assert_float32_match(triton_run, reference)


@pytest.mark.parametrize("name", ["lstm-everything", "gru-reset-before", "elman-tanh", "zoneout-h-c",
                                  "dropout-variational-state-c", "lnlstm"])
def test_inference_mode_and_default_state(path: Any, name: str) -> None:
    """Without gradients the loop rolls one buffer slot; same results; batch 1 with the default state."""
    torch.manual_seed(0)
    cell = CONFIGS[name]()
    for x, lengths in ((torch.randn(6, 3, 3), torch.tensor([2, 6, 0])), (torch.randn(4, 1, 3), torch.tensor([3]))):
        with torch.inference_mode():
            torch.manual_seed(5)
            out, final = path.run(cell, x, None, lengths, True)
            torch.manual_seed(5)
            ref_out, ref_final = unroll_unchecked(cell, x, None, lengths, True)
        torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
        for a, b in zip(state_leaves(final), state_leaves(ref_final), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", ["lstm-everything", "gru", "gru-reset-before", "elman-relu", "zoneout-eval",
                                  "lnlstm"])
def test_half_inputs_match_float32_reference(path: Any, name: str, dtype: torch.dtype) -> None:
    """16-bit parameters and inputs, float32 state inside: outputs (in the input dtype), final states and
    gradients within 16-bit rounding of a float32 reference run on the same (rounded) numbers."""
    T, B = 4, 3
    cell, x, state = _case(path, name, T, B, seed=3, dtype=dtype)
    lengths = torch.tensor([4, 2, 0])
    half, _ = _run_both(path, cell, x, state, lengths, False)
    ref_cell = cell.float()
    _, reference = _run_both(REFERENCE, ref_cell, x.float(), map_state(lambda s: s.float(), state), lengths, False)
    cell.to(dtype)
    assert half[0].dtype == dtype
    tol = 2e-2 if dtype == torch.bfloat16 else 3e-3
    for a, b in zip(half, reference, strict=True):
        if b is None:
            assert a is None
            continue
        scale = max(float(b.abs().max()), 1.0)
        torch.testing.assert_close(a.float(), b, rtol=tol, atol=tol * scale)


def test_float32_loop_keeps_state_in_float32(path: Any) -> None:
    """A bfloat16 run's final state is the float32 loop's state rounded once, not a bfloat16 recurrence: on this
    near-critical Elman RNN (orthogonal W_hh times 1.5, 40 steps) a bfloat16 loop drifts by several units in the
    last place, while the Triton path stays within one of the float32 loop (run, as the path does, on the
    input projection computed in bfloat16)."""
    torch.manual_seed(0)
    H, T = 16, 40
    cell = ElmanCell(3, H)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(H, H))
        cell.weight_hh.copy_(1.5 * q)
    cell = cell.to(torch.bfloat16)
    x = torch.randn(T, 2, 3).to(torch.bfloat16)
    with torch.no_grad():
        _, final = path.run(cell, x, None, None, False)
        xp = torch.nn.functional.linear(x, *cell.input_weight_and_bias())  # bfloat16, one GEMM for all steps
        h, h16 = torch.zeros(2, H), torch.zeros(2, H, dtype=torch.bfloat16)
        for t in range(T):
            h = torch.tanh(xp[t].float() + h @ cell.weight_hh.float().t())
            h16 = torch.tanh(xp[t] + h16 @ cell.weight_hh.t())
    ulp = 2.0 ** -8  # bfloat16's spacing in [0.5, 1)
    assert float((h16.float() - h.to(torch.bfloat16).float()).abs().max()) > 4 * ulp  # the case tells them apart
    torch.testing.assert_close(final.float(), h.to(torch.bfloat16).float(), rtol=0, atol=ulp)


def test_supports_reasons(path: Any) -> None:
    from rnnkit.fused.triton.path import PATH

    x = torch.zeros(2, 2, 3)
    assert "runs on CUDA, not on cpu" in PATH.supports(LSTMCell(3, 4), x, None)
    class MyLSTM(LSTMCell):
        pass

    assert "not MyLSTM" in path.supports(MyLSTM(3, 4), x, None)
    assert path.supports(LayerNormLSTMCell(3, 4), x, None) is None
    assert "activation='tanh' only" in path.supports(LSTMCell(3, 4, activation="relu"), x, None)
    assert "float64" in path.supports(GRUCell(3, 4).double(), x.double(), None)
    assert "must match the input" in path.supports(ElmanCell(3, 4).double(), x, None)
    assert "empty" in path.supports(LSTMCell(3, 4), torch.zeros(0, 2, 3), None)
    assert "state (recurrent) dropout" in path.supports(
        Dropout(GRUCell(3, 4), state_dropout=0.1, variational=True), x, None)
    assert "per-step dropout" in path.supports(Dropout(LSTMCell(3, 4), output_dropout=0.1), x, None)
    assert "not Zoneout" in path.supports(Zoneout(GRUCell(3, 4), h=0.1), x, None)
    with torch.autocast("cpu"):
        assert "autocast" in path.supports(LSTMCell(3, 4), x, None)


def test_registered_after_the_compiled_core() -> None:
    """The registry holds the Triton path after torch's kernels (cuDNN on a GPU) and the CPU core."""
    from rnnkit.fused import registered

    names = [p.name for p in registered()]
    assert names.index("native") < names.index("compiled") < names.index("triton")
