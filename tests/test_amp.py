"""bf16 autocast on the CPU for every path: reference runner, native kernels, scan, compiled core, drop-ins.

Each model runs in float32 parameters with inputs in float32, once plainly
and once under ``torch.autocast("cpu", dtype=torch.bfloat16)``. Outputs must
agree within bf16 tolerance (relative to the output's scale), gradients must
be finite and close (relative L2 error), and the LSTM cell state ``c`` that
the reference runner carries must stay float32 (it is a running sum; in
bf16 it would lose the small updates).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils._pytree import tree_leaves

from rnnkit.cells import (
    ElmanCell,
    GRUCell,
    IndRNNCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    LSTMCell,
    MinGRUCell,
    MinLSTMCell,
)
from rnnkit.fused import choose
from rnnkit.layers import Bidirectional, Recurrent, Stacked
from rnnkit.state import LSTMState
from rnnkit.wrappers import Dropout, Residual, Zoneout
from tests.fused.core import compiled_core

OUT_TOL = 4e-2  # max |bf16 - fp32| / max |fp32| (layer norm of c amplifies bf16 rounding to ~3%)
MEAN_TOL = 1e-2  # mean |bf16 - fp32| / mean |fp32|
GRAD_TOL = 5e-2  # ||g_bf16 - g_fp32|| / ||g_fp32||

CELLS: dict[str, Callable[[], nn.Module]] = {
    "lstm": lambda: LSTMCell(8, 16),
    "lstm_variant": lambda: LSTMCell(8, 16, proj_size=6, use_peepholes=True, forget_bias=1.0, cell_clip=3.0),
    "gru": lambda: GRUCell(8, 16),
    "gru_reset_before": lambda: GRUCell(8, 16, reset_after=False),
    "elman": lambda: ElmanCell(8, 16),
    "layernorm_lstm": lambda: LayerNormLSTMCell(8, 16),
    "layernorm_gru": lambda: LayerNormGRUCell(8, 16),
    "indrnn": lambda: IndRNNCell(8, 16),
    "mingru": lambda: MinGRUCell(8, 16),
    "minlstm": lambda: MinLSTMCell(8, 16),
    "dropout": lambda: Dropout(LSTMCell(8, 16), output_dropout=0.3, state_dropout=0.2, variational=True),
    "zoneout": lambda: Zoneout(LSTMCell(8, 16), h=0.1, c=0.1),
    "residual": lambda: Residual(GRUCell(8, 8)),
}
LENGTHS = [12, 5, 0, 9]


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.float() - want).abs().max() / want.abs().max().clamp(min=1e-6))


def mean_rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.float() - want).abs().mean() / want.abs().mean().clamp(min=1e-6))


def grad_rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.float() - want).norm() / want.norm().clamp(min=1e-12))


def run(model: nn.Module, x: torch.Tensor, lengths: Any, autocast: bool) -> tuple[list[torch.Tensor], list]:
    """Outputs (flat) and parameter gradients of ``sum(out^2) + sum(final^2)``."""
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        result = model(x, lengths=lengths)
    leaves = tree_leaves(result)
    loss = sum(leaf.float().pow(2).sum() for leaf in leaves if leaf.is_floating_point())
    loss.backward()
    return leaves, [p.grad.clone() for p in model.parameters()]


def check_close(model: nn.Module, lengths: Any = LENGTHS) -> list[torch.Tensor]:
    """Compare autocast with float32; return the autocast outputs."""
    torch.manual_seed(1)
    x = torch.randn(12, 4, 8)
    want, want_g = run(model, x, lengths, False)
    got, got_g = run(model, x, lengths, True)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert torch.isfinite(g).all()
        assert rel_err(g, w) < OUT_TOL, (rel_err(g, w), g.dtype)
        assert mean_rel_err(g, w) < MEAN_TOL
    for g, w in zip(got_g, want_g):
        assert torch.isfinite(g).all()
        assert grad_rel_err(g, w) < GRAD_TOL
    return got



@pytest.mark.parametrize("name", sorted(CELLS))
def test_reference_runner_bf16_close_to_fp32(name: str) -> None:
    torch.manual_seed(0)
    model = Recurrent(CELLS[name](), fused=False).eval()  # eval: wrappers are deterministic
    out = check_close(model)
    final = out[1:]
    if name in ("lstm", "lstm_variant", "layernorm_lstm", "zoneout"):
        c = final[1]
        assert c.dtype == torch.float32  # the running sum c_t = f c_{t-1} + i g stays float32


class BF16CarryLSTMCell(LSTMCell):
    """Test-only: the same cell with c rounded to bf16 after every step (what a bf16 carry would do)."""

    def recur(self, projected: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        y, (h, c) = super().recur(projected, state)
        return y, LSTMState(h, c.to(torch.bfloat16).to(c.dtype))


def test_reference_lstm_c_accumulates_in_fp32_over_a_long_sequence() -> None:
    """With f ~ 1, c sums 400 small updates: carried in fp32 it is far closer than a bf16 carry."""
    torch.manual_seed(0)
    cell = LSTMCell(4, 8)
    with torch.no_grad():
        cell.bias_ih[8:16].fill_(8.0)  # forget gate ~ 1: c integrates its inputs
        cell.weight_ih.mul_(0.1)
    bf16_carry = BF16CarryLSTMCell(4, 8)
    bf16_carry.load_state_dict(cell.state_dict())
    x = torch.randn(400, 2, 4)
    with torch.no_grad():
        _, want = Recurrent(cell, fused=False)(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            _, got = Recurrent(cell, fused=False)(x)
            _, rounded = Recurrent(bf16_carry, fused=False)(x)
    assert got.c.dtype == torch.float32 and got.h.dtype == torch.float32
    assert rel_err(got.c, want.c) < 0.5 * rel_err(rounded.c, want.c)


def test_fast_path_lstm_keeps_c_in_fp32_over_a_long_sequence() -> None:
    """fused='auto' (torch's kernel for a plain LSTM) must keep c as precise as the reference runner."""
    torch.manual_seed(0)
    cell = LSTMCell(4, 8)
    with torch.no_grad():
        cell.bias_ih[8:16].fill_(8.0)
        cell.weight_ih.mul_(0.1)
    x = torch.randn(400, 2, 4)
    with torch.no_grad():
        _, want = Recurrent(cell, fused=False)(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            _, reference = Recurrent(cell, fused=False)(x)
            _, fast = Recurrent(cell)(x)
    assert fast.c.dtype == torch.float32
    assert rel_err(fast.c, want.c) <= 1.5 * rel_err(reference.c, want.c)


@pytest.mark.parametrize("name", ["lstm", "gru", "elman", "mingru", "minlstm", "layernorm_lstm", "lstm_variant"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_fast_paths_bf16_close_to_fp32(name: str, lengths: Any) -> None:
    """fused='auto': native kernels (plain LSTM/GRU/Elman), the min-RNN scan, the compiled core."""
    torch.manual_seed(0)
    model = Recurrent(CELLS[name]()).train()  # grad enabled: the scan path runs for the min RNNs
    x = torch.randn(12, 4, 8)
    lens = None if lengths is None else torch.tensor(lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        path = choose("Recurrent", model.cell, x, lens, "auto")
    assert path is None or path.name != "compiled"  # the compiled core declines autocast calls
    check_close(model, lengths)


def test_compiled_core_refuses_autocast_so_the_runner_falls_back() -> None:
    from rnnkit.fused import compiled

    compiled_core()
    cell = LSTMCell(8, 16, use_peepholes=True)
    x = torch.randn(5, 2, 8)
    assert compiled.PATH.supports(cell, x, None) is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        reason = compiled.PATH.supports(cell, x, None)
    assert reason is not None and "autocast" in reason


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("lengths", [None, [12, 5, 1, 9]], ids=["full", "lengths"])
def test_dropins_bf16_close_to_fp32(kind: str, lengths: Any) -> None:
    from rnnkit import dropin

    torch.manual_seed(0)
    model = getattr(dropin, kind)(8, 16, num_layers=2, bidirectional=True)
    if kind == "LSTM" and lengths is not None:
        layer = Recurrent(LSTMCell(8, 16))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            path = choose("Recurrent", layer.cell, torch.randn(12, 4, 8), torch.tensor(lengths), "auto")
        assert path is None or path.name != "compiled"

    torch.manual_seed(1)
    x = torch.randn(12, 4, 8)
    want, want_g = run(model, x, lengths, False)
    got, got_g = run(model, x, lengths, True)
    for g, w in zip(got, want):
        assert torch.isfinite(g).all() and rel_err(g, w) < OUT_TOL
    for g, w in zip(got_g, want_g):
        assert torch.isfinite(g).all() and grad_rel_err(g, w) < GRAD_TOL


def test_stacked_bidirectional_model_bf16() -> None:
    torch.manual_seed(0)
    model = Stacked([Bidirectional(LayerNormLSTMCell(8, 8), GRUCell(8, 8)), Recurrent(MinGRUCell(16, 8))],
                    dropout=0.0).eval()
    model.layers[0].fw.fused = False  # keep the layer-norm LSTM on the reference runner
    check_close(model)


def test_autocast_state_in_fp32_is_accepted_and_carried() -> None:
    """A float32 initial state passes the checks under autocast; c comes back float32."""
    torch.manual_seed(0)
    model = Recurrent(LSTMCell(8, 16), fused=False)
    x = torch.randn(6, 3, 8)
    state = LSTMState(torch.randn(3, 16), torch.randn(3, 16))
    with torch.no_grad():
        _, want = model(x, state, lengths=[6, 2, 0])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            _, got = model(x, state, lengths=[6, 2, 0])
    assert got.c.dtype == torch.float32
    assert torch.equal(got.c[2], state.c[2]) and torch.equal(got.h[2], state.h[2])  # zero length: untouched
    assert rel_err(got.c, want.c) < OUT_TOL
