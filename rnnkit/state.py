"""Recurrent state containers and helpers for nested states.

A *state* is a Tensor or a (Named)tuple whose leaves are Tensors (or nested
tuples of Tensors). Every leaf has the batch as its first dimension. The
helpers here map functions over such structures so that the runner never needs
to know what a cell keeps in its state.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Union

import torch
from torch import Tensor

State = Union[Tensor, tuple]
"""A Tensor or a (Named)tuple of States; every leaf is ``(B, ...)``."""

StateSize = Union[int, tuple]
"""Per-example size of a state: an int ``n`` (leaf ``(B, n)``), a ``torch.Size``
(leaf ``(B, *shape)``), or a (Named)tuple of StateSizes. A plain tuple is
always a structure, never a shape: write ``torch.Size((2, H))`` for a shape."""


class LSTMState(NamedTuple):
    """LSTM state, hidden first as in ``torch.nn``.

    Attributes:
        h: hidden (output) state, ``(B, H_out)`` where ``H_out`` is the
            projection size if the cell projects, else the hidden size.
        c: cell state, ``(B, H)``.
    """

    h: Tensor
    c: Tensor


def is_namedtuple(obj: Any) -> bool:
    """True for instances of ``typing.NamedTuple``/``collections.namedtuple``."""
    return isinstance(obj, tuple) and hasattr(obj, "_fields")


def _rebuild(template: tuple, items: list) -> tuple:
    if is_namedtuple(template):
        return type(template)(*items)
    return type(template)(items) if type(template) is not tuple else tuple(items)


def map_state(fn: Callable[..., Tensor], state: Any, *others: Any) -> Any:
    """Apply ``fn`` leaf-wise to one or more states of the same structure.

    Args:
        fn: called as ``fn(leaf, *other_leaves)`` for every Tensor leaf.
        state: the structure that drives the traversal.
        *others: states with the same structure as ``state``.

    Returns:
        A state with the structure of ``state`` and the leaves ``fn`` returned.
    """
    if isinstance(state, tuple):
        items = [map_state(fn, s, *(o[i] for o in others)) for i, s in enumerate(state)]
        return _rebuild(state, items)
    return fn(state, *others)


def state_leaves(state: Any) -> list[Tensor]:
    """All Tensor leaves of ``state`` in depth-first order."""
    if isinstance(state, tuple):
        out: list[Tensor] = []
        for s in state:
            out.extend(state_leaves(s))
        return out
    return [state]


def size_is_leaf(size: Any) -> bool:
    """True where a StateSize describes a single Tensor (an int or a ``torch.Size``)."""
    return isinstance(size, (int, torch.Size))


def leaf_shape(size: Any) -> tuple[int, ...]:
    """The per-example shape of a leaf StateSize."""
    return (size,) if isinstance(size, int) else tuple(size)


def zeros_like_size(size: Any, batch_size: int, *, device: Any, dtype: Any) -> Any:
    """Zero state of structure ``size`` for ``batch_size`` examples."""
    if size_is_leaf(size):
        return torch.zeros((batch_size, *leaf_shape(size)), device=device, dtype=dtype)
    items = [zeros_like_size(s, batch_size, device=device, dtype=dtype) for s in size]
    return _rebuild(size, items)


def select_state(keep_new: Tensor, new: Any, old: Any) -> Any:
    """Per example, take ``new`` where ``keep_new[b]`` is True, else ``old``.

    Args:
        keep_new: ``(B,)`` bool.
        new: state with leaves ``(B, ...)``.
        old: state of the same structure.
    """

    def pick(n: Tensor, o: Tensor) -> Tensor:
        if n is o:  # a leaf the step did not change (e.g. a dropout mask): keep it, even as a stride-0 view
            return n
        mask = keep_new.view((-1,) + (1,) * (n.dim() - 1))
        return torch.where(mask, n, o)

    return map_state(pick, new, old)


def detach_state(state: Any) -> Any:
    """Detach every leaf: the usual step of truncated backpropagation through time."""
    return map_state(lambda s: s.detach(), state)
