"""``charlm``: a character-level language model (seed tutorial 003).

The model reads a text one character at a time and predicts the next:
characters -> embedding (``--embed-dim``; 0 = one-hot inputs) -> stacked
recurrent layers -> a linear layer to one logit per character of the
vocabulary (any Unicode, so Chinese works as well as English).

Training is truncated backpropagation through time (TBPTT). With
``--sampling sequential`` (default, as the seed) the training text is cut into
``--batch-size`` contiguous streams and each batch is the next ``--bptt``
characters of every stream, so the state at the end of one batch is carried
(detached) into the next; ``--sampling random`` draws windows at random
positions and starts each from a zero state. Gradients are clipped by their
global norm (``--grad-clip``). An "epoch" is ``--batches-per-epoch`` batches
(the next stretch of the streams; the state restarts at each epoch); after
each, the cross-entropy is reported in nats per character, bits per
character (``bpc``) and perplexity (``ppl``) on held-out text and on a fixed
training stretch of the same size, and text is sampled from fixed prefixes
(``--sample-prefixes``, temperature, top-k) into the log and ``samples.txt``.

Data: Shakespeare's works from the ``shakespeare`` package (default), or
``--text FILE`` (any UTF-8 text). Validation and test text are whole blocks
spread through the text (``--holdout-fraction`` each), never seen in training.
The text is tokenised once, in a streaming pass, into a token file in the
cache (:mod:`rnnkit.data.tokens`; ``rnnkit prepare charlm`` does it ahead,
``rnnkit cache`` lists it); every run memory-maps it, and batches read only
their own windows, so memory does not grow with the corpus.

Evaluation stays bounded on long texts: validation (each epoch) scores a
fixed, seeded sample of ``--eval-windows`` windows and reports the mean with
its standard error (``loss_se``); a text shorter than the sample is scored
whole. The test pass is whole when it is cheap (``--test-eval auto``: at most
2 M characters) or asked for (``--test-eval full``).

``rnnkit generate RUN --prefix "ROMEO:" --length 400 --temperature 0.8`` reads
the prefix once with a :class:`rnnkit.streaming.Stream`, then costs one
recurrent step per generated character.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.recipes.base import Recipe, RunConfig, opt
from rnnkit.recipes.models import RNNModel


@dataclass
class Config(RunConfig):
    """charlm options; the from-scratch LSTM char-LM tutorial's model with defaults tuned on validation for ~20 min on 2 CPU cores."""

    dataset: str = opt("shakespeare", "built-in corpus: Shakespeare's works (the shakespeare package)",
                       choices=("shakespeare",))
    text: str = opt("", "train on your own text file instead (any language, Chinese included)")
    encoding: str = opt("utf-8", "encoding of --text")
    holdout_fraction: float = opt(0.02, "share of the text held out for validation, and again for the test")
    block_chars: int = opt(10000, "held-out text is taken in blocks of up to this many characters")
    embed_dim: int = opt(64, "character embedding size (0 = one-hot inputs, as the seed)")
    hidden_size: int = opt(256, "units per recurrent layer (2 x 256: what 2 CPU cores train in 20 minutes)")
    num_layers: int = opt(2, "stacked recurrent layers")
    dropout: float = opt(0.0, "dropout between layers and before the output layer (the default run reads "
                              "Shakespeare about 4.7 times; validation loss was still falling)")
    sampling: str = opt("sequential", "sequential: consecutive windows, state carried across batches (TBPTT); "
                                      "random: windows at random positions from a zero state",
                        choices=("sequential", "random"))
    bptt: int = opt(100, "characters per training window (steps backpropagated through)")
    batch_size: int = opt(64, "parallel streams (windows) per batch")
    batches_per_epoch: int = opt(150, "training batches between evaluations (0 = one pass over the text)")
    epochs: int = opt(24, "number of evaluation intervals (--batches-per-epoch batches each; 24 x 150 batches "
                          "take ~16 min on 2 idle cores)")
    lr: float = opt(2e-3, "Adam learning rate")
    lr_schedule: str = opt("cosine", "learning-rate schedule", choices=("constant", "cosine", "plateau"))
    grad_clip: float = opt(5.0, "clip the global gradient norm (char-rnn's 5)")
    eval_streams: int = opt(32, "parallel streams (or sampled windows) per batch when scoring held-out text")
    eval_windows: int = opt(256, "score validation on a fixed, seeded sample of this many held-out windows "
                                 "(mean with its standard error); 0 = every held-out character. Texts shorter "
                                 "than the sample are scored whole")
    eval_window: int = opt(1000, "characters scored per sampled window")
    eval_context: int = opt(200, "characters read before each sampled window to warm the state up (not scored)")
    test_eval: str = opt("auto", "the test pass: full (every test character), sample (windows as validation), "
                                 "auto (full when the test text has at most 2 M characters)",
                         choices=("auto", "full", "sample"))
    sample_every: int = opt(1, "sample text every N epochs (0 = only at the end)")
    sample_prefixes: str = opt("Romeo.\\n|Hamlet.\\n", "'|'-separated prefixes to sample from (\\n = newline)")
    sample_length: int = opt(300, "characters per sample")
    sample_temperature: float = opt(0.8, "sampling temperature (lower = more conservative)")
    sample_top_k: int = opt(0, "sample among the k most likely characters (0 = all)")


def sample_next(logits: Tensor, temperature: float, top_k: int, generator: torch.Generator) -> Tensor:
    """Draw one id per row from ``logits`` ``(B, V)`` at ``temperature``, among the ``top_k`` best (0 = all)."""
    logits = logits.float().cpu() / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)[:, 0]


def generate_ids(model: RNNModel, prefix: Tensor, length: int, temperature: float, top_k: int,
                 generator: torch.Generator) -> list[int]:
    """Sample ``length`` ids after ``prefix`` ``(P,)`` (P >= 1).

    The prefix is read once by a :class:`~rnnkit.streaming.Stream` that keeps
    the recurrent state; every further character costs one step.
    """
    from rnnkit.streaming import Stream

    device = next(model.parameters()).device

    def inputs(ids: Tensor) -> Tensor:
        ids = ids.to(device)
        return model.embed(ids) if model.embed is not None else F.one_hot(ids, model.vocab_size).float()

    stream = Stream(model.rnn, batch_size=1)
    hidden = stream.feed(inputs(prefix[None]))[:, -1]
    out: list[int] = []
    for _ in range(length):
        nxt = sample_next(model.head(hidden), temperature, top_k, generator)
        out.append(int(nxt))
        hidden = stream.step(inputs(nxt))
    return out


FULL_TEST_CHARS = 2_000_000
"""``--test-eval auto`` scores the whole test text up to this many characters (else a sample)."""
SPLIT_SEEDS = {"val": 1, "test": 2, "train_eval": 3}


class _Stretch(Sequence):
    """Windows ``start, start + 1, ... start + n - 1`` of a TBPTT stream (indices wrap around)."""

    def __init__(self, stream: Any, start: int, n: int) -> None:
        self.stream, self.start, self.n = stream, start, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: int) -> Any:
        if not 0 <= k < self.n:
            raise IndexError(f"charlm: batch index must be in [0, {self.n}), got {k}")
        return self.stream[(self.start + k) % len(self.stream)]


class CharLM(Recipe):
    """Character language model (see the module docstring)."""

    name = "charlm"
    description = "character language model, TBPTT with carried state, samples text (the from-scratch LSTM char-LM tutorial; Shakespeare)"
    Config = Config
    datasets = {"shakespeare": "shakespeare"}
    monitor = "loss"
    monitor_mode = "min"
    cfg: Config

    # ---- data -----------------------------------------------------------------------------------
    def _check(self) -> None:
        cfg = self.cfg
        if not 0.0 < cfg.holdout_fraction <= 0.3:
            raise ValueError(f"charlm: --holdout-fraction must be in (0, 0.3], got {cfg.holdout_fraction}")
        for name in ("block_chars", "bptt", "eval_streams", "sample_length", "eval_window"):
            if getattr(cfg, name) <= 0:
                raise ValueError(f"charlm: --{name.replace('_', '-')} must be > 0, got {getattr(cfg, name)}")
        for name in ("embed_dim", "batches_per_epoch", "sample_every", "sample_top_k", "eval_windows", "eval_context"):
            if getattr(cfg, name) < 0:
                raise ValueError(f"charlm: --{name.replace('_', '-')} must be >= 0, got {getattr(cfg, name)}")
        if cfg.sample_temperature <= 0:
            raise ValueError(f"charlm: --sample-temperature must be > 0, got {cfg.sample_temperature}")
        if cfg.bidirectional:
            raise ValueError("charlm: --bidirectional must be off: a language model may not read the characters "
                             "it predicts")
        if cfg.text and not Path(cfg.text).is_file():
            raise FileNotFoundError(f"charlm: --text file {cfg.text} does not exist")

    def _corpus(self) -> Any:
        """The corpus as a memory-mapped token file (tokenised on first use, then reused)."""
        cfg = self.cfg
        if cfg.text:
            from rnnkit.data.errors import option_spelling
            from rnnkit.data.tokens import corpus_from_file
            with option_spelling(encoding="add --encoding NAME, e.g. latin-1 or cp1252"):
                return corpus_from_file(cfg.text, cfg.encoding)
        from rnnkit.data.datasets.corpora import shakespeare_corpus
        return shakespeare_corpus()

    def split_text(self, text: str) -> dict[str, str]:
        """Train / val / test text: every ``period``-th block (period = 1 / holdout) goes to val, another to test.

        Blocks are ``block_chars`` long, shorter for short texts so that each held-out part gets at least
        two blocks (the in-memory form of :func:`rnnkit.data.charsplit.block_spans`, which ``load_data`` uses).
        """
        from rnnkit.data.charsplit import block_spans

        return {k: "".join(text[a:b] for a, b in v.tolist())
                for k, v in block_spans(len(text), self.cfg.holdout_fraction, self.cfg.block_chars).items()}

    def load_data(self) -> None:
        from rnnkit.data.charsplit import corpus_parts, vocab_of_prefix
        from rnnkit.data.text import CharVocab

        self._check()
        corpus = self._corpus()
        print(f"charlm: {corpus.describe()}")
        n = min(len(corpus.tokens), 20000) if self.cfg.tiny else len(corpus.tokens)
        if not self.assets:
            vocab = vocab_of_prefix(corpus, n) if n < len(corpus.tokens) else corpus.vocab
            self.assets = {"vocab": vocab.to_dict()}
        self.vocab = CharVocab.from_dict(self.assets["vocab"])
        self.ids, skipped = corpus_parts(corpus, n, self.cfg.holdout_fraction, self.cfg.block_chars, self.vocab)
        if skipped:
            print(f"charlm: skipped {skipped:,} characters that the run's vocabulary ({len(self.vocab)} characters) "
                  "does not hold")
        if min(len(p) for p in self.ids.values()) < 2:
            raise ValueError(f"charlm: the text is too short ({n} characters) to hold out validation "
                             "and test text; give a longer --text or a larger --holdout-fraction")
        m = len(self.ids["val"])
        self.ids["train_eval"] = self.ids["train"].head(m)  # a fixed training stretch, scored like the held-out text
        print(f"charlm: {n:,} characters, vocabulary {len(self.vocab)}; train {len(self.ids['train']):,}, "
              f"validation {m:,}, test {len(self.ids['test']):,}")

    def train_batches(self, epoch: int) -> Sequence[tuple[Tensor, Tensor]]:
        from rnnkit.data.batching import RandomWindowStream, TBPTTStream

        cfg = self.cfg
        ids = self.ids["train"]
        if cfg.sampling == "random":
            n = cfg.batches_per_epoch or max(1, len(ids) // (cfg.batch_size * cfg.bptt))
            stream = RandomWindowStream(ids, cfg.batch_size, min(cfg.bptt, len(ids) - 1), n, seed=cfg.seed)
            stream.set_epoch(epoch)
            return stream
        stream = TBPTTStream(ids, min(cfg.batch_size, len(ids) - 1), cfg.bptt)
        n = cfg.batches_per_epoch or len(stream)
        if cfg.tiny:
            n = min(n, 10)
        return _Stretch(stream, (epoch * n) % len(stream), n)

    # ---- model ----------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        v = len(self.assets["vocab"]["chars"])
        return RNNModel(self.cfg, v, vocab_size=v, embed_dim=self.cfg.embed_dim, per_step=True)

    def training_loss(self, model: nn.Module, batch: Any, carry: Any) -> tuple[Tensor, Any]:
        x, y = batch
        if self.cfg.sampling == "random":
            carry = None  # each random window starts from a zero state
        logits, state = model(x, state=carry)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        return loss, (state if self.cfg.sampling == "sequential" else None)

    def nats_per_char(self, model: nn.Module, ids: Tensor) -> float:
        """Mean cross-entropy of ``ids`` read as ``eval_streams`` contiguous streams, state carried."""
        from rnnkit.data.batching import TBPTTStream

        device = next(model.parameters()).device
        streams = max(1, min(self.cfg.eval_streams, (len(ids) - 1) // 2))
        total, count, state = 0.0, 0, None
        for x, y in TBPTTStream(ids, streams, 250):
            logits, state = model(x.to(device), state=state)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1).to(device),
                                           reduction="sum"))
            count += y.numel()
        return total / max(count, 1)

    def _sampled(self, split: str) -> bool:
        """Whether ``split`` is scored on a sample of windows (long texts) rather than whole."""
        cfg = self.cfg
        mode = cfg.test_eval if split == "test" else "sample"
        n = len(self.ids[split])
        if mode == "full" or cfg.eval_windows == 0 or (mode == "auto" and n <= FULL_TEST_CHARS):
            return False
        return (n - 1 - cfg.eval_context) // cfg.eval_window > cfg.eval_windows  # else the sample is the text

    def sampled_nats_per_char(self, model: nn.Module, ids: Any, seed: int) -> tuple[float, float, int]:
        """Mean cross-entropy on a fixed sample of windows of ``ids``, its standard error and the chars scored.

        Each window (``--eval-window`` characters, see :func:`rnnkit.data.batching.sample_window_starts`)
        is read from a zero state after ``--eval-context`` characters; the standard error is that of the
        windows' mean losses, with the finite-population correction for drawing without replacement.
        """
        from rnnkit.data.batching import sample_window_starts

        cfg = self.cfg
        starts = sample_window_starts(len(ids), cfg.eval_windows, cfg.eval_window, cfg.eval_context, seed)
        slots = (len(ids) - 1 - cfg.eval_context) // cfg.eval_window
        device = next(model.parameters()).device
        span = torch.arange(-cfg.eval_context, cfg.eval_window + 1)
        means = []
        for i in range(0, len(starts), cfg.eval_streams):
            window = torch.from_numpy(ids.take(torch.from_numpy(starts[i:i + cfg.eval_streams])[:, None] + span))
            x, y, state = window[:, :-1], window[:, 1:], None
            total = torch.zeros(len(x), dtype=torch.float64)
            for c in range(0, x.shape[1], 250):  # 250 steps at a time, state carried: bounded logits memory
                logits, state = model(x[:, c:c + 250].to(device), state=state)
                scored = max(0, cfg.eval_context - c)
                if scored < logits.shape[1]:
                    nll = F.cross_entropy(logits[:, scored:].transpose(1, 2).float(),
                                          y[:, c + scored:c + 250].to(device), reduction="none")
                    total += nll.sum(1).double().cpu()
            means.append(total / cfg.eval_window)
        m = torch.cat(means)
        k = len(m)
        se = float(m.std(unbiased=True)) / math.sqrt(k) * math.sqrt(max(0.0, 1 - k / slots)) if k > 1 else 0.0
        return float(m.mean()), se, k * cfg.eval_window

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        """nats/char (``loss``), bits/char, perplexity and ``loss_se``: the standard error of a sampled
        estimate (0 for a full pass); validation is sampled for long texts, test as ``--test-eval`` says."""
        ids = self.ids[split]
        if self._sampled(split):
            loss, se, _ = self.sampled_nats_per_char(model, ids, seed=self.cfg.seed * 1000 + SPLIT_SEEDS[split])
        else:
            loss, se = self.nats_per_char(model, ids), 0.0
        return {"loss": loss, "bpc": loss / math.log(2), "ppl": math.exp(min(loss, 50.0)), "loss_se": se}

    def eval_description(self) -> str:
        """How each part is scored (for the report)."""
        cfg = self.cfg
        out = []
        for split in ("val", "test"):
            n = len(self.ids[split])
            if self._sampled(split):
                k = min(cfg.eval_windows, (n - 1 - cfg.eval_context) // cfg.eval_window)
                out.append(f"{split}: a fixed sample of {k} windows of {cfg.eval_window} characters (after "
                           f"{cfg.eval_context} of context) out of {n:,} characters; loss_se is its standard error")
            else:
                out.append(f"{split}: every one of its {n:,} characters")
        return "; ".join(out)

    def _prefixes(self) -> list[str]:
        """The configured sample prefixes the vocabulary can encode, else the start of the validation text."""
        wanted = [p.replace("\\n", "\n") for p in self.cfg.sample_prefixes.split("|") if p]
        usable = [p for p in wanted if all(c in self.vocab for c in p)]
        return usable or [self.vocab.decode(self.ids["val"][:8])]

    def _samples(self, model: nn.Module, generator: torch.Generator) -> dict[str, str]:
        cfg = self.cfg
        return {p: p + self.vocab.decode(generate_ids(model, self.vocab.encode(p), cfg.sample_length,
                                                      cfg.sample_temperature, cfg.sample_top_k, generator))
                for p in self._prefixes()}

    def _write_samples(self, run_dir: Path, title: str, samples: dict[str, str]) -> None:
        with open(run_dir / "samples.txt", "a", encoding="utf-8") as fh:
            for text in samples.values():
                fh.write(f"===== {title} =====\n{text}\n\n")

    def on_epoch_end(self, model: nn.Module, epoch: int, run_dir: Path) -> dict[str, Any]:
        model.eval()
        with torch.no_grad():
            train = self.evaluate(model, "train_eval")
            extra: dict[str, Any] = {"train_eval_loss": train["loss"], "train_bpc": train["bpc"],
                                     "train_ppl": train["ppl"]}
            every = self.cfg.sample_every
            if every and (epoch + 1) % every == 0:
                samples = self._samples(model, self.epoch_generator(epoch, stream=3))
                self._write_samples(run_dir, f"epoch {epoch + 1}", samples)
                print("\n".join(f"--- sample after epoch {epoch + 1} ---\n{s}" for s in samples.values()))
                extra["samples"] = samples
        return extra

    # ---- artefacts ------------------------------------------------------------------------------
    def finish(self, model: nn.Module, run_dir: Path, test_metrics: dict[str, float]) -> dict[str, Any]:
        samples = self._samples(model, torch.Generator().manual_seed(self.cfg.seed))
        self._write_samples(run_dir, "final (best weights)", samples)
        print(f"charlm: test {test_metrics['loss']:.4f} nats/char, {test_metrics['bpc']:.4f} bits/char, "
              f"perplexity {test_metrics['ppl']:.2f}\n" + "\n".join(f"--- sample ---\n{s}" for s in samples.values()))
        block = "\n\n".join(samples.values())
        scoring = self.eval_description()
        print(f"charlm: scored {scoring}")
        return {"test_nats_per_char": test_metrics["loss"], "test_bits_per_char": test_metrics["bpc"],
                "scoring": scoring, "samples": samples, "files": ["samples.txt"],
                "markdown": f"Scoring: {scoring}.\n\n## Samples (temperature {self.cfg.sample_temperature})\n\n```\n{block}\n```"}

    def generate(self, model: nn.Module, *, prefix: str, length: int, temperature: float, top_k: int,
                 seed: int) -> str:
        from rnnkit.data.text import CharVocab

        vocab = CharVocab.from_dict(self.assets["vocab"])
        missing = sorted({c for c in prefix if c not in vocab})
        if missing:
            raise ValueError(f"rnnkit generate: --prefix must use characters of the training text, got "
                             f"{''.join(missing)[:20]!r} which it never contains")
        start = prefix or ("\n" if "\n" in vocab else vocab.chars[0])
        ids = generate_ids(model, vocab.encode(start), length, temperature, top_k, torch.Generator().manual_seed(seed))
        return prefix + vocab.decode(ids)
