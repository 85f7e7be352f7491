"""The common machinery of the ``torch.nn`` drop-ins (:class:`DropInRNN`).

A drop-in owns its parameters under ``torch.nn``'s names and creates them in
``torch.nn``'s order, so initialisation, ``named_parameters()`` and
``state_dict()`` match ``torch.nn`` exactly. The reference path runs real
rnnkit cells, one per layer and direction, kept *outside* the module tree
and re-bound to the drop-in's own parameters at every forward; which path
runs is explained in :mod:`rnnkit.dropin`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, Optional

import torch
from torch import _VF, Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.checks import (
    ShapeError,
    check_bool,
    check_lengths,
    check_positive_int,
    check_probability,
    describe,
    fail,
)
from rnnkit.dropin import interop
from rnnkit.dropin.io import (
    HxSpec,
    check_hx,
    check_like_parameters,
    check_packed_input,
    check_padded_input,
    permute_hx,
    repack,
    zero_hx,
)
from rnnkit.fused import FusedMode, check_fused_mode, registered
from rnnkit.fused.native import kernel_unsupported
from rnnkit.layers import Bidirectional, Layer, Recurrent, Stacked
from rnnkit.state import state_leaves

States = tuple[Tensor, ...]


def fused_unsupported(owner: str, reason: str) -> None:
    """Raise the error for ``fused=True`` where no fused path applies.

    A ``ShapeError`` (a ValueError and a RuntimeError): where torch.nn refuses the same
    call (no time step), it raises RuntimeError.
    """
    raise ShapeError(f"{owner}: fused=True but {reason}; use fused='auto' to fall back to the reference runner")


class DropInRNN(nn.Module):
    """Base of :class:`~rnnkit.LSTM`, :class:`~rnnkit.GRU` and :class:`~rnnkit.RNN`.

    Subclasses set ``mode`` (torch's kernel name), ``gate_multiplier`` and
    implement ``_make_cell``, ``_hx_specs``, ``_cell_state`` and ``_hx_out``.
    """

    mode: str
    gate_multiplier: int

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        device: Any = None,
        dtype: Any = None,
        fused: FusedMode = "auto",
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.input_size = check_positive_int(owner, "input_size", input_size)
        self.hidden_size = check_positive_int(owner, "hidden_size", hidden_size)
        self.num_layers = check_positive_int(owner, "num_layers", num_layers)
        self.bias = check_bool(owner, "bias", bias)
        self.batch_first = check_bool(owner, "batch_first", batch_first)
        self.dropout = check_probability(owner, "dropout", dropout, allow_one=True)
        self.bidirectional = check_bool(owner, "bidirectional", bidirectional)
        self.proj_size = check_positive_int(owner, "proj_size", proj_size, allow_zero=True)
        if proj_size >= hidden_size and proj_size > 0:
            fail(owner, "proj_size", f"smaller than hidden_size ({hidden_size})", proj_size)
        self.fused = fused
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{owner}: dropout={dropout} acts between layers, so it has no effect with num_layers=1",
                          stacklevel=3)
        factory = {"device": device, "dtype": dtype}
        gates = self.gate_multiplier * hidden_size
        out_size = proj_size or hidden_size
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else out_size * self.num_directions
            for suffix in ("", "_reverse")[: self.num_directions]:
                shapes = {"weight_ih": (gates, layer_in), "weight_hh": (gates, out_size)}
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                names = []
                for stem, shape in shapes.items():
                    name = f"{stem}_l{layer}{suffix}"
                    setattr(self, name, nn.Parameter(torch.empty(shape, **factory)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()
        self._build_runtime()
        self.flatten_parameters()

    @property
    def fused(self) -> FusedMode:
        """``"auto"``, ``True`` or ``False``: which paths may run (see :mod:`rnnkit.dropin`)."""
        return self._fused

    @fused.setter
    def fused(self, value: FusedMode) -> None:
        self._fused = check_fused_mode(type(self).__name__, value)

    # ----------------------------------------------------------------- torch.nn compatibility
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """Parameters grouped per layer and direction, as ``torch.nn``."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, name) for name in self._flat_weights_names]

    def reset_parameters(self) -> None:
        """``U(-1/sqrt(H), 1/sqrt(H))`` for every parameter, in ``torch.nn``'s order."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def flatten_parameters(self) -> None:
        """Compact the weights into one cuDNN buffer (CUDA only; elsewhere a no-op), as ``torch.nn``."""
        weights = self._flat_weights
        first = weights[0]
        if not all(isinstance(w, nn.Parameter) and w.is_cuda and w.dtype == first.dtype for w in weights):
            return
        if not all(torch.backends.cudnn.is_acceptable(w) for w in weights):
            return
        if len({w.data_ptr() for w in weights}) != len(weights):
            return
        import torch.backends.cudnn.rnn as cudnn_rnn

        with torch.cuda.device_of(first), torch.no_grad():
            if torch._use_cudnn_rnn_flatten_weight():
                per_layer = (4 if self.bias else 2) + (1 if self.proj_size else 0)
                torch._cudnn_rnn_flatten_weight(
                    weights, per_layer, self.input_size, cudnn_rnn.get_cudnn_mode(self.mode), self.hidden_size,
                    self.proj_size, self.num_layers, self.batch_first, self.bidirectional,
                )

    def to_torch(self) -> nn.Module:
        """A ``torch.nn`` module of the same class name with this configuration and a copy of the weights.

        For tools that need torch's own class (``quantize_dynamic``); see
        :mod:`rnnkit.dropin.interop`.
        """
        return interop.to_torch(self)

    @classmethod
    def from_torch(cls, module: nn.Module, **kwargs: Any) -> DropInRNN:
        """The drop-in for a ``torch.nn.LSTM``/``GRU``/``RNN``: same configuration, a copy of the weights."""
        return interop.from_torch(cls, module, **kwargs)

    def __prepare_scriptable__(self) -> nn.Module:
        """``torch.jit.script`` calls this first: refuse with a message naming the alternatives."""
        interop.refuse_script(self)
        return self  # pragma: no cover - refuse_script raises

    def _apply(self, fn: Callable, recurse: bool = True) -> DropInRNN:
        ret = super()._apply(fn, recurse)
        self.flatten_parameters()
        return ret

    def _replicate_for_data_parallel(self) -> DropInRNN:
        replica = super()._replicate_for_data_parallel()
        replica._build_runtime()  # replicas run concurrently: each needs its own cells to re-bind
        return replica

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.fused != "auto":
            s += f", fused={self.fused!r}"
        return s

    # ----------------------------------------------------------------- subclass hooks
    def _make_cell(self, input_size: int) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _hx_specs(self) -> list[HxSpec]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _cell_state(self, leaves: list[Tensor]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _hx_out(self, states: States) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # ----------------------------------------------------------------- reference path
    def _build_runtime(self) -> None:
        """Cells (on the meta device, no memory) and layers for the reference path, outside the module tree."""
        layers: list[Layer] = []
        cells: list[tuple[int, str, nn.Module]] = []
        out_size = self.proj_size or self.hidden_size
        with torch.device("meta"):
            for layer in range(self.num_layers):
                layer_in = self.input_size if layer == 0 else out_size * self.num_directions
                recs = []
                for suffix in ("", "_reverse")[: self.num_directions]:
                    cell = self._make_cell(layer_in)
                    cells.append((layer, f"_l{layer}{suffix}", cell))
                    recs.append(Recurrent(cell, reverse=bool(suffix)))
                layers.append(recs[0] if len(recs) == 1 else Bidirectional(recs[0], recs[1]))
        stack = Stacked(layers)
        stack.dropout = self.dropout  # torch.nn allows dropout=1.0, which Stacked's own check refuses
        # object.__setattr__ keeps these out of nn.Module's registries: no duplicate parameters anywhere.
        object.__setattr__(self, "_stack", stack)
        object.__setattr__(self, "_cells", cells)
        object.__setattr__(self, "_recurrents", [m for m in stack.modules() if isinstance(m, Recurrent)])
        self._unbind()

    def _bind(self, fused: FusedMode) -> None:
        """Point every runtime cell at this module's current parameters (whatever ``getattr`` returns)."""
        for _, suffix, cell in self._cells:
            for stem in cell._parameters:
                cell._parameters[stem] = getattr(self, stem + suffix)
        for rec in self._recurrents:
            rec.fused = fused
        self._stack.training = self.training

    def _unbind(self) -> None:
        """Drop the references taken by ``_bind`` (so no autograd graph outlives the call)."""
        for _, _, cell in self._cells:
            for stem in cell._parameters:
                cell._parameters[stem] = None

    def _run_layers(self, x: Tensor, hx: Optional[States], lengths: Optional[Tensor], fused: FusedMode
                    ) -> tuple[Tensor, States]:
        """Per layer and direction through rnnkit's layers (time-major ``x``)."""
        D = self.num_directions
        state = None
        if hx is not None:
            per_layer = []
            for layer in range(self.num_layers):
                dirs = [self._cell_state([t[layer * D + d] for t in hx]) for d in range(D)]
                per_layer.append(dirs[0] if D == 1 else tuple(dirs))
            state = tuple(per_layer)
        self._bind(fused)
        try:
            out, finals = self._stack.run(x, state, lengths)
        finally:
            self._unbind()
        leaves = [state_leaves(f) for f in finals]  # per layer: [h_fw, (c_fw), h_bw, (c_bw)]
        n = len(self._hx_specs())
        return out, tuple(torch.stack([lv[d * n + i] for lv in leaves for d in range(D)]) for i in range(n))

    def _layer_paths_reason(self, x: Tensor, lengths: Tensor) -> Optional[str]:
        """None if every layer and direction has a fast path for this call, else why not."""
        T, B = x.shape[0], x.shape[1]
        self._bind(True)
        try:
            for layer, suffix, cell in self._cells:
                layer_x = x if layer == 0 else x.new_empty((T, B, cell.input_size))
                reasons = [f"{p.name}: {r}" for p in registered() if (r := p.supports(cell, layer_x, lengths))]
                if len(reasons) == len(registered()):
                    return f"{suffix[1:]}: " + ("; ".join(reasons) or "no fast path is registered")
        finally:
            self._unbind()
        return None

    # ----------------------------------------------------------------- fused kernels (torch._VF)
    def _kernel_reason(self, x: Tensor, weights: list[Tensor], steps: int) -> Optional[str]:
        if steps == 0:
            return "torch's fused kernels need at least one time step (T = 0)"
        return kernel_unsupported(x, weights)

    def _kernel_args(self, hx: States) -> Any:
        return hx if len(hx) > 1 else hx[0]

    def _run_kernel(self, x: Tensor, hx: Optional[States], weights: list[Tensor]) -> tuple[Tensor, States]:
        """The whole multi-layer stack in one ``torch._VF`` call, exactly as ``torch.nn`` makes it."""
        B = x.shape[0] if self.batch_first else x.shape[1]
        hx = hx if hx is not None else zero_hx(self._hx_specs(), self.num_layers * self.num_directions, B, x)
        result = getattr(_VF, self.mode.lower())(
            x, self._kernel_args(hx), weights, self.bias, self.num_layers, self.dropout, self.training,
            self.bidirectional, self.batch_first,
        )
        return result[0], tuple(result[1:])

    def _run_packed_kernel(self, packed: PackedSequence, hx: Optional[States], weights: list[Tensor]
                           ) -> tuple[Tensor, States]:
        """``torch._VF`` on packed data; ``hx`` and the final states in the user's batch order."""
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        B = int(batch_sizes[0])
        if hx is None:
            hx = zero_hx(self._hx_specs(), self.num_layers * self.num_directions, B, data)
        else:
            hx = permute_hx(hx, sorted_indices)
        result = getattr(_VF, self.mode.lower())(
            data, batch_sizes, self._kernel_args(hx), weights, self.bias, self.num_layers, self.dropout,
            self.training, self.bidirectional,
        )
        return result[0], permute_hx(tuple(result[1:]), unsorted_indices)

    # ----------------------------------------------------------------- forward
    def forward(self, input: Any, hx: Any = None, *, lengths: Any = None) -> tuple[Any, Any]:
        """Run the stack; see the subclasses for shapes and :mod:`rnnkit.dropin` for which path runs."""
        owner = type(self).__name__
        if isinstance(input, PackedSequence):
            if lengths is not None:
                fail(owner, "lengths", "None when input is a PackedSequence (it carries its own lengths)",
                     describe(lengths))
            return self._forward_packed(owner, input, hx)
        x, batched = check_padded_input(owner, input, self.input_size, self.batch_first)
        weights = self._flat_weights
        check_like_parameters(owner, x, weights[0])
        T, B = (x.shape[1], x.shape[0]) if self.batch_first else (x.shape[0], x.shape[1])
        states = check_hx(owner, hx, self._hx_specs(), self.num_layers * self.num_directions, B, x, batched)
        if lengths is not None:
            lengths = check_lengths(owner, lengths, B, T, x.device)
            if B == 0 or int(lengths.min()) == T:
                lengths = None
        out, final = self._dispatch(owner, x, states, lengths, weights, T)
        if not batched:
            out = out.squeeze(0 if self.batch_first else 1)
            final = tuple(f.squeeze(1) for f in final)
        return out, self._hx_out(final)

    def _dispatch(self, owner: str, x: Tensor, hx: Optional[States], lengths: Optional[Tensor],
                  weights: list[Tensor], T: int) -> tuple[Tensor, States]:
        """Pick the path for a padded input (see :mod:`rnnkit.dropin`) and run it."""
        kernel_reason = None if self.fused is False else self._kernel_reason(x, weights, T)
        if self.fused is not False and lengths is None:
            if kernel_reason is None:
                return self._run_kernel(x, hx, weights)
            if self.fused is True:
                fused_unsupported(owner, kernel_reason)
        x_tm = x.transpose(0, 1) if self.batch_first else x
        fused: FusedMode = "auto" if self.fused is True else self.fused
        if self.fused is not False and lengths is not None:
            packable = kernel_reason is None and int(lengths.min()) > 0
            if packable and x.is_cuda:  # cuDNN handles variable lengths natively in one call
                return self._run_lengths_packed(x, hx, lengths, weights, T)
            if self.fused is True:
                layer_reason = self._layer_paths_reason(x_tm, lengths)
                if layer_reason is None:
                    fused = True
                elif packable:  # e.g. LSTM with lengths and no per-layer path: oneDNN on packed data
                    return self._run_lengths_packed(x, hx, lengths, weights, T)
                else:
                    why = kernel_reason or "lengths of 0 cannot be packed"
                    fused_unsupported(owner, f"no fused path supports this call (per-layer fast paths: {layer_reason}; "
                                      f"whole-stack kernel: {why})")
        out, final = self._run_layers(x_tm, hx, lengths, fused)
        return (out.transpose(0, 1) if self.batch_first else out), final

    def _run_lengths_packed(self, x: Tensor, hx: Optional[States], lengths: Tensor, weights: list[Tensor], T: int
                            ) -> tuple[Tensor, States]:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=self.batch_first, enforce_sorted=False)
        data, final = self._run_packed_kernel(packed, hx, weights)
        out_packed = PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        out, _ = pad_packed_sequence(out_packed, batch_first=self.batch_first, total_length=T)
        return out, final

    def _forward_packed(self, owner: str, packed: PackedSequence, hx: Any) -> tuple[PackedSequence, Any]:
        data = check_packed_input(owner, packed, self.input_size)
        weights = self._flat_weights
        check_like_parameters(owner, data, weights[0])
        B = int(packed.batch_sizes[0]) if len(packed.batch_sizes) else 0
        states = check_hx(owner, hx, self._hx_specs(), self.num_layers * self.num_directions, B, data, True)
        reason = None if self.fused is False else self._kernel_reason(data, weights, len(packed.batch_sizes))
        if self.fused is True and reason is not None:
            fused_unsupported(owner, reason)
        if self.fused is not False and reason is None:
            out_data, final = self._run_packed_kernel(packed, states, weights)
        else:
            padded, lens = pad_packed_sequence(packed)  # time-major, the user's batch order
            out, final = self._run_layers(padded, states, lens.to(padded.device), self.fused)
            out_data = repack(out, packed.batch_sizes, packed.sorted_indices)
        out_packed = PackedSequence(out_data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        return out_packed, self._hx_out(final)
