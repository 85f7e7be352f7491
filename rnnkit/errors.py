"""The project's own error types: what a user can act on, as opposed to bugs.

The ``rnnkit`` command prints these as one line (exit code 1) and shows a
traceback for anything else, so that an internal bug is never dressed up as a
user error. Each derives from the built-in type that callers caught before it
existed (``ValueError``, ``TypeError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class RnnkitError(Exception):
    """Base class: a problem with the user's input, files or environment, explained in the message."""


class UsageError(RnnkitError, ValueError):
    """An option, argument or file content has a value rnnkit cannot use."""


class OptionTypeError(RnnkitError, TypeError):
    """An option or argument has the wrong type."""


def user_error(kind: type) -> type:
    """The project error type for a built-in ``kind`` (``ValueError`` -> :class:`UsageError` ...)."""
    if issubclass(kind, RnnkitError):
        return kind
    return {ValueError: UsageError, TypeError: OptionTypeError}.get(kind, kind)


class MissingFileError(RnnkitError, FileNotFoundError):
    """A file the user named (or a run directory's file) does not exist."""


class MissingDependencyError(RnnkitError, ImportError):
    """An optional package a feature needs is not installed; the message names the install command."""


class UnsupportedError(RnnkitError, NotImplementedError):
    """The operation does not apply here (e.g. ``generate`` on a classifier); the message says what does."""
