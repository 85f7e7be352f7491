"""A one-minute demo: train a small LSTM to predict cos(t) from sin(t) on generated data."""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnkit import LSTMCell, Recurrent


def main() -> None:
    """Train for 200 steps and print the loss falling."""
    torch.manual_seed(0)
    rnn = Recurrent(LSTMCell(1, 32), batch_first=True)
    head = nn.Linear(32, 1)
    opt = torch.optim.Adam([*rnn.parameters(), *head.parameters()], lr=1e-2)
    for step in range(201):
        phase = torch.rand(16, 1) * 2 * math.pi
        t = phase + torch.linspace(0, 4 * math.pi, 50)
        x, y = torch.sin(t).unsqueeze(-1), torch.cos(t).unsqueeze(-1)
        out, _ = rnn(x)
        loss = nn.functional.mse_loss(head(out), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 40 == 0:
            print(f"step {step:4d}  mse {loss.item():.4f}")


if __name__ == "__main__":
    main()
