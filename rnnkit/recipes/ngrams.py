"""A linear bag of word n-grams, the "wide" half of a wide-and-deep text classifier.

Beside the recurrent network, a text classifier can hold a linear model over
the word n-grams of the text (the features of NB-SVM, TF-IDF logistic
regression and fastText; Mesnil et al. 2014 combine such a model with a
recurrent one). :class:`~rnnkit.recipes.textmodel.TextClassifier` averages its
logits with the recurrent network's and trains each on its own loss:

.. math::

    z_{\\text{wide}} = \\frac{1}{\\sqrt{N}} \\sum_{n=1}^{O} \\sum_{t=0}^{L-n} w_{g_n(t)},
    \\qquad N = \\sum_{n=1}^{O} \\max(L - n + 1, 0)

where ``L`` is the text's length, ``g_1(t)`` the word id at ``t`` and, for
``n >= 2``, ``g_n(t)`` a hash of the ``n`` word ids from ``t`` into ``buckets``
rows (the hashing trick: no n-gram vocabulary to store, so a run directory
and ``rnnkit predict`` need nothing new). The weights start at zero, so the
model starts as the recurrent one alone; ``dropout`` drops single n-gram
occurrences while training.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_MULTIPLIER = 1_000_003
"""Odd multiplier of the polynomial n-gram hash: the running hash stays below ``buckets`` (< 2**40) and the
word ids below 2**40, so ``h * _MULTIPLIER + id`` never overflows int64."""


def ngram_hashes(ids: Tensor, n: int, buckets: int) -> Tensor:
    """Bucket ids ``(B, T - n + 1)`` of the n-grams starting at each position of ``ids`` ``(B, T)``."""
    h = torch.zeros_like(ids[:, : ids.shape[1] - n + 1])
    for k in range(n):
        h = (h * _MULTIPLIER + ids[:, k : ids.shape[1] - n + 1 + k]) % buckets
    return h


class NgramBag(nn.Module):
    """The wide term ``(B, outputs)`` of token ids ``(B, T)`` with lengths ``(B,)`` (see the module docstring).

    Args:
        vocab_size: ``V``; unigrams use the word ids themselves (id 0 = padding adds nothing).
        order: ``O`` >= 1, the longest n-gram.
        buckets: hash rows for the n-grams with ``n >= 2``.
        outputs: logits per text.
        dropout: probability of dropping each n-gram occurrence in training.
    """

    def __init__(self, vocab_size: int, order: int, buckets: int, outputs: int, dropout: float = 0.0) -> None:
        super().__init__()
        if order < 1:
            raise ValueError(f"NgramBag: order must be >= 1, got {order}")
        if not 1 <= buckets < 2**40:
            raise ValueError(f"NgramBag: buckets must be in [1, 2**40), got {buckets}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"NgramBag: dropout must be in [0, 1), got {dropout}")
        self.order, self.buckets, self.dropout = order, buckets, dropout
        self.unigrams = nn.Embedding(vocab_size, outputs)
        self.grams = nn.Embedding(buckets, outputs) if order > 1 else None
        for table in (self.unigrams, self.grams):
            if table is not None:
                nn.init.zeros_(table.weight)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """The wide logits ``(B, outputs)``; positions at or past each length never count."""
        steps = torch.arange(ids.shape[1], device=ids.device)
        total = ids.new_zeros(ids.shape[0], self.unigrams.embedding_dim, dtype=self.unigrams.weight.dtype)
        count = torch.zeros_like(lengths)
        for n in range(1, min(self.order, ids.shape[1]) + 1):
            starts = lengths - n + 1
            valid = steps[: ids.shape[1] - n + 1][None, :] < starts[:, None]
            rows = self.unigrams(ids) if n == 1 else self.grams(ngram_hashes(ids, n, self.buckets))
            rows = rows * valid.unsqueeze(-1).to(rows.dtype)
            if self.training and self.dropout > 0:  # whole occurrences, all outputs at once
                keep = torch.rand(rows.shape[:2] + (1,), device=rows.device) >= self.dropout
                rows = rows * keep.to(rows.dtype) / (1.0 - self.dropout)
            total = total + rows.sum(1)
            count = count + starts.clamp(min=0)
        return total / count.clamp(min=1).to(total.dtype).sqrt()[:, None]
