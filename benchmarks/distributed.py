"""Data-parallel training throughput: 1 process vs N processes (DDP, gloo on CPU).

Each configuration trains the same small model (an embedding-free LSTM over
variable-length sequences, ``rnnkit.Recurrent(LSTMCell)`` + a linear head)
on the same global batches; with N processes every rank takes ``1/N`` of
each global batch (:func:`rnnkit.train.distributed.split_batch`) and DDP
averages the gradients, so all rows do the same optimisation. Reported:
training samples per second (global batch x steps / wall time after
warm-up) and the speed-up over one process with one thread.

::

    python benchmarks/distributed.py                      # 1 proc x 1 thread, 1 x 2, 2 x 1
    python benchmarks/distributed.py --procs 1 2 4 --threads 1 --steps 40

On GPUs the same code runs one process per GPU with nccl (``torchrun
--nproc-per-node <gpus>``); across nodes add torchrun's rendezvous flags.
Scaling there is bounded by the all-reduce of the gradients (one per step,
overlapped with the backward pass by DDP) rather than by CPU cores.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnnkit.cells import LSTMCell
from rnnkit.layers import Recurrent
from rnnkit.train import distributed as D


class Model(nn.Module):
    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.rnn = Recurrent(LSTMCell(features, hidden), batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.rnn(x, lengths=lengths)
        return self.head(h).squeeze(-1)


def batches(args: argparse.Namespace) -> list:
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(args.steps + args.warmup):
        lengths = torch.randint(args.time // 2, args.time + 1, (args.batch,), generator=g)
        out.append((torch.randn(args.batch, args.time, args.features, generator=g), lengths,
                    torch.randn(args.batch, generator=g)))
    return out


def worker(rank: int, world: int, port: int, threads: int, args: argparse.Namespace, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(threads)
    D.init_from_env("cpu")
    try:
        torch.manual_seed(0)
        model = D.wrap_model(Model(args.features, args.hidden))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        data = batches(args)
        start = 0.0
        for step, batch in enumerate(data):
            if step == args.warmup:
                D.barrier()
                start = time.perf_counter()
            (x, lengths, y), weight = D.split_batch(batch, rank, world)
            loss = weight * nn.functional.mse_loss(model(x, lengths), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        D.barrier()
        elapsed = time.perf_counter() - start
        if D.is_main():
            Path(out).write_text(f"{elapsed}\n")
    finally:
        D.cleanup()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(world: int, threads: int, args: argparse.Namespace) -> float:
    """Samples per second for ``world`` processes of ``threads`` threads each."""
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "time")
        mp.spawn(worker, args=(world, free_port(), threads, args, out), nprocs=world, join=True)
        elapsed = float(Path(out).read_text())
    return args.batch * args.steps / elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2], help="process counts to measure")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads per process")
    p.add_argument("--batch", type=int, default=64, help="global batch size")
    p.add_argument("--time", type=int, default=50, help="max sequence length (lengths in [T/2, T])")
    p.add_argument("--features", type=int, default=16)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--steps", type=int, default=30, help="timed steps")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--max-cores", type=int, default=os.cpu_count() or 1, help="skip rows needing more cores")
    args = p.parse_args()
    print(f"global batch {args.batch}, T <= {args.time}, LSTM({args.features}, {args.hidden}), "
          f"{args.steps} steps, {os.cpu_count()} cores, torch {torch.__version__}")
    print(f"{'processes':>9} {'threads':>7} {'samples/s':>10} {'speed-up':>8}")
    base = None
    for world in args.procs:
        for threads in args.threads:
            if world * threads > args.max_cores:
                continue
            rate = measure(world, threads, args)
            base = base or rate
            print(f"{world:>9} {threads:>7} {rate:>10.1f} {rate / base:>7.2f}x", flush=True)


if __name__ == "__main__":
    main()
