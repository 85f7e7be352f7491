"""rnnkit.train.distributed: sharding, batch splitting, single-process no-ops, and real 2-process DDP.

The DDP test runs two gloo processes on the loopback interface (a free port)
that train a model of rnnkit layers on variable-length sequences for a few
Adam steps, each on its half of every global batch; their parameters must
equal (<= 1e-6) those of one process trained on the whole batches.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DistributedSampler

from rnnkit.cells import GRUCell, LSTMCell
from rnnkit.layers import Bidirectional, Recurrent, Stacked
from rnnkit.recipes.models import final_hidden
from rnnkit.train import distributed as D

STEPS = 3
GLOBAL_BATCH = 6


# ---------------------------------------------------------------------------------------- sharding
@pytest.mark.parametrize(("n", "world"), [(10, 3), (9, 3), (2, 4), (7, 1), (5, 2)])
def test_shard_matches_distributed_sampler(n: int, world: int) -> None:
    order = [int(i) for i in torch.randperm(n, generator=torch.Generator().manual_seed(n))]
    for r in range(world):
        sampler = DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=False)
        assert D.shard(order, r, world) == [order[i] for i in sampler]
    assert len({len(D.shard(order, r, world)) for r in range(world)}) == 1  # equal counts: no rank waits


def test_shard_errors_and_empty() -> None:
    assert D.shard([], 0, 2) == []
    with pytest.raises(ValueError, match=r"shard: rank must be < world \(2\), got 2"):
        D.shard([1, 2, 3], 2, 2)
    with pytest.raises(ValueError, match=r"shard: world must be > 0, got 0"):
        D.shard([1], 0, 0)


def test_split_batch_slices_and_weights_give_the_full_batch_mean() -> None:
    g = torch.Generator().manual_seed(0)
    x, y, lengths = torch.randn(7, 4, 2, generator=g), torch.randn(7, generator=g), torch.arange(7)
    world = 3
    parts = [D.split_batch({"x": x, "pair": (y, lengths)}, r, world) for r in range(world)]
    assert torch.equal(torch.cat([p["x"] for p, _ in parts]), x)
    assert torch.equal(torch.cat([p["pair"][1] for p, _ in parts]), lengths)
    assert sum(w for _, w in parts) == pytest.approx(world)
    # DDP averages: (1/W) sum_r w_r mean_r == mean over the whole batch
    averaged = sum(w * p["pair"][0].mean() for p, w in parts) / world
    assert float(averaged) == pytest.approx(float(y.mean()), abs=1e-6)


def test_split_batch_with_fewer_examples_than_ranks_gives_weight_zero() -> None:
    batch = (torch.tensor([[1.0], [2.0]]),)
    local, weight = D.split_batch(batch, 2, 3)
    assert weight == 0.0 and local[0].shape == (1, 1)
    with pytest.raises(ValueError, match=r"split_batch: batch must be tensors that all share their first dimension"
                                         r" \(2\), got \(3,\)"):
        D.split_batch((torch.zeros(2, 1), torch.zeros(3)), 0, 2)


def test_single_process_helpers_are_no_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in D.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    assert D.init_from_env() is False
    assert (D.rank(), D.world_size(), D.is_main()) == (0, 1, True)
    assert D.all_reduce_metrics({"loss": 0.5}) == {"loss": 0.5}
    model = nn.Linear(2, 2)
    assert D.wrap_model(model) is model and D.unwrap_model(model) is model
    assert D.broadcast_object("runs/x") == "runs/x"
    assert D.any_rank(True) and not D.any_rank(False) and D.max_over_ranks(2.5) == 2.5
    assert D.gather_batch((torch.ones(2),))[0].shape == (2,)
    D.barrier()
    D.cleanup()


def test_init_from_env_rejects_bad_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "two")
    with pytest.raises(ValueError, match=r"init_from_env: \$RANK must be an integer \(set by torchrun\), got 'two'"):
        D.init_from_env()
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match=r"init_from_env: \$RANK must be in \[0, 2\) \(\$WORLD_SIZE\), got 2"):
        D.init_from_env()


# ---------------------------------------------------------------------------------------- DDP
class Model(nn.Module):
    """Bidirectional LSTM/GRU layer over a GRU layer; a linear head on the final hidden state.

    The LSTM runs on the reference runner (``fused=False``): with lengths it would otherwise take the
    compiled core, whose first use in each fresh process may compile C++ (slow, and not what is tested here).
    """

    def __init__(self) -> None:
        super().__init__()
        fw = Recurrent(LSTMCell(3, 5), fused=False)
        self.rnn = Stacked([Bidirectional(fw, GRUCell(3, 5)), Recurrent(GRUCell(10, 4))], batch_first=True)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(x, lengths=lengths)
        return self.head(final_hidden(state[-1])).squeeze(-1)


def make_model() -> Model:
    torch.manual_seed(123)
    return Model()


def global_batches() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(7)
    out = []
    for _ in range(STEPS):
        lengths = torch.randint(1, 9, (GLOBAL_BATCH,), generator=g)
        out.append((torch.randn(GLOBAL_BATCH, 8, 3, generator=g), lengths, torch.randn(GLOBAL_BATCH, generator=g)))
    return out


def train(model: nn.Module, batches: list, rank: int = 0, world: int = 1) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for batch in batches:
        (x, lengths, y), weight = D.split_batch(batch, rank, world)
        loss = weight * nn.functional.mse_loss(model(x, lengths), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    assert D.init_from_env("cpu")
    try:
        assert (D.rank(), D.world_size(), D.is_main()) == (rank, world, rank == 0)
        model = D.wrap_model(make_model())
        train(model, global_batches(), rank, world)
        reduced = D.all_reduce_metrics({"r": float(rank)}, weight=1.0 + rank)
        assert D.any_rank(rank == 1) and not D.any_rank(False)
        assert D.max_over_ranks(0.5 + rank) == 1.5  # the budget's clock: the slowest rank's, on every rank
        run_dir = D.broadcast_object(f"runs/from-{rank}")
        batch = {"h": torch.arange(10.0).view(5, 2), "n": torch.arange(5)}
        local, weight = D.split_batch(batch, rank, world)
        gathered = D.gather_batch(local, keep=weight > 0)
        assert torch.equal(gathered["h"], batch["h"]) and torch.equal(gathered["n"], batch["n"])
        params = {k: v.detach() for k, v in D.unwrap_model(model).state_dict().items()}
        torch.save({"params": params, "reduced": reduced, "run_dir": run_dir}, Path(out_dir) / f"rank{rank}.pt")
        D.barrier()
    finally:
        D.cleanup()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_equal_one_process_on_the_global_batch(tmp_path: Path) -> None:
    world = 2
    mp.spawn(_worker, args=(world, free_port(), str(tmp_path)), nprocs=world, join=True)
    single = make_model()
    train(single, global_batches())
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]
    for res in results:
        assert res["run_dir"] == "runs/from-0"  # rank 0's value everywhere
        assert res["reduced"]["r"] == pytest.approx((0 * 1.0 + 1 * 2.0) / 3.0)
        for name, value in single.state_dict().items():
            assert float((res["params"][name] - value).abs().max()) <= 1e-6, name
    moved = max(float((a - b).abs().max()) for a, b in zip(single.state_dict().values(),
                                                             make_model().state_dict().values()))
    assert moved > 1e-2  # training did change the weights, so the equality above means something
