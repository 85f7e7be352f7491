"""The native fast path (torch._VF kernels) equals the reference runner exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import pytest
import torch
from torch import Tensor

import rnnkit.fused
from rnnkit import ElmanCell, GRUCell, LSTMCell, Recurrent
from rnnkit.fused import registered
from rnnkit.fused.native import NATIVE
from rnnkit.state import map_state, state_leaves
from rnnkit.unroll import unroll_unchecked
from tests.fused.core import compiled_core


@pytest.fixture(autouse=True)
def native_for_every_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests check torch's kernels themselves, so keep the CPU GRU/Elman preference for the compiled core off."""
    monkeypatch.setattr(rnnkit.fused.native, "PREFER_COMPILED_ON_CPU", False)


def test_cpu_gru_and_elman_go_to_the_compiled_core_where_it_is_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rnnkit.fused.native, "PREFER_COMPILED_ON_CPU", True)
    from rnnkit.fused import compiled  # noqa: F401 - registers the compiled path

    small = torch.randn(5, 4, 3)
    compiled_core()
    assert "compiled core trains GRUCell faster" in NATIVE.supports(GRUCell(3, 4), small, None)
    assert "compiled core trains ElmanCell faster" in NATIVE.supports(ElmanCell(3, 4), small, None)
    big = torch.randn(5, 128, 3)
    assert "compiled core trains GRUCell faster" in NATIVE.supports(GRUCell(3, 4), big, None)  # any batch
    with torch.no_grad():  # LSTM inference stays on torch's kernel
        assert NATIVE.supports(LSTMCell(3, 4), small, None) is None
    assert rnnkit.fused.choose("t", GRUCell(3, 4), small, None, "auto").name == "compiled"

CELLS: dict[str, Callable[[], Any]] = {
    "lstm": lambda: LSTMCell(3, 5),
    "lstm_proj": lambda: LSTMCell(3, 5, proj_size=2),
    "lstm_nobias": lambda: LSTMCell(3, 4, bias=False),
    "gru": lambda: GRUCell(3, 4),
    "gru_nobias": lambda: GRUCell(3, 4, bias=False),
    "elman_tanh": lambda: ElmanCell(3, 4),
    "elman_relu": lambda: ElmanCell(3, 4, nonlinearity="relu"),
}
T, B = 6, 5


def _run_with_grads(run: Callable, cell: Any, x: Tensor, state: Any, lengths: Optional[Tensor], reverse: bool
                    ) -> tuple[list[Tensor], list[Tensor]]:
    """Outputs and final-state leaves, and the gradients of a random projection of them."""
    cell.zero_grad()
    x = x.detach().clone().requires_grad_(True)
    state = None if state is None else map_state(lambda s: s.detach().clone().requires_grad_(True), state)
    out, final = run(cell, x, state, lengths, reverse)
    results = [out, *state_leaves(final)]
    g = torch.Generator().manual_seed(123)
    loss = sum((r * torch.randn(r.shape, generator=g, dtype=r.dtype)).sum() for r in results)
    loss.backward()
    grads = [x.grad] + ([] if state is None else [s.grad for s in state_leaves(state)])
    grads += [p.grad for p in cell.parameters()]
    return [r.detach() for r in results], grads


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, "full", "partial"])
@pytest.mark.parametrize("with_state", [False, True])
def test_native_equals_reference_runner(name: str, reverse: bool, lengths: Optional[str], with_state: bool) -> None:
    torch.manual_seed(0)
    cell = CELLS[name]().double()
    x = torch.randn(T, B, 3, dtype=torch.float64)
    lens = {None: None, "full": torch.full((B,), T), "partial": torch.tensor([3, 0, T, 1, 3])}[lengths]
    if not (name.startswith("lstm") and lengths == "partial"):  # that one may defer to a faster path
        assert NATIVE.supports(cell, x, lens) is None
    state = None
    if with_state:
        state = map_state(lambda s: torch.randn_like(s), cell.initial_state(B, dtype=torch.float64))
    ref, ref_grads = _run_with_grads(unroll_unchecked, cell, x, state, lens, reverse)
    got, got_grads = _run_with_grads(NATIVE.run, cell, x, state, lens, reverse)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b)
    for a, b in zip(got_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b)
    if lens is not None:  # outputs are exactly zero past each length
        for b, n in enumerate(lens.tolist()):
            assert torch.count_nonzero(got[0][n:, b]) == 0


def test_native_float32_matches_reference_within_1e5() -> None:
    torch.manual_seed(1)
    cell = GRUCell(4, 8)
    x = torch.randn(7, 3, 4)
    lens = torch.tensor([7, 2, 5])
    for reverse in (False, True):
        out, h = NATIVE.run(cell, x, None, lens, reverse)
        ref_out, ref_h = unroll_unchecked(cell, x, None, lens, reverse)
        torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(h, ref_h, atol=1e-5, rtol=1e-5)


def test_native_gradcheck_gru_with_lengths_and_reverse() -> None:
    cell = GRUCell(2, 3).double()
    names = [n for n, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in cell.parameters()]
    x = torch.randn(4, 3, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    lens = torch.tensor([4, 0, 2])

    def fn(x: Tensor, h0: Tensor, *ps: Tensor) -> tuple[Tensor, Tensor]:
        for n, p in zip(names, ps):
            cell._parameters[n] = p
        return NATIVE.run(cell, x, h0, lens, True)

    assert torch.autograd.gradcheck(fn, (x, h0, *params), eps=1e-6, atol=1e-5)


def test_recurrent_dispatches_to_native_and_matches_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = NATIVE.run
    monkeypatch.setattr(NATIVE, "run", lambda *a: calls.append(1) or original(*a))
    cell = ElmanCell(3, 4).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    out, h = Recurrent(cell, reverse=True, fused=True)(x, lengths=[5, 3])
    assert calls == [1]
    ref_out, ref_h = Recurrent(cell, reverse=True, fused=False)(x, lengths=[5, 3])
    assert calls == [1]
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h, ref_h)


def test_lstm_chunked_with_many_lengths_matches_reference() -> None:
    """One kernel call per distinct length, in any order, with zero lengths and a projection."""
    torch.manual_seed(2)
    cell = LSTMCell(3, 5, proj_size=3).double()
    x = torch.randn(9, 7, 3, dtype=torch.float64)
    state = map_state(lambda s: torch.randn_like(s), cell.initial_state(7, dtype=torch.float64))
    for lens in (torch.tensor([4, 9, 0, 1, 4, 7, 0]), torch.tensor([0, 0, 0, 0, 0, 0, 0])):
        for reverse in (False, True):
            ref, ref_grads = _run_with_grads(unroll_unchecked, cell, x, state, lens, reverse)
            got, got_grads = _run_with_grads(NATIVE.run, cell, x, state, lens, reverse)
            for a, b in zip(got + got_grads, ref + ref_grads, strict=True):
                torch.testing.assert_close(a, b)


class _AcceptsEverything:
    name = "other"

    def supports(self, cell: Any, x: Tensor, lengths: Optional[Tensor]) -> Optional[str]:
        return None


def test_lstm_lengths_defers_to_another_path_only_for_short_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rnnkit.fused, "_loaded", True)
    cell = LSTMCell(3, 4)
    short = (torch.randn(8, 4, 3), torch.tensor([8, 2, 5, 3]))  # 4 distinct lengths over 8 steps
    long = (torch.randn(40, 2, 3), torch.tensor([40, 20]))  # 2 distinct lengths over 40 steps
    monkeypatch.setattr(rnnkit.fused, "_PATHS", [NATIVE])
    assert NATIVE.supports(cell, *short) is None  # alone, it beats the reference runner
    monkeypatch.setattr(rnnkit.fused, "_PATHS", [NATIVE, _AcceptsEverything()])
    reason = NATIVE.supports(cell, *short)
    assert reason is not None and "4 distinct lengths over 8 steps" in reason and "other is faster" in reason
    assert NATIVE.supports(cell, *long) is None


def test_cpu_lstm_with_lengths_goes_to_the_compiled_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rnnkit.fused.native, "PREFER_COMPILED_ON_CPU", True)
    from rnnkit.fused import compiled  # noqa: F401 - registers the compiled path

    compiled_core()
    cell = LSTMCell(3, 4)
    long = (torch.randn(40, 2, 3), torch.tensor([40, 20]))  # 2 distinct lengths over 40 steps: long chunks
    assert "compiled core runs LSTMCell with lengths faster" in NATIVE.supports(cell, *long)
    with torch.no_grad():  # (with gradients a plain LSTM goes to the compiled core anyway)
        assert NATIVE.supports(cell, long[0], None) is None  # without lengths: torch's kernel, one call
        assert NATIVE.supports(cell, long[0], torch.tensor([40, 40])) is None  # every length T: one call too
    monkeypatch.setattr(rnnkit.fused.native, "PREFER_COMPILED_ON_CPU", False)
    assert NATIVE.supports(cell, *long) is None


def test_cpu_lstm_training_goes_to_the_compiled_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rnnkit.fused.native, "PREFER_COMPILED_ON_CPU", True)
    from rnnkit.fused import compiled  # noqa: F401 - registers the compiled path

    compiled_core()
    cell, x = LSTMCell(3, 4), torch.randn(rnnkit.fused.native.MIN_STEPS_COMPILED_LSTM_TRAINING, 2, 3)
    assert "compiled core trains LSTMCell faster" in NATIVE.supports(cell, x, None)
    assert NATIVE.supports(cell, x[:-1], None) is None  # shorter: torch's kernel
    with torch.no_grad():
        assert NATIVE.supports(cell, x, None) is None  # inference: torch's kernel
    cell.requires_grad_(False)
    assert NATIVE.supports(cell, x, None) is None
    assert "compiled core trains LSTMCell faster" in NATIVE.supports(cell, x.requires_grad_(True), None)


def test_native_is_registered_first() -> None:
    assert registered()[0] is NATIVE


class _SubclassedGRU(GRUCell):
    pass


@pytest.mark.parametrize(
    "make, x, lengths, fragment",
    [
        (lambda: LSTMCell(3, 4, use_peepholes=True), torch.randn(2, 1, 3), None, "variant features"),
        (lambda: LSTMCell(3, 4, forget_bias=1.0), torch.randn(2, 1, 3), None, "variant features"),
        (lambda: LSTMCell(3, 4, activation="relu"), torch.randn(2, 1, 3), None, "variant features"),
        (lambda: GRUCell(3, 4, reset_after=False), torch.randn(2, 1, 3), None, "reset_after=False"),
        (lambda: _SubclassedGRU(3, 4), torch.randn(2, 1, 3), None, "not _SubclassedGRU"),
        (lambda: GRUCell(3, 4), torch.randn(0, 2, 3), None, "at least one time step"),
        (lambda: GRUCell(3, 4), torch.randn(2, 2, 3, dtype=torch.float64), None, "input's dtype"),
        (lambda: ElmanCell(3, 4), torch.randn(2, 2, 3, device="meta"), None, "not on device meta"),
    ],
)
def test_supports_gives_reasons(make: Callable, x: Tensor, lengths: Optional[Tensor], fragment: str) -> None:
    reason = NATIVE.supports(make(), x, lengths)
    assert reason is not None and fragment in reason


def test_supports_lstm_with_all_lengths_full() -> None:
    assert NATIVE.supports(LSTMCell(3, 4), torch.randn(2, 2, 3), torch.tensor([2, 2])) is None
