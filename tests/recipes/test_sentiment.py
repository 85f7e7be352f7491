"""sentiment end to end through ``rnnkit.cli.main``: train -> checkpoint -> resume -> eval -> predict."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.datasets import dataset_status
from rnnkit.recipes.sentiment import Config, Ensemble, TextClassifier, classification_metrics
from rnnkit.train import rundir

SMALL = ["--embed-dim", "16", "--hidden-size", "16", "--hidden-size2", "8", "--min-freq", "1", "--batch-size", "16",
         "--lr", "0.03", "--dropout", "0.1", "--threads", "1", "--no-progress"]
WORDS = {"pos": ["good", "great", "superb", "moving"], "neg": ["bad", "dull", "awful", "boring"],
         "mixed": ["uneven", "patchy", "so-so", "middling"]}
FILLER = ["the", "film", "a", "plot", "is", "with", "actors", "and", "story", "this", "it"]


def texts(labels: list[str], seed: int = 0) -> list[tuple[str, str]]:
    """Synthetic reviews: filler words and one or two words that give the label away."""
    rng = random.Random(seed)
    rows = []
    for i in range(200):
        label = labels[i % len(labels)]
        words = rng.choices(FILLER, k=rng.randint(3, 12)) + rng.choices(WORDS[label], k=rng.randint(1, 2))
        rng.shuffle(words)
        rows.append((" ".join(words).capitalize() + "!", label))
    return rows


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def records(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_csv_train_resume_eval_predict(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "reviews.csv"
    with open(data, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["review", "verdict", "id"])
        w.writerows((t, label, i) for i, (t, label) in enumerate(texts(["pos", "neg"])))
    run = tmp_path / "r"
    args = ["train", "sentiment", "--data", str(data), "--text-column", "review", "--label-column", "verdict", *SMALL]
    assert main([*args, "--epochs", "3", "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "read 200 rows" in out and "(positive class 'pos')" in out
    epochs = [r for r in records(run) if r["kind"] == "epoch"]
    assert epochs[-1]["train_loss"] < 0.7 * epochs[0]["train_loss"]
    report = json.loads((run / "report.json").read_text())
    assert report["results"]["classes"] == ["neg", "pos"] and report["test"]["acc"] >= 0.75
    assert sum(map(sum, report["results"]["confusion_matrix"])) == 40  # 20% of 200
    assert json.loads((run / "assets.json").read_text())["vocab"]["itos"][:2] == ["<pad>", "<unk>"]

    assert main(["train", "sentiment", "--resume", "--run-dir", str(run), "--epochs", "4", "--no-progress"]) == 0
    assert [r["epoch"] for r in records(run) if r["kind"] == "epoch"] == [0, 1, 2, 3]

    # eval: test accuracy recomputed text by text (one unpadded text at a time: padding must not matter)
    assert main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    recipe = rundir.open_recipe(run)
    recipe.load_data()
    model, _ = rundir.load_weights(recipe, run)
    ids, _, y = recipe.splits["test"]
    with torch.no_grad():
        probs = torch.cat([torch.sigmoid(model(t[None], torch.tensor([len(t)])))[:, 0] for t in ids])
    assert result["test"]["acc"] == pytest.approx(float(((probs > 0.5).long() == y).float().mean()))

    # predict: a .txt file (one text per line) and a CSV with the text column
    (tmp_path / "new.txt").write_text("a superb and moving story\nthe dull boring plot\n\n", encoding="utf-8")
    assert main(["predict", str(run), "--input", str(tmp_path / "new.txt")]) == 0
    rows = read_rows(tmp_path / "new.predictions.csv")
    assert [r["prediction"] for r in rows] == ["pos", "neg"] and rows[0]["text"] == "a superb and moving story"
    assert all(float(r["p_neg"]) + float(r["p_pos"]) == pytest.approx(1.0, abs=1e-5) for r in rows)
    with open(tmp_path / "new.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["review"], ["great, good"], ["awful, \"bad\""]])
    assert main(["predict", str(run), "--input", str(tmp_path / "new.csv"), "--output", str(tmp_path / "o.csv")]) == 0
    assert [r["prediction"] for r in read_rows(tmp_path / "o.csv")] == ["pos", "neg"]


def test_jsonl_multiclass(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "reviews.jsonl"
    data.write_text("\n".join(json.dumps({"text": t, "label": label}) for t, label in texts(["pos", "neg", "mixed"]))
                    + "\n", encoding="utf-8")
    run = tmp_path / "m"
    assert main(["train", "sentiment", "--data", str(data), *SMALL, "--pooling", "max", "--bidirectional",
                 "--epochs", "4", "--run-dir", str(run)]) == 0
    assert "(macro average)" in capsys.readouterr().out
    epochs = [r for r in records(run) if r["kind"] == "epoch"]
    assert epochs[-1]["train_loss"] < 0.7 * epochs[0]["train_loss"]
    report = json.loads((run / "report.json").read_text())
    assert report["results"]["classes"] == ["mixed", "neg", "pos"] and len(report["results"]["confusion_matrix"]) == 3
    recipe = rundir.open_recipe(run)
    model, _ = rundir.load_weights(recipe, run)
    assert all(m.head.out_features == 3 and m.wide.unigrams.embedding_dim == 3 for m in model.members)


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "maxmean"])
def test_padding_never_changes_a_texts_logits(pooling):
    torch.manual_seed(0)
    model = TextClassifier(Config(embed_dim=6, hidden_size=5, hidden_size2=4, pooling=pooling), 20, 1).eval()
    short = torch.tensor([[3, 4, 5]])
    padded = torch.tensor([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
    with torch.no_grad():
        alone = model(short, torch.tensor([3]))
        batch = model(padded, torch.tensor([3, 6]))
    assert torch.allclose(alone[0], batch[0], atol=1e-6)


def test_maxmean_pooling_concatenates_max_and_mean():
    torch.manual_seed(0)
    cfg = Config(embed_dim=6, hidden_size=5, hidden_size2=4, pooling="maxmean", ngrams=0)
    model = TextClassifier(cfg, 20, 1).eval()
    assert model.head.in_features == 8
    ids, lengths = torch.tensor([[3, 4, 5, 0], [1, 2, 3, 4]]), torch.tensor([3, 4])
    with torch.no_grad():
        out, _ = model.rnn(model.embed(ids), lengths=lengths)
        top = torch.stack([out[0, :3].amax(0), out[1].amax(0)])
        mean = torch.stack([out[0, :3].mean(0), out[1].mean(0)])
        want = model.head(torch.cat([top, mean], 1))
        assert torch.allclose(model(ids, lengths), want, atol=1e-6)


def test_word_dropout_replaces_words_by_unk_in_training_only():
    torch.manual_seed(0)
    model = TextClassifier(Config(embed_dim=4, hidden_size=3, hidden_size2=2, word_dropout=0.3), 50, 1)
    ids = torch.randint(2, 50, (64, 40))
    ids[:, 30:] = 0  # padding
    seen = []
    model.embed.register_forward_hook(lambda mod, args, out: seen.append(args[0].clone()))
    model.train()(ids, torch.full((64,), 30))
    model.eval()(ids, torch.full((64,), 30))
    dropped = seen[0] != ids
    assert torch.all(seen[0][dropped] == 1) and not dropped[:, 30:].any()  # <unk>, never the padding
    assert 0.25 < float(dropped[:, :30].float().mean()) < 0.35
    assert torch.equal(seen[1], ids)


def test_ensemble_trains_members_apart_and_averages_their_logits(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "reviews.csv"
    with open(data, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "label"), *texts(["pos", "neg"])])
    run = tmp_path / "e"
    assert main(["train", "sentiment", "--data", str(data), *SMALL, "--ensemble", "3", "--ngrams", "0", "--epochs", "3",
                 "--run-dir", str(run)]) == 0
    recipe = rundir.open_recipe(run)
    recipe.load_data()
    model, _ = rundir.load_weights(recipe, run)
    assert isinstance(model, Ensemble) and len(model.members) == 3
    w = [m.head.weight for m in model.members]
    assert not torch.allclose(w[0], w[1]) and not torch.allclose(w[1], w[2])  # initialised (and trained) apart
    ids, lengths, y = recipe._batches("test", None)[0]
    model.eval()
    with torch.no_grad():
        each = torch.stack([m(ids, lengths) for m in model.members])
        assert torch.allclose(model(ids, lengths), each.mean(0), atol=1e-6)
        assert torch.allclose(model(ids, lengths, members=True), each)
        # the training loss is the members' mean loss, not the loss of their mean logit
        loss, _ = recipe.training_loss(model, (ids, lengths, y), None)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        assert float(loss) == pytest.approx(float(torch.stack([bce(e[:, 0], y.float()) for e in each]).mean()))
    report = json.loads((run / "report.json").read_text())
    assert report["test"]["acc"] >= 0.75


def test_val_seed_keeps_the_test_set_and_draws_another_validation_set(tmp_path):
    data = tmp_path / "reviews.csv"
    with open(data, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "label"), *texts(["pos", "neg"])])

    def splits(**kw):
        from rnnkit.recipes.sentiment import Sentiment
        recipe = Sentiment(Config(data=str(data), min_freq=1, **kw))
        recipe.load_data()
        itos = recipe.assets["vocab"]["itos"]  # (the vocabulary follows the training texts: compare words)
        return {k: sorted(" ".join(itos[i] for i in t.tolist()) for t in v[0]) for k, v in recipe.splits.items()}

    base, default, other = splits(), splits(val_seed=1), splits(val_seed=7)
    assert base == default  # -1 means --split-seed + 1, as before
    assert other["test"] == base["test"] and other["val"] != base["val"]
    assert sorted(other["val"] + other["train"]) == sorted(base["val"] + base["train"])


def test_classification_metrics_match_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    for k in (2, 4):
        true, pred = torch.randint(0, k, (300,), generator=g), torch.randint(0, k, (300,), generator=g)
        got = classification_metrics(pred, true, k)
        avg = {"average": "binary"} if k == 2 else {"average": "macro"}
        assert got["acc"] == pytest.approx(metrics.accuracy_score(true, pred))
        assert got["precision"] == pytest.approx(metrics.precision_score(true, pred, **avg))
        assert got["recall"] == pytest.approx(metrics.recall_score(true, pred, **avg))
        assert got["f1"] == pytest.approx(metrics.f1_score(true, pred, **avg))


def test_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "sentiment", "--data", str(tmp_path / "none.csv")]) == 1
    assert "sentiment: --data file" in capsys.readouterr().err
    (tmp_path / "one.csv").write_text("text,label\nfine film,pos\ngood film,pos\n", encoding="utf-8")
    assert main(["train", "sentiment", "--data", str(tmp_path / "one.csv")]) == 1
    assert "at least 2 labels" in capsys.readouterr().err
    (tmp_path / "cols.csv").write_text("body,label\nfine film,pos\n", encoding="utf-8")
    assert main(["train", "sentiment", "--data", str(tmp_path / "cols.csv")]) == 1
    assert "no column(s) 'text'" in capsys.readouterr().err
    assert main(["train", "sentiment", "--data", str(tmp_path / "one.csv"), "--word-dropout", "1.0"]) == 1
    assert "--word-dropout must be in [0, 1), got 1.0" in capsys.readouterr().err
    assert main(["train", "sentiment", "--data", str(tmp_path / "one.csv"), "--ensemble", "0"]) == 1
    assert "--ensemble must be >= 1, got 0" in capsys.readouterr().err
    assert main(["train", "sentiment", "--data", str(tmp_path / "one.csv"), "--ngram-dropout", "-0.1"]) == 1
    assert "--ngram-dropout must be in [0, 1), got -0.1" in capsys.readouterr().err
    assert main(["train", "sentiment", "--data", str(tmp_path / "one.csv"), "--val-seed", "-2"]) == 1
    assert "--val-seed must be >= -1, got -2" in capsys.readouterr().err
    for flag, value, message in (("--embed-init", "0", "--embed-init must be a finite number > 0, got 0.0"),
                                 ("--ngram-lr-scale", "inf", "--ngram-lr-scale must be a finite number > 0, got inf"),
                                 ("--ngrams", "-1", "--ngrams must be >= 0, got -1"),
                                 ("--ngram-buckets", "0", "--ngram-buckets must be >= 1, got 0")):
        assert main(["train", "sentiment", "--data", str(tmp_path / "one.csv"), flag, value]) == 1
        assert message in capsys.readouterr().err


@pytest.mark.skipif(not dataset_status()["rotten_tomatoes"][0], reason=dataset_status()["rotten_tomatoes"][1])
def test_rotten_tomatoes_tiny(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "sentiment", "--tiny", *SMALL, "--epochs", "1", "--run-dir", str(tmp_path / "rt")]) == 0
    report = json.loads((tmp_path / "rt" / "report.json").read_text())
    assert report["results"]["classes"] == ["rotten", "fresh"]


def test_the_wide_part_learns_at_its_own_rate(tmp_path, monkeypatch):
    from rnnkit.recipes.sentiment import Sentiment

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "reviews.csv"
    with open(data, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "label"), *texts(["pos", "neg"])])
    seen = []
    original = Sentiment.param_groups

    def spy(self, model):
        seen.append((model, original(self, model)))
        return seen[-1][1]

    monkeypatch.setattr(Sentiment, "param_groups", spy)
    run = tmp_path / "w"
    assert main(["train", "sentiment", "--data", str(data), *SMALL, "--ngrams", "2", "--ngram-buckets", "512",
                 "--ngram-lr-scale", "10", "--ensemble", "2", "--epochs", "3", "--run-dir", str(run)]) == 0
    trained, (rest, wide) = seen[0]
    assert wide["lr"] == pytest.approx(0.3) and rest["lr"] == pytest.approx(0.03)  # as the optimiser holds them
    want = {id(p) for m in trained.members for p in m.wide.parameters()}
    assert len(want) == 4 and {id(p) for p in wide["params"]} == want
    assert len(rest["params"]) + len(want) == len(list(trained.parameters()))
    assert all(float(m.wide.unigrams.weight.detach().abs().sum()) > 0 for m in trained.members)  # they learned
    report = json.loads((run / "report.json").read_text())
    assert report["test"]["acc"] >= 0.75


def test_a_run_saved_before_the_wide_and_ensemble_fields_still_loads(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "reviews.csv"
    with open(data, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "label"), *texts(["pos", "neg"])])
    run = tmp_path / "old"
    assert main(["train", "sentiment", "--data", str(data), *SMALL, "--ngrams", "0", "--ensemble", "1",
                 "--embed-init", "1", "--epochs", "2", "--run-dir", str(run)]) == 0
    saved = json.loads((run / "config.json").read_text())
    for key in ("ngrams", "ngram_buckets", "ngram_lr_scale", "ngram_dropout", "ensemble", "embed_init"):
        del saved["config"][key]  # as an older rnnkit wrote it
    (run / "config.json").write_text(json.dumps(saved))
    recipe = rundir.open_recipe(run)
    assert (recipe.cfg.ngrams, recipe.cfg.ensemble, recipe.cfg.embed_init) == (0, 1, 1.0)
    recipe.load_data()
    model, _ = rundir.load_weights(recipe, run)
    assert isinstance(model, TextClassifier) and model.wide is None
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    assert main(["train", "sentiment", "--resume", "--run-dir", str(run), "--epochs", "3", "--threads", "1",
                 "--no-progress"]) == 0  # resumes with the run's own (older) architecture
    assert json.loads((run / "config.json").read_text())["config"]["ngrams"] == 0
