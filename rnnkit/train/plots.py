"""Learning-curve PNGs from ``metrics.jsonl`` records (matplotlib, no pyplot state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib is imported lazily: it costs seconds at start-up
    from matplotlib.figure import Figure


def new_figure(width: float = 6.4, height: float = 4.0) -> "Figure":
    """A Figure with an Agg canvas (headless, thread-safe, no global pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def plot_learning_curves(records: list[dict[str, Any]], path: Path, monitor: str) -> Path:
    """Train/validation loss per epoch (left) and the monitored validation metric (right).

    Args:
        records: ``metrics.jsonl`` records (only ``kind == "epoch"`` ones are drawn).
        path: where to write the PNG.
        monitor: the validation metric name without the ``val_`` prefix.
    """
    epochs = [r for r in records if r.get("kind") == "epoch"]
    fig = new_figure(10, 4)
    ax_loss, ax_metric = fig.subplots(1, 2)
    x = [r["epoch"] + 1 for r in epochs]
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        ys = [r.get(key) for r in epochs]
        pts = [(a, b) for a, b in zip(x, ys) if b is not None]
        if pts:
            ax_loss.plot(*zip(*pts), marker="o", label=label)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("loss")
    ax_loss.legend()
    key = f"val_{monitor}"
    pts = [(a, r.get(key)) for a, r in zip(x, epochs) if r.get(key) is not None]
    if pts:
        ax_metric.plot(*zip(*pts), marker="o", color="tab:green")
    ax_metric.set_xlabel("epoch")
    ax_metric.set_title(key)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.9, wspace=0.25)
    fig.savefig(path)
    return path
