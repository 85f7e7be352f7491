"""Crash-safe, pickle-free checkpoints.

A checkpoint is a directory ``<run>/checkpoints/step-<N>/`` holding

* ``model.safetensors``   the model weights (loadable on their own with
  ``safetensors.torch.load_file``); metadata: recipe name and config JSON;
* ``trainer.safetensors`` every other tensor: optimiser state, RNG states,
  the carried RNN state;
* ``trainer.json``        the non-tensor structure: epoch, step, batch index,
  optimiser/scheduler structure (see :mod:`rnnkit.train.tree`), early-stopping
  state, python/numpy RNG scalars;
* ``manifest.json``       size and SHA-256 of the three files (detects corruption).

Every load goes through :func:`load_checkpoint` (``--resume``, the final
reload, ``rnnkit eval/predict/generate/export``), which checks the files
against the manifest first. A checkpoint without a manifest is refused unless
the caller passes ``trust_unverified=True`` (``--trust-unverified`` on the
command line). The names in ``index.json`` must be checkpoint directory names
(``step-<N>``), never paths: an absolute path or ``..`` is refused.

Writing is atomic: the files are written and fsynced inside a temporary
directory ``checkpoints/.tmp-*``, which is renamed to its final name (and the
parent fsynced); then ``checkpoints/index.json`` (``{"last": ..., "best": ...}``)
is replaced atomically; only then are old checkpoints pruned. A crash at any
moment leaves the previous checkpoint intact and the index pointing at a
complete one.

Loading never unpickles: ``torch.load`` is not used anywhere. A pickle or a
``torch.save`` archive where a checkpoint is expected is refused before any of
it is interpreted; truncated or corrupted files, missing keys and weights of
a different architecture each raise :class:`CheckpointError` saying what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from rnnkit.errors import RnnkitError
from rnnkit.train.atomic import atomic_write_json, fsync_dir, write_tmp

MODEL_FILE = "model.safetensors"
TRAINER_FILE = "trainer.safetensors"
TRAINER_JSON = "trainer.json"
MANIFEST = "manifest.json"
INDEX = "index.json"
_NO_PICKLE = "rnnkit reads checkpoints only as safetensors + JSON and never unpickles (pickles can run code)"


CHECKPOINT_NAME = re.compile(r"step-[0-9]+(\.[0-9]+)?")
"""What :func:`save_checkpoint` names a checkpoint directory; ``index.json`` may name nothing else."""


class CheckpointError(RnnkitError, ValueError):
    """A checkpoint is missing, unsafe, corrupted or does not fit the model."""


class NonFiniteError(RnnkitError, RuntimeError):
    """Training produced NaN/inf values (loss, gradients or weights)."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_finite(tensors: dict[str, Tensor], what: str) -> None:
    """Raise :class:`NonFiniteError` naming the first non-finite floating tensor."""
    for key, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise NonFiniteError(f"refusing to save a checkpoint: {what} tensor {key!r} holds NaN/inf values")


def save_checkpoint(root: Path, name: str, *, model_state: dict[str, Tensor], tensors: dict[str, Tensor],
                    meta: dict[str, Any], model_metadata: Optional[dict[str, str]] = None) -> Path:
    """Write checkpoint ``root/name`` atomically (see the module docstring).

    Args:
        root: the run's ``checkpoints`` directory (created if needed).
        name: the checkpoint's directory name, e.g. ``step-00000450``.
        model_state: ``model.state_dict()``.
        tensors: the other tensors (optimiser, RNG, carry), flat ``{key: Tensor}``.
        meta: JSON-able trainer metadata.
        model_metadata: str -> str metadata stored in ``model.safetensors``.

    Returns:
        The checkpoint directory (``root/name``, or ``root/name.K`` if that exists already).

    Raises:
        NonFiniteError: a weight or optimiser tensor is NaN/inf (nothing is written).
    """
    weights = {k: v.detach().cpu().contiguous().clone() for k, v in model_state.items()}
    check_finite(weights, "model")
    check_finite({k: v for k, v in tensors.items() if k.startswith("optim.")}, "optimiser")
    blobs = {
        MODEL_FILE: st_save(weights, metadata=model_metadata or {}),
        TRAINER_FILE: st_save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}),
        TRAINER_JSON: (json.dumps(meta, indent=1) + "\n").encode("utf-8"),
    }
    manifest = {fname: {"bytes": len(data), "sha256": _sha256(data)} for fname, data in blobs.items()}
    blobs[MANIFEST] = (json.dumps(manifest, indent=1) + "\n").encode("utf-8")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    try:
        for fname, data in blobs.items():
            write_tmp(tmp, data).rename(tmp / fname)
        fsync_dir(tmp)
        final, k = root / name, 0
        while final.exists():  # never replace a checkpoint in place: the index may point at it
            k += 1
            final = root / f"{name}.{k}"
        tmp.rename(final)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def read_safetensors(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Read a safetensors file safely: refuse pickles, explain truncation/corruption.

    Returns:
        ``(tensors, metadata)``.

    Raises:
        CheckpointError: the file is missing, a pickle/``torch.save`` archive, or not valid safetensors.
    """
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} does not exist")
    data = path.read_bytes()
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise CheckpointError(f"{path} is a Python pickle, not a safetensors file; refusing to load it. {_NO_PICKLE}")
    if data[:4] == b"PK\x03\x04":
        raise CheckpointError(f"{path} is a zip archive (torch.save format, which contains pickles), not a "
                              f"safetensors file; refusing to load it. {_NO_PICKLE}")
    if len(data) < 8:
        raise CheckpointError(f"{path} is truncated or corrupted: {len(data)} bytes, shorter than a safetensors header")
    header_len = int.from_bytes(data[:8], "little")
    if header_len > len(data) - 8:
        raise CheckpointError(f"{path} is truncated or not a safetensors file: its header claims {header_len} bytes "
                              f"but the file has {len(data) - 8} after the length field. {_NO_PICKLE}")
    try:
        header = json.loads(data[8:8 + header_len])
        tensors = st_load(data)
    except Exception as err:  # safetensors raises its own error types
        raise CheckpointError(f"{path} is truncated or corrupted (not valid safetensors): {err}") from err
    metadata = header.get("__metadata__", {}) if isinstance(header, dict) else {}
    return tensors, metadata


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} does not exist")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is truncated or corrupted (not valid JSON): {err}") from err


def verify(ckpt: Path) -> None:
    """Check the files of checkpoint directory ``ckpt`` against its manifest."""
    manifest = _read_json(ckpt / MANIFEST)
    for fname, info in manifest.items():
        path = ckpt / fname
        if not path.is_file():
            raise CheckpointError(f"checkpoint {ckpt} is incomplete: {fname} is missing")
        data = path.read_bytes()
        if len(data) != info["bytes"]:
            raise CheckpointError(f"{path} is truncated or corrupted: {len(data)} bytes, expected {info['bytes']}")
        if _sha256(data) != info["sha256"]:
            raise CheckpointError(f"{path} is corrupted: its SHA-256 does not match the checkpoint's manifest")


def load_checkpoint(ckpt: Path, *, weights_only: bool = False, trust_unverified: bool = False,
                    ) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Any]]:
    """Load checkpoint directory ``ckpt``, verified against its manifest: ``(model_state, tensors, meta)``.

    The one place where checkpoint files are read: every caller (resume, the
    final reload, eval/predict/generate/export) goes through it.

    Args:
        ckpt: the checkpoint directory (``.../checkpoints/step-<N>``).
        weights_only: read ``model.safetensors`` only (``tensors`` and ``meta`` come back empty);
            the manifest still covers every file.
        trust_unverified: load a checkpoint that has no ``manifest.json`` (written by hand or by
            another tool) instead of refusing it. A manifest that exists is always checked.

    Raises:
        CheckpointError: no manifest (and not ``trust_unverified``), a file that does not match its
            manifest, or a missing/unsafe/corrupted file.
    """
    ckpt = Path(ckpt)
    if (ckpt / MANIFEST).is_file():
        verify(ckpt)
    elif not trust_unverified:
        raise CheckpointError(f"checkpoint {ckpt} has no {MANIFEST}, so its files cannot be checked for corruption "
                              "or tampering; refusing to load it. If you trust these files, pass "
                              "--trust-unverified (trust_unverified=True)")
    model_state, _ = read_safetensors(ckpt / MODEL_FILE)
    if weights_only:
        return model_state, {}, {}
    tensors, _ = read_safetensors(ckpt / TRAINER_FILE)
    meta = _read_json(ckpt / TRAINER_JSON)
    return model_state, tensors, meta


def apply_weights(model: nn.Module, state: dict[str, Tensor], source: Path) -> None:
    """Load ``state`` into ``model``, explaining missing/unexpected keys and shape mismatches.

    Raises:
        CheckpointError: the checkpoint does not fit the model (e.g. another ``--cell`` or ``--hidden-size``).
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"missing keys {missing[:5]}" + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    if unexpected:
        problems.append(f"unexpected keys {unexpected[:5]}"
                        + (f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else ""))
    if shapes:
        problems.append("shape mismatch " + "; ".join(shapes[:5]))
    if problems:
        raise CheckpointError(f"checkpoint {source} does not match the model ({'; '.join(problems)}); was it saved "
                              "from a different architecture (--cell, --hidden-size, --num-layers, --bidirectional)?")
    model.load_state_dict(state, strict=True)


class CheckpointDir:
    """The ``checkpoints`` directory of a run: index, latest/best lookup, pruning."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def index(self) -> dict[str, Any]:
        """``{"last": name, "best": name, ...}``; rebuilt from the directories if the index is unreadable."""
        path = self.root / INDEX
        if path.is_file():
            try:
                idx = json.loads(path.read_text("utf-8"))
                if isinstance(idx, dict) and (self.root / str(idx.get("last"))).is_dir():
                    return idx
            except (UnicodeDecodeError, json.JSONDecodeError):
                pass
        complete = self.complete()
        return {"last": complete[-1].name} if complete else {}

    def complete(self) -> list[Path]:
        """Complete checkpoint directories (with a manifest), oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir()
                      if p.is_dir() and p.name.startswith("step-") and (p / MANIFEST).is_file())

    def path(self, which: str) -> Optional[Path]:
        """The directory of the ``"last"`` or ``"best"`` checkpoint, or None.

        Raises:
            CheckpointError: ``index.json`` names something that is not a checkpoint directory
                name (``step-<N>``): an absolute path, ``..``, a separator or another type.
        """
        name = self.index().get(which)
        if name is None:
            return None
        if not isinstance(name, str) or not CHECKPOINT_NAME.fullmatch(name):
            raise CheckpointError(f"{self.root / INDEX}: {which!r} must name a checkpoint directory of "
                                  f"{self.root} (step-<N>), got {name!r}; refusing to follow it")
        return self.root / name

    def update(self, **entries: Any) -> None:
        """Atomically update the index (``last=...``, ``best=...``)."""
        idx = self.index()
        idx.update(entries)
        atomic_write_json(self.root / INDEX, idx)

    def prune(self, keep: int) -> None:
        """Delete all but the ``keep`` newest checkpoints, never the last or best, and stale temp dirs."""
        idx = self.index()
        protected = {idx.get("last"), idx.get("best")}
        for stale in self.root.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
        complete = self.complete()
        for p in complete[: max(0, len(complete) - keep)]:
            if p.name not in protected:
                shutil.rmtree(p, ignore_errors=True)
