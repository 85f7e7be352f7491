"""The end-of-run report: ``report.json`` (machine-readable) and ``report.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.train.atomic import atomic_write_json, atomic_write_text
from rnnkit.train.metrics import _clean


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def write_report(trainer: Any, best: Path, val: dict[str, float], test: dict[str, float], extra: dict[str, Any],
                 wall_s: float) -> dict[str, Any]:
    """Write ``report.json`` and ``report.md`` for a finished run and return the report dict.

    Args:
        trainer: the :class:`~rnnkit.train.loop.Trainer` that ran.
        best: the checkpoint whose weights were evaluated.
        val: validation metrics of those weights.
        test: test metrics of those weights.
        extra: what the recipe's ``finish`` returned (``markdown`` and ``files`` are treated specially).
        wall_s: wall time of the run: this invocation plus, for a resumed run, the earlier ones up to
            their last checkpoint (``trainer.sessions`` invocations in all).
    """
    recipe, cfg, run_dir = trainer.recipe, trainer.cfg, trainer.run_dir
    extra = dict(extra)
    markdown = extra.pop("markdown", "")
    n_params = sum(p.numel() for p in trainer.model.parameters())
    report = {
        "recipe": recipe.name, "run_dir": str(run_dir), "stopped": trainer.stopped,
        "epochs_completed": trainer.epoch, "steps": trainer.step,
        "best_epoch": trainer.best_epoch + 1 if trainer.best_epoch >= 0 else None,
        "monitor": f"val_{recipe.monitor}", "checkpoint": str(best.relative_to(run_dir)),
        "val": val, "test": test, "parameters": n_params, "wall_time_s": round(wall_s, 1),
        "sessions": trainer.sessions,
        "threads": cfg.threads, "device": cfg.device, "results": extra,
    }
    atomic_write_json(run_dir / "report.json", _clean(report))
    lines = [f"# rnnkit {recipe.name}", "",
             f"- stopped: {trainer.stopped} ({trainer.epoch} epochs, {trainer.step} steps)",
             f"- model: {cfg.cell}, {cfg.num_layers} layer(s) x {cfg.hidden_size}"
             + (" bidirectional" if cfg.bidirectional else "") + f", {n_params:,} parameters",
             f"- best epoch (val_{recipe.monitor}): {report['best_epoch']}, checkpoint `{report['checkpoint']}`",
             f"- wall time: {wall_s:.1f} s" + (f" over {trainer.sessions} sessions (--resume; each counted up to "
                                                 "its last checkpoint)" if trainer.sessions > 1 else ""), "", "| metric | validation | test |", "|---|---|---|"]
    for key in sorted(set(val) | set(test)):
        lines.append(f"| {key} | {_fmt(val.get(key, ''))} | {_fmt(test.get(key, ''))} |")
    lines += ["", "Learning curves: `learning_curves.png`; per-epoch metrics: `metrics.jsonl`.", ""]
    if markdown:
        lines += [markdown.rstrip(), ""]
    atomic_write_text(run_dir / "report.md", "\n".join(lines))
    return report
