"""Choose the number of epochs by stratified k-fold cross-validation, then refit on all the training data.

With a small training set, a validation split of a handful of examples cannot choose the epoch (nor the
checkpoint): its curve is noise. ``--folds K`` (recipes that implement :class:`FoldableRecipe`) uses every
training example for validation once instead:

1. **Folds.** The training examples are cut into ``K`` stratified folds (scikit-learn's
   ``StratifiedKFold``, shuffled with ``--split-seed``); every class is spread over the folds, so ``K`` is
   capped at the smallest class's count, with a message.
2. **Fold runs.** For each fold ``k`` the recipe trains on the other ``K - 1`` folds with its own schedule
   (the epoch count and learning-rate schedule that *all* the training data would get) and evaluates the
   held-out fold after every epoch. Each fold is an ordinary run of the :class:`~rnnkit.train.loop.Trainer`
   in ``RUN/folds/fold-<k>/`` (``config.json``, ``metrics.jsonl``, checkpoints, ``report.json``).
3. **Choice.** The validation curves (every ``val_*`` metric: loss, accuracy ...) are averaged over the
   folds epoch by epoch; the epoch count ``E*`` is the epoch of the best averaged metric: the recipe's
   option ``fold_metric`` when it has one (``acc``: the highest mean accuracy, ties to the lower mean
   loss; ``loss``: the lowest mean loss), else its ``monitor``; remaining ties go to the earliest epoch.
4. **Refit.** The recipe trains on all the training data for exactly ``E*`` epochs, its learning-rate
   schedule re-scaled to that length (cosine: from ``--lr`` to 0 over ``E*`` epochs' steps), keeps the
   last epoch and is tested. The refit is the run itself (``RUN/``), so ``rnnkit eval/predict/export RUN``
   work as for any run; ``report.json`` gains a ``"kfold"`` item and ``report.md`` a section with the
   curve summary, the choice and each fold's ``metrics.jsonl``.

``RUN/kfold.json`` holds the folds' held-out indices, the averaged curves (mean and standard deviation per
epoch) and the choice.

Supported: ``--resume`` (finished folds are kept, an interrupted fold or refit continues from its last
checkpoint; the folds must come out the same, which :func:`stratified_folds` guarantees for the same data
and ``--split-seed``), ``--tiny``. Refused with a message: ``torchrun`` (more than one process),
``--time-budget`` and ``--max-steps`` (they would cut the fold curves short of the schedule).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Sequence

import numpy as np

from rnnkit.errors import UsageError
from rnnkit.train import distributed
from rnnkit.train.atomic import atomic_write_json, atomic_write_text
from rnnkit.train.checkpoint import CheckpointDir, CheckpointError
from rnnkit.train.loop import Trainer
from rnnkit.train.metrics import MetricsLog, _clean
from rnnkit.train.rundir import write_run_files


class FoldableRecipe(Protocol):
    """What a recipe provides for ``--folds`` (besides the :class:`~rnnkit.recipes.base.Recipe` methods).

    Attributes:
        fold: ``None``, or ``(train_idx, held_out_idx)``: indices into :meth:`fold_labels`'s examples.
            When set, ``load_data`` trains on ``train_idx``, validates on ``held_out_idx`` (keeping its
            monitored metric), has no test split, and trains as many epochs as its schedule gives all the
            training examples.
        refit_epochs: ``None``, or the epoch count ``E*``: ``load_data`` uses all training examples with no
            validation split and sets ``cfg.epochs = E*`` exactly.
    """

    fold: Optional[tuple[np.ndarray, np.ndarray]]
    refit_epochs: Optional[int]
    monitor: str
    monitor_mode: str

    def fold_labels(self) -> np.ndarray:
        """Class labels ``(N,)`` of the training examples (after any test split), in the recipe's order."""


def stratified_folds(labels: Sequence[Any], k: int, seed: int, *,
                     flag: str = "--folds") -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """``k`` stratified folds of ``labels``: ``[(train_idx, held_out_idx), ...]`` and a note ("" or why ``k`` shrank).

    The held-out parts are disjoint and together cover ``0..N-1``; each holds ``n_c / k`` examples of
    class ``c`` (give or take one). A pure function of ``labels``, ``k`` and ``seed``.

    Raises:
        UsageError: ``k < 2``, or a class with fewer than 2 examples (no fold could hold it out and train on it).
    """
    y = np.asarray(labels)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise UsageError(f"{flag} must be an integer >= 2 (0 = off), got {k!r}")
    classes, counts = np.unique(y, return_counts=True)
    smallest = int(counts.min())
    rare = classes[int(counts.argmin())].item()  # a Python value: its repr reads as the user's label
    if smallest < 2:
        raise UsageError(f"{flag} {k}: class {rare!r} has {smallest} training example; k-fold needs at least 2 "
                         f"per class (use {flag} 0: the fixed schedule on all training data)")
    note = ""
    if k > smallest:
        note = (f"{flag} {k}: the smallest class ({rare!r}) has {smallest} training examples, so {smallest} folds "
                "are used (every fold holds out at least one example of every class)")
        k = smallest
    from sklearn.model_selection import StratifiedKFold

    split = StratifiedKFold(n_splits=int(k), shuffle=True, random_state=int(seed)).split(np.zeros(len(y)), y)
    return [(np.sort(tr).astype(np.int64), np.sort(va).astype(np.int64)) for tr, va in split], note


def fold_curves(records: Sequence[Sequence[dict[str, Any]]]) -> tuple[dict[str, np.ndarray], str]:
    """The folds' validation curves: ``{"val_loss": (K, E), ...}`` from each fold's ``metrics.jsonl`` records.

    Only epochs every fold reached are kept (all of them, unless a fold stopped early); the note says when not.
    """
    per_fold = [sorted((r for r in recs if r.get("kind") == "epoch"), key=lambda r: r["epoch"]) for recs in records]
    lengths = [len(f) for f in per_fold]
    n = min(lengths) if lengths else 0
    if n == 0:
        raise ValueError(f"kfold: a fold has no epoch records (epochs per fold: {lengths})")
    note = "" if len(set(lengths)) == 1 else (f"folds reached {lengths} epochs; the curves are averaged over the "
                                             f"first {n}")
    keys = sorted({k for f in per_fold for r in f[:n] for k in r if k.startswith("val_")})
    curves = {}
    for key in keys:
        values = [[r.get(key) for r in f[:n]] for f in per_fold]
        curves[key] = np.array([[np.nan if v is None else float(v) for v in row] for row in values])
    return curves, note


def choose_epochs(mean_curve: np.ndarray, mode: str, tiebreak: Optional[np.ndarray] = None) -> int:
    """The epoch count (1-based) with the best value of ``mean_curve`` (``"min"`` or ``"max"``).

    Ties (accuracy curves have plateaus) go to the epoch with the lowest ``tiebreak`` (the mean validation
    loss) among them, then to the earliest.

    Raises:
        ValueError: every value is NaN (non-finite losses in every fold).
    """
    values = np.asarray(mean_curve, dtype=np.float64)
    if not np.isfinite(values).any():
        raise ValueError("kfold: the averaged validation curve has no finite value; no epoch count can be chosen")
    best = np.nanmin(values) if mode == "min" else np.nanmax(values)
    tied = np.flatnonzero(np.isclose(values, best, rtol=0.0, atol=1e-12))
    if tiebreak is not None and len(tied) > 1:
        second = np.asarray(tiebreak, dtype=np.float64)[tied]
        if np.isfinite(second).any():
            return int(tied[np.nanargmin(second)]) + 1
    return int(tied[0]) + 1


def summary_rows(curves: dict[str, np.ndarray], chosen: int, rows: int = 8) -> list[dict[str, Any]]:
    """About ``rows`` evenly spaced epochs, the chosen one and the last: mean (and std over folds) per metric."""
    n = next(iter(curves.values())).shape[1]
    picks = sorted({int(round(x)) for x in np.linspace(1, n, min(rows, n))} | {chosen, n})
    out = []
    for epoch in picks:
        row: dict[str, Any] = {"epoch": epoch}
        for key, c in curves.items():
            row[key] = float(np.nanmean(c[:, epoch - 1]))
            row[key + "_std"] = float(np.nanstd(c[:, epoch - 1]))
        out.append(row)
    return out


def format_summary(rows: list[dict[str, Any]], keys: Sequence[str], chosen: int) -> str:
    """A markdown table of :func:`summary_rows` (mean ± std over folds), the chosen epoch marked."""
    head = "| epoch | " + " | ".join(f"mean {k}" for k in keys) + " |"
    lines = [head, "|---" * (len(keys) + 1) + "|"]
    for r in rows:
        mark = " (chosen)" if r["epoch"] == chosen else ""
        cells = " | ".join(f"{r[k]:.4f} ± {r[k + '_std']:.4f}" for k in keys)
        lines.append(f"| {r['epoch']}{mark} | {cells} |")
    return "\n".join(lines)


class KFoldTrainer:
    """``--folds K``: the fold runs, the choice of the epoch count and the refit (see the module docstring).

    Args:
        recipe_cls: the recipe class (it must implement :class:`FoldableRecipe`).
        cfg: the run's config; ``cfg.folds`` is ``K`` (>= 2).
        run_dir: the run directory; the folds go to ``run_dir/folds/fold-<k>``, the refit to ``run_dir``.
        resume: continue an interrupted k-fold run.
        log: where progress messages go (default ``print``).
    """

    def __init__(self, recipe_cls: type, cfg: Any, run_dir: Path, *, resume: bool = False,
                 log: Callable[..., Any] = print) -> None:
        self.recipe_cls, self.cfg, self.run_dir, self.resume, self.log = recipe_cls, cfg, Path(run_dir), resume, log
        self.k_requested = int(cfg.folds)
        self.fold_cfg = dataclasses.replace(cfg)  # the folds' config (run_dir set per fold)
        self._check()

    def _check(self) -> None:
        cfg, name = self.cfg, self.recipe_cls.name
        if not callable(getattr(self.recipe_cls, "fold_labels", None)):
            raise UsageError(f"rnnkit train {name}: --folds is not supported by this recipe")
        if self.k_requested < 2:
            raise UsageError(f"rnnkit train {name}: --folds must be 0 (off) or >= 2, got {self.k_requested}")
        if distributed.world_size() > 1:
            raise UsageError(f"rnnkit train {name}: --folds runs in one process, not under torchrun "
                             f"({distributed.world_size()} processes); start it with plain 'rnnkit train'")
        for flag, value in (("--time-budget", cfg.time_budget), ("--max-steps", cfg.max_steps)):
            if value:
                raise UsageError(f"rnnkit train {name}: {flag} {value:g} cannot be combined with --folds "
                                 f"{self.k_requested} (it would cut the fold curves short of the schedule); lower "
                                 "--train-steps or --epochs instead, or use --folds 0")

    def metric(self) -> tuple[str, str]:
        """The averaged curve that chooses the epoch count and ``"min"``/``"max"``: ``cfg.fold_metric`` when the
        recipe has that option (``"loss"``: lowest; ``"acc"``, ``"macro_f1"``: highest), else its ``monitor``."""
        key = getattr(self.cfg, "fold_metric", "") or self.recipe_cls.monitor
        if key == self.recipe_cls.monitor:
            return "val_" + key, self.recipe_cls.monitor_mode
        return "val_" + key, "min" if key.endswith("loss") else "max"

    def _fresh_or_resume(self, run_dir: Path) -> bool:
        """Whether the Trainer of ``run_dir`` should resume (it has a checkpoint and this is a resumed run)."""
        return self.resume and CheckpointDir(run_dir / "checkpoints").path("last") is not None

    def _folds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        probe = self.recipe_cls(dataclasses.replace(self.cfg))
        folds, note = stratified_folds(probe.fold_labels(), self.k_requested, self.cfg.split_seed)
        self.note = note
        if note:
            self.log(f"rnnkit: {note}")
        state = self.run_dir / "kfold.json"
        held_out = [va.tolist() for _, va in folds]
        if self.resume and state.is_file():
            before = json.loads(state.read_text("utf-8"))
            if before.get("held_out", held_out) != held_out:
                raise CheckpointError(f"rnnkit: --resume: the folds of {self.run_dir} differ from those the run "
                                      "started with (the training data or --split-seed changed); start a new run")
            # the run's config.json holds the refit's epoch count once the refit started: the folds keep the first
            self.fold_cfg = dataclasses.replace(self.fold_cfg, epochs=int(before.get("epochs", self.cfg.epochs)))
        else:
            atomic_write_json(state, {"folds": len(folds), "requested": self.k_requested, "note": note,
                                      "split_seed": self.cfg.split_seed, "epochs": self.cfg.epochs,
                                      "held_out": held_out})
        return folds

    def _run_fold(self, k: int, n: int, fold: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
        fold_dir = self.run_dir / "folds" / f"fold-{k}"
        report_path = fold_dir / "report.json"
        if self.resume and report_path.is_file():
            self.log(f"rnnkit: fold {k}/{n} finished before (kept): {fold_dir}")
            return json.loads(report_path.read_text("utf-8"))
        recipe = self.recipe_cls(dataclasses.replace(self.fold_cfg, run_dir=str(fold_dir)))
        recipe.fold = fold
        self.log(f"rnnkit: fold {k}/{n}: training on {len(fold[0])} examples, validating on the {len(fold[1])} "
                 f"held out, in {fold_dir}")
        log = self.log
        trainer = Trainer(recipe, fold_dir, resume=self._fresh_or_resume(fold_dir),
                          log=lambda *a, **kw: log(f"fold {k}/{n}:", *a, **kw))
        return trainer.fit()

    def _choose(self, folds: list[tuple[np.ndarray, np.ndarray]],
                fold_reports: list[dict[str, Any]]) -> tuple[int, dict[str, Any], str, str]:
        """Average the folds' curves, choose ``E*``, log and save (``kfold.json``) the summary.

        Returns:
            ``(E*, summary for report.json, markdown table of the curves, the one-line choice)``.
        """
        run_dir, n = self.run_dir, len(folds)
        records = [MetricsLog(run_dir / "folds" / f"fold-{k + 1}" / "metrics.jsonl").read() for k in range(n)]
        curves, note = fold_curves(records)
        monitor, mode = self.metric()
        if monitor not in curves:
            raise KeyError(f"kfold: the folds' metrics.jsonl have no {monitor!r} (got {sorted(curves)})")
        means = {key: np.nanmean(c, axis=0) for key, c in curves.items()}
        loss = means.get("val_" + self.recipe_cls.monitor)
        chosen = choose_epochs(means[monitor], mode, loss if monitor != "val_" + self.recipe_cls.monitor else None)
        rows = summary_rows(curves, chosen)
        table = format_summary(rows, list(curves), chosen)
        total = len(means[monitor])
        alt = {key: choose_epochs(means[key], "min" if key.endswith("loss") else "max", loss)
               for key in means if key.endswith(("_loss", "_acc", "_macro_f1"))}
        line = (f"rnnkit: {n}-fold cross-validation: the mean {monitor} is best at epoch {chosen} of {total} "
                f"({means[monitor][chosen - 1]:.4f}"
                + "".join(f"; mean {key} {means[key][chosen - 1]:.4f}" for key in means if key != monitor)
                + f"); refit on all the training data for {chosen} epochs, the learning-rate schedule re-scaled "
                f"to {chosen} epochs" + (f" ({note})" if note else ""))
        self.log("rnnkit: validation curves averaged over the folds (mean ± std):\n" + table)
        self.log(line)
        summary = {"folds": n, "requested": self.k_requested, "monitor": monitor, "mode": mode,
                   "chosen_epochs": chosen, "fold_epochs": total,
                   "best_by_other_metric": alt, "note": self.note, "curve_note": note, "summary": rows,
                   "fold_dirs": [f"folds/fold-{k + 1}" for k in range(n)],
                   "fold_metrics": [f"folds/fold-{k + 1}/metrics.jsonl" for k in range(n)],
                   "fold_sizes": [{"train": len(tr), "held_out": len(va)} for tr, va in folds],
                   "fold_wall_time_s": [r.get("wall_time_s") for r in fold_reports]}
        state = json.loads((run_dir / "kfold.json").read_text("utf-8"))
        state.update(summary, curves={key: {"mean": means[key].tolist(), "std": np.nanstd(c, axis=0).tolist()}
                                      for key, c in curves.items()})
        atomic_write_json(run_dir / "kfold.json", _clean(state))
        return chosen, summary, table, line

    def fit(self) -> dict[str, Any]:
        """Run the folds, choose the epoch count, refit on all the training data; return the refit's report.

        Raises:
            Interrupted: on SIGINT/SIGTERM (a fold's or the refit's checkpoint was saved; ``--resume`` continues).
        """
        run_dir = self.run_dir
        if not self.resume and ((run_dir / "folds").exists() or CheckpointDir(run_dir / "checkpoints").path("last")):
            raise CheckpointError(f"rnnkit: {run_dir} already holds a run; pass --resume to continue it or choose "
                                  "another --run-dir")
        run_dir.mkdir(parents=True, exist_ok=True)
        if not self.resume or not (run_dir / "config.json").is_file():  # --resume finds the run during its folds
            write_run_files(run_dir, self.recipe_cls(dataclasses.replace(self.cfg)))
        folds = self._folds()
        fold_reports = [self._run_fold(k + 1, len(folds), fold) for k, fold in enumerate(folds)]
        chosen, summary, table, line = self._choose(folds, fold_reports)
        recipe = self.recipe_cls(dataclasses.replace(self.cfg))
        recipe.refit_epochs = chosen
        self.log(f"rnnkit: refit on all the training data for {chosen} epochs in {run_dir}")
        report = Trainer(recipe, run_dir, resume=self._fresh_or_resume(run_dir), log=self.log).fit()
        if not report:
            return report
        return self._extend_report(report, summary, table, line)

    def _extend_report(self, report: dict[str, Any], summary: dict[str, Any], table: str, line: str) -> dict[str, Any]:
        """Add the k-fold summary to the refit's ``report.json`` and ``report.md``."""
        folds_wall = sum(float(w or 0.0) for w in summary["fold_wall_time_s"])
        summary = {**summary, "refit_wall_time_s": report["wall_time_s"]}
        report = {**report, "kfold": summary, "wall_time_s": round(report["wall_time_s"] + folds_wall, 1),
                  "stopped": f"{summary['folds']}-fold choice of {summary['chosen_epochs']} epochs, then refit: "
                             f"{report['stopped']}"}
        atomic_write_json(self.run_dir / "report.json", _clean(report))
        fold_lines = "\n".join(f"- `{d}/`: {s['train']} training / {s['held_out']} held-out examples, "
                               f"`{m}`" for d, s, m in zip(summary["fold_dirs"], summary["fold_sizes"],
                                                           summary["fold_metrics"]))
        md = (f"\n## Epoch count chosen by {summary['folds']}-fold cross-validation\n\n{line.removeprefix('rnnkit: ')}"
              f"\n\nValidation curves averaged over the folds (mean ± std over folds):\n\n{table}\n\n{fold_lines}\n\n"
              f"Wall time: folds {folds_wall:.1f} s, refit {summary['refit_wall_time_s']:.1f} s "
              "(the wall time above is the refit's).\n")
        path = self.run_dir / "report.md"
        atomic_write_text(path, path.read_text("utf-8") + md)
        return report
