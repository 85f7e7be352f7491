r"""Import LSTM/GRU weights from the common layouts into any rnnkit LSTM/GRU.

:func:`import_weights` takes the weights of one cell (one layer and
direction) in one of four layouts and writes them into an rnnkit cell
(``rnnkit.LSTMCell``, ``rnnkit.GRUCell``), a drop-in layer
(``rnnkit.LSTM``/``rnnkit.GRU``, choosing ``layer`` and ``reverse``) or a TF1
face cell (``rnnkit.compat.v1.BasicLSTMCell``, ``LSTMCell``, ``GRUCell``).

=============  =====================================================  ================
layout         LSTM keys (shapes; ``x @ W`` unless noted)              gate order
=============  =====================================================  ================
``"scratch"``  ``W_xi (I,H), W_hi (H,H), b_i (H,)`` and the same for   i, f, o, c
               f, o, c (d2l / "from scratch" tutorials); or the list
               ``[W_xi, W_hi, b_i, W_xf, ..., b_c]`` in that order
``"tf"``       ``kernel [I+H, 4H]`` on ``[x, h]``, ``bias [4H]``;       i, j, f, o
               optional ``w_i_diag, w_f_diag, w_o_diag``,
               ``projection/kernel [H, P]`` (TF1 ``LSTMCell``)
``"keras"``    ``kernel (I,4H), recurrent_kernel (H,4H), bias (4H,)``   i, f, c, o
``"torch"``    ``weight_ih (4H,I), weight_hh (4H,H)`` (``W x``),         i, f, g, o
               ``bias_ih, bias_hh``, ``weight_hr``; also
               ``weight_ih_l0``-style keys (pick with ``layer``)
=============  =====================================================  ================

GRU keys: scratch ``W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h``
(d2l; reset before the recurrent product); TF1 ``gates/kernel [I+H, 2H]``
(r, u), ``gates/bias``, ``candidate/kernel``, ``candidate/bias`` (reset
before); Keras ``kernel (I,3H), recurrent_kernel (H,3H)`` in z, r, h order
with ``bias (3H,)`` (``reset_after=False``) or ``(2, 3H)`` (``reset_after=True``,
Keras' default); torch as for LSTM (r, z, n; reset after). The target's
formulation (``GRUCell(reset_after=...)``) must match the source's; the
error says which one to build.

A source with one bias per gate fills ``bias_ih`` and zeroes ``bias_hh``;
``freeze_second_bias=True`` also stops ``bias_hh`` from training, so the
model trains exactly as the one-bias original. TF's run-time
``forget_bias`` (TF1 cells add 1.0 to the forget gate at every step) is
folded into the forget gate's bias, minus the target's own ``forget_bias``.
Every key must be used, every shape must match: otherwise a ``ValueError``
names the key, the expected and the actual shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.checks import check_choice, describe, fail

LAYOUTS = ("scratch", "tf", "keras", "torch")
_SCRATCH_LSTM = ("W_xi", "W_hi", "b_i", "W_xf", "W_hf", "b_f", "W_xo", "W_ho", "b_o", "W_xc", "W_hc", "b_c")
_SCRATCH_GRU = ("W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r", "W_xh", "W_hh", "b_h")


def _cat(*blocks: Tensor) -> Tensor:
    return torch.cat(blocks, 0)


class _Source:
    """Weights in rnnkit's layout (``weight_ih (G, I)``, gate order i, f, g, o / r, z, n) plus facts."""

    def __init__(self, family: str, reset_after: Optional[bool] = None, forget_bias: float = 0.0) -> None:
        self.family, self.reset_after, self.forget_bias = family, reset_after, forget_bias
        self.tensors: dict[str, Tensor] = {}


def _tensors(owner: str, weights: Any, layout: str) -> dict[str, Tensor]:
    if layout == "scratch" and isinstance(weights, Sequence) and not isinstance(weights, (str, Mapping)):
        names = _SCRATCH_LSTM if len(weights) == 12 else _SCRATCH_GRU if len(weights) == 9 else None
        if names is None:
            fail(owner, "weights", "a mapping, or a list of the 12 LSTM parameters [W_xi, W_hi, b_i, W_xf, ..., b_c] "
                 "or the 9 GRU parameters [W_xz, W_hz, b_z, ...] (leave the output layer out)",
                 f"a list of {len(weights)}")
        weights = dict(zip(names, weights))
    if not isinstance(weights, Mapping):
        fail(owner, "weights", "a mapping from names to tensors or arrays", describe(weights), kind=TypeError)
    out = {}
    for k, v in weights.items():
        if not isinstance(v, (Tensor, np.ndarray)):
            fail(owner, f"weights[{k!r}]", "a tensor or a numpy array", describe(v), kind=TypeError)
        out[str(k)] = torch.as_tensor(v).detach()
    return out


def _take(owner: str, w: dict[str, Tensor], key: str, shape: Optional[tuple] = None) -> Tensor:
    if key not in w:
        fail(owner, "weights", f"a mapping with the key {key!r}", f"keys {sorted(w)}")
    t = w.pop(key)
    if shape is not None and tuple(t.shape) != shape:
        fail(owner, f"weights[{key!r}]", f"of shape {shape}", tuple(t.shape))
    return t


def _from_scratch(owner: str, w: dict[str, Tensor], H: int, I: int) -> _Source:
    for k in [k for k in w if k.startswith("w_")]:  # w_xi -> W_xi, in place: what is left over is reported
        w["W" + k[1:]] = w.pop(k)
    lstm = "W_xi" in w
    src = _Source("lstm" if lstm else "gru", reset_after=None if lstm else False)
    gates = "ifoc" if lstm else "zrh"  # the tutorial's order
    parts = {g: (_take(owner, w, f"W_x{g}", (I, H)).t(), _take(owner, w, f"W_h{g}", (H, H)).t(),
                 _take(owner, w, f"b_{g}", (H,))) for g in gates}
    rnn_order = ("i", "f", "c", "o") if lstm else ("r", "z", "h")  # rnnkit's: i, f, g(=c), o  /  r, z, n(=h)
    src.tensors = {"weight_ih": _cat(*(parts[g][0] for g in rnn_order)),
                   "weight_hh": _cat(*(parts[g][1] for g in rnn_order)),
                   "bias_ih": _cat(*(parts[g][2] for g in rnn_order))}
    return src


def _ijfo_to_ifgo(t: Tensor) -> Tensor:
    i, j, f, o = t.chunk(4, 0)
    return _cat(i, f, j, o)


def _from_tf(owner: str, w: dict[str, Tensor], H: int, I: int, forget_bias: float) -> _Source:
    if "gates/kernel" in w:
        src = _Source("gru", reset_after=False)
        gk, ck = _take(owner, w, "gates/kernel", (I + H, 2 * H)), _take(owner, w, "candidate/kernel", (I + H, H))
        gb, cb = _take(owner, w, "gates/bias", (2 * H,)), _take(owner, w, "candidate/bias", (H,))
        src.tensors = {"weight_ih": _cat(gk[:I].t(), ck[:I].t()), "weight_hh": _cat(gk[I:].t(), ck[I:].t()),
                       "bias_ih": _cat(gb, cb)}
        return src
    src = _Source("lstm", forget_bias=forget_bias)
    P = w["projection/kernel"].shape[1] if "projection/kernel" in w and w["projection/kernel"].dim() == 2 else H
    kernel = _take(owner, w, "kernel", (I + P, 4 * H))
    src.tensors = {"weight_ih": _ijfo_to_ifgo(kernel[:I].t()), "weight_hh": _ijfo_to_ifgo(kernel[I:].t()),
                   "bias_ih": _ijfo_to_ifgo(_take(owner, w, "bias", (4 * H,)))}
    if "w_i_diag" in w:
        src.tensors["weight_peephole"] = torch.stack([_take(owner, w, f"w_{g}_diag", (H,)) for g in "ifo"])
    if "projection/kernel" in w:
        src.tensors["weight_hr"] = _take(owner, w, "projection/kernel", (H, P)).t()
    return src


def _from_keras(owner: str, w: dict[str, Tensor], H: int, I: int) -> _Source:
    lstm = "kernel" in w and w["kernel"].dim() == 2 and w["kernel"].shape[1] == 4 * H
    G = 4 if lstm else 3
    kernel = _take(owner, w, "kernel", (I, G * H)).t()
    recurrent = _take(owner, w, "recurrent_kernel", (H, G * H)).t()
    bias = w.pop("bias", None)
    if lstm:  # Keras i, f, c, o == rnnkit i, f, g, o
        src = _Source("lstm")
        src.tensors = {"weight_ih": kernel, "weight_hh": recurrent}
        if bias is not None:
            if tuple(bias.shape) != (4 * H,):
                fail(owner, "weights['bias']", f"of shape {(4 * H,)}", tuple(bias.shape))
            src.tensors["bias_ih"] = bias
        return src

    def zrh_to_rzn(t: Tensor) -> Tensor:
        z, r, h = t.chunk(3, 0)
        return _cat(r, z, h)

    reset_after = bias is not None and bias.dim() == 2
    src = _Source("gru", reset_after=reset_after if bias is not None else None)
    src.tensors = {"weight_ih": zrh_to_rzn(kernel), "weight_hh": zrh_to_rzn(recurrent)}
    if bias is not None:
        if tuple(bias.shape) not in ((3 * H,), (2, 3 * H)):
            fail(owner, "weights['bias']", f"of shape {(3 * H,)} (reset_after=False) or {(2, 3 * H)} "
                 "(reset_after=True)", tuple(bias.shape))
        if reset_after:
            src.tensors.update(bias_ih=zrh_to_rzn(bias[0]), bias_hh=zrh_to_rzn(bias[1]))
        else:
            src.tensors["bias_ih"] = zrh_to_rzn(bias)
    return src


def _from_torch(owner: str, w: dict[str, Tensor], family: str, layer: int, reverse: bool) -> _Source:
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    if any(k.endswith(suffix) for k in w):
        w.update({k[: -len(suffix)]: w.pop(k) for k in list(w) if k.endswith(suffix)})
        for k in [k for k in w if "_l" in k]:  # other layers of a torch.nn state_dict: not this cell's
            del w[k]
    src = _Source(family, reset_after=True if family == "gru" else None)
    for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
        if key in w:
            src.tensors[key] = w.pop(key)
    unused = sorted(w)
    if unused:
        fail(owner, "weights", "only weight_ih, weight_hh, bias_ih, bias_hh and weight_hr (torch layout)",
             f"also {unused}")
    return src


def _source_input(w: dict[str, Tensor], layout: str, H: int) -> tuple[Optional[int], Optional[torch.dtype]]:
    """The input size and dtype the weights were made for (None if they do not say)."""
    key = {"torch": "weight_ih", "keras": "kernel", "tf": "gates/kernel" if "gates/kernel" in w else "kernel"}.get(
        layout, "W_xi" if "W_xi" in w or "w_xi" in w else "W_xz")
    t = w.get(key, w.get(key.lower()))
    if t is None or t.dim() != 2:
        return None, None
    proj = w.get("projection/kernel")
    size = {"torch": t.shape[1], "tf": t.shape[0] - (proj.shape[1] if proj is not None and proj.dim() == 2 else H)}
    return int(size.get(layout, t.shape[0])), t.dtype if t.is_floating_point() else None


def _resolve_target(owner: str, target: Any, layer: int, reverse: bool, input_size: int, dtype: Any
                    ) -> tuple[Any, str, str]:
    """``(module holding the parameters, name suffix, family)``."""
    from rnnkit.cells import GRUCell, LSTMCell
    from rnnkit.dropin import GRU, LSTM

    if isinstance(target, (LSTM, GRU)):
        if not 0 <= layer < target.num_layers or (reverse and not target.bidirectional):
            fail(owner, "layer/reverse", f"a layer in [0, {target.num_layers - 1}]"
                 + (" (reverse=True only for a bidirectional layer)" if not target.bidirectional else ""),
                 f"layer={layer}, reverse={reverse}")
        return target, f"_l{layer}" + ("_reverse" if reverse else ""), "lstm" if isinstance(target, LSTM) else "gru"
    impl = getattr(target, "impl", None)
    if impl is None and hasattr(target, "build") and hasattr(target, "rnnkit_cell"):  # a TF1-face cell
        target.build(input_size, dtype=dtype)  # built from the weights: their input size and dtype
        impl = target.impl
    cell = impl if impl is not None else target
    if isinstance(cell, LSTMCell):
        return cell, "", "lstm"
    if isinstance(cell, GRUCell):
        return cell, "", "gru"
    fail(owner, "target", "an rnnkit LSTM/GRU cell or drop-in (rnnkit.LSTMCell, rnnkit.GRUCell, rnnkit.LSTM, "
         "rnnkit.GRU, or a TF1-face LSTM/GRU cell)", f"{type(target).__module__}.{type(target).__name__}",
         kind=TypeError)
    raise AssertionError  # pragma: no cover


def import_weights(target: Any, weights: Any, layout: str, *, layer: int = 0, reverse: bool = False,
                   forget_bias: float = 1.0, freeze_second_bias: bool = False) -> Any:
    """Write one cell's weights, given in ``layout``, into ``target``.

    Args:
        target: ``rnnkit.LSTMCell``/``GRUCell``, ``rnnkit.LSTM``/``GRU`` (one
            layer and direction, see ``layer``/``reverse``) or a TF1-face
            LSTM/GRU cell (built from the weights' shapes if need be).
        weights: name -> tensor or numpy array (a ``state_dict`` works for
            ``"torch"``), or for ``"scratch"`` the list of parameters in the
            tutorial's order.
        layout: ``"scratch"``, ``"tf"``, ``"keras"`` or ``"torch"`` (see the
            module docstring for keys, shapes and gate orders).
        layer, reverse: which layer/direction of a drop-in target (and of a
            ``weight_ih_l0``-style torch source).
        forget_bias: ``"tf"`` only: the source cell's run-time forget bias
            (TF1's default 1.0), folded into the forget gate's bias.
        freeze_second_bias: for a one-bias source, stop ``bias_hh`` (held at
            zero) from training.

    Returns:
        ``target``, with its parameters overwritten in place (under ``no_grad``).

    Raises:
        ValueError: unknown layout, a missing or unused key, a wrong shape, or a
            formulation the target does not have (projection, peepholes, GRU
            reset placement, bias).
        TypeError: an unsupported target or a weight that is not an array.
    """
    owner = "import_weights"
    check_choice(owner, "layout", layout, LAYOUTS)
    w = _tensors(owner, weights, layout)
    input_size, dtype = getattr(target, "input_size", None), None
    if input_size is None:  # an unbuilt TF1-face cell: built from the weights' input size and dtype
        input_size, dtype = _source_input(w, layout, getattr(target, "num_units", 0))
    module, suffix, family = _resolve_target(owner, target, layer, reverse, input_size, dtype)
    H = module.hidden_size
    I = module.weight_ih.shape[1] if suffix == "" else getattr(module, "weight_ih" + suffix).shape[1]
    if layout == "scratch":
        src = _from_scratch(owner, w, H, I)
    elif layout == "tf":
        src = _from_tf(owner, w, H, I, float(forget_bias))
    elif layout == "keras":
        src = _from_keras(owner, w, H, I)
    else:
        src = _from_torch(owner, w, family, layer, reverse)
    if w and layout != "torch":
        fail(owner, "weights", f"only the keys of the {layout!r} layout", f"also {sorted(w)}")
    if src.family != family:
        fail(owner, "weights", f"{family.upper()} weights (the target is an {family.upper()})",
             f"{src.family.upper()} weights")
    _check_formulation(owner, module, src, family)
    _write(owner, module, suffix, src, family, H, freeze_second_bias)
    return target


def _check_formulation(owner: str, module: Any, src: _Source, family: str) -> None:
    if family == "gru":
        target_after = getattr(module, "reset_after", True)
        if src.reset_after is not None and src.reset_after != target_after:
            where = "after" if src.reset_after else "before"
            fail(owner, "target", f"a GRU that applies the reset gate {where} the recurrent product, as the source "
                 f"(rnnkit.GRUCell(I, H, reset_after={src.reset_after}))",
                 f"{type(module).__name__} with reset_after={target_after}")


def _param(module: Any, name: str, suffix: str) -> Optional[nn.Parameter]:
    return getattr(module, name + suffix, None)


def _write(owner: str, module: Any, suffix: str, src: _Source, family: str, H: int, freeze: bool) -> None:
    t = dict(src.tensors)
    shift = src.forget_bias - float(getattr(module, "forget_bias", 0.0)) if family == "lstm" else 0.0
    if shift:  # the source adds src.forget_bias at run time, the target adds its own: fold the difference in
        b = t.get("bias_ih", torch.zeros(4 * H, dtype=t["weight_ih"].dtype)).clone()
        b[H: 2 * H] += shift
        t["bias_ih"] = b
    for name in ("weight_hr", "weight_peephole"):
        has_target, has_src = _param(module, name, suffix) is not None, name in t
        if has_target != has_src:
            what = {"weight_hr": "a projection", "weight_peephole": "peepholes"}[name]
            fail(owner, "target", f"a cell {'with' if has_src else 'without'} {what}, as the source",
                 f"{type(module).__name__} {'without' if has_src else 'with'} {what}")
    b_ih, b_hh = _param(module, "bias_ih", suffix), _param(module, "bias_hh", suffix)
    if b_ih is None:
        if any(float(t[k].abs().max()) != 0 for k in ("bias_ih", "bias_hh") if k in t):
            fail(owner, "target", "a cell with biases (the source's biases are not zero)", "bias=False")
        t.pop("bias_ih", None)
        t.pop("bias_hh", None)
    else:
        if "bias_hh" in t and not b_hh.requires_grad:  # a TF1-face cell: one trainable bias, bias_hh held at 0
            t["bias_ih"] = t["bias_ih"] + t.pop("bias_hh")
        t.setdefault("bias_ih", torch.zeros_like(b_ih))
        one_bias = "bias_hh" not in t
        t.setdefault("bias_hh", torch.zeros_like(b_hh))
    with torch.no_grad():
        for name, value in t.items():
            p = _param(module, name, suffix)
            if tuple(p.shape) != tuple(value.shape):
                fail(owner, f"weights (as {name})", f"of shape {tuple(p.shape)}", tuple(value.shape))
            p.copy_(value.to(dtype=p.dtype, device=p.device))
    if b_ih is not None and one_bias and freeze:
        b_hh.requires_grad_(False)


__all__ = ["import_weights", "LAYOUTS"]
