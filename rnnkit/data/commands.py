"""``rnnkit prepare`` and ``rnnkit cache``: build the data caches ahead of a run, list them, clear them.

::

    rnnkit prepare RECIPE [--text FILE | --data FILE] [recipe flags]   tokenise / parse once, say what was cached
    rnnkit cache [list]                                                the cache's entries, their sources and sizes
    rnnkit cache clear [NAME ...]                                      remove all entries (or the named ones)

The cache directory is ``$RNNKIT_CACHE``, else ``~/.cache/rnnkit``. It holds
``corpora/<key>/`` (token files, :mod:`rnnkit.data.tokens`), ``tables/<key>/``
(parsed tables, :mod:`rnnkit.data.columnar`) and ``<dataset>-<key>.npz``
(built-in datasets, :mod:`rnnkit.data.cache`). ``clear`` removes only those.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from rnnkit.data.cache import cache_dir
from rnnkit.data.columnar import TABLES_DIR
from rnnkit.data.tokens import CORPORA_DIR

_NPZ = re.compile(r"^[\w.]+-[0-9a-f]{16}\.npz$")


@dataclass
class Entry:
    """One cache entry: its name (as ``clear`` takes it), kind, source, size in bytes and modification time."""

    name: str
    kind: str
    source: str
    size: int
    mtime: float
    path: Path


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def entries(directory: Optional[Path] = None) -> List[Entry]:
    """Every entry of the cache directory, newest first."""
    root = cache_dir(directory)
    found: List[Entry] = []
    for sub, kind in ((CORPORA_DIR, "corpus"), (TABLES_DIR, "table")):
        for folder in sorted((root / sub).glob("*")) if (root / sub).is_dir() else []:
            if not folder.is_dir() or folder.name == "stat" or folder.name.endswith(".tmp"):
                continue
            try:
                meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
                src = meta.get("source", {})
                source = src.get("path") or src.get("folder") if isinstance(src, dict) else str(src)
                if kind == "table":
                    source = f"{meta.get('reader')} {source}"
            except (OSError, ValueError):
                source = "(unreadable meta.json)"
            found.append(Entry(f"{sub}/{folder.name}", kind, str(source), _size(folder), folder.stat().st_mtime,
                               folder))
    if root.is_dir():
        for f in sorted(root.glob("*.npz")):
            if _NPZ.match(f.name):
                found.append(Entry(f.name, "dataset", f.name.rsplit("-", 1)[0], f.stat().st_size,
                                   f.stat().st_mtime, f))
    return sorted(found, key=lambda e: -e.mtime)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def cmd_cache(argv: Sequence[str]) -> int:
    """``rnnkit cache [list | clear [NAME ...]]``."""
    p = argparse.ArgumentParser(prog="rnnkit cache", description="list or clear rnnkit's data caches "
                                f"(in $RNNKIT_CACHE or ~/.cache/rnnkit; now {cache_dir()})")
    p.add_argument("action", nargs="?", default="list", choices=("list", "clear"))
    p.add_argument("names", nargs="*", metavar="NAME", help="clear only these entries (names as 'list' shows)")
    args = p.parse_args(list(argv))
    found = entries()
    if args.action == "list":
        if args.names:
            raise ValueError("rnnkit cache: NAME arguments go with 'clear', got 'list' "
                             f"{' '.join(args.names)}")
        print(f"rnnkit cache: {cache_dir()}: {len(found)} entries, {_mb(sum(e.size for e in found))}")
        for e in found:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.mtime))
            print(f"  {e.name:<52} {e.kind:<8} {_mb(e.size):>12}  {when}  {e.source}")
        return 0
    if args.names:
        by_name = {e.name: e for e in found}
        missing = [n for n in args.names if n not in by_name]
        if missing:
            raise ValueError(f"rnnkit cache clear: no entry named {', '.join(missing)}; "
                             "'rnnkit cache list' shows the names")
        found = [by_name[n] for n in args.names]
    for e in found:
        if e.path.is_dir():
            shutil.rmtree(e.path)
        else:
            e.path.unlink()
    root = cache_dir()
    if not args.names:  # the stat -> hash memos only speed up hashing; drop them with everything else
        for sub in (CORPORA_DIR, TABLES_DIR):
            shutil.rmtree(root / sub / "stat", ignore_errors=True)
    print(f"rnnkit cache: removed {len(found)} entries ({_mb(sum(e.size for e in found))}) from {root}")
    return 0


def cmd_prepare(argv: Sequence[str]) -> int:
    """``rnnkit prepare RECIPE [flags]``: load the recipe's data once (tokenise / parse and cache it)."""
    from rnnkit.cli import build_config
    from rnnkit.recipes import available, get_recipe

    if not argv or argv[0] in ("-h", "--help"):
        print("usage: rnnkit prepare RECIPE [--text FILE | --data FILE] [recipe flags]\n"
              "Tokenises a corpus or parses a table once into the cache (see 'rnnkit cache'), so that "
              f"runs start without it.\nrecipes: {', '.join(available())}")
        return 0 if argv else 2
    recipe_cls = get_recipe(argv[0])
    cfg, _ = build_config(recipe_cls, argv[1:])
    before = {e.name: e.mtime for e in entries()}
    t0 = time.perf_counter()
    recipe_cls(cfg).load_data()
    seconds = time.perf_counter() - t0
    after = entries()
    new = [e for e in after if e.name not in before]
    print(f"rnnkit prepare {recipe_cls.name}: data loaded in {seconds:.1f} s")
    for e in new:
        print(f"  cached {e.kind} {e.name} ({_mb(e.size)}) in {cache_dir()} from {e.source}")
    from rnnkit.data import columnar

    if columnar.last_read.get("status") == "cached":
        print(f"  reused the cached table {columnar.last_read['folder']} for {columnar.last_read['path']}")
    if columnar.last_read.get("status") == "declined":
        print(f"  the fast table reader declined {columnar.last_read['path']} ({columnar.last_read['why']}); "
              "the strict reader read it, and its result is not cached")
    if not new and columnar.last_read.get("status") != "cached":
        print(f"  nothing new was cached (already cached, or this data is not cached: small files and "
              f"files the fast reader declines are read directly); 'rnnkit cache' lists {cache_dir()}")
    return 0
