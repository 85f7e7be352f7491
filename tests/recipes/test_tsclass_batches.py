"""tsclass's padded tensors and batches on a small file: the previous list-pad-and-copy path's values, noise per batch."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.batching import pad_sequences
from rnnkit.data.seriesnorm import normalise
from rnnkit.recipes.base import shuffled_batches
from rnnkit.recipes.tsclass import Config, TSClass, read_sequence_file
from tests.recipes.test_tsclass import make_sequences, write_csv


def _recipe(path, **kw) -> TSClass:
    recipe = TSClass(Config(data=str(path), id_column="seq", label_column="kind", time_column="step", threads=1, **kw))
    recipe.load_data()
    return recipe


def _previous_tensors(recipe: TSClass, seqs):
    """What ``_tensors`` did before: a list of normalised copies, then ``pad_sequences``."""
    a = recipe.assets
    scaled = [torch.from_numpy(normalise(s, a["normalize"], a["mean"], a["std"])) for s in seqs]
    return pad_sequences(scaled, padding_value=0.0, dtype=torch.float32)


@pytest.mark.parametrize("normalize", ["channel", "series"])
def test_batches_without_noise_are_the_previous_implementations(tmp_path, normalize):
    seqs, labels = make_sequences(60)
    write_csv(tmp_path / "d.csv", seqs, labels)
    recipe = _recipe(tmp_path / "d.csv", noise=0.0, normalize=normalize)
    raw, _, _, _ = read_sequence_file(tmp_path / "d.csv", recipe.cfg, None, need_labels=True)
    x, lengths, y = recipe.splits["train"]
    for split in ("train", "test"):
        xs, ls, ys = recipe.splits[split]
        # the rows of each split are some of the file's sequences: find them by length and values
        ref_x, ref_l = _previous_tensors(recipe, [raw[i] for i in _indices(recipe, raw, xs, ls)])
        assert torch.equal(xs, ref_x) and torch.equal(ls, ref_l)
    ref = shuffled_batches((x, lengths, y), recipe.cfg.batch_size, recipe.epoch_generator(3))
    got = recipe.train_batches(3)
    assert len(got) == len(ref)
    for a, b in zip(got, ref):
        assert all(torch.equal(u, v) for u, v in zip(a, b))


def _indices(recipe: TSClass, raw, xs, ls) -> list[int]:
    """Which file sequence each padded row came from (matched on the first normalised step, exactly)."""
    a = recipe.assets
    firsts = {normalise(s, a["normalize"], a["mean"], a["std"])[0].tobytes(): i for i, s in enumerate(raw)}
    return [firsts[xs[r, 0].numpy().tobytes()] for r in range(len(ls))]


def test_noise_is_reproducible_by_seed_and_across_a_rebuilt_epoch(tmp_path):
    seqs, labels = make_sequences(60)
    write_csv(tmp_path / "d.csv", seqs, labels)
    a, b = _recipe(tmp_path / "d.csv", seed=5), _recipe(tmp_path / "d.csv", seed=5)
    x, lengths, _ = a.splits["train"]
    first, again = a.train_batches(2), b.train_batches(2)  # as --resume rebuilds the epoch and indexes batch k
    assert torch.equal(again[len(again) - 1][0], first[len(first) - 1][0])
    assert all(torch.equal(first[k][0], again[k][0]) for k in range(len(first)))
    assert not torch.equal(first[0][0], a.train_batches(3)[0][0])
    assert not torch.equal(first[0][0], _recipe(tmp_path / "d.csv", seed=6).train_batches(2)[0][0])
    clean = shuffled_batches(a.splits["train"], a.cfg.batch_size, a.epoch_generator(2))
    for (xn, ln, _), (xc, lc, _) in zip(first, clean):  # noise of std --noise on the valid steps, none on padding
        valid = (torch.arange(xn.shape[1])[None, :] < ln[:, None]).unsqueeze(-1).expand_as(xn)
        assert torch.equal(ln, lc) and torch.equal(xn[~valid], xc[~valid]) and not torch.equal(xn, xc)
    diffs = torch.cat([(xn - xc)[(torch.arange(xn.shape[1])[None, :] < ln[:, None]).unsqueeze(-1).expand_as(xn)]
                       for (xn, ln, _), (xc, _, _) in zip(first, clean)])
    assert abs(float(diffs.std()) - a.cfg.noise) < 0.01 and torch.equal(a.splits["train"][0], x)
