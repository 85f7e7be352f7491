"""DropConnect on a cell's weights, one mask per batch of sequences (AWD-LSTM ``WeightDrop``)."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torch.func import functional_call

from rnnkit.checks import check_probability, describe, fail
from rnnkit.state import State
from rnnkit.wrappers.base import Wrapper, keep_mask, ones_view


class DropConnectState(NamedTuple):
    """State of a :class:`DropConnect` wrapper.

    Attributes:
        cell: the wrapped cell's state.
        masks: one leaf per masked weight, ``(B, *weight.shape)``: a stride-0
            view of a single mask (no memory), shared by every example of the
            batch and returned unchanged by every step. Only example 0's copy
            is read.
    """

    cell: State
    masks: tuple


class _Step(nn.Module):
    """Adapter that lets ``functional_call`` run the inner cell's step with substituted weights."""

    def __init__(self, cell: nn.Module) -> None:
        super().__init__()
        self.cell = cell

    def forward(self, x: Tensor, state: Any = None, mode: str = "recur") -> Any:
        project = getattr(self.cell, "input_projection", None)
        if mode == "project":
            return x if project is None else project(x)
        if mode == "step" and project is not None:
            x = project(x)
        recur = getattr(self.cell, "recur", None)
        return recur(x, state) if recur is not None else self.cell(x, state)


def _get(module: nn.Module, name: str) -> Tensor:
    """The tensor at a dotted attribute path (a Parameter, or whatever replaced it under functional_call)."""
    obj: Any = module
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _resolve(cell: nn.Module, name: str, available: list[str]) -> Optional[str]:
    """``name`` if ``cell`` has that parameter, else the same name on the cell inside nested wrappers."""
    if name in available:
        return name
    prefix = ""
    while isinstance(cell, Wrapper):
        cell, prefix = cell.cell, prefix + "cell."
        if prefix + name in available:
            return prefix + name
    return None


def _used_by_projection(step: _Step, names: tuple[str, ...], input_size: int) -> bool:
    """Whether the inner cell's ``input_projection`` reads any of the weights ``names``."""
    probes = {"cell." + n: _get(step.cell, n).detach().clone().requires_grad_(True) for n in names}
    first = next(iter(probes.values()))
    x = torch.zeros(1, input_size, device=first.device, dtype=first.dtype)
    try:
        with torch.enable_grad():
            out = functional_call(step, probes, (x,), {"mode": "project"})
        if not isinstance(out, Tensor) or not out.requires_grad:
            return False
        grads = torch.autograd.grad(out.sum(), list(probes.values()), allow_unused=True)
    except (RuntimeError, TypeError, ValueError):  # cannot probe: assume it reads them (always correct, slower)
        return True
    return any(g is not None for g in grads)


class DropConnect(Wrapper):
    r"""DropConnect (Wan et al., 2013) on a cell's weights, as AWD-LSTM's ``WeightDrop``.

    One mask per weight is drawn for a whole batch of sequences (in
    ``initial_state``) and used at every step:

    .. math::
        M \sim \mathrm{Bernoulli}(1 - p) / (1 - p), \qquad
        (y_t, s_t) = \mathrm{cell}_{W_{hh} \leftarrow M \odot W_{hh}}(x_t, s_{t-1})

    (inverted scaling, so :math:`\mathbb{E}[M \odot W] = W`). In evaluation
    mode the weights are used as they are. Gradients reach the weights
    through the mask: :math:`\partial L / \partial W = M \odot \partial L / \partial (M \odot W)`.

    The masked weight is substituted with :func:`torch.func.functional_call`
    for the step only; the module's parameters are never replaced, so torch's
    "weights are not part of a single contiguous chunk" warning cannot arise.
    Weights that the inner cell reads in ``input_projection`` (``weight_ih``
    of the built-in cells) may be masked too: the projection then runs inside
    each step in training mode.

    Args:
        cell: the wrapped cell.
        rate: drop probability ``p`` in ``[0, 1)``.
        weights: names of the cell's parameters to mask (dotted paths allowed;
            a name the cell lacks is looked up on the cell inside nested
            wrappers, so ``DropConnect(Zoneout(LSTMCell(...)), 0.5)`` masks the
            LSTM's ``weight_hh``, stored as ``"cell.weight_hh"``); default the
            recurrent weight ``weight_hh``.

    State: :class:`DropConnectState` ``(cell, masks)``.
    """

    def __init__(self, cell: Any, rate: float, *, weights: Union[str, Sequence[str]] = ("weight_hh",)) -> None:
        super().__init__(cell)
        owner = "DropConnect"
        self.rate = check_probability(owner, "rate", rate)
        names = (weights,) if isinstance(weights, str) else weights
        if not isinstance(names, (tuple, list)) or not names or not all(isinstance(n, str) for n in names):
            fail(owner, "weights", "a parameter name or a non-empty sequence of them", describe(weights),
                 kind=TypeError)
        available = [n for n, _ in cell.named_parameters()]
        resolved = []
        for name in names:
            path = _resolve(cell, name, available)
            if path is None:
                fail(owner, "weights", f"names of {type(cell).__name__}'s parameters "
                     f"({', '.join(available) or 'it has none'})", repr(name))
            resolved.append(path)
        self.weights: tuple[str, ...] = tuple(resolved)
        step = _Step(cell)
        object.__setattr__(self, "_step", step)  # not registered: the inner cell is registered once, as self.cell
        self.project_inside = _used_by_projection(step, self.weights, cell.input_size)

    @property
    def state_size(self) -> DropConnectState:
        shapes = tuple(torch.Size(_get(self.cell, n).shape) for n in self.weights)
        return DropConnectState(cell=self.cell.state_size, masks=shapes)

    @property
    def passthrough(self) -> bool:
        """True in evaluation mode or with rate 0: the step is the inner cell's."""
        return not self._active()

    def _active(self) -> bool:
        return self.training and self.rate > 0

    def sample_masks(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> tuple:
        """One mask per weight for a batch: ``(B, *weight.shape)`` stride-0 views (ones in evaluation mode)."""
        device, dtype = self.resolve_device_dtype(batch_size, device, dtype)
        masks = []
        for name in self.weights:
            shape = tuple(_get(self.cell, name).shape)
            if self._active():
                masks.append(keep_mask(shape, self.rate, device=device, dtype=dtype).expand(batch_size, *shape))
            else:
                masks.append(ones_view(batch_size, shape, device=device, dtype=dtype))
        return tuple(masks)

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> DropConnectState:
        """The inner cell's initial state and this batch's weight masks."""
        device, dtype = self.resolve_device_dtype(batch_size, device, dtype)
        inner = self.cell.initial_state(batch_size, device=device, dtype=dtype)
        return DropConnectState(inner, self.sample_masks(batch_size, device=device, dtype=dtype))

    def input_projection(self, inputs: Tensor) -> Tensor:
        """The inner projection, or the identity when a masked weight is read by it (applied in the step)."""
        if self._active() and self.project_inside:
            return inputs
        return super().input_projection(inputs)

    def recur(self, projected: Tensor, state: DropConnectState) -> tuple[Tensor, DropConnectState]:
        inner_state, masks = state
        if not self._active():
            y, new = self.inner_step(projected, inner_state)
            return y, DropConnectState(new, masks)
        empty = projected.shape[0] == 0
        masked = {"cell." + n: _get(self.cell, n) if empty else _get(self.cell, n) * m[0]
                  for n, m in zip(self.weights, masks, strict=True)}
        mode = "step" if self.project_inside else "recur"
        y, new = functional_call(self._step, masked, (projected, inner_state), {"mode": mode})
        return y, DropConnectState(new, masks)

    def cell_state(self, state: DropConnectState) -> State:
        """The wrapped cell's state (``state.cell``)."""
        return state.cell

    def with_cell_state(self, state: DropConnectState, cell_state: State) -> DropConnectState:
        return DropConnectState(cell_state, state.masks)

    def extra_repr(self) -> str:
        return f"rate={self.rate}, weights={self.weights}"
