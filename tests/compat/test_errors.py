"""Every public entry point of the TF1 face rejects bad input with a message
that names the owner, the argument, what was expected and what it got."""

from __future__ import annotations

import re
import warnings
from typing import Any, Callable

import numpy as np
import pytest
import torch

from rnnkit.compat import v1

X = torch.randn(2, 4, 6)
LST = v1.LSTMStateTuple

CASES: list[tuple[str, Callable[[], Any], type, str]] = [
    # dynamic_rnn & co.
    ("inputs_list", lambda: v1.nn.dynamic_rnn(v1.GRUCell(3), [[1.0]]), TypeError,
     "dynamic_rnn: inputs must be a torch.Tensor, got list"),
    ("inputs_2d", lambda: v1.nn.dynamic_rnn(v1.GRUCell(3), torch.randn(3, 4)), ValueError,
     "dynamic_rnn: inputs must be of shape (batch_size, max_time, input_size), got (3, 4)"),
    ("inputs_int", lambda: v1.nn.dynamic_rnn(v1.GRUCell(3), torch.ones(3, 4, 2, dtype=torch.long)), TypeError,
     "dynamic_rnn: inputs must be a floating-point tensor, got dtype torch.int64"),
    ("inputs_size", lambda: v1.nn.dynamic_rnn(v1.GRUCell(3).build(5), X), ValueError,
     "dynamic_rnn: inputs must be of shape (batch_size, max_time, 5) (cell has input size 5), got (2, 4, 6)"),
    ("inputs_size_time_major", lambda: v1.nn.dynamic_rnn(v1.GRUCell(3).build(5), X, time_major=True), ValueError,
     "dynamic_rnn: inputs must be of shape (max_time, batch_size, 5)"),
    ("inputs_dtype_vs_params", lambda: v1.nn.dynamic_rnn(v1.GRUCell(3).build(6), X.double()), TypeError,
     "dynamic_rnn: inputs must be of dtype torch.float32 (the dtype of GRUCell's parameters), got torch.float64"),
    ("length_range", lambda: v1.nn.dynamic_rnn(v1.GRUCell(3), X, sequence_length=[5, 1]), ValueError,
     "dynamic_rnn: sequence_length must be in [0, 4] (the time dimension), got values in [1, 5]"),
    ("length_numpy", lambda: v1.nn.dynamic_rnn(v1.GRUCell(3), X, sequence_length=np.array([-1, 2])), ValueError,
     "dynamic_rnn: sequence_length must be in [0, 4] (the time dimension), got values in [-1, 2]"),
    ("length_count", lambda: v1.nn.dynamic_rnn(v1.GRUCell(3), X, sequence_length=[4]), ValueError,
     "dynamic_rnn: sequence_length must be of shape (2,), one length per sequence, got (1,)"),
    ("length_float", lambda: v1.nn.dynamic_rnn(v1.GRUCell(3), X, sequence_length=torch.tensor([1.0, 2.0])),
     TypeError, "dynamic_rnn: sequence_length must be an integer tensor, got dtype torch.float32"),
    ("length_str", lambda: v1.nn.dynamic_rnn(v1.GRUCell(3), X, sequence_length="abc"), TypeError,
     "dynamic_rnn: sequence_length must be a 1-D integer Tensor or a list of ints, got str 'abc'"),
    ("state_c_shape", lambda: v1.nn.dynamic_rnn(v1.BasicLSTMCell(3), X, initial_state=LST(torch.zeros(2, 4),
                                                                                           torch.zeros(2, 3))),
     ValueError, "dynamic_rnn: initial_state.c must be of shape (2, 3), got (2, 4)"),
    ("state_structure", lambda: v1.nn.dynamic_rnn(v1.BasicLSTMCell(3), X, initial_state=torch.zeros(2, 3)),
     TypeError, "dynamic_rnn: initial_state must be LSTMStateTuple of 2 entries, got Tensor of shape (2, 3)"),
    ("state_dtype", lambda: v1.nn.dynamic_rnn(v1.GRUCell(3), X, initial_state=torch.zeros(2, 3).double()),
     TypeError, "dynamic_rnn: initial_state must be of dtype torch.float32 (the input's), got torch.float64"),
    ("dtype_mismatch", lambda: v1.nn.dynamic_rnn(v1.GRUCell(3), X, dtype=v1.float64), TypeError,
     "dynamic_rnn: dtype must be None or the inputs' dtype (torch.float32), got torch.float64"),
    ("dtype_name", lambda: v1.nn.dynamic_rnn(v1.GRUCell(3), X, dtype="int7"), TypeError,
     "dynamic_rnn: dtype must be a floating dtype (e.g. torch.float32 or 'float32'), got 'int7'"),
    ("cell_type", lambda: v1.nn.dynamic_rnn(torch.nn.Linear(2, 2), X), TypeError,
     "dynamic_rnn: cell must be an RNN cell (e.g. rnnkit.compat.v1.BasicLSTMCell), got a torch.nn.modules.linear."
     "Linear module"),
    ("bi_cell_bw", lambda: v1.nn.bidirectional_dynamic_rnn(v1.GRUCell(3), None, X), TypeError,
     "bidirectional_dynamic_rnn: cell_bw must be an RNN cell (e.g. rnnkit.compat.v1.BasicLSTMCell), got NoneType"),
    ("bi_state_bw", lambda: v1.nn.bidirectional_dynamic_rnn(v1.GRUCell(3), v1.GRUCell(2), X,
                                                            initial_state_bw=torch.zeros(2, 3)), ValueError,
     "bidirectional_dynamic_rnn: initial_state_bw must be of shape (2, 2), got (2, 3)"),
    ("static_tensor", lambda: v1.nn.static_rnn(v1.GRUCell(3), torch.randn(4, 2, 6)), TypeError,
     "static_rnn: inputs must be a list of (batch_size, input_size) tensors, one per step, got Tensor"),
    ("static_empty", lambda: v1.nn.static_rnn(v1.GRUCell(3), []), ValueError,
     "static_rnn: inputs must be a non-empty list of tensors, got an empty list"),
    ("static_shapes", lambda: v1.nn.static_rnn(v1.GRUCell(3), [torch.randn(2, 6), torch.randn(3, 6)]), ValueError,
     "static_rnn: inputs[1] must be of shape (batch_size, input_size) = (2, 6) and dtype torch.float32, like "
     "inputs[0], got (3, 6), torch.float32"),
    ("static_element", lambda: v1.nn.static_rnn(v1.GRUCell(3), [torch.randn(2, 6), 5]), TypeError,
     "static_rnn: inputs[1] must be a torch.Tensor, got int 5"),
    ("static_size", lambda: v1.nn.static_rnn(v1.GRUCell(3).build(5), [torch.randn(2, 6)]), ValueError,
     "static_rnn: inputs must be of shape [(batch_size, 5), ...] (one tensor per step) (cell has input size 5), "
     "got (2, 6)"),
    # constructors
    ("num_units_zero", lambda: v1.BasicLSTMCell(0), ValueError, "BasicLSTMCell: num_units must be > 0, got 0"),
    ("num_units_str", lambda: v1.GRUCell("8"), TypeError, "GRUCell: num_units must be an int, got str '8'"),
    ("activation_name", lambda: v1.BasicRNNCell(3, activation="swishy"), ValueError,
     "BasicRNNCell: activation must be None, a callable or one of ['elu', 'linear', 'relu', 'relu6', 'selu', "
     "'sigmoid', 'softplus', 'softsign', 'tanh'], got 'swishy'"),
    ("activation_type", lambda: v1.BasicRNNCell(3, activation=3), TypeError,
     "BasicRNNCell: activation must be None, a callable or a name, got int 3"),
    ("num_proj", lambda: v1.LSTMCell(4, num_proj=0), ValueError, "LSTMCell: num_proj must be > 0, got 0"),
    ("cell_clip", lambda: v1.LSTMCell(4, cell_clip=-1.0), ValueError,
     "LSTMCell: cell_clip must be None, inf or a positive number <= 3.403e+38 (float32's largest), got -1.0"),
    ("forget_bias", lambda: v1.BasicLSTMCell(4, forget_bias="1"), TypeError,
     "BasicLSTMCell: forget_bias must be a float, got str '1'"),
    ("shards", lambda: v1.LSTMCell(4, num_unit_shards=2), ValueError,
     "LSTMCell: num_unit_shards must be None (TF's deprecated variable sharding is not supported), got int 2"),
    ("initializer", lambda: v1.LSTMCell(4, initializer="glorot"), TypeError,
     "LSTMCell: initializer must be None or a callable that fills a tensor (e.g. torch.nn.init.orthogonal_), "
     "got str 'glorot'"),
    ("state_is_tuple", lambda: v1.LSTMCell(4, state_is_tuple=None), TypeError,
     "LSTMCell: state_is_tuple must be a bool, got NoneType None"),
    ("cell_dtype", lambda: v1.LSTMCell(4, dtype=torch.int32), TypeError,
     "LSTMCell: dtype must be a floating dtype (e.g. torch.float32 or 'float32'), got dtype torch.int32"),
    # a step
    ("call_3d", lambda: v1.GRUCell(3)(torch.randn(2, 4, 5), torch.zeros(2, 3)), ValueError,
     "GRUCell: inputs must be of shape (batch_size, input_size), got (2, 4, 5)"),
    ("call_list", lambda: v1.GRUCell(3)([1.0], torch.zeros(2, 3)), TypeError,
     "GRUCell: inputs must be a torch.Tensor, got list"),
    ("call_size", lambda: v1.GRUCell(3).build(4)(torch.randn(2, 5), torch.zeros(2, 3)), ValueError,
     "GRUCell: inputs must be of shape (batch_size, 4) (input size of GRUCell), got (2, 5)"),
    ("call_state_structure", lambda: v1.BasicLSTMCell(3)(torch.randn(2, 5), torch.zeros(2, 3)), TypeError,
     "BasicLSTMCell: state must be LSTMStateTuple of 2 entries, got Tensor of shape (2, 3)"),
    ("call_state_c", lambda: v1.BasicLSTMCell(3)(torch.randn(2, 5), LST(torch.zeros(2, 2), torch.zeros(2, 3))),
     ValueError, "BasicLSTMCell: state.c must be of shape (2, 3), got (2, 2)"),
    ("call_dtype", lambda: v1.GRUCell(3).build(5)(torch.randn(2, 5).double(), torch.zeros(2, 3).double()),
     TypeError, "GRUCell: inputs must be of dtype torch.float32 (the dtype of GRUCell's parameters), got "
     "torch.float64"),
    ("build_again", lambda: v1.GRUCell(3).build(5).build(6), ValueError,
     "GRUCell: input_size must be 5 (the size the cell was built with at its first call), got 6"),
    ("build_zero", lambda: v1.GRUCell(3).build(0), ValueError, "GRUCell: input_size must be > 0, got 0"),
    ("zero_state_batch", lambda: v1.GRUCell(3).zero_state(-1, v1.float32), ValueError,
     "GRUCell: batch_size must be >= 0, got -1"),
    ("zero_state_dtype", lambda: v1.GRUCell(3).zero_state(2, torch.int64), TypeError,
     "GRUCell: dtype must be a floating dtype (e.g. torch.float32 or 'float32'), got dtype torch.int64"),
    # MultiRNNCell
    ("multi_empty", lambda: v1.MultiRNNCell([]), ValueError,
     "MultiRNNCell: cells must be a non-empty list of cells, got an empty list"),
    ("multi_not_list", lambda: v1.MultiRNNCell(v1.GRUCell(3)), TypeError,
     "MultiRNNCell: cells must be a list or tuple of cells, got a rnnkit.compat.v1.cells.GRUCell module"),
    ("multi_element", lambda: v1.MultiRNNCell([v1.GRUCell(3), torch.nn.GRUCell(3, 3)]), TypeError,
     "MultiRNNCell: cells[1] must be a cell from rnnkit.compat.v1 (e.g. BasicLSTMCell), got a "
     "torch.nn.modules.rnn.GRUCell module"),
    ("multi_concat_tuple_state", lambda: v1.MultiRNNCell([v1.BasicLSTMCell(3)], state_is_tuple=False), ValueError,
     "MultiRNNCell: state_is_tuple must be True when a cell has a tuple state (state sizes: "
     "[LSTMStateTuple(c=3, h=3)]), got False"),
    # wrappers
    ("keep_zero", lambda: v1.DropoutWrapper(v1.GRUCell(3), output_keep_prob=0.0), ValueError,
     "DropoutWrapper: output_keep_prob must be in (0, 1], got 0.0"),
    ("keep_above_one", lambda: v1.DropoutWrapper(v1.GRUCell(3), state_keep_prob=1.5), ValueError,
     "DropoutWrapper: state_keep_prob must be in (0, 1], got 1.5"),
    ("keep_str", lambda: v1.DropoutWrapper(v1.GRUCell(3), input_keep_prob="0.5"), TypeError,
     "DropoutWrapper: input_keep_prob must be a float in (0, 1] or a one-element floating tensor, got str '0.5'"),
    ("dropout_cell", lambda: v1.DropoutWrapper(torch.nn.GRUCell(3, 3)), TypeError,
     "DropoutWrapper: cell must be a cell from rnnkit.compat.v1 (e.g. BasicLSTMCell), got a "
     "torch.nn.modules.rnn.GRUCell module"),
    ("dropout_input_size", lambda: v1.DropoutWrapper(v1.GRUCell(3), input_size=4).build(5), ValueError,
     "DropoutWrapper: input_size must be the size of the inputs (5), got 4"),
    ("dropout_visitor", lambda: v1.DropoutWrapper(v1.GRUCell(3), dropout_state_filter_visitor=3), TypeError,
     "DropoutWrapper: dropout_state_filter_visitor must be None or a callable, got int 3"),
    ("dropout_dtype", lambda: v1.DropoutWrapper(v1.GRUCell(3), dtype="int8"), TypeError,
     "DropoutWrapper: dtype must be a floating dtype"),
    ("residual_size", lambda: v1.ResidualWrapper(v1.GRUCell(3))(torch.randn(2, 4), torch.zeros(2, 3)), ValueError,
     "ResidualWrapper: inputs must be of size 3 (the wrapped cell's output_size, to add inputs to outputs; or pass "
     "residual_fn), got size 4"),
    ("residual_fn", lambda: v1.ResidualWrapper(v1.GRUCell(3), residual_fn=1), TypeError,
     "ResidualWrapper: residual_fn must be None or a callable f(inputs, outputs), got int 1"),
    # TF weights
    ("weights_keys", lambda: v1.BasicLSTMCell(3).set_tf_weights({"kernel": torch.zeros(5, 12)}), ValueError,
     "BasicLSTMCell: weights must be a mapping with exactly the keys ['bias', 'kernel'], got ['kernel']"),
    ("weights_shape", lambda: v1.BasicLSTMCell(3).build(2).set_tf_weights({"kernel": torch.zeros(6, 12),
                                                                           "bias": torch.zeros(12)}),
     ValueError, "BasicLSTMCell: weights['kernel'] must be of shape (5, 12), got (6, 12)"),
    ("weights_type", lambda: v1.BasicLSTMCell(3).set_tf_weights([1]), TypeError,
     "BasicLSTMCell: weights must be a mapping from TF variable names to tensors, got list"),
]


@pytest.mark.parametrize("name, call, kind, message", CASES, ids=[c[0] for c in CASES])
def test_error_message(name: str, call: Callable[[], Any], kind: type, message: str) -> None:
    with pytest.raises(kind, match="^" + re.escape(message)):
        call()


def test_shared_cells_warn_like_tf_and_then_need_matching_sizes() -> None:
    cell = v1.GRUCell(3)
    with pytest.warns(UserWarning, match="MultiRNNCell: at least two cells are the same object"):
        multi = v1.MultiRNNCell([cell, cell])
    with pytest.raises(ValueError, match=re.escape("MultiRNNCell: cells[1] must be a cell for inputs of size 3 (the "
                                                   "output size of the cell before it), got a cell built for input "
                                                   "size 4")):
        multi.build(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shared = v1.MultiRNNCell([v1.GRUCell(3)] * 2).build(3)  # input size = output size: fine, weights shared
    assert sum(p.numel() for p in shared.parameters()) == sum(p.numel() for p in shared.cells[0].parameters())
