"""Seeding and the random-number state that a checkpoint must restore.

Data order is a pure function of ``(seed, epoch)`` (:func:`epoch_generator`),
so a resumed run rebuilds an epoch's batches exactly. The global RNGs
(python ``random``, numpy, torch CPU and CUDA) drive initialisation and
dropout; :func:`get_rng_state`/:func:`set_rng_state` save and restore them
as tensors plus JSON (never pickle).
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch
from torch import Tensor

_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant: spreads (seed, epoch, stream) over 63 bits


def derive_seed(seed: int, *parts: int) -> int:
    """A 63-bit seed derived from ``seed`` and further integers (deterministic, order-sensitive)."""
    x = seed & 0xFFFFFFFFFFFFFFFF
    for p in parts:
        x = (x * 6364136223846793005 + (p + 1) * _MIX) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 29
    return x & 0x7FFFFFFFFFFFFFFF


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``(seed, epoch, stream)``."""
    g = torch.Generator()
    g.manual_seed(derive_seed(seed, epoch, stream))
    return g


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed python, numpy and torch; optionally switch torch to deterministic algorithms."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def get_rng_state() -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The global RNG states as ``(tensors, json_meta)``."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    tensors = {
        "rng.torch": torch.get_rng_state(),
        "rng.numpy": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
        "rng.python": torch.tensor(py_state, dtype=torch.int64),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    meta = {"python_version": py_version, "python_gauss": py_gauss, "numpy_name": np_name,
            "numpy_pos": int(np_pos), "numpy_has_gauss": int(np_has_gauss), "numpy_gauss": float(np_gauss)}
    return tensors, meta


def set_rng_state(tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    torch.set_rng_state(tensors["rng.torch"])
    np.random.set_state((meta["numpy_name"], tensors["rng.numpy"].numpy().astype(np.uint32), meta["numpy_pos"],
                         meta["numpy_has_gauss"], meta["numpy_gauss"]))
    random.setstate((meta["python_version"], tuple(int(v) for v in tensors["rng.python"].tolist()),
                     meta["python_gauss"]))
    cuda = sorted(k for k in tensors if k.startswith("rng.cuda."))
    if cuda and torch.cuda.is_available():
        states = [tensors[k] for k in cuda][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(states)
