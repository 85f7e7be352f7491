"""rnnkit.import_weights: each layout's weights give the outputs of that layout's own
equations (written out here, independently), in every kind of target."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import Tensor

import rnnkit
from rnnkit import import_weights
from rnnkit.compat import v1

D = torch.float64
I, H, B, T = 3, 5, 4, 6
sig = torch.sigmoid


def _rand(*shape: int, g: torch.Generator) -> Tensor:
    return torch.randn(*shape, generator=g, dtype=D) * 0.5


def _scratch_lstm(g: torch.Generator) -> dict[str, Tensor]:
    names = ["W_xi", "W_hi", "b_i", "W_xf", "W_hf", "b_f", "W_xo", "W_ho", "b_o", "W_xc", "W_hc", "b_c"]
    return {n: _rand(*((I, H) if n[:3] == "W_x" else (H, H) if n[:3] == "W_h" else (H,)), g=g) for n in names}


def _scratch_lstm_loop(p: dict[str, Tensor], x: Tensor) -> Tensor:
    """The from-scratch tutorial's ``lstm(inputs, state, params)``."""
    h = c = torch.zeros(x.shape[1], H, dtype=D)
    outs = []
    for x_t in x:
        i = sig(x_t @ p["W_xi"] + h @ p["W_hi"] + p["b_i"])
        f = sig(x_t @ p["W_xf"] + h @ p["W_hf"] + p["b_f"])
        o = sig(x_t @ p["W_xo"] + h @ p["W_ho"] + p["b_o"])
        c_tilda = torch.tanh(x_t @ p["W_xc"] + h @ p["W_hc"] + p["b_c"])
        c = f * c + i * c_tilda
        h = o * c.tanh()
        outs.append(h)
    return torch.stack(outs)


def _run(target, x: Tensor) -> Tensor:
    if isinstance(target, (rnnkit.LSTM, rnnkit.GRU)):
        return target(x)[0]
    if isinstance(target, v1.RNNCell):
        return v1.nn.dynamic_rnn(target, x, time_major=True)[0]
    return rnnkit.unroll(target, x)[0]


LSTM_TARGETS = {
    "cell": lambda: rnnkit.LSTMCell(I, H),
    "cell_forget_bias": lambda: rnnkit.LSTMCell(I, H, forget_bias=1.0),
    "dropin": lambda: rnnkit.LSTM(I, H),
    "tf1_face": lambda: v1.BasicLSTMCell(H),  # forget_bias=1.0 at run time, bias_hh frozen
}


@pytest.mark.parametrize("target", sorted(LSTM_TARGETS))
@pytest.mark.parametrize("as_list", [False, True])
def test_scratch_lstm_into_every_lstm_target(target: str, as_list: bool) -> None:
    g = torch.Generator().manual_seed(0)
    p = _scratch_lstm(g)
    x = _rand(T, B, I, g=g)
    module = LSTM_TARGETS[target]().to(D) if target != "tf1_face" else LSTM_TARGETS[target]().build(I, dtype=D)
    weights = list(p.values()) if as_list else {k.lower() if k.startswith("W") else k: v.numpy() for k, v in p.items()}
    assert import_weights(module, weights, "scratch") is module
    torch.testing.assert_close(_run(module, x), _scratch_lstm_loop(p, x), rtol=1e-12, atol=1e-12)


def test_scratch_lstm_into_one_layer_and_direction_of_a_drop_in() -> None:
    g = torch.Generator().manual_seed(1)
    p = _scratch_lstm(g)
    lstm = rnnkit.LSTM(I, H, num_layers=2, bidirectional=True, dtype=D)
    before = {n: t.clone() for n, t in lstm.named_parameters()}
    import_weights(lstm, p, "scratch", layer=0, reverse=True)
    changed = {n for n, t in lstm.named_parameters() if not torch.equal(t, before[n])}
    assert changed == {"weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse"}
    x = _rand(T, B, I, g=g)
    cell = import_weights(rnnkit.LSTMCell(I, H).to(D), p, "scratch")
    ref = rnnkit.unroll(cell, x, reverse=True)[0]
    one = rnnkit.LSTM(I, H, bidirectional=True, dtype=D)
    one.load_state_dict({k.replace("_l0", "_l0"): v for k, v in lstm.state_dict().items() if "_l1" not in k})
    torch.testing.assert_close(one(x)[0][..., H:], ref)


def test_freeze_second_bias_trains_like_the_one_bias_original() -> None:
    g = torch.Generator().manual_seed(2)
    cell = import_weights(rnnkit.LSTMCell(I, H).to(D), _scratch_lstm(g), "scratch", freeze_second_bias=True)
    assert not cell.bias_hh.requires_grad and torch.count_nonzero(cell.bias_hh) == 0
    assert cell.bias_ih.requires_grad
    free = import_weights(rnnkit.LSTMCell(I, H).to(D), _scratch_lstm(g), "scratch")
    assert free.bias_hh.requires_grad


def _d2l_gru(g: torch.Generator) -> dict[str, Tensor]:
    names = ["W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r", "W_xh", "W_hh", "b_h"]
    return {n: _rand(*((I, H) if n[:3] == "W_x" else (H, H) if n[:3] == "W_h" else (H,)), g=g) for n in names}


def test_d2l_gru_needs_and_matches_the_reset_before_formulation() -> None:
    g = torch.Generator().manual_seed(3)
    p = _d2l_gru(g)
    x = _rand(T, B, I, g=g)
    h = torch.zeros(B, H, dtype=D)
    ref = []
    for x_t in x:  # d2l's gru()
        z = sig(x_t @ p["W_xz"] + h @ p["W_hz"] + p["b_z"])
        r = sig(x_t @ p["W_xr"] + h @ p["W_hr"] + p["b_r"])
        h_tilda = torch.tanh(x_t @ p["W_xh"] + (r * h) @ p["W_hh"] + p["b_h"])
        h = z * h + (1 - z) * h_tilda
        ref.append(h)
    cell = import_weights(rnnkit.GRUCell(I, H, reset_after=False).to(D), p, "scratch")
    torch.testing.assert_close(_run(cell, x), torch.stack(ref), rtol=1e-12, atol=1e-12)
    tf_gru = import_weights(v1.GRUCell(H).build(I, dtype=D), p, "scratch")  # TF1's GRU resets before too
    torch.testing.assert_close(_run(tf_gru, x), torch.stack(ref), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=re.escape("import_weights: target must be a GRU that applies the reset gate "
                                                   "before the recurrent product, as the source (rnnkit.GRUCell(I, H, "
                                                   "reset_after=False)), got GRU with reset_after=True")):
        import_weights(rnnkit.GRU(I, H), p, "scratch")


def _tf_lstm_loop(w: dict[str, Tensor], x: Tensor, forget_bias: float, P: int = H) -> Tensor:
    """TF1 LSTMCell: [i, j, f, o] = [x, m] K + b; peepholes; projection."""
    c, m = torch.zeros(x.shape[1], H, dtype=D), torch.zeros(x.shape[1], P, dtype=D)
    outs = []
    peep = "w_i_diag" in w
    for x_t in x:
        i, j, f, o = (torch.cat([x_t, m], 1) @ w["kernel"] + w["bias"]).split(H, 1)
        wi, wf, wo = (w["w_i_diag"], w["w_f_diag"], w["w_o_diag"]) if peep else (0, 0, 0)
        c = sig(f + forget_bias + wf * c) * c + sig(i + wi * c) * torch.tanh(j)
        m = sig(o + wo * c) * torch.tanh(c)
        if "projection/kernel" in w:
            m = m @ w["projection/kernel"]
        outs.append(m)
    return torch.stack(outs)


@pytest.mark.parametrize("forget_bias", [1.0, 0.0, 0.3])
@pytest.mark.parametrize("options", ["plain", "peepholes_projection"])
def test_tf_kernel_layout_with_run_time_forget_bias(forget_bias: float, options: str) -> None:
    g = torch.Generator().manual_seed(4)
    full = options != "plain"
    P = 2 if full else H
    w = {"kernel": _rand(I + P, 4 * H, g=g), "bias": _rand(4 * H, g=g)}
    if full:
        w.update(w_i_diag=_rand(H, g=g), w_f_diag=_rand(H, g=g), w_o_diag=_rand(H, g=g),
                 **{"projection/kernel": _rand(H, P, g=g)})
    x = _rand(T, B, I, g=g)
    ref = _tf_lstm_loop(w, x, forget_bias, P)
    target = rnnkit.LSTMCell(I, H, proj_size=P if full else 0, use_peepholes=full).to(D)
    import_weights(target, w, "tf", forget_bias=forget_bias)
    torch.testing.assert_close(_run(target, x), ref, rtol=1e-12, atol=1e-12)
    if not full:
        dropin = import_weights(rnnkit.LSTM(I, H, dtype=D), {k: v.numpy() for k, v in w.items()}, "tf",
                                forget_bias=forget_bias)
        torch.testing.assert_close(_run(dropin, x), ref, rtol=1e-12, atol=1e-12)


def test_tf_gru_layout_matches_the_tf1_face() -> None:
    g = torch.Generator().manual_seed(5)
    source = v1.GRUCell(H).build(I, dtype=D)
    x = _rand(T, B, I, g=g)
    target = import_weights(rnnkit.GRUCell(I, H, reset_after=False).to(D), source.get_tf_weights(), "tf")
    torch.testing.assert_close(_run(target, x), _run(source, x), rtol=1e-12, atol=1e-12)


def test_keras_lstm_layout() -> None:
    g = torch.Generator().manual_seed(6)
    kernel, recurrent, bias = _rand(I, 4 * H, g=g), _rand(H, 4 * H, g=g), _rand(4 * H, g=g)
    x = _rand(T, B, I, g=g)
    h = c = torch.zeros(B, H, dtype=D)
    ref = []
    for x_t in x:  # keras LSTMCell: z = x K + h R + b split i, f, c, o
        zi, zf, zc, zo = (x_t @ kernel + h @ recurrent + bias).split(H, 1)
        c = sig(zf) * c + sig(zi) * torch.tanh(zc)
        h = sig(zo) * torch.tanh(c)
        ref.append(h)
    weights = {"kernel": kernel.numpy(), "recurrent_kernel": recurrent.numpy(), "bias": bias.numpy()}
    for target in (rnnkit.LSTMCell(I, H).to(D), rnnkit.LSTM(I, H, dtype=D), v1.LSTMCell(H).build(I, dtype=D)):
        import_weights(target, weights, "keras")
        torch.testing.assert_close(_run(target, x), torch.stack(ref), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
def test_keras_gru_layout_both_formulations(reset_after: bool) -> None:
    g = torch.Generator().manual_seed(7)
    kernel, recurrent = _rand(I, 3 * H, g=g), _rand(H, 3 * H, g=g)
    bias = _rand(2, 3 * H, g=g) if reset_after else _rand(3 * H, g=g)
    b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, torch.zeros(3 * H, dtype=D))
    x = _rand(T, B, I, g=g)
    h = torch.zeros(B, H, dtype=D)
    ref = []
    for x_t in x:  # keras GRUCell, gates z, r, h
        xz, xr, xh = (x_t @ kernel + b_in).split(H, 1)
        if reset_after:
            rz, rr, rh = (h @ recurrent + b_rec).split(H, 1)
            z, r = sig(xz + rz), sig(xr + rr)
            hh = torch.tanh(xh + r * rh)
        else:
            z, r = sig(xz + h @ recurrent[:, :H]), sig(xr + h @ recurrent[:, H: 2 * H])
            hh = torch.tanh(xh + (r * h) @ recurrent[:, 2 * H:])
        h = z * h + (1 - z) * hh
        ref.append(h)
    targets = [rnnkit.GRUCell(I, H, reset_after=reset_after).to(D)]
    if reset_after:
        targets.append(rnnkit.GRU(I, H, dtype=D))
    for target in targets:
        import_weights(target, {"kernel": kernel, "recurrent_kernel": recurrent, "bias": bias}, "keras")
        torch.testing.assert_close(_run(target, x), torch.stack(ref), rtol=1e-12, atol=1e-12)


def test_torch_layout_from_a_multi_layer_state_dict_and_into_the_tf1_face() -> None:
    torch.manual_seed(8)
    ref = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, dtype=D)
    ours = rnnkit.LSTM(I, H, num_layers=2, bidirectional=True, dtype=D)
    for layer in range(2):
        for reverse in (False, True):
            import_weights(ours, ref.state_dict(), "torch", layer=layer, reverse=reverse)
    x = torch.randn(T, B, I, dtype=D)
    for a, b in zip(ours(x), ref(x)):
        torch.testing.assert_close(a, b) if isinstance(a, Tensor) else [torch.testing.assert_close(u, v)
                                                                        for u, v in zip(a, b)]
    cell = torch.nn.LSTMCell(I, H, dtype=D)
    face = import_weights(v1.BasicLSTMCell(H), cell.state_dict(), "torch")  # two biases summed, forget_bias folded
    assert face.input_size == I and not face.impl.bias_hh.requires_grad
    h, c = torch.zeros(B, H, dtype=D), torch.zeros(B, H, dtype=D)
    outs = []
    for x_t in x:
        h, c = cell(x_t, (h, c))
        outs.append(h)
    torch.testing.assert_close(_run(face, x), torch.stack(outs))


ERRORS = [
    (lambda: import_weights(rnnkit.LSTMCell(I, H), {"W_xi": np.zeros((I, H))}, "scratch"), ValueError,
     "import_weights: weights must be a mapping with the key 'W_hi', got keys []"),
    (lambda: import_weights(rnnkit.LSTMCell(I, H), {"kernel": np.zeros((I + H, 4 * H)), "bias": np.zeros(4 * H),
                                                    "extra": np.zeros(1)}, "tf"), ValueError,
     "import_weights: weights must be only the keys of the 'tf' layout, got also ['extra']"),
    (lambda: import_weights(rnnkit.LSTMCell(I, H), {"kernel": np.zeros((I, 4 * H)), "bias": np.zeros(4 * H)}, "tf"),
     ValueError, f"import_weights: weights['kernel'] must be of shape ({I + H}, {4 * H}), got ({I}, {4 * H})"),
    (lambda: import_weights(rnnkit.LSTMCell(I, H), {}, "caffe"), ValueError,
     "import_weights: layout must be one of 'scratch', 'tf', 'keras', 'torch', got 'caffe'"),
    (lambda: import_weights(rnnkit.GRUCell(I, H), torch.nn.LSTMCell(I, H).state_dict(), "torch"), ValueError,
     f"import_weights: weights (as weight_ih) must be of shape ({3 * H}, {I}), got ({4 * H}, {I})"),
    (lambda: import_weights(rnnkit.LSTMCell(I, H, proj_size=2), torch.nn.LSTMCell(I, H).state_dict(), "torch"),
     ValueError, "import_weights: target must be a cell without a projection, as the source, got LSTMCell with a "
                 "projection"),
    (lambda: import_weights(rnnkit.LSTMCell(I, H, bias=False), torch.nn.LSTMCell(I, H).state_dict(), "torch"),
     ValueError, "import_weights: target must be a cell with biases (the source's biases are not zero), got bias=False"),
    (lambda: import_weights(rnnkit.ElmanCell(I, H), {}, "torch"), TypeError,
     "import_weights: target must be an rnnkit LSTM/GRU cell or drop-in"),
    (lambda: import_weights(rnnkit.LSTM(I, H), {}, "torch", layer=1), ValueError,
     "import_weights: layer/reverse must be a layer in [0, 0] (reverse=True only for a bidirectional layer), got "
     "layer=1, reverse=False"),
    (lambda: import_weights(rnnkit.LSTMCell(I, H), [1, 2, 3], "scratch"), ValueError,
     "import_weights: weights must be a mapping, or a list of the 12 LSTM parameters"),
    (lambda: import_weights(rnnkit.LSTMCell(I, H), {"weight_ih": [[1.0]]}, "torch"), TypeError,
     "import_weights: weights['weight_ih'] must be a tensor or a numpy array, got list of length 1"),
]


@pytest.mark.parametrize("call, kind, message", ERRORS, ids=range(len(ERRORS)))
def test_errors_name_the_key_the_expected_and_the_actual(call, kind, message) -> None:
    with pytest.raises(kind, match="^" + re.escape(message)):
        call()
