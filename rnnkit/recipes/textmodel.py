"""The ``sentiment`` recipe's models: a word-level recurrent text classifier and an ensemble of them.

:class:`TextClassifier` is the TF1 sentiment tutorial's pipeline: token ids -> (word dropout) ->
embedding -> dropout -> stacked recurrent layers -> pooling over the words ->
dropout -> linear head; with ``ngrams`` > 0 its logits are averaged with those
of a linear bag of word n-grams (:class:`~rnnkit.recipes.ngrams.NgramBag`),
each part trained on its own loss.

:class:`Ensemble` holds ``K`` independently initialised classifiers that see
the same batches; it predicts with the mean of their logits and trains each
member on its own loss (``members=True`` returns every member's output).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.layers import Bidirectional, Recurrent, Stacked
from rnnkit.recipes.models import final_hidden, make_cell
from rnnkit.recipes.ngrams import NgramBag

POOLINGS = ("last", "mean", "max", "maxmean")
"""Text representations: the last word's state, the mean or max over the words, or max and mean concatenated."""


def build_layers(cfg: Any) -> Stacked:
    """The recurrent stack: ``num_layers`` layers of ``hidden_size`` then ``hidden_size2`` units."""
    layers: list[nn.Module] = []
    size = cfg.embed_dim
    for k in range(cfg.num_layers):
        hidden = cfg.hidden_size if k == 0 or cfg.hidden_size2 == 0 else cfg.hidden_size2
        if cfg.bidirectional:
            layers.append(Bidirectional(make_cell(cfg.cell, size, hidden), make_cell(cfg.cell, size, hidden)))
        else:
            layers.append(Recurrent(make_cell(cfg.cell, size, hidden)))
        size = layers[-1].output_size
    return Stacked(layers, dropout=cfg.dropout, batch_first=True)


class TextClassifier(nn.Module):
    """Embedding -> dropout -> stacked recurrent layers -> dropout -> pooling -> linear head.

    Args:
        cfg: a sentiment ``Config`` (cell, embed_dim, hidden_size, hidden_size2,
            num_layers, bidirectional, dropout, pooling, word_dropout, embed_init,
            ngrams, ngram_buckets, ngram_dropout).
        vocab_size: ``V`` (id 0 is padding, id 1 the unknown word; the rest by falling frequency).
        outputs: ``1`` (binary: one logit) or ``K`` classes.
    """

    unk_id = 1

    def __init__(self, cfg: Any, vocab_size: int, outputs: int) -> None:
        super().__init__()
        if cfg.pooling not in POOLINGS:
            raise ValueError(f"TextClassifier: pooling must be one of {', '.join(POOLINGS)}, got {cfg.pooling!r}")
        self.pooling = cfg.pooling
        self.word_dropout = float(getattr(cfg, "word_dropout", 0.0))
        self.embed = nn.Embedding(vocab_size, cfg.embed_dim, padding_idx=0)
        init = float(getattr(cfg, "embed_init", 1.0))
        if init != 1.0:  # torch's default is N(0, 1)
            with torch.no_grad():
                self.embed.weight.normal_(0.0, init)
                self.embed.weight[0].zero_()
        self.rnn = build_layers(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        size = self.rnn.output_size
        self.head = nn.Linear(size * (2 if self.pooling == "maxmean" else 1), outputs)
        order = int(getattr(cfg, "ngrams", 0))
        self.wide = (NgramBag(vocab_size, order, int(getattr(cfg, "ngram_buckets", 1 << 18)), outputs,
                              float(getattr(cfg, "ngram_dropout", 0.0))) if order > 0 else None)

    def _words(self, ids: Tensor) -> Tensor:
        if self.training and self.word_dropout > 0:  # replace whole words by <unk> (torch's global RNG)
            drop = (torch.rand(ids.shape, device=ids.device) < self.word_dropout) & (ids != 0)
            ids = ids.masked_fill(drop, self.unk_id)
        return ids

    def forward(self, ids: Tensor, lengths: Tensor, members: bool = False) -> Tensor:
        """Logits ``(B, outputs)`` of token ids ``(B, T)`` (0 = padding) with valid ``lengths`` ``(B,)`` (>= 1).

        With the wide n-gram bag the logits are the mean of the recurrent and the wide logits, and
        ``members=True`` returns both, ``(2, B, outputs)``, so that each learns on its own loss (as an
        ensemble's members do: trained on a summed logit the two fit the data together and lose the
        gain of averaging two different models); without it, ``(1, B, outputs)``.
        """
        ids = self._words(ids)
        out, final = self.rnn(self.drop(self.embed(ids)), lengths=lengths)
        if self.pooling == "last":
            rep = final_hidden(final[-1])
        else:
            valid = (torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]).unsqueeze(-1)
            mean = out.sum(1) / lengths[:, None].to(out.dtype)  # outputs are exactly 0 past each length
            top = out.masked_fill(~valid, float("-inf")).amax(1)
            rep = {"mean": mean, "max": top}.get(self.pooling)
            if rep is None:
                rep = torch.cat([top, mean], dim=-1)
        logits = self.head(self.drop(rep))
        parts = logits[None] if self.wide is None else torch.stack([logits, self.wide(ids, lengths)])
        return parts if members else parts.mean(0)


class Ensemble(nn.Module):
    """``K`` text classifiers, each initialised on its own; predictions average their logits.

    Args:
        cfg: as :class:`TextClassifier`.
        vocab_size: ``V``.
        outputs: ``1`` or ``K`` classes.
        size: number of members (>= 2).
    """

    def __init__(self, cfg: Any, vocab_size: int, outputs: int, size: int) -> None:
        super().__init__()
        if size < 2:
            raise ValueError(f"Ensemble: size must be >= 2, got {size}")
        self.members = nn.ModuleList([TextClassifier(cfg, vocab_size, outputs) for _ in range(size)])

    def forward(self, ids: Tensor, lengths: Tensor, members: bool = False) -> Tensor:
        """The members' mean logits ``(B, outputs)``; with ``members=True`` every member's parts
        (see :meth:`TextClassifier.forward`), ``(K * P, B, outputs)``."""
        out = torch.cat([m(ids, lengths, members=True) for m in self.members])
        return out if members else out.mean(0)
