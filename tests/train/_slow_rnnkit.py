"""``python _slow_rnnkit.py DELAY ARGS...``: the rnnkit command with each training step DELAY seconds slower
(so that a test's signal lands mid-epoch); torchrun runs it as a script."""

import sys
import time

from rnnkit.cli import main
from rnnkit.train import loop

delay = float(sys.argv[1])
step = loop.Trainer._train_step


def slow(self, batch):
    time.sleep(delay)
    return step(self, batch)


loop.Trainer._train_step = slow
sys.exit(main(sys.argv[2:]))
