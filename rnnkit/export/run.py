"""``rnnkit export RUN_DIR``: a trained run's model as an ONNX/TorchScript/``torch.export`` file.

The run is reopened exactly as ``rnnkit eval``/``predict`` do
(:func:`rnnkit.train.rundir.open_recipe` and :func:`~rnnkit.train.rundir.load_weights`),
then exported with :func:`rnnkit.export.export_model`. The example inputs
come from the recipe's ``export_example(model)`` when it has one (returning
``(args, kwargs)``), else from the shared :class:`~rnnkit.recipes.models.RNNModel`:
``(x, lengths)`` with ``x`` ``(B, T, F)`` floats (or ``(B, T)`` token ids)
and ``lengths`` ``(B,)`` int64, the state starting from zeros.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.export.formats import FORMATS, SUFFIXES, ExportInfo, export_model


def example_for(model: nn.Module, *, batch: int = 2, time: int = 5) -> tuple[tuple[Tensor, ...], dict[str, Tensor]]:
    """Example ``(x, lengths)`` for a recipe :class:`~rnnkit.recipes.models.RNNModel`.

    Raises:
        TypeError: the model is not an ``RNNModel`` (give the recipe an ``export_example`` method).
    """
    from rnnkit.recipes.models import RNNModel

    if not isinstance(model, RNNModel):
        raise TypeError(f"export_run: model must be an rnnkit.recipes.models.RNNModel or its recipe must define "
                        f"export_example(model) -> (args, kwargs), got {type(model).__name__}")
    device = next(model.parameters()).device
    lengths = torch.tensor([time] + [max(1, time - 2)] * (batch - 1), dtype=torch.long, device=device)
    if model.vocab_size is not None:
        x = torch.randint(0, model.vocab_size, (batch, time), generator=torch.Generator().manual_seed(0)).to(device)
    else:
        size = model.proj.in_features if model.proj is not None else model.rnn.input_size
        x = torch.randn(batch, time, size, generator=torch.Generator().manual_seed(0)).to(device)
    return (x, lengths), {}


def export_run(run_dir: Any, format: str = "onnx", out_path: Any | None = None, *,
               checkpoint: str = "best", trust_unverified: bool = False) -> ExportInfo:
    """Export the model of a training run.

    Args:
        run_dir: the run directory (``runs/<recipe>-...``).
        format: ``"onnx"``, ``"torchscript"`` or ``"exported"``.
        out_path: the file to write; default ``RUN_DIR/model.onnx`` (``.pt``, ``.pt2``).
        checkpoint: ``"best"`` or ``"last"`` weights (verified against the checkpoint's manifest).
        trust_unverified: load a checkpoint that has no manifest instead of refusing it.

    Returns:
        The :class:`~rnnkit.export.formats.ExportInfo` of the written file.
    """
    from rnnkit.checks import check_choice
    from rnnkit.train import rundir

    check_choice("export_run", "format", format, FORMATS)
    check_choice("export_run", "checkpoint", checkpoint, ("best", "last"))
    run_dir = Path(run_dir)
    recipe = rundir.open_recipe(run_dir, {"device": "cpu"})
    model, _ = rundir.load_weights(recipe, run_dir, checkpoint, trust_unverified=trust_unverified)
    hook = getattr(recipe, "export_example", None)
    args, kwargs = hook(model) if callable(hook) else example_for(model)
    out = Path(out_path) if out_path is not None else run_dir / f"model{SUFFIXES[format]}"
    return export_model(model, args, out, format, example_kwargs=kwargs)
