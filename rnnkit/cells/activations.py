"""Named activation functions accepted by the cells' ``activation`` arguments."""

from __future__ import annotations

from typing import Callable, Union

import torch
from torch import Tensor

Activation = Union[str, Callable[[Tensor], Tensor]]

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "softsign": torch.nn.functional.softsign,
    "identity": lambda x: x,
}


def resolve_activation(owner: str, name: str, value: Activation) -> Callable[[Tensor], Tensor]:
    """Turn an activation name (or a callable) into a callable.

    Raises:
        ValueError: for an unknown name; TypeError for anything else.
    """
    if callable(value):
        return value
    if isinstance(value, str):
        if value in ACTIVATIONS:
            return ACTIVATIONS[value]
        raise ValueError(f"{owner}: {name} must be one of {sorted(ACTIVATIONS)} or a callable, got {value!r}")
    raise TypeError(f"{owner}: {name} must be a str or a callable, got {type(value).__name__}")
