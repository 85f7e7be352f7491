"""What the ``rnnkit`` command needs besides its subcommands: parsers, TOML options, suggestions.

* :class:`Parser`: an ``argparse`` parser whose "unrecognized arguments"
  error adds "did you mean --hidden-size?" (a close flag of the same parser).
* :func:`load_toml`: the options of a ``--config`` file, top-level keys and a
  ``[train]`` table merged (a key given in both is refused, never dropped).
* :func:`did_you_mean`: the close-match suffix every "unknown name" message uses.
"""

from __future__ import annotations

import argparse
import difflib
from typing import Any, Iterable, NoReturn

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, packaged as tomli (a declared dependency there)
    import tomli as tomllib  # type: ignore[no-redef]

from rnnkit.errors import UsageError


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``known`` (or ``""`` when none is close)."""
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` that suggests the closest flag for a misspelled one (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            flags = [s for a in self._actions for s in a.option_strings]
            hints = []
            for word in message[len(prefix):].split():
                if word.startswith("--"):
                    close = difflib.get_close_matches(word.split("=", 1)[0], flags, n=1, cutoff=0.6)
                    if close:
                        hints.append(f"{close[0]} for {word}")
            if hints:
                message += f"; did you mean {', '.join(hints)}?"
        super().error(message)


def load_toml(path: str, owner: str = "rnnkit train") -> dict[str, Any]:
    """Options from a ``--config`` TOML file: its top-level keys and its ``[train]`` table, merged.

    Raises:
        UsageError: the file is missing, unreadable, not UTF-8, not TOML, ``train`` is not a
            table, or a key is given both at the top level and in ``[train]``. Every message names the file.
    """
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"{owner}: --config file {path} does not exist") from None
    except UnicodeDecodeError as err:
        raise UsageError(f"{owner}: --config file {path} is not UTF-8 text (TOML files must be): byte "
                         f"{err.object[err.start:err.start + 1]!r} at offset {err.start}") from None
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{owner}: --config file {path} is not valid TOML: {err}") from None
    except OSError as err:
        raise UsageError(f"{owner}: --config must be a readable TOML file, got {path} ({err.strerror})") from None
    options = {k: v for k, v in data.items() if k != "train"}
    if "train" in data:
        table = data["train"]
        if not isinstance(table, dict):
            raise UsageError(f"{owner}: --config file {path}: [train] must be a table of options, "
                             f"got {type(table).__name__}")
        norm = {str(k).replace("-", "_"): k for k in options}
        both = sorted(k for k in table if str(k).replace("-", "_") in norm)
        if both:
            raise UsageError(f"{owner}: --config file {path} gives {', '.join(map(repr, both))} both at the top "
                             "level and in [train]; keep one")
        options.update(table)
    return options
