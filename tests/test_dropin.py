"""rnnkit.LSTM / GRU / RNN against torch.nn: parity (outputs, states, every gradient),
state_dict round trips, lengths, PackedSequence, fused dispatch and error messages."""

from __future__ import annotations

import copy
import io
import random
import re
import warnings
from typing import Any, Optional

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import rnnkit.fused
from rnnkit.dropin import GRU, LSTM, RNN
from rnnkit.fused.native import NATIVE

KINDS = {"LSTM": (LSTM, nn.LSTM), "GRU": (GRU, nn.GRU), "RNN": (RNN, nn.RNN)}


def _pair(kind: str, dtype: torch.dtype = torch.float64, **kw: Any) -> tuple[nn.Module, nn.Module]:
    """An rnnkit drop-in and a torch.nn module holding the same weights."""
    ours_cls, ref_cls = KINDS[kind]
    fused = kw.pop("fused", "auto")
    ours = ours_cls(dtype=dtype, fused=fused, **kw)
    ref = ref_cls(dtype=dtype, **kw)
    ref.load_state_dict(ours.state_dict())
    return ours, ref


def _random_hx(kind: str, m: nn.Module, B: int, dtype: torch.dtype, g: torch.Generator) -> Any:
    n = m.num_layers * (2 if m.bidirectional else 1)
    h = torch.randn(n, B, m.proj_size or m.hidden_size, generator=g, dtype=dtype)
    if kind == "LSTM":
        return h, torch.randn(n, B, m.hidden_size, generator=g, dtype=dtype)
    return h


def _leaves(result: Any) -> list[Tensor]:
    out, hx = result
    if isinstance(out, PackedSequence):
        out = out.data
    return [out, *(hx if isinstance(hx, tuple) else (hx,))]


def _forward_and_grads(module: nn.Module, call: Any) -> tuple[list[Tensor], dict[str, Tensor], list[Tensor]]:
    """Run ``call(module) -> (results, inputs)``; backprop a fixed random projection of the results."""
    module.zero_grad()
    results, inputs = call(module)
    g = torch.Generator().manual_seed(99)
    loss = sum((r * torch.randn(r.shape, generator=g, dtype=r.dtype)).sum() for r in results)
    loss.backward()
    grads = {n: p.grad for n, p in module.named_parameters()}
    return [r.detach() for r in results], grads, [t.grad for t in inputs]


def _random_config(seed: int) -> dict:
    rng = random.Random(seed)
    kind = rng.choice(["LSTM", "GRU", "RNN"])
    H = rng.randint(2, 5)
    kw = dict(input_size=rng.randint(1, 4), hidden_size=H, num_layers=rng.randint(1, 3), bias=rng.random() < 0.7,
              batch_first=rng.random() < 0.5, bidirectional=rng.random() < 0.5)
    if kind == "LSTM" and H > 2 and rng.random() < 0.5:
        kw["proj_size"] = rng.randint(1, H - 1)
    if kind == "RNN":
        kw["nonlinearity"] = rng.choice(["tanh", "relu"])
    source = ["padded", "lengths", "packed"][seed % 3]
    return {"kind": kind, "kw": kw, "T": rng.randint(2, 6), "B": rng.randint(2, 4), "input": source,
            "hx": rng.random() < 0.5, "lengths_as": rng.choice(["list", "tensor"])}


@pytest.mark.parametrize("fused", [False, "auto", True])
@pytest.mark.parametrize("seed", range(24))
def test_parity_with_torch_nn_on_random_configurations(seed: int, fused: Any) -> None:
    _check_parity(_random_config(seed), fused, seed)


@pytest.mark.parametrize("fused", [False, "auto", True])
@pytest.mark.parametrize("source", ["lengths", "packed"])
def test_parity_deep_bidirectional_projected_lstm_with_hx(source: str, fused: Any) -> None:
    kw = dict(input_size=3, hidden_size=5, num_layers=3, bias=True, batch_first=False, bidirectional=True,
              proj_size=3)
    _check_parity(dict(kind="LSTM", kw=kw, T=6, B=4, input=source, hx=True, lengths_as="tensor"), fused, 5)


def _check_parity(cfg: dict, fused: Any, seed: int) -> None:
    """Outputs, final states and the gradients of every parameter, the input and hx, float64."""
    kind, kw, T, B = cfg["kind"], cfg["kw"], cfg["T"], cfg["B"]
    torch.manual_seed(seed)
    ours, ref = _pair(kind, fused=fused, **kw)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((B, T, kw["input_size"]) if kw["batch_first"] else (T, B, kw["input_size"]), generator=g,
                    dtype=torch.float64)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[seed % B], lengths[(seed + 1) % B] = T, 1  # in any order, never sorted on purpose
    hx = _random_hx(kind, ref, B, torch.float64, g) if cfg["hx"] else None

    def inputs() -> tuple[Tensor, Any]:
        xi = x.clone().requires_grad_(True)
        hi = None if hx is None else (tuple(h.clone().requires_grad_(True) for h in hx) if kind == "LSTM"
                                      else hx.clone().requires_grad_(True))
        return xi, hi

    def leaves_of(xi: Tensor, hi: Any) -> list[Tensor]:
        return [xi] + ([] if hi is None else list(hi) if isinstance(hi, tuple) else [hi])

    def call_ref(m: nn.Module) -> tuple[list[Tensor], list[Tensor]]:
        xi, hi = inputs()
        if cfg["input"] == "padded":
            return _leaves(m(xi, hi)), leaves_of(xi, hi)
        packed = pack_padded_sequence(xi, lengths, batch_first=kw["batch_first"], enforce_sorted=False)
        out, h = m(packed, hi)
        if cfg["input"] == "lengths":
            out, _ = pad_packed_sequence(out, batch_first=kw["batch_first"], total_length=T)
        return _leaves((out, h)), leaves_of(xi, hi)

    def call_ours(m: nn.Module) -> tuple[list[Tensor], list[Tensor]]:
        xi, hi = inputs()
        if cfg["input"] == "lengths":
            lens = lengths.tolist() if cfg["lengths_as"] == "list" else lengths
            return _leaves(m(xi, hi, lengths=lens)), leaves_of(xi, hi)
        return call_ref(m)

    ref_res, ref_grads, ref_in_grads = _forward_and_grads(ref, call_ref)
    got_res, got_grads, got_in_grads = _forward_and_grads(ours, call_ours)
    tol = dict(atol=1e-7, rtol=1e-7)
    for a, b in zip(got_res, ref_res, strict=True):
        torch.testing.assert_close(a, b, **tol)
    assert got_grads.keys() == ref_grads.keys()
    for name in ref_grads:
        torch.testing.assert_close(got_grads[name], ref_grads[name], **tol, msg=lambda m, name=name: f"{name}: {m}")
    for a, b in zip(got_in_grads, ref_in_grads, strict=True):
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("fused", [False, "auto"])
def test_float32_parity_within_1e5(kind: str, fused: Any) -> None:
    torch.manual_seed(3)
    ours, ref = _pair(kind, torch.float32, fused=fused, input_size=3, hidden_size=6, num_layers=2,
                      bidirectional=True)
    x = torch.randn(5, 4, 3, requires_grad=True)
    lengths = torch.tensor([5, 2, 4, 1])
    out, h = ours(x, lengths=lengths)
    ref_out, ref_h = ref(pack_padded_sequence(x, lengths, enforce_sorted=False))
    ref_out, _ = pad_packed_sequence(ref_out, total_length=5)
    for a, b in zip(_leaves((out, h)), _leaves((ref_out, ref_h))):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    (gx,) = torch.autograd.grad(out.sum(), x)
    (ref_gx,) = torch.autograd.grad(ref_out.sum(), x)
    torch.testing.assert_close(gx, ref_gx, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("fused", [False, "auto"])
def test_zero_lengths_return_the_initial_state_and_zero_outputs(fused: Any) -> None:
    torch.manual_seed(4)
    ours, ref = _pair("LSTM", fused=fused, input_size=2, hidden_size=4, num_layers=2, bidirectional=True,
                      proj_size=3)
    x = torch.randn(4, 3, 2, dtype=torch.float64)
    h0 = torch.randn(4, 3, 3, dtype=torch.float64), torch.randn(4, 3, 4, dtype=torch.float64)
    out, (h, c) = ours(x, h0, lengths=torch.tensor([3, 0, 4]))
    assert torch.count_nonzero(out[:, 1]) == 0 and torch.count_nonzero(out[3:, 0]) == 0
    torch.testing.assert_close(h[:, 1], h0[0][:, 1])
    torch.testing.assert_close(c[:, 1], h0[1][:, 1])
    keep = torch.tensor([0, 2])  # the others equal torch.nn on a packed batch without the empty sequence
    packed = pack_padded_sequence(x[:, keep], torch.tensor([3, 4]), enforce_sorted=False)
    ref_out, (ref_h, ref_c) = ref(packed, (h0[0][:, keep], h0[1][:, keep]))
    torch.testing.assert_close(out[:, keep], pad_packed_sequence(ref_out, total_length=4)[0])
    torch.testing.assert_close(h[:, keep], ref_h)
    torch.testing.assert_close(c[:, keep], ref_c)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_unbatched_input_matches_torch(kind: str) -> None:
    torch.manual_seed(5)
    for fused in (False, "auto"):
        ours, ref = _pair(kind, fused=fused, input_size=3, hidden_size=4, num_layers=2, batch_first=True)
        x = torch.randn(5, 3, dtype=torch.float64)
        hx = _random_hx(kind, ref, 1, torch.float64, torch.Generator().manual_seed(0))
        hx = tuple(h[:, 0] for h in hx) if kind == "LSTM" else hx[:, 0]
        for a, b in zip(_leaves(ours(x, hx)), _leaves(ref(x, hx)), strict=True):
            torch.testing.assert_close(a, b)
        short = _leaves(ours(x, hx, lengths=[3]))  # unbatched with a length: torch.nn on the first 3 steps
        for a, b in zip(short, _leaves(ref(x[:3], hx)), strict=True):
            torch.testing.assert_close(a[:3] if a.shape[0] == 5 else a, b)
        assert torch.count_nonzero(short[0][3:]) == 0


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_init_names_and_state_dict_round_trips(kind: str) -> None:
    ours_cls, ref_cls = KINDS[kind]
    kw = dict(input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    if kind == "LSTM":
        kw["proj_size"] = 2
    torch.manual_seed(0)
    ours = ours_cls(**kw)
    torch.manual_seed(0)
    ref = ref_cls(**kw)  # same RNG draws in the same order: identical initialisation
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert list(ours.state_dict()) == list(ref.state_dict())
    for (n, p), (_, q) in zip(ours.named_parameters(), ref.named_parameters()):
        assert torch.equal(p, q), n
    assert "weight_hh_l1_reverse" in ours.state_dict()
    assert ours.weight_hh_l1_reverse.shape == ref.weight_hh_l1_reverse.shape
    fresh_ref, fresh_ours = ref_cls(**kw), ours_cls(**kw)
    fresh_ref.load_state_dict(ours.state_dict(), strict=True)
    fresh_ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(4, 2, 3)
    for a, b in zip(_leaves(fresh_ours(x)), _leaves(fresh_ref(x))):
        torch.testing.assert_close(a, b)


def test_init_bounds_and_bias_false_names() -> None:
    m = GRU(3, 16, num_layers=2, bias=False)
    assert [n for n, _ in m.named_parameters()] == ["weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"]
    for p in m.parameters():
        assert p.abs().max() <= 0.25 and p.std() > 0.1  # U(-1/4, 1/4): std 0.144


@pytest.mark.parametrize("fused", [False, "auto"])
def test_module_conversions_functional_call_and_parametrizations_are_respected(fused: Any) -> None:
    torch.manual_seed(6)
    ours, ref = _pair("LSTM", torch.float32, fused=fused, input_size=3, hidden_size=4, num_layers=2)
    ours.double()
    ref.double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], ref(x)[0])
    new = {n: torch.randn_like(p) for n, p in ref.named_parameters()}
    got = torch.func.functional_call(ours, new, (x,))[0]
    expected = torch.func.functional_call(ref, new, (x,))[0]
    torch.testing.assert_close(got, expected)

    class Double(nn.Module):
        def forward(self, w: Tensor) -> Tensor:
            return 2 * w

    nn.utils.parametrize.register_parametrization(ours, "weight_hh_l1", Double())
    with torch.no_grad():
        ref.weight_hh_l1.mul_(2)
    torch.testing.assert_close(ours(x)[0], ref(x)[0])
    assert len(list(ours.state_dict())) == len(list(ref.state_dict()))  # nothing duplicated by the runtime cells


def test_deepcopy_and_torch_save_round_trip() -> None:
    m = GRU(3, 4, num_layers=2, fused=False).double()
    x = torch.randn(3, 2, 3, dtype=torch.float64)
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    for other in (copy.deepcopy(m), torch.load(buf, weights_only=False)):
        with torch.no_grad():
            other.weight_hh_l1.add_(1.0)  # the copy owns its own parameters and uses them
        m.weight_hh_l1.data.add_(1.0)
        torch.testing.assert_close(other(x)[0], m(x)[0])
        m.weight_hh_l1.data.sub_(1.0)


@pytest.mark.parametrize("fused", [False, "auto"])
def test_inter_layer_dropout_follows_torch_nn(fused: Any) -> None:
    torch.manual_seed(7)
    ours, ref = _pair("GRU", fused=fused, input_size=3, hidden_size=8, num_layers=3, dropout=0.5,
                      bidirectional=True)
    x = torch.randn(5, 4, 3, dtype=torch.float64)
    torch.manual_seed(1)
    out = ours(x)[0]
    torch.manual_seed(1)
    ref_out = ref(x)[0]
    torch.testing.assert_close(out, ref_out)  # same masks from the same RNG draws
    ours.eval()
    ref.eval()
    eval_out = ours(x)[0]
    torch.testing.assert_close(eval_out, ref(x)[0])
    assert not torch.allclose(eval_out, out)


class _CallSpy:
    def __init__(self, fn: Any) -> None:
        self.fn, self.calls = fn, []

    def __call__(self, *args: Any) -> Any:
        self.calls.append(args)
        return self.fn(*args)


def test_auto_runs_the_whole_stack_in_one_native_call(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _CallSpy(torch._VF.lstm)
    monkeypatch.setattr(torch._VF, "lstm", spy)
    m = LSTM(3, 4, num_layers=3, bidirectional=True)
    m(torch.randn(5, 2, 3))
    assert len(spy.calls) == 1 and spy.calls[0][4] == 3  # num_layers argument
    m(torch.randn(5, 2, 3), lengths=[5, 5])  # all lengths == T: same single call
    assert len(spy.calls) == 2
    m.fused = False
    m(torch.randn(5, 2, 3))
    assert len(spy.calls) == 2


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_fused_true_with_lengths_uses_per_layer_native(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rnnkit.fused, "_loaded", True)
    monkeypatch.setattr(rnnkit.fused, "_PATHS", [NATIVE])
    spy = _CallSpy(NATIVE.run)
    monkeypatch.setattr(NATIVE, "run", spy)
    torch.manual_seed(8)
    ours, _ = _pair(kind, fused=True, input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    x = torch.randn(5, 3, 3, dtype=torch.float64)
    lengths = torch.tensor([2, 5, 0])
    out, h = ours(x, lengths=lengths)
    assert len(spy.calls) == 4  # every layer and direction
    ours.fused = False
    ref_out, ref_h = ours(x, lengths=lengths)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h, ref_h)


def test_fused_true_lstm_with_lengths_packs_or_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rnnkit.fused, "_loaded", True)
    monkeypatch.setattr(rnnkit.fused, "_PATHS", [])
    torch.manual_seed(9)
    ours, ref = _pair("LSTM", fused=True, input_size=3, hidden_size=4, batch_first=True)
    x = torch.randn(3, 5, 3, dtype=torch.float64)
    out, (h, c) = ours(x, lengths=[2, 5, 1])  # no per-layer path: the packed whole-stack kernel
    ref_out, (ref_h, ref_c) = ref(pack_padded_sequence(x, torch.tensor([2, 5, 1]), batch_first=True,
                                                       enforce_sorted=False))
    torch.testing.assert_close(out, pad_packed_sequence(ref_out, batch_first=True, total_length=5)[0])
    torch.testing.assert_close(h, ref_h)
    torch.testing.assert_close(c, ref_c)
    with pytest.raises(ValueError, match=r"LSTM: fused=True but no fused path .*no fast path is registered.*"
                                         r"lengths of 0 cannot be packed.*fused='auto'"):
        ours(x, lengths=[2, 0, 1])


def test_fused_true_without_time_steps_raises_and_auto_falls_back() -> None:
    m = RNN(3, 4, fused=True)
    x = torch.randn(0, 2, 3)
    with pytest.raises(ValueError, match=r"RNN: fused=True but torch's fused kernels need at least one time step.*"
                                         r"use fused='auto'"):
        m(x)
    m.fused = "auto"
    out, h = m(x, torch.ones(1, 2, 4))
    assert out.shape == (0, 2, 4)
    torch.testing.assert_close(h, torch.ones(1, 2, 4))


@pytest.mark.parametrize(
    "make, call, error, message",
    [
        (lambda: LSTM(8, 4), lambda m: m(torch.randn(5, 2, 7)), ValueError,
         r"LSTM: input must be of shape \(T, B, 8\) or unbatched \(T, 8\), got \(5, 2, 7\)"),
        (lambda: GRU(8, 4, batch_first=True), lambda m: m(torch.randn(2, 5)), ValueError,
         r"GRU: input must be of shape \(B, T, 8\) or unbatched \(T, 8\), got \(2, 5\)"),
        (lambda: LSTM(3, 4, num_layers=2), lambda m: m(torch.randn(5, 2, 3), (torch.zeros(2, 2, 4),
                                                                              torch.zeros(1, 2, 4))),
         ValueError, (r"LSTM: hx\[1\] \(c_0\) must be of shape \(2, 2, 4\) = "
                      r"\(num_layers \* num_directions, B, 4\), got \(1, 2, 4\)")),
        (lambda: LSTM(3, 4, proj_size=2), lambda m: m(torch.randn(5, 2, 3), (torch.zeros(1, 2, 4),
                                                                            torch.zeros(1, 2, 4))),
         ValueError, r"LSTM: hx\[0\] \(h_0\) must be of shape \(1, 2, 2\)"),
        (lambda: LSTM(3, 4), lambda m: m(torch.randn(5, 2, 3), torch.zeros(1, 2, 4)), TypeError,
         r"LSTM: hx must be a tuple \(hx\[0\] \(h_0\), hx\[1\] \(c_0\)\), got Tensor"),
        (lambda: RNN(3, 4), lambda m: m(torch.randn(5, 2, 3), torch.zeros(1, 3, 4)), ValueError,
         r"RNN: hx must be of shape \(1, 2, 4\)"),
        (lambda: RNN(3, 4), lambda m: m(torch.randn(5, 2, 3), torch.zeros(1, 2, 4, dtype=torch.float64)),
         TypeError, r"RNN: hx must be of dtype torch.float32 \(the input's\), got torch.float64"),
        (lambda: GRU(3, 4), lambda m: m(torch.randn(5, 2, 3, dtype=torch.float64)), TypeError,
         r"GRU: input must be of dtype torch.float32 \(the parameters' dtype"),
        (lambda: GRU(3, 4), lambda m: m(torch.randn(5, 2, 3), lengths=[5, 6]), ValueError,
         r"GRU: lengths must be in \[0, 5\] \(the time dimension\), got values in \[5, 6\]"),
        (lambda: GRU(3, 4), lambda m: m(torch.randn(5, 2, 3), lengths=[5]), ValueError,
         r"GRU: lengths must be of shape \(2,\), one length per sequence, got \(1,\)"),
        (lambda: GRU(3, 4), lambda m: m(torch.randn(5, 2, 3), lengths=torch.tensor([1.0, 2.0])), TypeError,
         r"GRU: lengths must be an integer tensor, got dtype torch.float32"),
        (lambda: GRU(3, 4), lambda m: m(pack_padded_sequence(torch.randn(5, 2, 3), [5, 2]), lengths=[5, 2]),
         ValueError, r"GRU: lengths must be None when input is a PackedSequence"),
        (lambda: GRU(3, 4), lambda m: m(pack_padded_sequence(torch.randn(5, 2, 2), [5, 2])), ValueError,
         r"GRU: input.data \(PackedSequence\) must be of shape \(N, 3\), got \(7, 2\)"),
        (lambda: LSTM(3, 4, proj_size=4), None, ValueError,
         r"LSTM: proj_size must be smaller than hidden_size \(4\), got 4"),
        (lambda: RNN(3, 4, nonlinearity="gelu"), None, ValueError, r"RNN: nonlinearity must be one of 'tanh', 'relu'"),
        (lambda: GRU(3, 4, fused="yes"), None, ValueError, r"GRU: fused must be 'auto', True or False, got 'yes'"),
        (lambda: GRU(3, 4), lambda m: setattr(m, "fused", "always"), ValueError,
         r"GRU: fused must be 'auto', True or False, got 'always'"),
        (lambda: GRU(3, 0), None, ValueError, r"GRU: hidden_size must be > 0, got 0"),
        (lambda: GRU(3, 4, bidirectional=1), None, TypeError, r"GRU: bidirectional must be a bool, got int 1"),
        (lambda: LSTM(3, 4, dropout=1.5), None, ValueError, r"LSTM: dropout must be in \[0, 1\], got 1.5"),
    ],
)
def test_error_messages(make: Any, call: Optional[Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        m = make()
        call(m)


def test_dropout_with_one_layer_warns_like_torch() -> None:
    with pytest.warns(UserWarning, match="num_layers=1"):
        GRU(3, 4, dropout=0.2)


def test_reference_path_gradcheck_with_lengths() -> None:
    m = LSTM(1, 2, num_layers=2, bidirectional=True, proj_size=1, fused=False, dtype=torch.float64)
    names = [n for n, _ in m.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in m.parameters())
    x = torch.randn(3, 2, 1, dtype=torch.float64, requires_grad=True)

    def fn(x: Tensor, *ps: Tensor) -> tuple[Tensor, ...]:
        out, (h, c) = torch.func.functional_call(m, dict(zip(names, ps)), (x,), {"lengths": [3, 1]})
        return out, h, c

    assert torch.autograd.gradcheck(fn, (x, *params), eps=1e-6, atol=1e-5)


def test_data_parallel_replicas_get_their_own_runtime_cells() -> None:
    m = LSTM(3, 4, num_layers=2, fused=False)
    replica = m._replicate_for_data_parallel()
    replica._parameters = dict(m._parameters)  # as torch.nn.parallel.replicate does next (with copies)
    assert all(a is not b for (_, _, a), (_, _, b) in zip(m._cells, replica._cells, strict=True))
    x = torch.randn(3, 2, 3)
    torch.testing.assert_close(replica(x)[0], m(x)[0])


# ----------------------------------------------------------------------------- code written against torch.nn
_BAD_CALLS = {
    "input_size": lambda m: m(torch.randn(5, 2, 4)),
    "input_dims": lambda m: m(torch.randn(1, 5, 2, 3)),
    "h0_shape": lambda m: m(torch.randn(5, 2, 3), (torch.zeros(2, 2, 6), torch.zeros(1, 2, 6))),
    "c0_shape": lambda m: m(torch.randn(5, 2, 3), (torch.zeros(1, 2, 6), torch.zeros(1, 3, 6))),
}


@pytest.mark.parametrize("case", sorted(_BAD_CALLS))
def test_shape_errors_are_what_torch_nn_raises_and_still_say_expected_vs_got(case: str) -> None:
    from rnnkit.checks import ShapeError

    torch.manual_seed(0)
    ours, ref = LSTM(3, 6), nn.LSTM(3, 6)
    with pytest.raises((RuntimeError, ValueError)) as theirs:
        _BAD_CALLS[case](ref)
    with pytest.raises(type(theirs.value)) as caught:  # code that catches torch.nn's type keeps working
        _BAD_CALLS[case](ours)
    assert type(caught.value) is ShapeError and isinstance(caught.value, (ValueError, RuntimeError))
    assert " must be of shape " in str(caught.value) and ", got (" in str(caught.value)


def test_dtype_error_is_what_torch_nn_raises_and_a_type_error() -> None:
    ours, ref = GRU(3, 4), nn.GRU(3, 4)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    with pytest.raises(ValueError):
        ref(x)
    with pytest.raises(ValueError, match=r"GRU: input must be of dtype torch.float32 .*, got torch.float64") as err:
        ours(x)
    assert isinstance(err.value, TypeError)


@pytest.mark.parametrize("kind", ["GRU", "RNN"])
@pytest.mark.parametrize("proj_size", [0, 2])
def test_proj_size_on_gru_and_rnn_is_a_value_error_as_in_torch(kind: str, proj_size: int) -> None:
    ours_cls, ref_cls = KINDS[kind]
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        ref_cls(3, 5, proj_size=proj_size)
    with pytest.raises(ValueError, match=re.escape(f"{kind}: proj_size must be left out (proj_size is only supported "
                                                   f"for LSTM, not RNN or GRU, as in torch.nn), got {proj_size}")):
        ours_cls(3, 5, proj_size=proj_size)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_not_a_torch_nn_subclass_but_to_torch_and_from_torch_are_exact(kind: str) -> None:
    """The README's decision: no subclassing (tools that find nn.LSTM by isinstance would swap in torch's class
    and drop ``lengths``); ``to_torch`` gives them torch's class with the same weights."""
    ours_cls, ref_cls = KINDS[kind]
    torch.manual_seed(0)
    ours = ours_cls(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    assert not isinstance(ours, ref_cls) and not isinstance(ours, nn.RNNBase)
    theirs = ours.to_torch()
    assert type(theirs) is ref_cls and theirs.batch_first and theirs.bidirectional and theirs.num_layers == 2
    x = torch.randn(2, 5, 3)
    for a, b in zip(_leaves(ours(x)), _leaves(theirs(x))):
        assert torch.equal(a, b)
    back = ours_cls.from_torch(theirs, fused=False)
    assert type(back) is ours_cls and back.fused is False
    for a, b in zip(_leaves(back(x)), _leaves(theirs(x))):  # the reference runner: equal to rounding
        torch.testing.assert_close(a, b)
    with torch.no_grad():
        theirs.weight_ih_l0.zero_()  # copies, not shared parameters
    assert not torch.equal(ours.weight_ih_l0, theirs.weight_ih_l0)
    with pytest.raises(TypeError, match=f"{kind}.from_torch: module must be a torch.nn.{kind}, got torch.nn.modules"):
        ours_cls.from_torch(nn.Linear(2, 2))


def test_quantize_dynamic_passes_the_drop_in_by_and_takes_to_torch() -> None:
    torch.manual_seed(0)
    lstm = LSTM(4, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
        kept = torch.ao.quantization.quantize_dynamic(nn.Sequential(lstm), {nn.LSTM}, dtype=torch.qint8)
        assert type(kept[0]) is LSTM  # quantize_dynamic matches exact types: documented in the README
        quantized = torch.ao.quantization.quantize_dynamic(nn.Sequential(lstm.to_torch()), {nn.LSTM},
                                                           dtype=torch.qint8)
    assert type(quantized[0]).__module__.startswith("torch.ao.nn.quantized.dynamic")
    x = torch.randn(6, 2, 4)
    torch.testing.assert_close(quantized[0](x)[0], lstm(x)[0], atol=0.05, rtol=0)


def test_torch_jit_script_refuses_with_a_message_naming_the_alternatives() -> None:
    from rnnkit.dropin.interop import NotScriptableError

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = GRU(3, 4)

        def forward(self, x: Tensor) -> Tensor:
            return self.rnn(x)[0]

    for module in (GRU(3, 4), Model()):
        with pytest.raises(NotScriptableError, match=r"rnnkit.GRU cannot be compiled by torch.jit.script.*torch.jit."
                                                     r"trace, torch.export or rnnkit.export.export_model"):
            torch.jit.script(module)
    model = Model()
    traced = torch.jit.trace(model, torch.randn(5, 2, 3))  # the way out the message names
    x = torch.randn(5, 3, 3)
    torch.testing.assert_close(traced(x), model(x))


def test_flatten_parameters_is_there_as_in_torch_nn() -> None:
    lstm = LSTM(3, 4)
    lstm.flatten_parameters()  # DataParallel-era code calls it; a no-op off CUDA, as torch.nn
    assert [n for n, _ in lstm.named_parameters()] == [n for n, _ in nn.LSTM(3, 4).named_parameters()]
