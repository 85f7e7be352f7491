"""The file formats ``tsclass`` reads: the long CSV, sktime/UEA ``.ts``, UCR/UEA ``.arff`` and UCR text (label first).

:func:`read_sequence_file` is what ``train``, ``eval`` and ``predict`` call for ``--data``,
``--test-data`` and ``--input``; every reader takes ``.gz`` and honours ``--skip-bad`` /
``--max-bad-share``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:
    from rnnkit.recipes.tsclass import Config


FORMATS = {".ts": "ts", ".arff": "arff", ".txt": "ucr", ".tsv": "ucr", ".csv": "csv"}
"""File suffix (before an optional ``.gz``) -> format; anything else is read as the long CSV."""


def file_kind(path: Path) -> str:
    """``"ts"``, ``"arff"``, ``"ucr"`` (UCR text, label first) or ``"csv"`` (one row per time step)."""
    suffixes = [x.lower() for x in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return FORMATS.get(suffixes[-1], "csv") if suffixes else "csv"



CLI_HINTS = {"skip_bad": "add --skip-bad", "max_skipped_share": "raise --max-bad-share",
             "time_column": "add --time-column NAME", "feature_columns": "add --feature-columns A,B,...",
             "column": None, "encoding": None, "interpolate_missing": None}
"""How the data readers' hints name options to a ``rnnkit train tsclass`` user."""


def read_sequence_file(path: Path, cfg: Config, features: Optional[list[str]], *,
                       need_labels: bool) -> tuple[list[np.ndarray], Optional[np.ndarray], list[str], list[str]]:
    """Sequences ``(T_i, C)``, labels (str, or None), sequence ids and feature names from a CSV or ``.ts`` file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable data or, with ``need_labels``, no labels.
    """
    from rnnkit.data.csvhead import csv_header
    from rnnkit.data.errors import option_spelling
    from rnnkit.data.files import read_sequences_csv, read_ts_file

    if not path.is_file():
        raise FileNotFoundError(f"tsclass: file {path} does not exist")
    kind = file_kind(path)
    with option_spelling(**CLI_HINTS):
        if kind != "csv":
            from rnnkit.data.ucr import read_arff_file, read_ucr_text_file

            reader = {"ts": read_ts_file, "arff": read_arff_file, "ucr": read_ucr_text_file}[kind]
            seqs, labels = reader(path, skip_bad=cfg.skip_bad, max_skipped_share=cfg.max_bad_share)
            names = features or [f"dim_{k}" for k in range(seqs[0].shape[1] if seqs else 0)]
            ids = [str(i) for i in range(len(seqs))]
        else:
            header = csv_header(path)  # .gz too; decode_file's errors (a stream: not the whole text in memory)
            label_col = cfg.label_column if (need_labels or cfg.label_column in header) else None
            if features is None and cfg.feature_columns:
                features = [c.strip() for c in cfg.feature_columns.split(",") if c.strip()]
            # the ids of the sequences read (a sequence --skip-bad emptied is gone with its id)
            seqs, labels, ids = read_sequences_csv(path, cfg.id_column, label_col, features,
                                                   time_column=cfg.time_column or None, skip_bad=cfg.skip_bad,
                                                   max_skipped_share=cfg.max_bad_share, return_ids=True)
            special = {cfg.id_column, cfg.label_column, cfg.time_column}
            names = features or [c for c in header if c not in special]
    if not seqs:
        raise ValueError(f"tsclass: {path} holds no sequences")
    if need_labels and labels is None:
        raise ValueError(f"tsclass: {path} has no class labels (a .ts file needs '@classLabel true', an .arff "
                         "file a nominal class attribute last)")
    empty = [i for i, s in enumerate(seqs) if len(s) == 0]
    if empty:
        raise ValueError(f"tsclass: {path}: sequence {ids[empty[0]]!r} has no time steps")
    return seqs, labels, ids, names
