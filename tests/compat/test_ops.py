"""The TF1 ops around RNN code (rnnkit.compat.v1.ops, nn, losses, train, layers) against
numpy / hand-written references of TF1's documented semantics."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from rnnkit.compat import v1 as tf

rng = np.random.default_rng(0)


def test_tensor_makers_follow_tf_defaults() -> None:
    assert tf.constant(0.1, shape=[3]).dtype == torch.float32 and tf.constant(0.1, shape=[3]).tolist() == \
        pytest.approx([0.1] * 3)
    assert tf.constant(np.zeros((2, 2))).dtype == torch.float32  # numpy float64 -> float32, as TF1 code expects
    assert tf.constant([1, 2], dtype=np.int64).dtype == torch.int64
    v = tf.Variable(tf.random_normal([4, 5], stddev=0.1, seed=3))
    assert isinstance(v, torch.nn.Parameter) and v.requires_grad and v.shape == (4, 5)
    assert torch.equal(tf.random_normal([4, 5], stddev=0.1, seed=3), v.detach())
    assert abs(tf.random_normal([20000], mean=2.0, stddev=0.5).std().item() - 0.5) < 0.02
    assert tf.zeros([2, 3]).dtype == torch.float32
    u = tf.random_uniform([20000], -1, 1)
    assert u.min() >= -1 and u.max() < 1 and abs(u.mean().item()) < 0.02 and abs(u.var().item() - 1 / 3) < 0.02


def test_shape_and_math_ops_match_numpy() -> None:
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))
    np.testing.assert_allclose(tf.matmul(a, b).numpy(), (a @ b).astype(np.float32), rtol=1e-5)
    np.testing.assert_allclose(tf.matmul(b, b, transpose_a=True).numpy(), (b.T @ b).astype(np.float32), rtol=1e-5)
    assert tf.reshape(a, [-1, 4]).shape == (6, 4)
    assert tf.transpose(a).shape == (4, 3, 2) and tf.transpose(a, [1, 0, 2]).shape == (3, 2, 4)
    assert [t.shape for t in tf.unstack(a, 3, 1)] == [(2, 4)] * 3
    assert tf.stack(tf.unstack(a, axis=1), 1).shape == a.shape and tf.concat([a, a], 2).shape == (2, 3, 8)
    np.testing.assert_allclose(tf.reduce_mean(a).item(), a.mean(), rtol=1e-5)
    np.testing.assert_allclose(tf.reduce_mean(a, axis=[0, 2], keepdims=True).numpy(), a.mean((0, 2), keepdims=True),
                               rtol=1e-5)
    np.testing.assert_allclose(tf.reduce_sum(a, 1).numpy(), a.sum(1), rtol=1e-5)
    assert tf.reduce_mean(a, keepdims=True).shape == (1, 1, 1)
    np.testing.assert_array_equal(tf.argmax(a, 1).numpy(), a.argmax(1))
    np.testing.assert_array_equal(tf.argmax(a).numpy(), a.argmax(0))  # TF1's default axis is 0
    assert tf.equal(torch.tensor([1, 2]), np.array([1, 3])).tolist() == [True, False]
    assert tf.cast(torch.tensor([-1.7, 1.7]), tf.int32).tolist() == [-1, 1]  # toward zero
    assert tf.round(torch.tensor([0.5, 1.5, 2.5, -0.5])).tolist() == [0.0, 2.0, 2.0, -0.0]  # half to even
    with pytest.raises(ValueError, match=re.escape("unstack: num must be the size of axis 1 (3), got 4")):
        tf.unstack(a, 4, 1)
    with pytest.raises(TypeError, match="cast: dtype must be a dtype"):
        tf.cast(a, "float7")


def test_losses_are_tf1s() -> None:
    logits, labels = rng.standard_normal((6, 4)), np.eye(4)[rng.integers(0, 4, 6)]
    shifted = logits - logits.max(1, keepdims=True)
    ref = -(labels * (shifted - np.log(np.exp(shifted).sum(1, keepdims=True)))).sum(1)
    got = tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5)
    sparse = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels.argmax(1), logits=logits)
    np.testing.assert_allclose(sparse.numpy(), ref, rtol=1e-5)
    with pytest.raises(TypeError, match="call it with keywords, labels=... and logits=..."):
        tf.nn.softmax_cross_entropy_with_logits(logits, labels)
    z, y = rng.standard_normal(5), rng.integers(0, 2, 5).astype(float)
    ref_sig = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))  # TF's documented stable form
    np.testing.assert_allclose(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z).numpy(), ref_sig, rtol=1e-5)
    pred = rng.random((5, 1))
    np.testing.assert_allclose(tf.losses.mean_squared_error(y[:, None], pred).item(), ((pred - y[:, None]) ** 2).mean(),
                               rtol=1e-5)
    emb = torch.arange(12.0).reshape(4, 3)
    assert torch.equal(tf.nn.embedding_lookup(emb, np.array([[3, 0]])), emb[torch.tensor([[3, 0]])])


def test_minimize_trains_what_the_loss_depends_on_including_lazily_built_cells() -> None:
    """``train_op = tf.train.AdamOptimizer(lr).minimize(cost)``, eagerly: one step per call, Adam's numbers."""
    torch.manual_seed(0)
    cell = tf.nn.rnn_cell.BasicLSTMCell(4)
    fc = tf.layers.Dense(1, activation=tf.sigmoid)
    x, y = torch.randn(8, 5, 3), torch.randint(0, 2, (8, 1)).float()
    opt = tf.train.AdamOptimizer(0.01)  # made before the first call: minimize finds the cell's parameters anyway
    losses = []
    for _ in range(30):
        _, state = tf.nn.dynamic_rnn(cell, x)
        loss = tf.losses.mean_squared_error(y, fc(state.h))
        losses.append(opt.minimize(loss).item())
    held = {id(p) for g in opt.torch_optimizer.param_groups for p in g["params"]}
    assert held == {id(p) for p in list(cell.parameters()) + list(fc.parameters()) if p.requires_grad}
    assert losses[-1] < 0.7 * losses[0]
    # the same steps as torch.optim.Adam directly
    w = tf.Variable(np.ones(3))
    ref = w.detach().clone().requires_grad_()
    ours, theirs = tf.train.AdamOptimizer(0.1), torch.optim.Adam([ref], lr=0.1, eps=1e-8)
    for _ in range(3):
        ours.minimize((w ** 2).sum())
        theirs.zero_grad()
        (ref ** 2).sum().backward()
        theirs.step()
    assert torch.equal(w.detach(), ref.detach())


def test_fully_connected_is_refused_with_its_replacement_and_dense_is_tf_initialised() -> None:
    with pytest.raises(TypeError, match=re.escape("contrib.layers.fully_connected: make the layer once, outside the "
                                                  "training step, then call it: fc = tf.layers.Dense(1, ")):
        tf.contrib.layers.fully_connected(torch.zeros(2, 3), 1, activation_fn=tf.sigmoid)
    torch.manual_seed(0)
    fc = tf.layers.Dense(200)
    y = fc(torch.zeros(2, 300))
    assert torch.count_nonzero(y) == 0 and torch.count_nonzero(fc.linear.bias) == 0  # zero bias
    limit = (6 / 500) ** 0.5  # Glorot-uniform
    assert fc.linear.weight.abs().max() <= limit and fc.linear.weight.abs().max() > 0.95 * limit
