"""tests/fused/core.py: a missing compiled core skips on a laptop, fails in CI, skips when disabled on purpose."""

from __future__ import annotations

import pytest

from rnnkit.fused import build
from tests.fused import core


@pytest.mark.parametrize("require, disable, outcome", [
    ("", "", pytest.skip.Exception),
    ("1", "", pytest.fail.Exception),
    ("1", "1", pytest.skip.Exception),  # the fallback run of .ci/run
    ("0", "", pytest.skip.Exception),
])
def test_a_core_that_does_not_load(monkeypatch, require, disable, outcome):
    monkeypatch.setattr(build, "load", lambda *a, **k: None)
    monkeypatch.setattr(build, "unavailable_reason", lambda: "g++ failed: error: expected ';'")
    monkeypatch.setenv(core.REQUIRE_ENV, require)
    monkeypatch.setenv(build.ENV_DISABLE, disable)
    with pytest.raises(outcome, match="g\\+\\+ failed"):
        core.compiled_core()


def test_a_core_that_loads_is_returned(monkeypatch):
    sentinel = object()
    monkeypatch.setattr(build, "load", lambda *a, **k: sentinel)
    monkeypatch.setenv(core.REQUIRE_ENV, "1")
    assert core.compiled_core() is sentinel
