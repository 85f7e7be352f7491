"""The PyTorch ``nn.LSTM`` tutorial's sin -> cos regression (batch_first LSTM(1, 32) and a
Linear(32, 1) head applied at every step, the hidden state carried from one window to
the next), with ``torch.nn.LSTM`` replaced by ``rnnkit.LSTM``.

What differs from the original, and why:

* ``nn.LSTM(...)`` -> ``rnnkit.LSTM(...)``: the only change to the model. Same
  constructor, parameter names, initialisation and return structures, so the printed
  model reads the same and a state_dict moves both ways (checked below).
* The tutorial shows the model only; the training loop is the usual one for this
  tutorial (windows of 10 points over ``[k*pi, (k+1)*pi]``, Adam 0.02, mean squared
  error, ``h_state`` detached between windows), written out here.
* ``h_state`` starts as ``None``, as in the tutorial.

Run: ``python examples/torch_sin_cos.py`` (300 windows) or ``--tiny`` (60 windows).
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

import rnnkit

INPUT_SIZE = 1
TIME_STEP = 10
LR = 0.02


class Lstm(nn.Module):
    def __init__(self):
        super(Lstm, self).__init__()
        self.lstm = rnnkit.LSTM(  # was: nn.LSTM(
            input_size=INPUT_SIZE,  # 1: one number per step
            hidden_size=32,  # rnn hidden units
            num_layers=1,  # number of rnn layers
            batch_first=True,  # input & output have batch size as the first dimension: (batch, time_step, input_size)
        )
        self.out = nn.Linear(32, 1)

    def forward(self, x, h_state):
        # x (batch, time_step, input_size)
        # h_state (n_layers, batch, hidden_size)
        # r_out (batch, time_step, hidden_size)
        r_out, h_state = self.lstm(x, h_state)
        outs = []  # save all predictions
        for time_step in range(r_out.size(1)):  # calculate output for each time step
            outs.append(self.out(r_out[:, time_step, :]))
        return torch.stack(outs, dim=1), h_state


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="60 windows instead of 300")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    rnn = Lstm()
    print(rnn)
    # the same weights in torch.nn give the same numbers: the drop-in is exact
    reference = nn.LSTM(INPUT_SIZE, 32, batch_first=True)
    reference.load_state_dict(rnn.lstm.state_dict())

    optimizer = torch.optim.Adam(rnn.parameters(), lr=LR)
    loss_func = nn.MSELoss()
    h_state = None  # the initial hidden state: zeros
    losses = []
    for step in range(60 if args.tiny else 300):
        start, end = step * np.pi, (step + 1) * np.pi  # one window of the time axis
        steps = np.linspace(start, end, TIME_STEP, dtype=np.float32, endpoint=False)
        x_np, y_np = np.sin(steps), np.cos(steps)  # sin in, cos out
        x = torch.from_numpy(x_np[np.newaxis, :, np.newaxis])  # shape (batch, time_step, input_size)
        y = torch.from_numpy(y_np[np.newaxis, :, np.newaxis])
        prediction, h_state = rnn(x, h_state)
        h_state = (h_state[0].detach(), h_state[1].detach())  # carry the state, cut the gradient
        loss = loss_func(prediction, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 20 == 0:
            print(f"window {step:3d}  loss {loss.item():.4f}")
    x = torch.from_numpy(np.sin(np.linspace(0, 2 * np.pi, 40, dtype=np.float32)))[None, :, None]
    reference.load_state_dict(rnn.lstm.state_dict())
    ours, theirs = rnn.lstm(x)[0], reference(x)[0]
    print(f"rnnkit.LSTM vs torch.nn.LSTM on the trained weights: max |difference| "
          f"{(ours - theirs).abs().max().item():.1e}")
    return {"losses": losses, "model": rnn, "ours": ours, "theirs": theirs}


if __name__ == "__main__":
    main()
