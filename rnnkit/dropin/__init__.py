"""Drop-in replacements for ``torch.nn.LSTM``, ``torch.nn.GRU`` and ``torch.nn.RNN``.

Same constructor, parameter names (``weight_ih_l0``, ``weight_hh_l1_reverse``,
``weight_hr_l0``, ...), initialisation, ``state_dict`` and return structures as
``torch.nn``, so state dicts move both ways, plus ``forward(..., lengths=...)``
(no packing or sorting needed) and a ``fused`` switch.

Which path runs
---------------
The reference path runs real rnnkit cells (``LSTMCell(proj_size=...)``,
``GRUCell``, ``ElmanCell``), one per layer and direction, through
:class:`rnnkit.layers.Stacked`/``Bidirectional``/``Recurrent``. The cells live
outside the module tree and are re-bound to the drop-in's own parameters at
every call, so ``.to()``, ``load_state_dict``, ``torch.func.functional_call``
and parametrizations always apply. Each ``Recurrent`` picks a registered fast
path (:mod:`rnnkit.fused`) where one supports it.

========================  ======================================================
``fused="auto"``          (default) the fastest exact path:
  padded, no lengths      one ``torch._VF`` call for the whole stack, exactly as
  (or all lengths == T)   ``torch.nn`` does (oneDNN on CPU, cuDNN on GPU)
  PackedSequence          ``torch._VF`` on the packed data, as ``torch.nn``
  lengths < T, CPU        per layer and direction, each on the first registered
                          fast path that runs it: the compiled core (faster on
                          CPU), else ``native`` (oneDNN; GRU and RNN on the
                          padded batch, LSTM one call per distinct length),
                          else the Python reference runner; faster than
                          packing on CPU
  lengths < T, GPU        pack and run cuDNN's packed kernel (lengths >= 1),
                          else per layer as on CPU
``fused=True``            as "auto", but a fused kernel must run: on CPU the
                          per-layer fast paths, else the packed ``_VF`` kernel;
                          raises ``ValueError`` saying why where none applies
``fused=False``           always the reference runner, per layer (packed input
                          is unpacked, run, and packed again)
========================  ======================================================

``torch._VF`` needs at least one time step and a cpu/cuda device with the
parameters' dtype; where it cannot run, "auto" takes the reference path.
Dropout between layers (training only, not after the last layer) follows
``torch.nn`` on every path.
"""

from rnnkit.dropin.base import DropInRNN
from rnnkit.dropin.modules import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN", "DropInRNN"]
