"""Shared machinery of the compat cells that own an rnnkit cell (``impl``).

A leaf cell creates ``self.impl`` (an rnnkit cell) at its first call and
exposes its weights in TF's layout through :meth:`LeafCell.get_tf_weights` /
:meth:`LeafCell.set_tf_weights`, keyed by TF's variable names (``kernel``,
``bias``, ``gates/kernel``, ``projection/kernel``, ``w_f_diag``, ...), so a
TF1 checkpoint's arrays load directly.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import torch
from torch import Tensor, nn

from rnnkit.checks import fail
from rnnkit.compat.v1.base import EngineCell
from rnnkit.compat.v1.tf_init import as_tensor


class LeafCell(EngineCell):
    """A compat cell backed by one rnnkit cell, ``self.impl`` (None until built).

    Subclasses implement ``_make_impl(input_size)`` (build and TF-initialise
    the rnnkit cell, float32 on CPU), ``_h_depth`` (the size of the
    recurrent input in TF's kernel) and the weight mapping
    ``_tf_weights(impl)`` / ``_set_tf_weights(impl, input_size, weights)``.
    """

    impl: Optional[nn.Module]

    def __init__(self, num_units: Any, *, name: Optional[str] = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        from rnnkit.checks import check_positive_int

        self.num_units = check_positive_int(type(self).__name__, "num_units", num_units)
        self.register_module("impl", None)

    @property
    def hidden_size(self) -> int:  # type: ignore[override]
        return self.num_units

    @property
    def _h_depth(self) -> int:
        return self.num_units

    def _make_impl(self, input_size: int) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build(self, input_size: int, dtype: torch.dtype, device: torch.device) -> None:
        self.impl = self._make_impl(input_size).to(device=device, dtype=dtype)

    def rnnkit_cell(self) -> nn.Module:
        """The rnnkit cell that runs this cell (exists once built)."""
        if self.impl is None:
            raise RuntimeError(f"{type(self).__name__}: the cell is not built yet; call it once or call "
                               "build(input_size)")
        return self.impl

    # ------------------------------------------------------------- TF weights
    def get_tf_weights(self) -> dict[str, Tensor]:
        """The weights in TF1's layout and gate order, keyed by TF variable name.

        Returns:
            Detached tensors, e.g. ``{"kernel": [I + H, 4H], "bias": [4H]}``.
        """
        self.rnnkit_cell()
        with torch.no_grad():
            return {k: v.detach().clone() for k, v in self._tf_weights(self.impl).items()}

    def set_tf_weights(self, weights: Mapping[str, Any]) -> "LeafCell":
        """Load weights given in TF1's layout (e.g. arrays from a TF checkpoint).

        Builds the cell from the kernel's shape if it is not built yet.

        Args:
            weights: TF variable name -> tensor or array, with exactly the
                names :meth:`get_tf_weights` returns.

        Returns:
            ``self``.

        Raises:
            ValueError: on missing or unexpected names, or wrong shapes.
        """
        owner = type(self).__name__
        if not isinstance(weights, Mapping):
            fail(owner, "weights", "a mapping from TF variable names to tensors", type(weights).__name__,
                 kind=TypeError)
        values = {k: as_tensor(owner, f"weights[{k!r}]", v) for k, v in weights.items()}
        kernel_name = "gates/kernel" if "gates/kernel" in self._expected_names() else "kernel"
        kernel = values.get(kernel_name)
        if not self.built and kernel is not None and kernel.dim() == 2:
            dtype = kernel.dtype if kernel.is_floating_point() else None
            self.build(max(kernel.shape[0] - self._h_depth, 1), dtype=dtype)
        impl = self.rnnkit_cell()
        expected = self._tf_weights(impl)
        if set(values) != set(expected):
            fail(owner, "weights", f"a mapping with exactly the keys {sorted(expected)}", sorted(values))
        for k, v in values.items():
            if tuple(v.shape) != tuple(expected[k].shape):
                fail(owner, f"weights[{k!r}]", f"of shape {tuple(expected[k].shape)}", tuple(v.shape))
        self._set_tf_weights(impl, self.input_size, values)
        return self

    def _expected_names(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _tf_weights(self, impl: Any) -> dict[str, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_tf_weights(self, impl: Any, input_size: int, weights: dict[str, Tensor]) -> None:  # pragma: no cover
        raise NotImplementedError

    # -------------------------------------------------- lazy state_dict load
    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any) -> None:
        key = prefix + "impl.weight_ih"
        if self.impl is None and key in state_dict:
            w = state_dict[key]
            self.build(w.shape[1], dtype=w.dtype, device=w.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"num_units={self.num_units}, input_size={self.input_size}"
