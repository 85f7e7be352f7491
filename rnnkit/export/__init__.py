"""Export trained rnnkit models for inference: ONNX, TorchScript, ``torch.export``.

::

    from rnnkit.export import export_model
    info = export_model(model, (x, lengths), "model.onnx", format="onnx")

* :func:`export_model`: any model built from rnnkit layers, cells and drop-ins;
  ``lengths`` is a run-time input; see :mod:`rnnkit.export.formats` for what
  is dynamic per format.
* :func:`export_run`: the model of a training run (``rnnkit export RUN_DIR``).
* :func:`prepare_for_export` / :func:`traceable_unroll`: the trace-friendly
  export mode they use (every step run and masked, no host syncs).
"""

from rnnkit.export.formats import FORMATS, ExportInfo, export_model
from rnnkit.export.prepare import prepare_for_export
from rnnkit.export.run import export_run
from rnnkit.export.runner import traceable_unroll

__all__ = ["FORMATS", "ExportInfo", "export_model", "export_run", "prepare_for_export", "traceable_unroll"]
