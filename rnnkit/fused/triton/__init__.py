"""The GPU fast path: built-in cells' recurrent loop as Triton kernels.

Layout (one concept per module):

* :mod:`.availability`: whether Triton imports, whether its kernels run
  compiled (CUDA) or under the interpreter (``TRITON_INTERPRET=1``, CPU tensors,
  tests only), and the reasons to give when neither.
* :mod:`.jitmath`: the scalar functions the kernels share (tanh, state rules).
* :mod:`.steps`: the per-step loop bookkeeping shared by every family (buffers
  kept for the backward or rolling, grid size).
* :mod:`.lstm_kernels` / :mod:`.lstm`: LSTM (peepholes, projection, clips,
  ``forget_bias``, variational state dropout and zoneout as state rules).
* :mod:`.gru_kernels` / :mod:`.gru`: GRU, both formulations.
* :mod:`.elman`: the Elman RNN, tanh or relu.
* :mod:`.layernorm_kernels` / :mod:`.layernorm`: the layer-norm LSTM.
* :mod:`.wrappers`: Dropout and Zoneout around those cells.
* :mod:`.path`: the fast path registered with :mod:`rnnkit.fused`.

Design: the input projection (and, after the loop, every weight gradient) is one
large GEMM over all steps (cuBLAS on a GPU); per step the recurrent GEMM is
``torch.mm`` on the active rows, followed by one or two fused pointwise Triton
kernels (gates, cell update, clips, state rule, outputs). The state, the gates and
every gradient inside the loop are float32 whatever the input dtype (float16 and
bfloat16 inputs: the input projection and outputs in that dtype). Lengths use the
compiled core's shrinking batch (:func:`rnnkit.fused.sorting.run_sorted`): rows
sorted longest first, step ``t`` computes the first ``batch_sizes[t]`` rows and
carries the rest.

Nothing here imports Triton until a kernel is needed: importing this package on a
machine without Triton is fine, and ``supports`` says why the path declines.
"""
