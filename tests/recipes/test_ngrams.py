"""The wide bag of n-grams against a per-text loop written from its formula."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.recipes.ngrams import NgramBag, ngram_hashes
from rnnkit.recipes.sentiment import Config
from rnnkit.recipes.textmodel import TextClassifier


def manual_wide(bag: NgramBag, words: list[int]) -> torch.Tensor:
    """sum over the text's n-grams of their weight rows / sqrt(number of n-grams), one text at a time."""
    rows, count = [], 0
    for n in range(1, bag.order + 1):
        for t in range(len(words) - n + 1):
            gram = words[t:t + n]
            if n == 1:
                rows.append(bag.unigrams.weight[gram[0]])
            else:
                h = 0
                for w in gram:
                    h = (h * 1_000_003 + w) % bag.buckets
                rows.append(bag.grams.weight[h])
            count += 1
    return torch.stack(rows).sum(0) / math.sqrt(count)


def test_ngram_hashes_are_the_polynomial_hash():
    ids = torch.tensor([[5, 7, 9, 11]])
    assert ngram_hashes(ids, 2, 101).tolist() == [[(5 * 1_000_003 + 7) % 101, (7 * 1_000_003 + 9) % 101,
                                                    (9 * 1_000_003 + 11) % 101]]


@pytest.mark.parametrize("order", [1, 2, 3])
def test_bag_matches_the_formula_and_ignores_padding(order):
    torch.manual_seed(0)
    bag = NgramBag(30, order, buckets=97, outputs=3)
    with torch.no_grad():
        for p in bag.parameters():
            p.normal_()
    texts = [[4, 5, 6, 7, 8], [9, 2], [3]]
    ids = torch.zeros(3, 5, dtype=torch.long)
    for i, t in enumerate(texts):
        ids[i, :len(t)] = torch.tensor(t)
    lengths = torch.tensor([len(t) for t in texts])
    got = bag(ids, lengths)
    for i, t in enumerate(texts):
        assert torch.allclose(got[i], manual_wide(bag, t), atol=1e-6)
    wider = torch.cat([ids, torch.randint(1, 30, (3, 4))], 1)  # junk past each length changes nothing
    assert torch.allclose(bag(wider, lengths), got, atol=1e-6)


def test_dropout_drops_whole_occurrences_in_training_only():
    torch.manual_seed(0)
    bag = NgramBag(10, 1, buckets=7, outputs=2, dropout=0.5)
    with torch.no_grad():
        bag.unigrams.weight.fill_(1.0)
    ids, lengths = torch.full((2000, 16), 3), torch.full((2000,), 16)
    with torch.no_grad():
        train = bag.train()(ids, lengths)
    assert torch.equal(train[:, 0], train[:, 1])  # one draw per occurrence for every output
    assert float(train.mean()) == pytest.approx(4.0, rel=0.02)  # 16 / sqrt(16), kept in expectation
    assert float(train.std()) > 0.5
    assert torch.allclose(bag.eval()(ids, lengths), torch.full((2000, 2), 4.0))


def test_classifier_averages_the_recurrent_and_the_wide_logits():
    cfg = dict(embed_dim=6, hidden_size=5, hidden_size2=4)
    torch.manual_seed(1)
    plain = TextClassifier(Config(**cfg, ngrams=0), 20, 1).eval()
    torch.manual_seed(1)
    wide = TextClassifier(Config(**cfg, ngrams=2, ngram_buckets=64), 20, 1).eval()
    ids, lengths = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9]]), torch.tensor([3, 4])
    deep = plain(ids, lengths)
    assert torch.equal(plain(ids, lengths, members=True), deep[None])
    with torch.no_grad():
        wide.wide.unigrams.weight[5] = 2.0
    parts = wide(ids, lengths, members=True)
    assert parts.shape == (2, 2, 1) and torch.equal(parts[0], deep)  # same recurrent weights (same seed)
    assert torch.allclose(parts[1, :, 0], torch.tensor([2.0 / math.sqrt(5), 0.0]), atol=1e-6)
    assert torch.allclose(wide(ids, lengths), (deep + parts[1]) / 2)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="order must be >= 1, got 0"):
        NgramBag(10, 0, 8, 1)
    with pytest.raises(ValueError, match=r"buckets must be in \[1, 2\*\*40\), got 0"):
        NgramBag(10, 2, 0, 1)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        NgramBag(10, 2, 8, 1, dropout=1.0)
