"""Multi-process training over ``torch.distributed``: thin helpers, no scheduler of our own.

Launch with torchrun, which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT`` for every process::

    torchrun --nproc-per-node 2 -m rnnkit train sincos ...          # one machine
    torchrun --nnodes 2 --node-rank 0 --master-addr HOST --master-port 29500 \\
             --nproc-per-node 8 -m rnnkit train charlm ...           # each of two machines

:func:`init_from_env` joins the process group (gloo on CPU, nccl on GPU);
without torchrun's variables every helper is a single-process no-op, so the
same code runs alone. Data parallelism follows DistributedDataParallel: each
rank computes the loss of its share of a batch and DDP averages the
gradients, so after every step each rank holds the same parameters.

Sharding. :func:`shard` is ``DistributedSampler``'s rule for a list of
indices (pad by wrapping around to a multiple of the world size, then every
``world``-th item from ``rank``). :func:`split_batch` shards *inside* a batch:
each rank takes a contiguous slice of the examples (dim 0 of every tensor) and
a weight ``W * n_rank / n`` for its mean loss, so that DDP's gradient average
equals the gradient of the whole batch's mean loss exactly. The Trainer uses
the latter: the number of optimiser steps, the learning-rate schedule and the
carried RNN state (each rank carries its own rows across TBPTT windows) stay
those of a single process with the same ``--batch-size``, for any world size.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from rnnkit.checks import check_positive_int, describe, fail

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def launched() -> bool:
    """True when torchrun's variables say this process is one of several (``WORLD_SIZE`` set)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def is_initialized() -> bool:
    """True once a process group exists."""
    return dist.is_available() and dist.is_initialized()


def init_from_env(device: str = "cpu", *, timeout_s: float = 1800.0) -> bool:
    """Join the process group torchrun describes; a no-op when not launched by torchrun.

    Args:
        device: ``"cpu"`` (gloo) or ``"cuda..."`` (nccl; sets this process's
            GPU to ``LOCAL_RANK``).
        timeout_s: how long collectives wait for the other ranks.

    Returns:
        True if this process is part of a multi-process group.

    Raises:
        ValueError: torchrun variables that are not integers, or a rank outside the world.
    """
    if is_initialized():
        return True
    if not launched():
        return False
    values = {}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        raw = os.environ.get(name, "0")
        try:
            values[name] = int(raw)
        except ValueError:
            fail("init_from_env", f"${name}", "an integer (set by torchrun)", repr(raw))
    if not 0 <= values["RANK"] < values["WORLD_SIZE"]:
        fail("init_from_env", "$RANK", f"in [0, {values['WORLD_SIZE']}) ($WORLD_SIZE)", values["RANK"])
    cuda = str(device).startswith("cuda")
    if cuda:
        torch.cuda.set_device(values["LOCAL_RANK"])
    dist.init_process_group("nccl" if cuda else "gloo", rank=values["RANK"], world_size=values["WORLD_SIZE"],
                            timeout=datetime.timedelta(seconds=timeout_s))
    return True


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    """The number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    """True on rank 0 (and when not distributed): the process that writes files and logs."""
    return rank() == 0


def local_device(device: str) -> torch.device:
    """The device this rank uses: ``cuda`` becomes ``cuda:$LOCAL_RANK`` under torchrun."""
    if str(device) == "cuda" and launched():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device(device)


def barrier() -> None:
    """Wait for every rank (no-op when not distributed)."""
    if is_initialized():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (no-op when not distributed)."""
    if is_initialized():
        dist.destroy_process_group()


def shard(indices: Sequence[int], rank: int, world: int) -> list[int]:
    """This rank's share of ``indices``, as ``torch.utils.data.DistributedSampler`` makes it.

    The list is padded by wrapping around to a multiple of ``world`` (so every
    rank gets the same number of items and no rank waits in a collective),
    then rank ``r`` takes items ``r, r + world, r + 2 * world, ...``.

    Args:
        indices: the order to shard (e.g. a shuffled batch order), the same on every rank.
        rank: ``0 <= rank < world``.
        world: the number of ranks.

    Returns:
        ``ceil(len(indices) / world)`` items (none if ``indices`` is empty).
    """
    check_positive_int("shard", "world", world)
    check_positive_int("shard", "rank", rank, allow_zero=True)
    if rank >= world:
        fail("shard", "rank", f"< world ({world})", rank)
    items = list(indices)
    if not items:
        return []
    total = -(-len(items) // world) * world
    padded = (items * (-(-total // len(items))))[:total]
    return padded[rank:total:world]


def _leaves(batch: Any) -> list[Tensor]:
    from torch.utils._pytree import tree_leaves

    return [t for t in tree_leaves(batch) if isinstance(t, Tensor)]


def split_batch(batch: Any, rank: int, world: int) -> tuple[Any, float]:
    """This rank's contiguous slice of a batch and the weight of its mean loss.

    Every tensor in the (nested) batch is sliced along dim 0 with
    ``torch.tensor_split`` (sizes differ by at most one). A rank whose slice
    would be empty (fewer examples than ranks) gets the first example with
    weight 0, so it still takes part in DDP's gradient all-reduce.

    Args:
        batch: a nest (tuple/list/dict/NamedTuple) of tensors sharing dim 0 ``n``.
        rank: ``0 <= rank < world``.
        world: the number of ranks.

    Returns:
        ``(local_batch, weight)`` with ``weight = world * n_rank / n``: scale the
        local mean loss by it, and DDP's average of the gradients is the
        gradient of the whole batch's mean loss.

    Raises:
        ValueError: tensors whose first dimensions differ.
    """
    from torch.utils._pytree import tree_map

    leaves = _leaves(batch)
    if not leaves:
        fail("split_batch", "batch", "a nest of tensors", describe(batch), kind=TypeError)
    n = leaves[0].shape[0] if leaves[0].dim() else 0
    for t in leaves:
        if t.dim() == 0 or t.shape[0] != n:
            fail("split_batch", "batch", f"tensors that all share their first dimension ({n})", tuple(t.shape))
    sizes = [len(part) for part in torch.arange(n).tensor_split(world)]
    start = sum(sizes[:rank])
    if sizes[rank] == 0:
        return tree_map(lambda t: t[:1] if isinstance(t, Tensor) else t, batch), 0.0
    local = tree_map(lambda t: t[start:start + sizes[rank]] if isinstance(t, Tensor) else t, batch)
    return local, world * sizes[rank] / n


def _collective_device() -> torch.device | None:
    """Where small collective tensors live: this rank's GPU for nccl, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None


def any_rank(flag: bool) -> bool:
    """True on every rank if ``flag`` is True on any (e.g. a stop signal seen by one process)."""
    if not is_initialized():
        return bool(flag)
    value = torch.tensor([1.0 if flag else 0.0], device=_collective_device())
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def max_over_ranks(value: float) -> float:
    """The largest of every rank's ``value`` (e.g. elapsed seconds: the slowest rank's clock); itself alone."""
    if not is_initialized():
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def gather_batch(local: Any, *, keep: bool = True) -> Any:
    """Every rank's rows concatenated in rank order: the inverse of :func:`split_batch`.

    Used for state that lives per rank, such as the RNN state a recipe carries
    across batches: gathered, it is the state of the whole batch (what one
    process would have), so checkpoints do not depend on the world size.

    Args:
        local: a nest of tensors with this rank's rows along dim 0, or None
            (then every rank must pass None).
        keep: False on a rank whose :func:`split_batch` share was empty (its
            stand-in row is left out).

    Returns:
        The nest with full tensors on the CPU (``local`` itself when not distributed).
    """
    if not is_initialized() or local is None:
        return local
    from torch.utils._pytree import tree_map

    parts: list[Any] = [None] * world_size()
    dist.all_gather_object(parts, tree_map(lambda t: t.detach().cpu() if isinstance(t, Tensor) else t, local)
                           if keep else None)
    kept = [p for p in parts if p is not None]
    return tree_map(lambda *leaves: torch.cat(leaves) if isinstance(leaves[0], Tensor) else leaves[0],
                    kept[0], *kept[1:])


def all_reduce_metrics(metrics: dict[str, float], *, weight: float = 1.0) -> dict[str, float]:
    """The (weighted) mean of each metric over all ranks; identity when not distributed.

    Args:
        metrics: name -> float, the same names in the same order on every rank.
        weight: this rank's weight (e.g. its number of examples); the result is
            ``sum_r w_r m_r / sum_r w_r``.

    Returns:
        A dict with the same keys; every rank gets the same values.
    """
    if not is_initialized():
        return dict(metrics)
    keys = list(metrics)
    values = torch.tensor([float(metrics[k]) * weight for k in keys] + [weight], dtype=torch.float64,
                          device=_collective_device())
    dist.all_reduce(values)
    total = float(values[-1])
    return {k: float(v) / total if total else float("nan") for k, v in zip(keys, values[:-1].tolist())}


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` from rank ``src`` on every rank (a picklable value, e.g. a run directory)."""
    if not is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def wrap_model(model: nn.Module, **ddp_kwargs: Any) -> nn.Module:
    """``DistributedDataParallel(model)`` when distributed, else ``model`` itself.

    DDP broadcasts rank 0's parameters and buffers at construction, so every
    rank starts from the same weights. On CUDA the model must already be on
    this rank's device (:func:`local_device`).

    Args:
        model: the model (its parameters on this rank's device).
        **ddp_kwargs: passed to ``DistributedDataParallel`` (e.g. ``find_unused_parameters=True``).
    """
    if not is_initialized():
        return model
    from torch.nn.parallel import DistributedDataParallel

    param = next(iter(model.parameters()), None)
    ids: list[int] | None = None
    if param is not None and param.is_cuda:
        ids = [param.device.index]
    return DistributedDataParallel(model, device_ids=ids, **ddp_kwargs)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (the model itself otherwise): its ``state_dict`` has no ``module.`` prefix."""
    return getattr(model, "module", model)
