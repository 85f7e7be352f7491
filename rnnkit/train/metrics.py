"""``metrics.jsonl``: one JSON object per line, per epoch (and per interval).

Every record has ``kind`` (``"epoch"``, ``"interval"``, ``"test"``), ``epoch``
and ``step``. Non-finite floats are written as ``null`` so any JSON parser
reads the file. On ``--resume`` the lines written after the restored
checkpoint are dropped (:meth:`MetricsLog.truncate_after`), so a resumed run's
log reads as if it had never stopped.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from rnnkit.train.atomic import atomic_write_text


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def dumps(record: dict[str, Any]) -> str:
    """Strict JSON for ``record`` (NaN/inf -> null)."""
    return json.dumps(_clean(record), allow_nan=False, ensure_ascii=False)


class MetricsLog:
    """Append-only JSON-lines log."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        """Append one record and flush it to disk."""
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read(self) -> list[dict[str, Any]]:
        """All complete records (a torn last line from a crash is ignored)."""
        if not self.path.is_file():
            return []
        records = []
        for line in self.path.read_text("utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def truncate_after(self, step: int, epoch_records_upto: int) -> None:
        """Keep interval records with ``step <= step`` and epoch records of epochs ``< epoch_records_upto``."""
        keep = [r for r in self.read()
                if (r.get("kind") == "epoch" and r.get("epoch", 0) < epoch_records_upto)
                or (r.get("kind") == "interval" and r.get("step", 0) <= step)]
        atomic_write_text(self.path, "".join(dumps(r) + "\n" for r in keep))
