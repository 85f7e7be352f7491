"""charlm end to end through ``rnnkit.cli.main``: train -> checkpoint -> resume -> eval -> generate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from rnnkit.cli import main
from rnnkit.data.datasets import dataset_status
from rnnkit.recipes.charlm import CharLM, Config, generate_ids, sample_next
from rnnkit.recipes.models import RNNModel
from rnnkit.train import rundir

VERSE = ("Romeo.\nBut soft, what light through yonder window breaks?\n\n"
         "Juliet.\nO Romeo, Romeo, wherefore art thou Romeo?\n\n")
CHINESE = "床前明月光，疑是地上霜。举头望明月，低头思故乡。\n春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。\n"
SMALL = ["--hidden-size", "32", "--embed-dim", "16", "--bptt", "16", "--batch-size", "8", "--batches-per-epoch", "15",
         "--lr", "0.02", "--eval-streams", "4", "--sample-length", "40", "--threads", "1", "--no-progress"]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Token files go to this test's folder, not the user's cache."""
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))


def records(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"epoch"' in x]


def test_train_resume_eval_generate(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = tmp_path / "verse.txt"
    text.write_text(VERSE * 60, encoding="utf-8")
    run = tmp_path / "r"
    assert main(["train", "charlm", "--text", str(text), *SMALL, "--epochs", "3", "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "--- sample after epoch 1 ---\nRomeo.\n" in out and "charlm: test" in out
    epochs = [r for r in records(run) if r["kind"] == "epoch"]
    assert len(epochs) == 3 and epochs[-1]["train_loss"] < 0.85 * epochs[0]["train_loss"]
    for r in epochs:  # bits/char and perplexity are the nats/char loss in other units
        assert r["val_bpc"] == pytest.approx(r["val_loss"] / math.log(2))
        assert r["val_ppl"] == pytest.approx(math.exp(r["val_loss"]))
        assert r["train_bpc"] == pytest.approx(r["train_eval_loss"] / math.log(2))
        # the default prefixes are Romeo. and Hamlet.; this text has no 'H', so only Romeo. is sampled
        assert set(r["samples"]) == {"Romeo.\n"} and r["samples"]["Romeo.\n"].startswith("Romeo.\n")
    assert (run / "samples.txt").read_text(encoding="utf-8").count("=====") == 2 * 4  # 3 epochs + final

    assert main(["train", "charlm", "--resume", "--run-dir", str(run), "--epochs", "4", "--no-progress"]) == 0
    assert [r["epoch"] for r in records(run) if r["kind"] == "epoch"] == [0, 1, 2, 3]

    # eval: held-out nats/char recomputed by hand (whole validation text, one stream, from a zero state)
    assert main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    recipe = rundir.open_recipe(run)
    recipe.load_data()
    model, _ = rundir.load_weights(recipe, run)
    ids = recipe.ids["val"].to_tensor()
    rows = (len(ids) - 1) // 4  # --eval-streams 4 contiguous rows, each read from a zero state in one call
    x = ids[:4 * rows].view(4, rows)
    y = ids[1:4 * rows + 1].view(4, rows)
    with torch.no_grad():
        logits, _ = model(x)
    manual = float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)))
    assert result["val"]["loss"] == pytest.approx(manual, rel=1e-5)
    assert result["test"]["bpc"] == pytest.approx(result["test"]["loss"] / math.log(2))

    capsys.readouterr()
    assert main(["generate", str(run), "--prefix", "Juliet.\n", "--length", "50", "--temperature", "0.5"]) == 0
    sample = capsys.readouterr().out
    assert sample.startswith("Juliet.\n") and len(sample.rstrip("\n")) >= len("Juliet.\n") + 30
    assert set(sample) <= set(VERSE)
    assert main(["generate", str(run), "--prefix", "Zebra"]) == 1
    assert "--prefix must use characters of the training text, got 'Z'" in capsys.readouterr().err


def test_chinese_text_random_sampling(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = tmp_path / "poems.txt"
    text.write_text(CHINESE * 80, encoding="utf-8")
    run = tmp_path / "zh"
    args = ["train", "charlm", "--text", str(text), *SMALL, "--sampling", "random", "--embed-dim", "0",
            "--sample-prefixes", "床前|Romeo.", "--epochs", "2", "--run-dir", str(run)]
    assert main(args) == 0
    epochs = records(run)
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert set(epochs[0]["samples"]) == {"床前"}  # 'Romeo.' is not in a Chinese vocabulary: skipped
    capsys.readouterr()
    assert main(["generate", str(run), "--prefix", "春眠", "--length", "20", "--top-k", "3"]) == 0
    sample = capsys.readouterr().out.rstrip("\n")
    assert sample.startswith("春眠") and len(sample) == 22 and set(sample) <= set(CHINESE)


def tiny_model(vocab: int = 7, embed: int = 5) -> RNNModel:
    torch.manual_seed(0)
    cfg = Config(hidden_size=12, num_layers=2, embed_dim=embed)
    return RNNModel(cfg, vocab, vocab_size=vocab, embed_dim=embed, per_step=True).eval()


@pytest.mark.parametrize("embed", [5, 0])
def test_streamed_greedy_generation_equals_rerunning_the_whole_context(embed):
    """Reading the prefix once then one step per character gives the same text as re-reading everything."""
    model = tiny_model(embed=embed)
    prefix = torch.tensor([1, 4, 2, 6, 0])
    with torch.no_grad():
        fast = generate_ids(model, prefix, 12, 1.0, 1, torch.Generator().manual_seed(0))  # top-1: greedy
        seq = prefix.tolist()
        for _ in range(12):
            logits, _ = model(torch.tensor([seq]))
            seq.append(int(logits[0, -1].argmax()))
    assert fast == seq[len(prefix):]


def test_sample_next_temperature_and_top_k():
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    draws = torch.stack([sample_next(logits, 1.0, 2, torch.Generator().manual_seed(s)) for s in range(200)])
    assert set(draws.flatten().tolist()) == {2, 3}  # only the two most likely
    cold = torch.stack([sample_next(logits, 0.01, 0, torch.Generator().manual_seed(s)) for s in range(50)])
    assert set(cold.flatten().tolist()) == {3}


def test_split_and_batches(tmp_path):
    text = "".join(chr(ord("a") + i % 26) for i in range(5000))
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    recipe = CharLM(Config(text=str(tmp_path / "t.txt"), holdout_fraction=0.1, bptt=10, batch_size=4,
                           batches_per_epoch=30))
    parts = recipe.split_text(text)
    assert len(parts["train"]) + len(parts["val"]) + len(parts["test"]) == len(text)
    assert len(parts["val"]) == pytest.approx(500, abs=100) and len(parts["test"]) == pytest.approx(500, abs=100)
    recipe.load_data()
    batches = recipe.train_batches(0)
    (x0, y0), (x1, _) = batches[0], batches[1]
    assert torch.equal(y0[:, :-1], x0[:, 1:]) and torch.equal(x1[:, 0], y0[:, -1])  # consecutive windows per row
    nxt = recipe.train_batches(1)[0][0]  # the next epoch continues where this one stopped
    assert torch.equal(nxt, batches.stream[30][0])


def test_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "charlm", "--text", str(tmp_path / "missing.txt")]) == 1
    assert "charlm: --text file" in capsys.readouterr().err
    assert main(["train", "charlm", "--bidirectional", "--text", __file__]) == 1
    assert "--bidirectional must be off" in capsys.readouterr().err
    (tmp_path / "short.txt").write_text("ab", encoding="utf-8")
    assert main(["train", "charlm", "--text", str(tmp_path / "short.txt"), "--run-dir", str(tmp_path / "s")]) == 1
    assert "too short" in capsys.readouterr().err


@pytest.mark.skipif(not dataset_status()["shakespeare"][0], reason=dataset_status()["shakespeare"][1])
def test_default_corpus_tiny(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "charlm", "--tiny", *SMALL, "--epochs", "1", "--run-dir", str(tmp_path / "s")]) == 0
    assert "Romeo.\n" in capsys.readouterr().out


@pytest.mark.parametrize("context, window", [(10, 40), (260, 300)])
def test_sampled_validation_and_its_standard_error(tmp_path, context, window):
    """The sampled estimate equals scoring each window by hand; its standard error is the textbook one."""
    import numpy as np

    from rnnkit.data.batching import sample_window_starts

    rng = np.random.default_rng(0)
    (tmp_path / "t.txt").write_text("".join(rng.choice(list("abcde fgh\n"), 30_000)), encoding="utf-8")
    cfg = Config(text=str(tmp_path / "t.txt"), hidden_size=8, embed_dim=4, holdout_fraction=0.1, block_chars=500,
                 eval_windows=5, eval_window=window, eval_context=context, eval_streams=2, seed=3)
    recipe = CharLM(cfg)
    recipe.load_data()
    torch.manual_seed(0)
    model = recipe.build_model().eval()
    with torch.no_grad():
        got = recipe.evaluate(model, "val")
        ids = recipe.ids["val"].to_tensor()
        starts = sample_window_starts(len(ids), 5, window, context, seed=3 * 1000 + 1)
        per = []
        for s in starts.tolist():
            logits, _ = model(ids[s - context:s + window][None])
            per.append(float(F.cross_entropy(logits[0, context:], ids[s + 1:s + window + 1])))
        slots = (len(ids) - 1 - context) // window
        se = np.std(per, ddof=1) / math.sqrt(5) * math.sqrt(1 - 5 / slots)
        assert got["loss"] == pytest.approx(np.mean(per), rel=1e-5)
        assert got["loss_se"] == pytest.approx(se, rel=1e-4) and got["loss_se"] > 0
        # the test text (3,000 characters) is cheap: scored whole by default, sampled on request
        full = recipe.evaluate(model, "test")
        assert full["loss_se"] == 0.0 and full["loss"] == pytest.approx(recipe.nats_per_char(model, recipe.ids["test"]))
        recipe.cfg.test_eval = "sample"
        assert recipe.evaluate(model, "test")["loss_se"] > 0
        recipe.cfg.eval_windows = 0  # 0 = every held-out character
        assert recipe.evaluate(model, "val")["loss"] == pytest.approx(recipe.nats_per_char(model, recipe.ids["val"]))
    assert "val: a fixed sample" not in recipe.eval_description()


def test_second_run_reuses_the_token_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "v.txt").write_text(VERSE * 30, encoding="utf-8")
    args = ["train", "charlm", "--text", str(tmp_path / "v.txt"), *SMALL, "--epochs", "1", "--batches-per-epoch", "2"]
    assert main([*args, "--run-dir", str(tmp_path / "a")]) == 0
    assert "tokenised in" in capsys.readouterr().out
    assert main([*args, "--run-dir", str(tmp_path / "b")]) == 0
    assert "reused the cached tokens" in capsys.readouterr().out
    assert len(list((tmp_path / "cache" / "corpora").glob("*/tokens.bin"))) == 1
