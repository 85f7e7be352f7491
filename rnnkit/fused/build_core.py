"""``rnnkit build-core``: build the compiled C++ core ahead of time and say where it is.

The README's install command runs it, so that a training job never waits for a
build. Exit code 0 when the core is built (or was already), 1 when it cannot be
(rnnkit then runs every cell on the slower pure-PyTorch path, and says so).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence


def cmd_build_core(argv: Sequence[str]) -> int:
    """Build (or find) the compiled core for this environment; print its path and what it targets.

    Args:
        argv: the command's arguments (``--verbose`` shows the compiler's output).

    Returns:
        0 if the core is ready, 1 if it could not be built (the reason is printed on stderr).
    """
    import warnings

    from rnnkit.fused import build

    p = argparse.ArgumentParser(prog="rnnkit build-core", description="Build rnnkit's compiled C++ core now (it is "
                                "otherwise built on first use) into torch's extension cache; prints where.")
    p.add_argument("--verbose", action="store_true", help="show the compiler's commands and output")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the reason is printed below instead
        module = build.load(verbose=args.verbose)
    if module is None:
        reason = build.disabled_reason() or build._error or "the compiled core is unavailable"
        print(f"rnnkit build-core: {reason}; rnnkit still runs every cell, on the slower pure-PyTorch path "
              "(needs a C++ compiler and the ninja package to build)", file=sys.stderr)
        return 1
    ident = build.identity(build._flags())
    cpu = build.target_cpu(ident["target"].split())
    print(f"rnnkit: compiled core ready ({time.perf_counter() - t0:.1f} s): {build.library_path()}\n"
          f"  compiler {ident['compiler'].split(' | ', 1)[-1]}, flags {ident['flags']}"
          f"{f' (CPU {cpu})' if cpu else ''}; Python {ident['python']}; torch {ident['torch'].split(' | ')[0]}")
    return 0
