"""Plumbing shared by the cell wrappers: a wrapper is itself a cell.

A wrapper holds an inner ``cell`` and changes one thing about its step
(dropout, zoneout, DropConnect, a residual connection, a learned initial
state). It honours the full cell contract (``input_size``, ``hidden_size``,
``output_size``, ``state_size``, ``initial_state``, ``forward``), so wrappers
nest and run under :func:`rnnkit.unroll`, :class:`rnnkit.Recurrent`,
:class:`rnnkit.Bidirectional` and :class:`rnnkit.Stacked` with lengths and
reverse.

Two rules hold for every wrapper:

* random masks live in the state (sampled in ``initial_state``) or are drawn
  afresh at each step; nothing random is ever cached on a module;
* in evaluation mode (``module.training == False``) dropout is the identity
  and zoneout uses its expectation.

For speed, a wrapper's ``recur`` runs the inner cell through
``inner.recur(projected, inner_state)`` (no per-step validation) and, where
the wrapper does not need the raw input, its ``input_projection`` is the inner
cell's, so the runner still computes the input projection of all steps in one
GEMM.

Wrappers that add leaves to the state use a NamedTuple ``(cell, masks)``:
the inner cell's state, then the masks. :meth:`Wrapper.cell_state` and
:func:`unwrap_state` give the inner state back (the TF1 face uses them to
return e.g. an ``LSTMStateTuple``); outer wrappers leave inner masks alone.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from rnnkit.cells.base import ProjectedCell
from rnnkit.checks import check_positive_int, describe, fail
from rnnkit.state import State, leaf_shape, size_is_leaf


def check_cell(owner: str, cell: Any) -> Any:
    """Check that ``cell`` honours the cell contract well enough to be wrapped."""
    if not isinstance(cell, torch.nn.Module) or not callable(getattr(cell, "initial_state", None)):
        fail(owner, "cell", "a cell (an nn.Module with an initial_state method, e.g. rnnkit.LSTMCell)",
             type(cell).__name__, kind=TypeError)
    for attr in ("input_size", "state_size"):
        if not hasattr(cell, attr):
            fail(owner, "cell", f"a cell with an {attr} attribute", type(cell).__name__, kind=TypeError)
    return cell


def is_wrapper_state(value: Any) -> bool:
    """True for a wrapper's ``(cell, masks)`` NamedTuple (a state or a state size).

    Wrappers that add leaves to the state use this layout, so code that walks
    a state (state dropout, zoneout) can leave the ``masks`` of an inner
    wrapper alone.
    """
    return isinstance(value, tuple) and getattr(value, "_fields", None) == ("cell", "masks")


def map_size(fn: Callable[[tuple[int, ...]], Any], size: Any) -> Any:
    """Build a state of structure ``size``: ``fn(shape)`` for every leaf's per-example shape."""
    if size_is_leaf(size):
        return fn(leaf_shape(size))
    items = [map_size(fn, s) for s in size]
    if hasattr(size, "_fields"):
        return type(size)(*items)
    return tuple(items) if type(size) is tuple else type(size)(items)


def size_leaves(size: Any) -> list[Any]:
    """The leaf sizes of a StateSize, depth-first (the order of :func:`rnnkit.state.state_leaves`)."""
    if size_is_leaf(size):
        return [size]
    return [leaf for s in size for leaf in size_leaves(s)]


def ones_view(batch_size: int, shape: tuple[int, ...], *, device: Any, dtype: Any) -> Tensor:
    """A ``(B, *shape)`` tensor of ones that takes no memory (a stride-0 view of one scalar)."""
    return torch.ones((), device=device, dtype=dtype).expand(batch_size, *shape)


def keep_mask(shape: tuple[int, ...], drop: float, *, device: Any, dtype: Any) -> Tensor:
    r"""Inverted-dropout mask :math:`m = b / (1 - p)`, :math:`b \sim \mathrm{Bernoulli}(1 - p)`.

    Args:
        shape: the mask's full shape.
        drop: the drop probability ``p`` in ``[0, 1)``.

    Returns:
        A tensor of ``0`` and ``1 / (1 - p)``, drawn from the global RNG.
    """
    keep = 1.0 - drop
    # u < keep with u ~ U[0, 1) is Bernoulli(keep); in place, about twice as fast as bernoulli_ on the CPU
    return torch.rand(shape, device=device, dtype=dtype).lt_(keep).div_(keep)


class Wrapper(ProjectedCell):
    """Base class of the wrappers: delegates everything to the inner cell.

    Subclasses override what they change. By default the state is the inner
    cell's state, the step is the inner cell's step, and ``input_size``,
    ``hidden_size`` and ``output_size`` are the inner cell's.

    Args:
        cell: the wrapped cell (any :class:`rnnkit.cells.Cell`, built-in or
            user-defined, or another wrapper).
    """

    def __init__(self, cell: Any) -> None:
        super().__init__()
        owner = type(self).__name__
        self.cell = check_cell(owner, cell)
        self.input_size = cell.input_size
        self.hidden_size = getattr(cell, "hidden_size", None) or self.output_size

    @property
    def output_size(self) -> int:
        return getattr(self.cell, "output_size", None) or self.cell.hidden_size

    @property
    def state_size(self) -> Any:
        return self.cell.state_size

    def resolve_device_dtype(self, batch_size: int, device: Any, dtype: Any) -> tuple[Any, Any]:
        """Validate ``batch_size`` and fill in ``device``/``dtype`` from the parameters."""
        check_positive_int(type(self).__name__, "batch_size", batch_size, allow_zero=True)
        return self._default_device_dtype(device, dtype)

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> State:
        """The inner cell's initial state (see the subclass for what it adds)."""
        device, dtype = self.resolve_device_dtype(batch_size, device, dtype)
        return self.cell.initial_state(batch_size, device=device, dtype=dtype)

    def input_projection(self, inputs: Tensor) -> Tensor:
        """The inner cell's input projection (the identity for cells without one)."""
        project = getattr(self.cell, "input_projection", None)
        return inputs if project is None else project(inputs)

    def inner_step(self, projected: Tensor, state: State) -> tuple[Tensor, State]:
        """One step of the inner cell from its projected input, without validation."""
        recur = getattr(self.cell, "recur", None)
        return recur(projected, state) if recur is not None else self.cell(projected, state)

    def inner_step_from_input(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """One step of the inner cell from the raw input ``x`` ``(B, I)``."""
        project = getattr(self.cell, "input_projection", None)
        return self.inner_step(x if project is None else project(x), state)

    def recur(self, projected: Tensor, state: State) -> tuple[Tensor, State]:
        return self.inner_step(projected, state)

    def cell_state(self, state: State) -> State:
        """The inner cell's part of this wrapper's ``state``."""
        return state

    def with_cell_state(self, state: State, cell_state: State) -> State:
        """``state`` with its inner cell's part replaced by ``cell_state``."""
        return cell_state

    @property
    def passthrough(self) -> bool:
        """True when a step is exactly the inner cell's step right now (e.g. dropout in evaluation mode).

        The state may still differ (masks, a learned initial state); see
        :func:`peel_passthrough`.
        """
        return False

    def extra_repr(self) -> str:
        return ""


def innermost_cell(cell: Any) -> Any:
    """The cell inside any number of nested wrappers."""
    while isinstance(cell, Wrapper):
        cell = cell.cell
    return cell


def unwrap_state(cell: Any, state: State) -> State:
    """The innermost cell's state inside the state of (nested) wrappers.

    Example: ``unwrap_state(Dropout(Zoneout(LSTMCell(3, 4)), variational=True), s)``
    is the ``LSTMState``.
    """
    while isinstance(cell, Wrapper):
        state = cell.cell_state(state)
        cell = cell.cell
    return state


def replace_innermost_state(cell: Any, state: State, new_inner: State) -> State:
    """``state`` of (nested) wrappers with the innermost cell's state replaced by ``new_inner``."""
    if not isinstance(cell, Wrapper):
        return new_inner
    inner = replace_innermost_state(cell.cell, cell.cell_state(state), new_inner)
    return cell.with_cell_state(state, inner)


def resolve_flags(owner: str, name: str, flags: Any, size: Any) -> list[bool]:
    """Broadcast a bool or a (shallow) structure of bools over a StateSize; one bool per leaf.

    A bool stands for its whole sub-structure, as TF1's
    ``dropout_state_filter_visitor`` results do.
    """
    if isinstance(flags, bool):
        return [flags] * len(size_leaves(size))
    if size_is_leaf(size) or not isinstance(flags, tuple) or len(flags) != len(size):
        fail(owner, name, "a bool or a structure of bools matching the cell's state_size "
             f"({describe(size) if not size_is_leaf(size) else 'one tensor'})", describe(flags), kind=TypeError)
    out: list[bool] = []
    for f, s in zip(flags, size, strict=True):
        out.extend(resolve_flags(owner, name, f, s))
    return out



def peel_passthrough(cell: Any, state: State) -> tuple[Any, State, Callable[[State], State]]:
    """Strip the outer wrappers whose step is currently the inner cell's own.

    Lets a runner hand e.g. ``Dropout(LSTMCell).eval()`` to a fast path for
    the bare ``LSTMCell``.

    Args:
        cell: a cell, possibly wrapped.
        state: its full state (e.g. from ``cell.initial_state``, so a learned
            initial state or masks are already in it).

    Returns:
        ``(core, core_state, rewrap)``: the first cell that is not a
        passthrough wrapper, its part of ``state``, and a function that puts a
        ``core`` state back into ``state``'s structure (masks unchanged).
    """
    chain = []
    while isinstance(cell, Wrapper) and cell.passthrough:
        chain.append((cell, state))
        state = cell.cell_state(state)
        cell = cell.cell

    def rewrap(core_state: State) -> State:
        for wrapper, outer in reversed(chain):
            core_state = wrapper.with_cell_state(outer, core_state)
        return core_state

    return cell, state, rewrap
