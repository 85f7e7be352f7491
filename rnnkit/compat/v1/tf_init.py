"""TF1 initialisation and activation conventions for the compat cells.

TF1 cells keep one kernel per layer, ``[input_depth + h_depth, k * num_units]``
(inputs stacked over the previous output), and one bias. rnnkit cells keep
``weight_ih (kH, I)``, ``weight_hh (kH, H)`` and two biases. The compat
cells initialise the TF-shaped kernel exactly as TF1 does (its
``initializer`` or Glorot-uniform, the default of ``tf.get_variable``) and
copy it into rnnkit's layout; ``bias_hh`` is held at zero and frozen, so a
compat cell has TF's parameters and TF's training dynamics.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.checks import describe, fail

Initializer = Callable[[Tensor], Any]
"""``fn(tensor)`` that fills ``tensor`` (in place, like ``torch.nn.init.orthogonal_``,
or by returning a tensor of the same shape). It sees the TF-shaped variable."""

_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "softsign": F.softsign,
    "softplus": F.softplus,
    "elu": F.elu,
    "selu": F.selu,
    "relu6": F.relu6,
    "linear": lambda x: x,
}


def resolve_activation(owner: str, activation: Any) -> Callable[[Tensor], Tensor]:
    """TF's ``activation`` argument: None (tanh), a Keras name or a callable."""
    if activation is None:
        return torch.tanh
    if isinstance(activation, str):
        if activation in _ACTIVATIONS:
            return _ACTIVATIONS[activation]
        fail(owner, "activation", f"None, a callable or one of {sorted(_ACTIVATIONS)}", repr(activation))
    if not callable(activation):
        fail(owner, "activation", "None, a callable or a name", describe(activation), kind=TypeError)
    return activation


def check_initializer(owner: str, name: str, value: Any) -> Optional[Initializer]:
    """None or a callable."""
    if value is not None and not callable(value):
        fail(owner, name, "None or a callable that fills a tensor (e.g. torch.nn.init.orthogonal_)",
             describe(value), kind=TypeError)
    return value


def glorot_uniform_(t: Tensor) -> Tensor:
    """TF's ``glorot_uniform_initializer``: U(-a, a), a = sqrt(6 / (fan_in + fan_out)).

    For a 1-D variable TF takes ``fan_in = fan_out = shape[0]``.
    """
    fan_in, fan_out = (t.shape[0], t.shape[0]) if t.dim() == 1 else (t.shape[0], t.shape[1])
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return t.uniform_(-limit, limit)


def make_variable(shape: tuple[int, ...], initializer: Optional[Initializer], default: Initializer) -> Tensor:
    """A float32 tensor of TF ``shape`` filled by ``initializer`` (or ``default``)."""
    t = torch.empty(shape)
    fn = initializer if initializer is not None else default
    with torch.no_grad():
        out = fn(t)
    if isinstance(out, Tensor) and out is not t:
        if tuple(out.shape) != tuple(shape):
            raise ValueError(f"initializer: must return a tensor of shape {tuple(shape)}, got {tuple(out.shape)}")
        t = out.detach().to(torch.float32)
    return t


def constant_(value: float) -> Initializer:
    """An initializer that fills with ``value``."""
    return lambda t: t.fill_(value)


def assign(param: Optional[nn.Parameter], value: Tensor) -> None:
    """Copy ``value`` into ``param`` (keeping its dtype and device)."""
    if param is None:
        return
    if tuple(param.shape) != tuple(value.shape):
        raise ValueError(f"expected a value of shape {tuple(param.shape)}, got {tuple(value.shape)}")
    with torch.no_grad():
        param.copy_(value.to(dtype=param.dtype, device=param.device))


def freeze_zero(param: Optional[nn.Parameter]) -> None:
    """Hold a second bias at zero: TF cells have one bias."""
    if param is not None:
        with torch.no_grad():
            param.zero_()
        param.requires_grad_(False)


def split_kernel(kernel: Tensor, input_size: int) -> tuple[Tensor, Tensor]:
    """TF kernel ``[I + H, G]`` -> rnnkit ``(weight_ih (G, I), weight_hh (G, H))``."""
    return kernel[:input_size].t(), kernel[input_size:].t()


def join_kernel(weight_ih: Tensor, weight_hh: Tensor) -> Tensor:
    """rnnkit ``weight_ih (G, I)``, ``weight_hh (G, H)`` -> TF kernel ``[I + H, G]``."""
    return torch.cat([weight_ih.t(), weight_hh.t()], 0)


def as_tensor(owner: str, name: str, value: Any) -> Tensor:
    """A TF weight given as a Tensor or array-like (e.g. from a checkpoint)."""
    try:
        return torch.as_tensor(value).detach()
    except (TypeError, ValueError, RuntimeError):
        fail(owner, name, "a tensor or an array", describe(value), kind=TypeError)
        raise  # pragma: no cover
