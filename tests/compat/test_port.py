"""TF1 tutorial snippets, ported by changing the import, train with a falling loss.

The RNN lines below are TF1 code as the tutorials wrote it (the originals
are quoted in the comments); only ``import tensorflow as tf`` became
``from rnnkit.compat import v1 as tf``. What TF1 did with placeholders,
``tf.layers.dense``, sessions and ``tf.train`` optimizers is plain torch here.
"""

from __future__ import annotations

import torch

from rnnkit.compat import v1 as tf  # was: import tensorflow as tf


def make_sum_task(generator: torch.Generator, batch: int = 64, max_time: int = 10):
    """Regression: the sum of each sequence's valid inputs; lengths 1..max_time."""
    data = torch.rand(batch, max_time, 1, generator=generator) * 2 - 1
    length = torch.randint(1, max_time + 1, (batch,), generator=generator)
    valid = torch.arange(max_time).unsqueeze(0) < length.unsqueeze(1)
    target = (data.squeeze(2) * valid).sum(1, keepdim=True)
    return data, length, target


def test_variable_length_multilayer_gru_with_dropout_trains() -> None:
    """Hafner, "Variable Sequence Lengths in TensorFlow" (2016), stacked with dropout."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    num_hidden, num_layers, keep_prob = 16, 2, 0.9

    # --- TF1, verbatim apart from the import ---------------------------------------------
    cells = [tf.nn.rnn_cell.DropoutWrapper(tf.nn.rnn_cell.GRUCell(num_hidden), output_keep_prob=keep_prob)
             for _ in range(num_layers)]
    cell = tf.nn.rnn_cell.MultiRNNCell(cells)
    # ----------------------------------------------------------------------------------------
    dense = torch.nn.Linear(num_hidden, 1)  # was: prediction = tf.layers.dense(last, 1)

    def model(data, length):
        output, state = tf.nn.dynamic_rnn(cell, data, dtype=tf.float32, sequence_length=length)  # TF1 line
        last = state[-1]  # TF1 line: the last layer's final state, taken at each sequence's own length
        return dense(last)

    data, length, target = make_sum_task(g)
    model(data, length)  # the first call creates the cells' parameters (TF: building the graph)
    opt = torch.optim.Adam(list(cell.parameters()) + list(dense.parameters()), lr=0.01)
    losses = []
    for _ in range(40):
        data, length, target = make_sum_task(g)
        loss = torch.nn.functional.mse_loss(model(data, length), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.3 * first, (first, last)


def test_static_rnn_basic_lstm_classifier_trains() -> None:
    """TensorFlow-Examples ``recurrent_network.py`` (MNIST rows as time steps), on generated data."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    timesteps, num_input, num_hidden, num_classes = 8, 4, 32, 3

    def batch(n: int = 64):
        x = torch.randn(n, timesteps, num_input, generator=g)
        y = x[:, :, :num_classes].mean(1).argmax(1)  # the feature with the largest mean over time
        return x, y

    weights = {"out": torch.nn.Parameter(torch.randn(num_hidden, num_classes) * 0.1)}
    biases = {"out": torch.nn.Parameter(torch.zeros(num_classes))}

    def RNN(x, weights, biases):
        # --- TF1, verbatim apart from the import (rnn = tf.contrib.rnn) --------------------
        rnn = tf.contrib.rnn
        x = torch.unbind(x, 1)  # was: x = tf.unstack(x, timesteps, 1)
        lstm_cell = rnn.BasicLSTMCell(num_hidden, forget_bias=1.0)
        outputs, states = rnn.static_rnn(lstm_cell, x, dtype=tf.float32)
        return torch.matmul(outputs[-1], weights["out"]) + biases["out"], lstm_cell
        # ------------------------------------------------------------------------------------

    x, y = batch()
    _, lstm_cell = RNN(x, weights, biases)
    # TF builds the cell once in the graph; in eager torch, keep the cell and reuse it:
    def logits_of(x):
        outputs, _ = tf.contrib.rnn.static_rnn(lstm_cell, list(torch.unbind(x, 1)), dtype=tf.float32)
        return torch.matmul(outputs[-1], weights["out"]) + biases["out"]

    opt = torch.optim.Adam(list(lstm_cell.parameters()) + [weights["out"], biases["out"]], lr=0.01)
    losses = []
    for _ in range(60):
        x, y = batch()
        loss = torch.nn.functional.cross_entropy(logits_of(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.6 * first, (first, last)
