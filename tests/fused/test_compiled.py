"""The compiled core against the reference runner: outputs, final states and
every gradient (float32, short sequences), float64 gradcheck on tiny shapes,
lengths (0, 1, T, in between, unsorted), reverse, initial state, batch 1, and
the fallback when compilation is off.

The extension is built (or loaded from torch's cache) once per session by
the ``path`` fixture; when it cannot be built every test of the compiled path
skips with the build's reason, or fails under ``RNNKIT_REQUIRE_COMPILED=1``
(CI; see :mod:`tests.fused.core`). Configurations the core does not cover yet
are listed in ``NOT_COVERED``; any other that it declines is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any, Callable

import pytest
import torch

import rnnkit
from rnnkit.cells import ElmanCell, GRUCell, LSTMCell
from rnnkit.cells.layernorm import LayerNormLSTMCell
from rnnkit.fused import build
from rnnkit.fused.dense import project_in_loop
from rnnkit.state import map_state, state_leaves
from rnnkit.unroll import unroll_unchecked
from rnnkit.wrappers import Dropout, Zoneout
from tests.fused.core import compiled_core

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def path() -> Any:
    """The compiled fast path, with its extension built once for the module."""
    compiled_core()
    from rnnkit.fused.compiled import PATH

    return PATH


LSTM_CONFIGS: dict[str, Callable[[], Any]] = {
    "plain": lambda: LSTMCell(3, 5),
    "no-bias": lambda: LSTMCell(3, 5, bias=False),
    "forget-bias": lambda: LSTMCell(3, 5, forget_bias=1.0),
    "peepholes": lambda: LSTMCell(3, 5, use_peepholes=True),
    "cell-clip": lambda: LSTMCell(3, 5, cell_clip=0.3),
    "projection": lambda: LSTMCell(3, 5, proj_size=2),
    "everything": lambda: LSTMCell(3, 5, forget_bias=0.5, use_peepholes=True, cell_clip=0.4, proj_size=4, proj_clip=0.2),
}
CONFIGS: dict[str, Callable[[], Any]] = {f"lstm-{k}": v for k, v in LSTM_CONFIGS.items()}
CONFIGS.update({
    "gru": lambda: GRUCell(3, 5),
    "gru-reset-before": lambda: GRUCell(3, 5, reset_after=False),
    "gru-no-bias": lambda: GRUCell(3, 5, bias=False, reset_after=False),
    "elman-tanh": lambda: ElmanCell(3, 5),
    "elman-relu": lambda: ElmanCell(3, 5, nonlinearity="relu"),
    "lnlstm": lambda: _randomised(LayerNormLSTMCell(3, 5)),
    "lnlstm-no-bias": lambda: _randomised(LayerNormLSTMCell(3, 5, bias=False, forget_bias=1.0, eps=1e-3)),
    "dropout-variational-io": lambda: Dropout(LSTMCell(3, 5, use_peepholes=True), input_dropout=0.3,
                                              output_dropout=0.2, variational=True),
    "dropout-eval": lambda: Dropout(GRUCell(3, 5, reset_after=False), state_dropout=0.5).eval(),
    "dropout-variational-state": lambda: Dropout(LSTMCell(3, 5, use_peepholes=True), input_dropout=0.3,
                                                 output_dropout=0.2, state_dropout=0.4, variational=True),
    "dropout-variational-state-h-proj": lambda: Dropout(LSTMCell(3, 5, proj_size=2), state_dropout=0.5,
                                                        variational=True),
    "dropout-variational-state-c": lambda: Dropout(
        LSTMCell(3, 5, forget_bias=0.5, use_peepholes=True, cell_clip=0.4, proj_size=4, proj_clip=0.2),
        output_dropout=0.1, state_dropout=0.3, variational=True, drop_lstm_c=True),
    "dropout-variational-state-c-only": lambda: Dropout(LSTMCell(3, 5), state_dropout=0.3, variational=True,
                                                        state_filter=lambda size: type(size)(False, True)),
    "zoneout-h-c": lambda: Zoneout(LSTMCell(3, 5), h=0.3, c=0.2),
    "zoneout-h-peepholes": lambda: Zoneout(LSTMCell(3, 5, use_peepholes=True), h=0.4),
    "zoneout-c-clip": lambda: Zoneout(LSTMCell(3, 5, cell_clip=0.3), c=0.5),
    "zoneout-everything": lambda: Zoneout(
        LSTMCell(3, 5, forget_bias=0.5, use_peepholes=True, cell_clip=0.4, proj_size=4, proj_clip=0.2), h=0.3, c=0.4),
    "zoneout-eval": lambda: Zoneout(LSTMCell(3, 5, use_peepholes=True, proj_size=2), h=0.3, c=0.2).eval(),
})


def _randomised(cell: Any) -> Any:
    """Gains and shifts away from their 1/0 initial values, so every gradient path is exercised."""
    with torch.no_grad():
        for name, p in cell.named_parameters():
            if name.startswith("ln_"):
                p.add_(0.3 * torch.randn_like(p))
    return cell


NOT_COVERED: dict[str, str] = {}
"""Configurations (``CONFIGS`` names) the compiled core declines today, with why; empty since it covers
every one. A name here skips its parity tests; the core declining any other is a failure."""


def _covered(path: Any, cell: Any, name: str = "") -> None:
    if name in NOT_COVERED:
        pytest.skip(f"not covered by the compiled core yet: {NOT_COVERED[name]}")
    reason = path.supports(cell, torch.zeros(2, 2, cell.input_size, dtype=next(cell.parameters()).dtype), None)
    assert reason is None, f"the compiled core declines {name or type(cell).__name__}: {reason}"


def test_not_covered_lists_only_real_configs_the_core_declines(path: Any) -> None:
    for name in NOT_COVERED:
        cell = CONFIGS[name]()
        assert path.supports(cell, torch.zeros(2, 2, cell.input_size), None) is not None, f"{name} is covered now"


def _random_state(cell: Any, B: int, dtype: torch.dtype, g: torch.Generator) -> Any:
    return map_state(lambda s: torch.randn(s.shape, generator=g, dtype=dtype), cell.initial_state(B, dtype=dtype))


def _float32_case(path: Any, make_cell: Callable[[], Any], T: int, B: int, seed: int,
                  I: int = 3) -> tuple[Any, torch.Tensor, Any, torch.Generator]:
    """A seeded float32 parity case: the cell (checked to be covered), ``x`` ``(T, B, I)``, a random initial
    state, and the generator that drew them (for lengths drawn after)."""
    torch.manual_seed(0)
    cell = make_cell()
    _covered(path, cell, next((n for n, f in CONFIGS.items() if f is make_cell), ""))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, I, generator=g)
    return cell, x, _random_state(cell, B, torch.float32, g), g


def _run_both(path: Any, cell: Any, x: torch.Tensor, state: Any, lengths: Any, reverse: bool) -> list[list[torch.Tensor]]:
    """[outputs, *final leaves, *grads] of the compiled path and of the reference runner."""
    results = []
    params = list(cell.parameters())
    for runner in ("compiled", "reference"):
        torch.manual_seed(11)  # zoneout draws its masks during the run: the same draws for both
        xr = x.clone().requires_grad_(True)
        st = map_state(lambda s: s.clone().requires_grad_(True), state)
        if runner == "compiled":
            out, final = path.run(cell, xr, st, lengths, reverse)
        else:
            out, final = unroll_unchecked(cell, xr, st, lengths, reverse)
        leaves = state_leaves(final)
        weights = [torch.linspace(-1.0, 1.5, t.numel(), dtype=x.dtype).view_as(t) for t in (out, *leaves)]
        loss = sum((t * w).sum() for t, w in zip((out, *leaves), weights))
        grads = torch.autograd.grad(loss, [xr, *state_leaves(st), *params], allow_unused=True)
        results.append([out.detach(), *[s.detach() for s in leaves], *grads])
    return results


def _assert_float32_match(compiled: list[torch.Tensor], reference: list[torch.Tensor]) -> None:
    """Every output and gradient of the two runners agrees to 1e-5, relative to each tensor's scale."""
    for a, b in zip(compiled, reference, strict=True):
        # gradients are sums over T*B terms: float32 rounding grows with their scale (up to ~15 here);
        # both runners then differ from a float64 run by ~1e-6 of that scale
        scale = max(float(b.abs().max()), 1.0) if b is not None else 1.0
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("reverse", [False, True])
def test_matches_reference_float32(path: Any, name: str, reverse: bool) -> None:
    T, B = 6, 5
    cell, x, state, _ = _float32_case(path, CONFIGS[name], T, B, seed=1)
    for lengths in (None, torch.tensor([3, 0, T, 1, 4])):
        compiled, reference = _run_both(path, cell, x, state, lengths, reverse)
        _assert_float32_match(compiled, reference)
        if lengths is not None:
            for b, length in enumerate(lengths.tolist()):
                assert torch.count_nonzero(compiled[0][length:, b]) == 0


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_batch_one_and_default_state(path: Any, name: str) -> None:
    torch.manual_seed(0)
    cell = CONFIGS[name]()
    _covered(path, cell, name)
    x = torch.randn(9, 1, 3)
    torch.manual_seed(5)  # the default state may sample dropout masks: same seed for both runs
    out, final = path.run(cell, x, None, torch.tensor([7]), False)
    torch.manual_seed(5)
    ref_out, ref_final = unroll_unchecked(cell, x, None, torch.tensor([7]), False)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    for a, b in zip(state_leaves(final), state_leaves(ref_final)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_inference_mode_matches(path: Any, name: str) -> None:
    """Without gradients the kernel keeps rolling buffers only; same results."""
    torch.manual_seed(0)
    cell = CONFIGS[name]()
    _covered(path, cell, name)
    x = torch.randn(8, 4, 3)
    lengths = torch.tensor([2, 8, 0, 5])
    with torch.inference_mode():
        torch.manual_seed(5)
        out, final = path.run(cell, x, None, lengths, True)
        torch.manual_seed(5)
        ref_out, ref_final = unroll_unchecked(cell, x, None, lengths, True)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    for a, b in zip(state_leaves(final), state_leaves(ref_final)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ["lstm-everything", "lstm-plain", "zoneout-eval", "gru", "gru-reset-before",
                                  "lnlstm"])
def test_inference_input_projection_in_chunks(path: Any, name: str, threads: int,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Without gradients the kernels make the input projection themselves, about 256 KB of it at a time
    (csrc/inputsteps.h): a long batch with rows ending at many steps crosses several chunk boundaries, on
    one row range and on two (two threads split the batch's rows); the same results as the reference
    runner, and as the compiled path with gradients (which takes the projection precomputed)."""
    monkeypatch.setenv("RNNKIT_ONEDNN_GEMM", "0")  # chunks wherever MKL's packed GEMM is (dense.project_in_loop)
    if not build.load().packed_gemm_available():
        pytest.skip("this libtorch exports no MKL packed GEMM: the kernels keep the precomputed projection")
    T, B = 700, 21  # H = 5: a chunk holds 256 KB / (4 * 5 * 4 bytes) = 3276 rows, about 156 steps of 21 rows
    cell, x, state, g = _float32_case(path, CONFIGS[name], T, B, seed=7)
    assert project_in_loop(x)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g)
    lengths[:4] = torch.tensor([T, 1, 0, 157])
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            out, final = path.run(cell, x, state, lengths, False)
            ref_out, ref_final = unroll_unchecked(cell, x, state, lengths, False)
        with_grad, with_grad_final = path.run(cell, x.clone().requires_grad_(True), state, lengths, False)
    finally:
        torch.set_num_threads(previous)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, with_grad.detach(), rtol=1e-5, atol=1e-5)
    for a, b, c in zip(state_leaves(final), state_leaves(ref_final), state_leaves(with_grad_final)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a, c.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_gradcheck_float64(path: Any, name: str) -> None:
    torch.manual_seed(0)
    cell = CONFIGS[name]().double()
    _covered(path, cell, name)
    T, B = 3, 3
    g = torch.Generator().manual_seed(2)
    x = torch.randn(T, B, 3, dtype=torch.float64, generator=g, requires_grad=True)
    state0 = _random_state(cell, B, torch.float64, g)
    leaves0 = [s.requires_grad_(True) for s in state_leaves(state0)]
    names = [n for n, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in cell.parameters()]
    lengths = torch.tensor([1, T, 2])

    def fn(x: torch.Tensor, *rest: torch.Tensor) -> tuple:
        p, leaves = rest[: len(params)], list(rest[len(params):])
        it = iter(leaves)
        state = map_state(lambda _s: next(it), state0)
        torch.manual_seed(11)  # the same zoneout masks at every evaluation
        out, final = _functional_run(path, cell, dict(zip(names, p)), x, state, lengths)
        return (out, *state_leaves(final))

    assert torch.autograd.gradcheck(fn, (x, *params, *leaves0), eps=1e-6, atol=1e-6)


def _functional_run(path: Any, cell: Any, weights: dict, x: torch.Tensor, state: Any, lengths: torch.Tensor) -> Any:
    """``path.run`` with the cell's parameters replaced by ``weights`` (for gradcheck)."""
    from torch.nn.utils.stateless import _reparametrize_module

    with _reparametrize_module(cell, weights):
        return path.run(cell, x, state, lengths, True)


def test_all_lengths_zero(path: Any) -> None:
    cell = LSTMCell(3, 4, use_peepholes=True)
    x = torch.randn(5, 2, 3)
    state = _random_state(cell, 2, torch.float32, torch.Generator().manual_seed(0))
    out, final = path.run(cell, x, state, torch.tensor([0, 0]), False)
    assert torch.count_nonzero(out) == 0 and out.shape == (5, 2, 4)
    assert torch.equal(final.h, state.h) and torch.equal(final.c, state.c)


def test_recurrent_auto_uses_compiled(path: Any) -> None:
    """A variant LSTM in a Recurrent layer takes the compiled path under fused='auto'."""
    from rnnkit.fused import choose

    cell = LSTMCell(3, 4, use_peepholes=True)
    x = torch.randn(5, 2, 3)
    chosen = choose("test", cell, x, torch.tensor([5, 2]), "auto")
    assert chosen is not None and chosen.name == "compiled"
    out_auto, _ = rnnkit.Recurrent(cell)(x, lengths=[5, 2])
    out_ref, _ = rnnkit.Recurrent(cell, fused=False)(x, lengths=[5, 2])
    torch.testing.assert_close(out_auto, out_ref, rtol=1e-5, atol=1e-5)


def test_unsupported_reasons(path: Any) -> None:
    x = torch.zeros(2, 2, 3)
    assert "activation='tanh' only" in path.supports(LSTMCell(3, 4, activation="relu"), x, None)
    assert "float16" in path.supports(LSTMCell(3, 4).half(), x.half(), None)

    class MyLSTM(LSTMCell):
        pass

    assert "not MyLSTM" in path.supports(MyLSTM(3, 4), x, None)
    assert "empty" in path.supports(LSTMCell(3, 4), torch.zeros(0, 2, 3), None)
    assert "must match the input" in path.supports(LSTMCell(3, 4).double(), x, None)
    assert "state (recurrent) dropout" in path.supports(Dropout(GRUCell(3, 4), state_dropout=0.1, variational=True), x,
                                                        None)
    assert "per-step dropout" in path.supports(Dropout(LSTMCell(3, 4), output_dropout=0.1), x, None)


def test_no_compile_env_falls_back() -> None:
    """RNNKIT_NO_COMPILE=1: rnnkit imports, runs the reference, warns once, fused=True explains."""
    script = textwrap.dedent("""
        import warnings, torch, rnnkit
        from rnnkit.fused.compiled import PATH
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cell = rnnkit.LSTMCell(3, 4, use_peepholes=True)
            x = torch.randn(5, 2, 3)
            out, _ = rnnkit.Recurrent(cell)(x, lengths=[5, 3])
            out2, _ = rnnkit.Recurrent(cell)(x)
            ref, _ = rnnkit.Recurrent(cell, fused=False)(x, lengths=[5, 3])
        assert torch.equal(out, ref)
        msgs = [str(w.message) for w in caught if "slower reference runner" in str(w.message)]
        assert len(msgs) == 1, msgs
        assert "RNNKIT_NO_COMPILE" in PATH.supports(cell, x, None)
        try:
            rnnkit.Recurrent(cell, fused=True)(x)
        except ValueError as err:
            assert "RNNKIT_NO_COMPILE" in str(err), err
        else:
            raise AssertionError("fused=True did not raise")
        print("OK")
    """)
    env = {**os.environ, "RNNKIT_NO_COMPILE": "1", "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-2000:]


@pytest.mark.parametrize("packed", ["1", "0"])
@pytest.mark.parametrize("name", ["lstm-plain", "lstm-everything", "lstm-projection", "dropout-variational-state-c",
                                  "zoneout-everything", "zoneout-h-c", "gru", "gru-reset-before", "elman-tanh",
                                  "lnlstm"])
def test_step_gemm_paths_match(path: Any, name: str, packed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps of 9-31 rows go to MKL's packed GEMM where torch has MKL (the default; any value but 0) or
    to ATen's mm (RNNKIT_PACKED_GEMM=0); the active rows shrink from 21 to 1 over the steps, so one packed
    weight serves every batch size and the small-row loop (<= 8 rows) takes the last steps."""
    monkeypatch.setenv("RNNKIT_PACKED_GEMM", packed)
    module = build.load()
    if packed == "0":
        assert not module.packed_gemm_enabled()
    elif not module.packed_gemm_available():
        pytest.skip("this libtorch exports no MKL packed GEMM (cblas_sgemm_compute): only ATen's mm path runs")
    else:
        assert module.packed_gemm_enabled()
    T, B = 9, 21
    cell, x, state, g = _float32_case(path, CONFIGS[name], T, B, seed=5)
    lengths = torch.tensor([9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 8, 8, 7, 6, 5, 4, 3, 2, 1, 1, 0])[torch.randperm(B, generator=g)]
    for lens in (None, lengths):
        _assert_float32_match(*_run_both(path, cell, x, state, lens, False))


def test_packed_gemm_is_the_default(path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RNNKIT_PACKED_GEMM", raising=False)
    module = build.load()
    assert module.packed_gemm_enabled() == module.packed_gemm_available()
    monkeypatch.setenv("RNNKIT_PACKED_GEMM", "0")
    assert not module.packed_gemm_enabled()


@pytest.mark.parametrize("name", ["lstm-everything", "gru", "gru-reset-before", "lnlstm", "dropout-variational-state-c",
                                  "zoneout-everything", "zoneout-eval"])
def test_threaded_pointwise_matches(path: Any, name: str) -> None:
    """A batch large enough that the pointwise pass is split over two threads."""
    T, B = 3, 3000  # grain is 32768 / (gates * H) rows: several chunks
    cell, x, state, g = _float32_case(path, CONFIGS[name], T, B, seed=3)
    lengths = torch.randint(0, T + 1, (B,), generator=g)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        compiled, reference = _run_both(path, cell, x, state, lengths, False)
    finally:
        torch.set_num_threads(threads)
    _assert_float32_match(compiled, reference)


@pytest.mark.parametrize("reverse", [False, True])
def test_dropout_state_sampled_masks(path: Any, reverse: bool) -> None:
    """Variational state dropout with the 0 / 1/(1-p) masks initial_state samples (h and c), every gradient."""
    torch.manual_seed(0)
    cell = Dropout(LSTMCell(3, 6, use_peepholes=True, proj_size=4), input_dropout=0.2, output_dropout=0.3,
                   state_dropout=0.5, variational=True, drop_lstm_c=True)
    _covered(path, cell)
    T, B = 7, 6
    x = torch.randn(T, B, 3)
    state = cell.initial_state(B)
    assert 0 < int((state.masks.state.h == 0).sum()) < state.masks.state.h.numel()
    assert 0 < int((state.masks.state.c == 0).sum()) < state.masks.state.c.numel()
    for lengths in (None, torch.tensor([2, 7, 0, 1, 5, 7])):
        compiled, reference = _run_both(path, cell, x, state, lengths, reverse)
        for a, b in zip(compiled, reference, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_dropout_state_is_applied(path: Any) -> None:
    """The state mask reaches the recurrence and the final state but not the output of its own step."""
    torch.manual_seed(0)
    lstm = LSTMCell(2, 3)
    cell = Dropout(lstm, state_dropout=0.5, variational=True)
    x = torch.randn(2, 4, 2)
    state = cell.initial_state(4)
    out, final = path.run(cell, x, state, None, False)
    y0, (h0, c0) = lstm(x[0], state.cell)
    torch.testing.assert_close(out[0], y0)  # y_1 = h~_1, undropped
    y1, (h1, c1) = lstm(x[1], (state.masks.state.h * h0, c0))  # h_1 = m * h~_1 feeds step 2; c untouched
    torch.testing.assert_close(out[1], y1)
    torch.testing.assert_close(final.cell.h, state.masks.state.h * h1)
    torch.testing.assert_close(final.cell.c, c1)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("draw", ["compiled", "one_draw", "step_by_step"])
def test_zoneout_masks_match_reference_draws(path: Any, reverse: bool, draw: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Training zoneout: the compiled run draws exactly the reference's per-step masks (same seed, lengths
    unsorted with 0 and 1), with the compiled keep_masks, in one torch.rand or step by step, and the masks
    do act (the result differs from the bare LSTM's)."""
    from rnnkit.fused import compiled_zoneout

    if draw == "compiled":
        assert compiled_zoneout.fast_draw_matches()  # else this test would not test the compiled draw
    else:
        monkeypatch.setattr(compiled_zoneout, "fast_draw_matches", lambda: False)
    if draw == "step_by_step":
        monkeypatch.setattr(compiled_zoneout, "one_draw_matches", lambda: False)
    torch.manual_seed(0)
    cell = Zoneout(LSTMCell(3, 8), h=0.5, c=0.5)
    x = torch.randn(6, 5, 3)
    lengths = torch.tensor([4, 0, 1, 5, 3])
    torch.manual_seed(4)
    out, final = path.run(cell, x, None, lengths, reverse)
    after = torch.rand(())  # both runs leave the RNG in the same place
    torch.manual_seed(4)
    ref_out, ref_final = unroll_unchecked(cell, x, None, lengths, reverse)
    assert torch.equal(torch.rand(()), after)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    for a, b in zip(state_leaves(final), state_leaves(ref_final)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    bare, _ = unroll_unchecked(cell.cell, x, None, lengths, reverse)
    assert not torch.allclose(out, bare)


def test_zoneout_recurrent_auto_uses_compiled(path: Any) -> None:
    from rnnkit.fused import choose

    cell = Zoneout(LSTMCell(3, 4), h=0.1, c=0.05)
    x = torch.randn(5, 2, 3)
    chosen = choose("test", cell, x, None, "auto")
    assert chosen is not None and chosen.name == "compiled"
    assert "not Zoneout" in path.supports(Zoneout(GRUCell(3, 4), h=0.1), x, None)
    torch.manual_seed(1)
    out_auto, _ = rnnkit.Recurrent(cell)(x, lengths=[5, 2])
    torch.manual_seed(1)
    out_ref, _ = rnnkit.Recurrent(cell, fused=False)(x, lengths=[5, 2])
    torch.testing.assert_close(out_auto, out_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_keep_masks_equal_torch_rand(path: Any, seed: int) -> None:
    """The compiled keep_masks gives torch.rand(n) < rate bit for bit, step after step and leaf after
    leaf, across the engine's 624-word state boundaries, at any starting position, for rates that float32
    rounds; and it leaves the generator where those draws leave it."""
    ext = build.load()
    cases = [(28, [16 * 16, 16 * 8], [0.1, 0.05]), (3, [7], [0.5]), (50, [1000, 3], [0.3, 0.9]),
             (2, [623, 1, 624, 625], [0.1, 1e-9, 0.7 + 1e-12, 0.999])]
    for steps, sizes, rates in cases:
        torch.manual_seed(seed)
        torch.rand(seed * 97 + 1)
        start = torch.get_rng_state()
        fast = ext.keep_masks(steps, sizes, rates)
        after = torch.rand(7)
        torch.set_rng_state(start)
        ref = [[torch.rand(n) < r for n, r in zip(sizes, rates)] for _ in range(steps)]
        assert torch.equal(torch.rand(7), after)
        for k, mask in enumerate(fast):
            assert mask.dtype == torch.bool and mask.shape == (steps, sizes[k])
            assert torch.equal(mask, torch.stack([step[k] for step in ref]))


def test_fast_draw_check_keeps_rng_state(path: Any) -> None:
    from rnnkit.fused.compiled_zoneout import fast_draw_matches

    fast_draw_matches.cache_clear()
    before = torch.get_rng_state()
    assert fast_draw_matches()
    assert torch.equal(torch.get_rng_state(), before)


def test_one_draw_check_keeps_rng_state() -> None:
    from rnnkit.fused.compiled_zoneout import one_draw_matches

    one_draw_matches.cache_clear()
    before = torch.get_rng_state()
    assert isinstance(one_draw_matches(), bool)  # True with torch 2.x (else the step-by-step draws run)
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("lengths", [[5, 5, 5], [5, 3, 3, 1], [4, 4, 2, 1, 1]])
def test_pack_rows_is_packed_sequence_order(lengths: list[int]) -> None:
    """pack_rows gives torch's PackedSequence data (step after step, the active rows of each), so the
    kernel's packed buffers line up with batch_sizes; gradients scatter back to the valid rows only."""
    from rnnkit.fused.compiled_lstm import pack_rows
    from rnnkit.fused.sorting import batch_sizes_for

    T, B = max(lengths), len(lengths)
    x = torch.randn(T, B, 3, requires_grad=True)
    ls = torch.tensor(lengths)
    packed = pack_rows(x, batch_sizes_for(ls, T))
    ref = torch.nn.utils.rnn.pack_padded_sequence(x, ls, enforce_sorted=True)
    assert torch.equal(packed, ref.data)
    packed.sum().backward()
    valid = (torch.arange(T).unsqueeze(1) < ls.unsqueeze(0)).unsqueeze(2).expand(T, B, 3).float()
    assert torch.equal(x.grad, valid)
