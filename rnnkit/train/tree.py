"""Nested Python structures with tensor leaves: mapped over, and <-> (tensors, JSON spec).

Batches, optimiser and scheduler ``state_dict()`` s, carried RNN states and RNG states
are nests of dicts (with int or str keys), lists, tuples, NamedTuples,
tensors and scalars. :func:`tree_map` applies a function to every tensor of such a nest
(moving a batch to the device, detaching a carried state); :func:`flatten` splits a nest into a flat
``{key: Tensor}`` dict for safetensors and a JSON-able spec that records the
structure; :func:`unflatten` rebuilds it. Nothing is ever pickled; NamedTuple
types are rebuilt only from ``rnnkit`` modules.
"""

from __future__ import annotations

import importlib
from typing import Any

from torch import Tensor

_SCALARS = (type(None), bool, int, float, str)


def tree_map(fn: Any, x: Any) -> Any:
    """Apply ``fn`` to every tensor in a nest of tuples/NamedTuples/lists/dicts."""
    if isinstance(x, Tensor):
        return fn(x)
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(tree_map(fn, v) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(tree_map(fn, v) for v in x)
    if isinstance(x, dict):
        return {k: tree_map(fn, v) for k, v in x.items()}
    return x


def batch_size_of(batch: Any) -> int:
    """The first dimension of the first tensor in a batch (for examples/s)."""
    found: list[int] = []
    tree_map(lambda t: found.append(t.shape[0] if t.dim() else 1) or t, batch)
    return found[0] if found else 1


def flatten(obj: Any, prefix: str) -> tuple[dict[str, Tensor], Any]:
    """Split ``obj`` into tensors (keys start with ``prefix``) and a JSON spec.

    Raises:
        TypeError: a leaf that is neither a tensor nor a JSON scalar.
    """
    tensors: dict[str, Tensor] = {}

    def walk(x: Any, path: str) -> Any:
        if isinstance(x, Tensor):
            tensors[path] = x.detach().cpu().contiguous().clone()
            return {"t": path}
        if isinstance(x, _SCALARS):
            return {"v": x}
        if isinstance(x, dict):
            for k in x:
                if not isinstance(k, (int, str)) or isinstance(k, bool):
                    raise TypeError(f"flatten: dict keys must be int or str, got {type(k).__name__} at {path}")
            return {"dict": [[k, walk(v, f"{path}.{k}")] for k, v in x.items()]}
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            cls = type(x)
            return {"namedtuple": f"{cls.__module__}:{cls.__qualname__}",
                    "items": [walk(v, f"{path}.{i}") for i, v in enumerate(x)]}
        if isinstance(x, (list, tuple)):
            return {type(x).__name__ if type(x) in (list, tuple) else "list":
                    [walk(v, f"{path}.{i}") for i, v in enumerate(x)]}
        raise TypeError(f"flatten: cannot store a {type(x).__name__} at {path} in a checkpoint "
                        "(only tensors, dicts, lists, tuples, NamedTuples and JSON scalars)")

    spec = walk(obj, prefix)
    return tensors, spec


def _namedtuple_class(name: str) -> type:
    module_name, _, qualname = name.partition(":")
    if not (module_name == "rnnkit" or module_name.startswith("rnnkit.")):
        raise ValueError(f"unflatten: NamedTuple type {name!r} is not from rnnkit; refusing to import it")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")):
        raise ValueError(f"unflatten: {name!r} is not a NamedTuple type")
    return obj


def unflatten(spec: Any, tensors: dict[str, Tensor]) -> Any:
    """Rebuild the nest that :func:`flatten` split.

    Raises:
        ValueError: the spec is malformed or names a tensor that is missing.
    """
    if not isinstance(spec, dict) or len(spec) not in (1, 2):
        raise ValueError(f"unflatten: malformed structure entry {str(spec)[:80]!r}")
    if "t" in spec:
        key = spec["t"]
        if key not in tensors:
            raise ValueError(f"unflatten: tensor {key!r} is missing from the checkpoint")
        return tensors[key]
    if "v" in spec:
        return spec["v"]
    if "dict" in spec:
        return {k: unflatten(v, tensors) for k, v in spec["dict"]}
    if "list" in spec:
        return [unflatten(v, tensors) for v in spec["list"]]
    if "tuple" in spec:
        return tuple(unflatten(v, tensors) for v in spec["tuple"])
    if "namedtuple" in spec:
        return _namedtuple_class(spec["namedtuple"])(*(unflatten(v, tensors) for v in spec["items"]))
    raise ValueError(f"unflatten: malformed structure entry {str(spec)[:80]!r}")
