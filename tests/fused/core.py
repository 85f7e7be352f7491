"""The one place where a test decides that the compiled core is missing: skip, or fail in CI.

``RNNKIT_REQUIRE_COMPILED=1`` (set by ``.ci/run``) turns "the compiled core
did not build/load" into a test failure, so a broken core can never give a
green run. Without it (a laptop without a compiler) the tests skip with the
build's reason. ``RNNKIT_NO_COMPILE=1`` disables the core on purpose (the
fallback run of ``.ci/run``): those tests then skip, whatever the other
variable says.
"""

from __future__ import annotations

import os
from types import ModuleType

import pytest

from rnnkit.fused import build

REQUIRE_ENV = "RNNKIT_REQUIRE_COMPILED"


def required() -> bool:
    """True when the compiled core must load (``RNNKIT_REQUIRE_COMPILED`` set, and not disabled on purpose)."""
    disabled = os.environ.get(build.ENV_DISABLE, "").strip() not in ("", "0")
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0") and not disabled


def compiled_core() -> ModuleType:
    """The loaded extension; otherwise fail (when :func:`required`) or skip, with the build's reason."""
    module = build.load()
    if module is None:
        reason = build.unavailable_reason() or "compiled core unavailable"
        if required():
            pytest.fail(f"{REQUIRE_ENV}=1 but the compiled core did not load: {reason}", pytrace=False)
        pytest.skip(reason)
    return module
