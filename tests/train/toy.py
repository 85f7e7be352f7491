"""A tiny test-only recipe for the Trainer tests: sum regression with a 2-layer GRU.

It shuffles its batches per epoch and uses dropout, so data order and torch's
RNG both matter for exact resumes; ``poison`` makes chosen training calls
return a NaN loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.recipes.base import Recipe, RunConfig, opt, shuffled_batches
from rnnkit.recipes.models import RNNModel


@dataclass
class ToyConfig(RunConfig):
    cell: str = opt("gru", "cell")
    hidden_size: int = opt(8, "units")
    num_layers: int = opt(2, "layers")
    dropout: float = opt(0.2, "dropout")
    epochs: int = opt(3, "epochs")
    batch_size: int = opt(8, "batch")
    lr: float = opt(0.01, "lr")
    progress: bool = opt(False, "bar")
    deterministic: bool = opt(True, "deterministic")
    threads: int = opt(1, "threads")


class Toy(Recipe):
    name = "toy"
    description = "test recipe"
    Config = ToyConfig
    monitor = "loss"
    monitor_mode = "min"

    def __init__(self, cfg: ToyConfig) -> None:
        super().__init__(cfg)
        self.poison: set[int] = set()
        self.calls = 0

    def load_data(self) -> None:
        g = torch.Generator().manual_seed(1234)
        x = torch.randn(96, 5, 3, generator=g)
        y = x.sum(dim=(1, 2)).unsqueeze(1) / 4
        self.splits = {"train": (x[:64], y[:64]), "val": (x[64:80], y[64:80]), "test": (x[80:], y[80:])}
        if not self.assets:
            self.assets = {"input_size": 3}

    def build_model(self) -> nn.Module:
        return RNNModel(self.cfg, 1, input_size=self.assets["input_size"])

    def train_batches(self, epoch: int) -> Sequence[Any]:
        return shuffled_batches(self.splits["train"], self.cfg.batch_size, self.epoch_generator(epoch))

    def training_loss(self, model: nn.Module, batch: Any, carry: Any) -> tuple[Tensor, None]:
        x, y = batch
        self.calls += 1
        loss = F.mse_loss(model(x)[0], y)
        if self.calls in self.poison:
            loss = loss * float("nan")
        return loss, None

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        x, y = self.splits[split]
        return {"loss": float(F.mse_loss(model(x)[0], y))}
