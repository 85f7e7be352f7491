"""The ``rnnkit`` command (also ``python -m rnnkit``).

::

    rnnkit list                                   recipes, their datasets, install commands
    rnnkit train RECIPE [--config FILE.toml] [--flag value ...]
    rnnkit train RECIPE --resume [--run-dir DIR]  continue a run from its last checkpoint
    rnnkit eval RUN_DIR [--checkpoint best|last]  validation and test metrics of a run
    rnnkit predict RUN_DIR --input FILE [--output FILE]
    rnnkit generate RUN_DIR [--prefix TEXT] [--length N] [--temperature T] [--top-k K]
    rnnkit export RUN_DIR [--format onnx|torchscript|exported] [--output FILE]
    rnnkit prepare RECIPE [--text FILE | --data FILE]   tokenise / parse the data once into the cache
    rnnkit cache [list | clear [NAME ...]]              the data caches, their sizes; remove them
    rnnkit build-core                             build the compiled C++ core now (else on first use)

Every field of a recipe's config dataclass is a flag (``hidden_size`` ->
``--hidden-size``, bools ``--x/--no-x``); precedence: defaults < ``--config``
TOML file (top-level keys and a ``[train]`` table, merged) < flags. eval,
predict, generate and export verify the checkpoint against its manifest
(``--trust-unverified`` loads one without a manifest). Exit codes: 0 success,
1 error (one line on stderr for what the user can fix, a traceback for a bug
in rnnkit), 2 bad usage, 130/143 stopped by SIGINT/SIGTERM after saving a
checkpoint. Subcommands live in ``COMMANDS`` (one line each).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from rnnkit.cli_options import Parser, did_you_mean, load_toml
from rnnkit.errors import RnnkitError, UsageError
from rnnkit.recipes import RECIPES, available, get_recipe
from rnnkit.recipes.base import Recipe, _field_type

USAGE = "usage:\n" + __doc__.split("::\n\n", 1)[1].split("\n\n", 1)[0]

RESUME_OVERRIDABLE = {"epochs", "patience", "threads", "device", "progress", "resume", "run_dir", "max_steps",
                      "checkpoint_every", "log_every", "keep_checkpoints", "max_nonfinite", "time_budget"}
"""Options a resumed run may change; any other must equal the run's saved config."""


def config_parser(recipe_cls: type[Recipe]) -> argparse.ArgumentParser:
    """``rnnkit train <recipe>``'s parser: one flag per config field (defaults suppressed)."""
    p = Parser(prog=f"rnnkit train {recipe_cls.name}", description=recipe_cls.description,
               argument_default=argparse.SUPPRESS)
    p.add_argument("--config", metavar="FILE.toml", help="TOML file of options (flags given here win)")
    for f in dataclasses.fields(recipe_cls.Config):
        flag = "--" + f.name.replace("_", "-")
        kind = _field_type(f)
        helptext = f"{f.metadata.get('help', '')} (default: {f.default!r})"
        if kind is bool:
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, help=helptext)
        else:
            p.add_argument(flag, dest=f.name, type=kind if kind in (int, float, str) else str,
                           choices=f.metadata.get("choices"), help=helptext,
                           metavar=None if f.metadata.get("choices") else getattr(kind, "__name__", "STR").upper())
    return p


def recipe_named(name: str) -> type[Recipe]:
    """The recipe class ``name``, or a :class:`UsageError` that lists the recipes and suggests a close one."""
    return get_recipe(name)


def build_config(recipe_cls: type[Recipe], argv: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    """The config from defaults, ``--config`` and flags; also the explicitly given values."""
    args = vars(config_parser(recipe_cls).parse_args(list(argv)))
    given = load_toml(args.pop("config")) if "config" in args else {}
    given = {str(k).replace("-", "_"): v for k, v in given.items()}
    given.update(args)
    cfg = _validated(recipe_cls, given, "rnnkit train")
    return cfg, given


def _validated(recipe_cls: type[Recipe], values: dict[str, Any], source: str) -> Any:
    """``recipe_cls.Config`` from ``values``, validated; a recipe's own ValueError/TypeError becomes a UsageError."""
    try:
        cfg = recipe_cls.Config.from_dict(values, source)
        cfg.validate(f"rnnkit train {recipe_cls.name}")
    except RnnkitError:
        raise
    except (ValueError, TypeError) as err:  # Config.validate checks user input by contract
        raise UsageError(str(err)) from err
    return cfg


def cmd_train(argv: Sequence[str]) -> int:
    """``rnnkit train RECIPE ...``."""
    from rnnkit.train import distributed, rundir
    from rnnkit.train.loop import Interrupted, Trainer

    if not argv or argv[0] in ("-h", "--help"):
        print("usage: rnnkit train RECIPE [--help] [--config FILE.toml] [--flag value ...]\n"
              f"recipes: {', '.join(available())}")
        return 0 if argv else 2
    recipe_cls = recipe_named(argv[0])
    cfg, given = build_config(recipe_cls, argv[1:])
    distributed.init_from_env(cfg.device)  # under torchrun: join the process group (no-op otherwise)
    run_dir = Path(cfg.run_dir) if cfg.run_dir else None
    if cfg.resume:
        run_dir = run_dir or rundir.newest_run_dir(recipe_cls.name)
        if run_dir is None:
            raise UsageError(f"rnnkit train: --resume found no run of {recipe_cls.name} under "
                             f"{rundir.RUNS_ROOT}/; pass --run-dir")
        saved = rundir.read_run_config(run_dir, "--resume needs the run's config.json")
        if saved.get("recipe") != recipe_cls.name:
            raise UsageError(f"rnnkit train: --run-dir {run_dir} is a {saved.get('recipe')!r} run, "
                             f"not {recipe_cls.name!r}")
        values = rundir.saved_values(recipe_cls.Config, saved)
        for key, value in given.items():
            if key not in RESUME_OVERRIDABLE and values.get(key) != getattr(cfg, key):
                raise UsageError(f"rnnkit train: --{key.replace('_', '-')} cannot change when resuming "
                                 f"(the run has {values.get(key)!r}, got {value!r})")
        values.update({k: getattr(cfg, k) for k in given if k in RESUME_OVERRIDABLE})
        values.update(resume=True, run_dir=str(run_dir))
        cfg = _validated(recipe_cls, values, str(run_dir / "config.json"))
    else:
        run_dir = Path(distributed.broadcast_object(str(run_dir or rundir.default_run_dir(recipe_cls.name))))
        cfg.run_dir = str(run_dir)
    main = distributed.is_main()
    if main:
        print(f"rnnkit: {recipe_cls.name} run in {run_dir}" + (f" ({distributed.world_size()} processes)"
                                                               if distributed.world_size() > 1 else ""))
    if getattr(cfg, "folds", 0):  # the epoch count chosen by k-fold cross-validation, then a refit
        from rnnkit.train.kfold import KFoldTrainer
        trainer: Any = KFoldTrainer(recipe_cls, cfg, run_dir, resume=cfg.resume)
    else:
        trainer = Trainer(recipe_cls(cfg), run_dir, resume=cfg.resume)
    try:
        report = trainer.fit()
    except Interrupted as stop:
        if main:
            print(f"rnnkit: {stop}. Continue with: rnnkit train {recipe_cls.name} --resume --run-dir {run_dir}",
                  file=sys.stderr)
        return 143 if stop.signal_name == "SIGTERM" else 130
    finally:
        distributed.cleanup()
    if not main:
        return 0
    test = ", ".join(f"{k} {v:.4f}" for k, v in report["test"].items())
    print(f"rnnkit: {report['stopped']}; test: {test}; wall time {report['wall_time_s']:.1f} s; "
          f"report: {run_dir / 'report.md'}")
    return 0


def _run_parser(name: str, help_text: str) -> argparse.ArgumentParser:
    p = Parser(prog=f"rnnkit {name}", description=help_text)
    p.set_defaults(command=name)
    p.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run directory (runs/<recipe>-...)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which weights (default best)")
    p.add_argument("--trust-unverified", action="store_true",
                   help="load a checkpoint that has no manifest.json (its files cannot be checked); default: refuse")
    if name != "export":
        p.add_argument("--device", default=None, help="torch device (default: the run's)")
        p.add_argument("--threads", type=int, default=None, help="CPU threads (default: the run's)")
    return p


def _open(args: argparse.Namespace) -> tuple[Recipe, Any, Path]:
    """The run's recipe (saved config, ``--device``/``--threads`` overridden, assets), its model and checkpoint.

    The weights are verified against the checkpoint's manifest (see :func:`rnnkit.train.rundir.load_weights`).
    """
    import torch

    from rnnkit.train import rundir
    from rnnkit.train.devices import check_device

    if args.device is not None:  # the flag's own message, before the run's config is read
        check_device(f"rnnkit {args.command}", args.device)
    overrides = {k: v for k, v in (("device", args.device), ("threads", args.threads)) if v is not None}
    recipe = rundir.open_recipe(args.run_dir, overrides)
    if recipe.cfg.threads > 0:
        torch.set_num_threads(recipe.cfg.threads)
    if getattr(args, "load_data", False):
        recipe.load_data()
    model, path = rundir.load_weights(recipe, args.run_dir, args.checkpoint, trust_unverified=args.trust_unverified)
    return recipe, model, path


def cmd_eval(argv: Sequence[str]) -> int:
    """``rnnkit eval RUN_DIR``: validation and test metrics, also written to ``RUN_DIR/eval.json``."""
    import torch

    from rnnkit.train.atomic import atomic_write_json

    args = _run_parser("eval", "Evaluate a run's checkpoint on the validation and test splits; the metrics "
                       "are also written to RUN_DIR/eval.json.").parse_args(argv)
    args.load_data = True
    recipe, model, path = _open(args)
    with torch.no_grad():
        result = {split: {k: float(v) for k, v in recipe.evaluate(model, split).items()} for split in ("val", "test")}
    result["checkpoint"] = str(path)
    out = Path(args.run_dir) / "eval.json"
    atomic_write_json(out, result)
    print(f"rnnkit: scored the {args.checkpoint!r} checkpoint {path}")
    for split in ("val", "test"):
        print(f"{split}: " + ", ".join(f"{k} {v:.4f}" for k, v in result[split].items()))
    print(f"rnnkit: metrics written to {out}")
    return 0


PREDICT_READ_OPTIONS = (
    ("column", str, "the input's column to read (recipes that read one column; default: the run's setting)"),
    ("time_column", str, "the input's time column (forecast; default: the run's setting)"),
    ("text_column", str, "the input's text column (sentiment; default: the run's setting)"),
    ("skip_bad", bool, "skip bad rows of the input (counted, with a warning)"),
    ("max_bad_share", float, "with --skip-bad: stop when more than this share of the input's lines is bad"),
    ("encoding", str, "the input's encoding (default: the run's setting)"),
)
"""``predict`` flags that say how to read the input file, overriding the run's saved config."""


def cmd_predict(argv: Sequence[str]) -> int:
    """``rnnkit predict RUN_DIR --input FILE [--output FILE]``."""
    p = _run_parser("predict", "Predict with a trained run on your own file.")
    p.add_argument("--input", required=True, type=Path, help="input file (format: see the recipe's docs)")
    p.add_argument("--output", type=Path, default=None, help="where to write predictions (default beside input)")
    for name, kind, text in PREDICT_READ_OPTIONS:
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            p.add_argument(flag, dest=name, action="store_true", default=None, help=text)
        else:
            p.add_argument(flag, dest=name, type=kind, default=None, help=text)
    args = p.parse_args(argv)
    if not args.input.is_file():
        raise UsageError(f"rnnkit predict: --input {args.input} does not exist")
    recipe, model, _ = _open(args)
    for name, _, _ in PREDICT_READ_OPTIONS:  # how to read this file: overrides the run's saved setting
        value = getattr(args, name)
        if value is not None:
            if not hasattr(recipe.cfg, name):
                raise UsageError(f"rnnkit predict: --{name.replace('_', '-')} does not apply to {recipe.name!r} "
                                 "predict files")
            setattr(recipe.cfg, name, value)
    recipe.cfg.validate(recipe.name)
    out = recipe.predict(model, args.input, args.output)
    print(f"rnnkit: predictions written to {out}")
    return 0


def cmd_generate(argv: Sequence[str]) -> int:
    """``rnnkit generate RUN_DIR``: sample text from a language-model run."""
    import torch

    p = _run_parser("generate", "Sample text from a trained language model.")
    p.add_argument("--prefix", default="", help="text to start from (read once, then one step per character)")
    p.add_argument("--length", type=int, default=400, help="characters to generate (default 400)")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (default 0.8)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely (0 = all)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    args = p.parse_args(argv)
    if args.length < 0 or not (args.temperature > 0 and math.isfinite(args.temperature)) or args.top_k < 0:
        raise UsageError("rnnkit generate: --length and --top-k must be >= 0 and --temperature a finite number > 0, "
                         f"got {args.length}, {args.top_k}, {args.temperature}")
    recipe, model, _ = _open(args)
    with torch.no_grad():
        text = recipe.generate(model, prefix=args.prefix, length=args.length, temperature=args.temperature,
                               top_k=args.top_k, seed=args.seed)
    print(text)
    return 0


def cmd_export(argv: Sequence[str]) -> int:
    """``rnnkit export RUN_DIR [--format onnx|torchscript|exported] [--output FILE]``."""
    from rnnkit.export import FORMATS, export_run

    p = _run_parser("export", "Export a run's model for inference: inputs x and lengths; batch, lengths and (not "
                    "with torchscript) T vary at run time. Inputs, outputs and layouts: docs/export.md.")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="onnx (default), torchscript or exported (.pt2)")
    p.add_argument("--output", type=Path, default=None, help="file to write (default RUN_DIR/model.onnx, .pt, .pt2)")
    args = p.parse_args(argv)
    info = export_run(args.run_dir, args.format, args.output, checkpoint=args.checkpoint,
                      trust_unverified=args.trust_unverified)
    fixed = f"; T fixed to {info.fixed_time}" if info.fixed_time is not None else ""
    print(f"rnnkit: {info.format} model written to {info.path} (inputs {', '.join(info.input_names)}; "
          f"outputs {', '.join(info.output_names)}{fixed})")
    return 0


def cmd_list(argv: Sequence[str]) -> int:
    """``rnnkit list``: recipes, their datasets, installed or the command that installs them."""
    from rnnkit.data.datasets import dataset_status

    status = dataset_status()
    names = available()
    for name in RECIPES:
        if name not in names:
            continue
        try:
            cls = get_recipe(name)
        except ImportError as err:
            print(f"{name:<10} unavailable: {err}")
            continue
        print(f"{name:<10} {cls.description}")
        for choice, key in cls.datasets.items():
            installed, command = status.get(key, (True, ""))
            state = "installed" if installed else f"NOT installed: {command}"
            print(f"  --dataset {choice:<16} {state}")
    return 0


Command = Union[Callable[[Sequence[str]], int], str]

COMMANDS: dict[str, Command] = {
    "train": cmd_train,
    "eval": cmd_eval,
    "predict": cmd_predict,
    "generate": cmd_generate,
    "export": cmd_export,
    "list": cmd_list,
    "prepare": "rnnkit.data.commands:cmd_prepare",
    "cache": "rnnkit.data.commands:cmd_cache",
    "build-core": "rnnkit.fused.build_core:cmd_build_core",
}
"""Subcommand name -> ``fn(argv) -> exit code``, or ``"module:function"`` imported when the command runs.

A new subcommand is one line here, e.g. ``"build-core": "rnnkit.fused.build_core:cmd_build_core",``; its
function raises :class:`rnnkit.errors.RnnkitError` subclasses for what the user can fix."""


def _command(name: str) -> Callable[[Sequence[str]], int]:
    target = COMMANDS[name]
    if isinstance(target, str):
        module, func = target.split(":")
        return getattr(importlib.import_module(module), func)
    return target


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types ``main`` reports as one line: the project's own, data-file, missing-dataset and
    missing-file errors (a file that does not exist is the user's to fix wherever it is found missing)."""
    from rnnkit.data.datasets._locate import DatasetNotInstalled
    from rnnkit.data.errors import DataFileError

    return (RnnkitError, DataFileError, DatasetNotInstalled, FileNotFoundError)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``rnnkit`` command; returns the exit code.

    Errors the user can act on (:func:`user_errors`) print one line and exit 1. Anything else is a bug in
    rnnkit: its traceback is printed (then the one line), exit 1. ``RNNKIT_DEBUG=1`` re-raises every error.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if not argv or argv[0] not in COMMANDS:
        print(USAGE if not argv else f"rnnkit: unknown command {argv[0]!r}; commands: {', '.join(COMMANDS)}"
              + did_you_mean(argv[0], COMMANDS), file=sys.stderr)
        return 2
    try:
        return _command(argv[0])(argv[1:])
    except SystemExit as exit_:  # argparse: --help (0) or bad usage (2)
        return int(exit_.code or 0)
    except Exception as err:  # noqa: BLE001 - sorted into user errors and bugs below
        if os.environ.get("RNNKIT_DEBUG"):  # full traceback for bug reports
            raise
        if not isinstance(err, user_errors()):
            traceback.print_exc()
            print(f"rnnkit {argv[0]}: internal error (a bug in rnnkit; please report it with the traceback "
                  "above):", file=sys.stderr)
        msg = str(err)
        print(msg if msg.startswith("rnnkit") else f"rnnkit {argv[0]}: {msg}", file=sys.stderr)
        return 1
