r"""TF1 ``tf.nn.rnn_cell`` cells on rnnkit cells: BasicRNNCell, GRUCell,
BasicLSTMCell and LSTMCell.

Each TF1 cell keeps a kernel ``K = [K_x; K_h]`` of shape
``[I + H_in, k * num_units]`` applied to ``[x_t, h_{t-1}]`` and one bias.
rnnkit keeps ``weight_ih = K_x^T`` and ``weight_hh = K_h^T`` (rows permuted
to rnnkit's gate order), ``bias_ih = b`` and a zero, frozen ``bias_hh``.
:meth:`LeafCell.get_tf_weights` / :meth:`LeafCell.set_tf_weights` move
weights in TF's layout.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import torch
from torch import Tensor, nn

from rnnkit.cells import ElmanCell, GRUCell as RnnkitGRUCell, LSTMCell as RnnkitLSTMCell
from rnnkit.cells.base import linear
from rnnkit.checks import check_clip, check_positive_int, describe, fail
from rnnkit.compat.v1.base import LSTMStateTuple
from rnnkit.compat.v1.leaf import LeafCell
from rnnkit.compat.v1.tf_init import (
    assign, check_initializer, constant_, freeze_zero, glorot_uniform_, join_kernel, make_variable,
    resolve_activation, split_kernel,
)
from rnnkit.state import LSTMState


class _ActivatedElmanCell(ElmanCell):
    """ElmanCell with any activation (TF's BasicRNNCell allows any)."""

    def __init__(self, input_size: int, hidden_size: int, activation: Any) -> None:
        super().__init__(input_size, hidden_size)
        self.act = activation

    def recur(self, projected: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = self.act(torch.addmm(projected, state, self.weight_hh.t()))
        return h, h


class _ActivatedGRUCell(RnnkitGRUCell):
    """rnnkit GRUCell(reset_after=False) with any candidate activation."""

    def __init__(self, input_size: int, hidden_size: int, activation: Any) -> None:
        super().__init__(input_size, hidden_size, reset_after=False)
        self.act = activation

    def recur(self, projected: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        H = self.hidden_size
        x_r, x_z, x_n = projected.chunk(3, 1)
        b = self.bias_hh
        h_r, h_z = linear(state, self.weight_hh[: 2 * H], None if b is None else b[: 2 * H]).chunk(2, 1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        n = self.act(x_n + linear(r * state, self.weight_hh[2 * H :], None if b is None else b[2 * H :]))
        h_new = z * state + (1 - z) * n
        return h_new, h_new


class BasicRNNCell(LeafCell):
    r"""TF1 ``BasicRNNCell``: :math:`h_t = \phi([x_t, h_{t-1}] K + b)`, output = state = ``h_t``.

    Runs on ``rnnkit.cells.ElmanCell`` (``W_ih = K_x^T``, ``W_hh = K_h^T``,
    ``b_ih = b``). Initialised as TF1: Glorot-uniform ``K``, zero ``b``.

    Args:
        num_units: ``H``.
        activation: :math:`\phi`, default tanh; a callable or a Keras name.
        reuse, name: accepted for TF compatibility and ignored.
        dtype: parameter dtype (default: the first input's).

    Shapes:
        inputs ``(B, I)``; state and output ``(B, H)``.
    """

    def __init__(self, num_units: int, activation: Any = None, reuse: Any = None, name: Optional[str] = None,
                 dtype: Any = None) -> None:
        super().__init__(num_units, name=name, dtype=dtype)
        self.activation = resolve_activation("BasicRNNCell", activation)

    @property
    def state_size(self) -> int:
        return self.num_units

    @property
    def output_size(self) -> int:
        return self.num_units

    def _make_impl(self, input_size: int) -> nn.Module:
        H = self.num_units
        if self.activation is torch.tanh or self.activation is torch.relu:
            impl = ElmanCell(input_size, H, nonlinearity="tanh" if self.activation is torch.tanh else "relu")
        else:
            impl = _ActivatedElmanCell(input_size, H, self.activation)
        kernel = make_variable((input_size + H, H), None, glorot_uniform_)
        self._set_tf_weights(impl, input_size, {"kernel": kernel, "bias": torch.zeros(H)})
        freeze_zero(impl.bias_hh)
        return impl

    def _expected_names(self) -> list[str]:
        return ["kernel", "bias"]

    def _tf_weights(self, impl: Any) -> dict[str, Tensor]:
        return {"kernel": join_kernel(impl.weight_ih, impl.weight_hh), "bias": impl.bias_ih + impl.bias_hh}

    def _set_tf_weights(self, impl: Any, input_size: int, w: dict[str, Tensor]) -> None:
        w_ih, w_hh = split_kernel(w["kernel"], input_size)
        assign(impl.weight_ih, w_ih)
        assign(impl.weight_hh, w_hh)
        assign(impl.bias_ih, w["bias"])
        assign(impl.bias_hh, torch.zeros_like(w["bias"]))


class GRUCell(LeafCell):
    r"""TF1 ``GRUCell`` (Cho et al. 2014, reset before the recurrent product).

    .. math::
        [r_t, u_t] &= \sigma([x_t, h_{t-1}] K_g + b_g) \\
        c_t &= \phi([x_t, r_t \odot h_{t-1}] K_c + b_c) \\
        h_t &= u_t \odot h_{t-1} + (1 - u_t) \odot c_t

    Runs on ``rnnkit.cells.GRUCell(reset_after=False)`` whose gates r, z, n are
    TF's r, u, c (``z = u``): ``W_ih = [K_{g,x}; K_{c,x}]^T``,
    ``W_hh = [K_{g,h}; K_{c,h}]^T``, ``b_ih = [b_g, b_c]``. Initialised as TF1:
    Glorot-uniform kernels, ``b_g = 1``, ``b_c = 0``.

    Args:
        num_units: ``H``.
        activation: :math:`\phi`, default tanh.
        reuse, name: accepted for TF compatibility and ignored.
        kernel_initializer: fills ``K_g`` ``[I+H, 2H]`` and ``K_c`` ``[I+H, H]``.
        bias_initializer: fills ``b_g`` and ``b_c`` (default 1 and 0).
        dtype: parameter dtype (default: the first input's).
    """

    def __init__(self, num_units: int, activation: Any = None, reuse: Any = None, kernel_initializer: Any = None,
                 bias_initializer: Any = None, name: Optional[str] = None, dtype: Any = None) -> None:
        super().__init__(num_units, name=name, dtype=dtype)
        self.activation = resolve_activation("GRUCell", activation)
        self.kernel_initializer = check_initializer("GRUCell", "kernel_initializer", kernel_initializer)
        self.bias_initializer = check_initializer("GRUCell", "bias_initializer", bias_initializer)

    @property
    def state_size(self) -> int:
        return self.num_units

    @property
    def output_size(self) -> int:
        return self.num_units

    def _make_impl(self, input_size: int) -> nn.Module:
        H = self.num_units
        if self.activation is torch.tanh:
            impl = RnnkitGRUCell(input_size, H, reset_after=False)
        else:
            impl = _ActivatedGRUCell(input_size, H, self.activation)
        self._set_tf_weights(impl, input_size, {
            "gates/kernel": make_variable((input_size + H, 2 * H), self.kernel_initializer, glorot_uniform_),
            "gates/bias": make_variable((2 * H,), self.bias_initializer, constant_(1.0)),
            "candidate/kernel": make_variable((input_size + H, H), self.kernel_initializer, glorot_uniform_),
            "candidate/bias": make_variable((H,), self.bias_initializer, constant_(0.0)),
        })
        freeze_zero(impl.bias_hh)
        return impl

    def _expected_names(self) -> list[str]:
        return ["gates/kernel", "gates/bias", "candidate/kernel", "candidate/bias"]

    def _tf_weights(self, impl: Any) -> dict[str, Tensor]:
        H = self.num_units
        b = impl.bias_ih + impl.bias_hh
        return {
            "gates/kernel": join_kernel(impl.weight_ih[: 2 * H], impl.weight_hh[: 2 * H]),
            "gates/bias": b[: 2 * H],
            "candidate/kernel": join_kernel(impl.weight_ih[2 * H :], impl.weight_hh[2 * H :]),
            "candidate/bias": b[2 * H :],
        }

    def _set_tf_weights(self, impl: Any, input_size: int, w: dict[str, Tensor]) -> None:
        g_ih, g_hh = split_kernel(w["gates/kernel"], input_size)
        c_ih, c_hh = split_kernel(w["candidate/kernel"], input_size)
        assign(impl.weight_ih, torch.cat([g_ih, c_ih], 0))
        assign(impl.weight_hh, torch.cat([g_hh, c_hh], 0))
        bias = torch.cat([w["gates/bias"], w["candidate/bias"]])
        assign(impl.bias_ih, bias)
        assign(impl.bias_hh, torch.zeros_like(bias))


class _TFOnlyLSTMCell(RnnkitLSTMCell):
    """rnnkit ``LSTMCell`` with two settings only TF1 allows: ``cell_clip=0.0``
    (``c_t`` held at 0) and a projection at least as wide as the cell
    (``proj_size >= hidden_size``). Same equations; it runs on the reference
    runner (no fast path knows this type)."""

    def __init__(self, input_size: int, hidden_size: int, *, proj_size: int, cell_clip: Optional[float],
                 proj_clip: Optional[float], **kwargs: Any) -> None:
        narrow = proj_size if proj_size < hidden_size else 0
        super().__init__(input_size, hidden_size, proj_size=narrow, cell_clip=cell_clip or None,
                         proj_clip=proj_clip if narrow else None, **kwargs)
        if proj_size and not narrow:
            self.proj_size = proj_size
            self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, proj_size))
            self.weight_hr = nn.Parameter(torch.empty(proj_size, hidden_size))
            self.proj_clip = proj_clip
        self.cell_clip = cell_clip


def _swap_jf(t: Tensor) -> Tensor:
    """Reorder the 4 gate blocks along dim 0: TF (i, j, f, o) <-> rnnkit (i, f, g, o)."""
    i, a, b, o = t.chunk(4, 0)
    return torch.cat([i, b, a, o], 0)


class _LSTMBase(LeafCell):
    """TF1 LSTM cells on ``rnnkit.cells.LSTMCell`` (see :class:`LSTMCell`)."""

    def __init__(self, num_units: int, *, use_peepholes: bool = False, cell_clip: Optional[float] = None,
                 initializer: Any = None, num_proj: Optional[int] = None, proj_clip: Optional[float] = None,
                 forget_bias: float = 1.0, state_is_tuple: bool = True, activation: Any = None,
                 name: Optional[str] = None, dtype: Any = None) -> None:
        super().__init__(num_units, name=name, dtype=dtype)
        owner = type(self).__name__
        if num_proj is not None:
            check_positive_int(owner, "num_proj", num_proj)
        if cell_clip == 0.0 and not isinstance(cell_clip, bool):
            cell_clip = 0.0  # TF1 accepts it (its own tests use it): c_t is clipped to [0, 0] at every step
            warnings.warn(f"{owner}: cell_clip=0.0 holds the cell state c at 0 at every step (as TF1 does), so "
                          "the output is sigmoid(o) * activation(0) and does not carry information across steps",
                          stacklevel=3)
        else:
            check_clip(owner, "cell_clip", cell_clip)
        check_clip(owner, "proj_clip", proj_clip)
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float)):
            fail(owner, "forget_bias", "a float", describe(forget_bias), kind=TypeError)
        if not isinstance(state_is_tuple, bool):
            fail(owner, "state_is_tuple", "a bool", describe(state_is_tuple), kind=TypeError)
        self.use_peepholes = bool(use_peepholes)
        self.cell_clip = cell_clip
        self.initializer = check_initializer(owner, "initializer", initializer)
        self.num_proj = num_proj
        self.proj_clip = proj_clip if num_proj else None  # TF ignores proj_clip without a projection
        self.forget_bias = float(forget_bias)
        self.state_is_tuple = state_is_tuple
        self.activation = resolve_activation(owner, activation)

    @property
    def _h_depth(self) -> int:
        return self.num_proj or self.num_units

    @property
    def state_size(self) -> Any:
        if self.state_is_tuple:
            return LSTMStateTuple(c=self.num_units, h=self._h_depth)
        return self.num_units + self._h_depth

    @property
    def output_size(self) -> int:
        return self._h_depth

    def _make_impl(self, input_size: int) -> nn.Module:
        H, P = self.num_units, self._h_depth
        tf_only = self.cell_clip == 0.0 or (self.num_proj or 0) >= H
        impl = (_TFOnlyLSTMCell if tf_only else RnnkitLSTMCell)(
            input_size, H, forget_bias=self.forget_bias, proj_size=self.num_proj or 0,
            use_peepholes=self.use_peepholes, cell_clip=self.cell_clip, proj_clip=self.proj_clip,
            activation=self.activation)
        init = self.initializer
        weights = {"kernel": make_variable((input_size + P, 4 * H), init, glorot_uniform_), "bias": torch.zeros(4 * H)}
        if self.use_peepholes:
            for k in ("w_f_diag", "w_i_diag", "w_o_diag"):
                weights[k] = make_variable((H,), init, glorot_uniform_)
        if self.num_proj:
            weights["projection/kernel"] = make_variable((H, P), init, glorot_uniform_)
        self._set_tf_weights(impl, input_size, weights)
        freeze_zero(impl.bias_hh)
        return impl

    def _expected_names(self) -> list[str]:
        names = ["kernel", "bias"]
        if self.use_peepholes:
            names += ["w_f_diag", "w_i_diag", "w_o_diag"]
        if self.num_proj:
            names.append("projection/kernel")
        return names

    def _tf_weights(self, impl: Any) -> dict[str, Tensor]:
        out = {
            "kernel": join_kernel(_swap_jf(impl.weight_ih), _swap_jf(impl.weight_hh)),
            "bias": _swap_jf(impl.bias_ih + impl.bias_hh),
        }
        if impl.weight_peephole is not None:
            p_i, p_f, p_o = impl.weight_peephole.unbind(0)
            out.update(w_i_diag=p_i, w_f_diag=p_f, w_o_diag=p_o)
        if impl.weight_hr is not None:
            out["projection/kernel"] = impl.weight_hr.t()
        return out

    def _set_tf_weights(self, impl: Any, input_size: int, w: dict[str, Tensor]) -> None:
        w_ih, w_hh = split_kernel(w["kernel"], input_size)
        assign(impl.weight_ih, _swap_jf(w_ih))
        assign(impl.weight_hh, _swap_jf(w_hh))
        assign(impl.bias_ih, _swap_jf(w["bias"]))
        assign(impl.bias_hh, torch.zeros_like(w["bias"]))
        if impl.weight_peephole is not None:
            assign(impl.weight_peephole, torch.stack([w["w_i_diag"], w["w_f_diag"], w["w_o_diag"]]))
        if impl.weight_hr is not None:
            assign(impl.weight_hr, w["projection/kernel"].t())

    def to_rnnkit_state(self, state: Any) -> LSTMState:
        """``LSTMStateTuple(c, h)`` (or ``[c, h]`` concatenated) -> ``LSTMState(h, c)``."""
        if self.state_is_tuple:
            c, h = state
        else:
            c, h = state[:, : self.num_units], state[:, self.num_units :]
        return LSTMState(h=h, c=c)

    def from_rnnkit_state(self, state: LSTMState) -> Any:
        """``LSTMState(h, c)`` -> ``LSTMStateTuple(c, h)`` (or ``[c, h]`` concatenated)."""
        if self.state_is_tuple:
            return LSTMStateTuple(c=state.c, h=state.h)
        return torch.cat([state.c, state.h], 1)


class BasicLSTMCell(_LSTMBase):
    r"""TF1 ``BasicLSTMCell`` (Zaremba et al. 2014). TF gate order i, j, f, o:

    .. math::
        [i, j, f, o] &= [x_t, h_{t-1}] K + b \\
        c_t &= \sigma(f + b_{forget}) \odot c_{t-1} + \sigma(i) \odot \phi(j) \\
        h_t &= \phi(c_t) \odot \sigma(o)

    ``forget_bias`` :math:`b_{forget}` (default 1.0) is added at run time, not
    stored in ``b``. State ``LSTMStateTuple(c, h)`` (TF order, cell state
    first); output ``h_t``. Runs on ``rnnkit.cells.LSTMCell`` whose gate order
    is i, f, g, o: the rows of ``W_ih = K_x^T``, ``W_hh = K_h^T`` and ``b_ih = b``
    are the TF blocks reordered (i, f, j, o), ``g = j``.

    Args:
        num_units: ``H``.
        forget_bias: added to the forget gate's pre-activation at every step.
        state_is_tuple: True: ``LSTMStateTuple(c, h)``; False: ``[c, h]``
            concatenated, ``(B, 2H)``.
        activation: :math:`\phi`, default tanh.
        reuse, name: accepted for TF compatibility and ignored.
        dtype: parameter dtype (default: the first input's).
    """

    def __init__(self, num_units: int, forget_bias: float = 1.0, state_is_tuple: bool = True, activation: Any = None,
                 reuse: Any = None, name: Optional[str] = None, dtype: Any = None) -> None:
        super().__init__(num_units, forget_bias=forget_bias, state_is_tuple=state_is_tuple, activation=activation,
                         name=name, dtype=dtype)


class LSTMCell(_LSTMBase):
    r"""TF1 ``LSTMCell`` with peepholes, cell clipping and projection.

    .. math::
        [i, j, f, o] &= [x_t, m_{t-1}] K + b \\
        c_t &= \mathrm{clip}(\sigma(f + b_{forget} + w_f \odot c_{t-1}) \odot c_{t-1}
              + \sigma(i + w_i \odot c_{t-1}) \odot \phi(j),\ \pm c_{clip}) \\
        m_t &= \sigma(o + w_o \odot c_t) \odot \phi(c_t) \\
        m_t &\leftarrow \mathrm{clip}(m_t K_{proj},\ \pm p_{clip}) \quad\text{(with num_proj)}

    The peephole terms ``w_i, w_f, w_o`` exist with ``use_peepholes``. State
    ``LSTMStateTuple(c, h=m)``; output ``m_t``. Runs on
    ``rnnkit.cells.LSTMCell(forget_bias, use_peepholes, cell_clip, proj_size,
    proj_clip, activation)``: gate rows reordered as in :class:`BasicLSTMCell`,
    ``weight_peephole = [w_i, w_f, w_o]``, ``weight_hr = K_proj^T``.

    Args:
        num_units: ``H``, the size of ``c``.
        use_peepholes: diagonal peephole connections.
        cell_clip: clip ``c_t`` to ``[-cell_clip, cell_clip]``; ``0.0`` holds
            ``c_t`` at 0 as in TF1 (with a warning).
        initializer: fills the kernel ``[I + P, 4H]``, peepholes and
            projection kernel (TF-shaped); default Glorot-uniform.
        num_proj: ``P``, output projection (any size; ``P >= H`` runs on the
            reference runner).
        proj_clip: clip the projected output (ignored without ``num_proj``, as TF).
        num_unit_shards, num_proj_shards: TF's deprecated sharding; must be None.
        forget_bias: added to the forget gate at run time (default 1.0).
        state_is_tuple: True: ``LSTMStateTuple(c, h)``; False: ``[c, h]``.
        activation: :math:`\phi`, default tanh.
        reuse, name: accepted for TF compatibility and ignored.
        dtype: parameter dtype (default: the first input's).
    """

    def __init__(self, num_units: int, use_peepholes: bool = False, cell_clip: Optional[float] = None,
                 initializer: Any = None, num_proj: Optional[int] = None, proj_clip: Optional[float] = None,
                 num_unit_shards: Any = None, num_proj_shards: Any = None, forget_bias: float = 1.0,
                 state_is_tuple: bool = True, activation: Any = None, reuse: Any = None,
                 name: Optional[str] = None, dtype: Any = None) -> None:
        for arg, value in (("num_unit_shards", num_unit_shards), ("num_proj_shards", num_proj_shards)):
            if value is not None:
                fail("LSTMCell", arg, "None (TF's deprecated variable sharding is not supported)", describe(value))
        super().__init__(num_units, use_peepholes=use_peepholes, cell_clip=cell_clip, initializer=initializer,
                         num_proj=num_proj, proj_clip=proj_clip, forget_bias=forget_bias,
                         state_is_tuple=state_is_tuple, activation=activation, name=name, dtype=dtype)
