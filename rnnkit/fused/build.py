"""Build (just in time, or ahead of time with ``rnnkit build-core``) and load rnnkit's compiled kernels.

The C++ sources in ``rnnkit/fused/csrc`` are compiled with
:func:`torch.utils.cpp_extension.load` (needs a C++ compiler and the ``ninja``
package) and cached in torch's extension directory (``$TORCH_EXTENSIONS_DIR``,
default ``~/.cache/torch_extensions/py<XY>_cpu``), so later processes load the
cached library in about a second.

The library's name is a hash of everything the binary depends on, so that two
environments, two versions of the sources or two CPUs sharing one cache never
load (or rebuild over) each other's build:

* the contents of every file in ``csrc/`` (not just their names),
* the compiler flags, the compiler (its path and ``--version``) and the exact
  CPU features the flags target (``-march=native`` expanded by the compiler
  driver, e.g. ``-march=rocketlake -mavx512f ... -mno-sse4a``: a machine with
  other features gets another name instead of SIGILL),
* the interpreter (``sys.prefix``, its version) and torch's version,
* the sources' folder: torch's builder writes their absolute paths into the build file, so two
  checkouts sharing one environment would otherwise take turns rebuilding one name.

The first build prints one line (what it builds, where, roughly how long),
then its progress (files compiled, seconds) until it is done; see
:mod:`rnnkit.fused.build_progress`. If the build is impossible (no compiler,
no ninja, a build error) or the environment sets ``RNNKIT_NO_COMPILE=1``,
:func:`load` returns None, one warning says that rnnkit uses the slower
reference path, and everything else keeps working.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shlex
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from types import ModuleType
from typing import Optional

import torch

CSRC = Path(__file__).resolve().parent / "csrc"
SOURCES = ("module.cpp", "lstm_forward.cpp", "lstm_backward.cpp", "gru.cpp", "elman.cpp", "lnlstm.cpp", "masks.cpp",
           "workspace.cpp")
ENV_DISABLE = "RNNKIT_NO_COMPILE"

_lock = threading.Lock()
_module: Optional[ModuleType] = None
_error: Optional[str] = None
_warned = False


def compiler() -> str:
    """The C++ compiler torch's extension builder runs: ``$CXX``, else ``c++``."""
    return os.environ.get("CXX", "").strip() or "c++"


def _flags() -> list[str]:
    # -fopenmp (Linux, where torch's wheels load libgomp): at::parallel_for is a header template whose
    # `#pragma omp parallel` is compiled into this library; without it every at::parallel_for here (the
    # batch split of rowsplit.h, the pointwise passes of for_rows) runs on one thread (until 2026-12-03:
    # benchmarks/README.md, issue 15). The GOMP symbols resolve to the libgomp torch loads. Elsewhere
    # (e.g. Apple clang, which has no -fopenmp) only the simd pragmas: correct, one thread per kernel.
    omp = "-fopenmp" if platform.system() == "Linux" else "-fopenmp-simd"
    flags = ["-O3", omp, "-fno-math-errno"]
    if platform.machine().lower() in ("x86_64", "amd64") and platform.system() == "Linux":
        flags.append("-march=native")  # the features it resolves to are part of the name (target_features)
        # GCC's default for AVX-512 targets is 256-bit vectors; the pointwise row passes are instruction-bound
        # (transcendentals), and 512-bit ones made S1 inference 0.92-0.94x the time on an Intel Xeon
        # (benchmarks/README.md, issue 15). Without AVX-512 the option changes nothing.
        flags.append("-mprefer-vector-width=512")
    return flags


@functools.lru_cache(maxsize=None)
def _run(cmd: tuple[str, ...]) -> str:
    """stdout + stderr of ``cmd`` ('' if it cannot run), cached per process."""
    try:
        done = subprocess.run(list(cmd), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout + done.stderr


def compiler_version(cxx: Optional[str] = None) -> str:
    """First line of ``<cxx> --version`` ('' if the compiler does not run)."""
    out = _run((cxx or compiler(), "--version")).strip()
    return out.splitlines()[0] if out else ""


def target_features(flags: list[str], cxx: Optional[str] = None) -> list[str]:
    """The target options ``flags`` resolve to on this machine, as the compiler's driver passes them on.

    ``-march=native`` is expanded by the driver (GCC: ``-march=<cpu> -m<feature> ... --param=...``;
    Clang: ``-target-cpu <cpu> -target-feature +<feature> ...``): these are what the binary may use.

    Args:
        flags: the compile flags.
        cxx: the compiler (default :func:`compiler`).

    Returns:
        The target tokens in the driver's order ([] if the compiler does not run).
    """
    out = _run((cxx or compiler(), *flags, "-###", "-E", "-x", "c++", os.devnull))
    keep: list[str] = []
    for line in out.splitlines():
        if "cc1" not in line:  # the compiler proper's command line (GCC cc1plus, Clang -cc1)
            continue
        try:
            tokens = shlex.split(line)
        except ValueError:
            tokens = line.split()
        for i, tok in enumerate(tokens):
            if tok.startswith(("-m", "--param")) or (i > 0 and tokens[i - 1] in ("--param", "-target-cpu",
                                                                                 "-target-feature")):
                keep.append(tok)
    return keep


def target_cpu(features: list[str]) -> str:
    """The CPU name in :func:`target_features`' tokens (e.g. ``rocketlake``), else ''."""
    for i, tok in enumerate(features):
        if tok.startswith("-march="):
            return tok.split("=", 1)[1]
        if i > 0 and features[i - 1] == "-target-cpu":
            return tok
    return ""


def identity(flags: list[str], csrc: Path = CSRC) -> dict[str, str]:
    """Everything the built library depends on, as the strings :func:`extension_name` hashes."""
    files = sorted(p for p in csrc.iterdir() if p.is_file() and p.suffix in (".cpp", ".h"))
    sources = hashlib.sha256()
    for p in files:
        sources.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    cxx = compiler()
    return {
        "sources": sources.hexdigest(),
        "flags": " ".join(flags),
        "compiler": f"{cxx} | {compiler_version(cxx)}",
        "target": " ".join(target_features(flags, cxx)),
        "python": f"{os.path.realpath(sys.prefix)} | {sys.version.split()[0]}",
        "torch": f"{torch.__version__} | {platform.machine()}",
        "source_dir": os.path.realpath(csrc),
    }


def extension_name(ident: dict[str, str]) -> str:
    """``rnnkit_fused_<16 hex digits>``: the hash of :func:`identity`."""
    digest = hashlib.sha256("\n".join(f"{k}={v}" for k, v in sorted(ident.items())).encode())
    return "rnnkit_fused_" + digest.hexdigest()[:16]


def build_directory(name: str) -> Path:
    """Where torch's extension builder puts (and looks for) the library ``name``."""
    from torch.utils import cpp_extension

    return Path(cpp_extension._get_build_directory(name, False))


def library_path() -> Optional[Path]:
    """The loaded library's file (None until :func:`load` has loaded it)."""
    return Path(_module.__file__) if _module is not None and getattr(_module, "__file__", None) else None


def disabled_reason() -> Optional[str]:
    """Why the compiled kernels are off by request (``RNNKIT_NO_COMPILE``), else None."""
    if os.environ.get(ENV_DISABLE, "").strip() not in ("", "0"):
        return f"the compiled core is disabled by {ENV_DISABLE}={os.environ[ENV_DISABLE]}"
    return None


def _warn_once(reason: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"rnnkit: {reason}; cells the compiled core would run use the slower reference runner",
                      RuntimeWarning, stacklevel=3)


def _build_and_load(verbose: bool) -> ModuleType:
    from torch.utils import cpp_extension

    from rnnkit.fused.build_progress import BuildProgress

    flags = _flags()
    ident = identity(flags)
    name = extension_name(ident)
    where = build_directory(name)
    library = where / f"{name}.so"
    progress = None
    if not library.exists():
        progress = BuildProgress(where, len(SOURCES), compiler_version(), target_cpu(ident["target"].split()))
        progress.start()
    ok = False
    try:
        module = cpp_extension.load(
            name=name,
            sources=[str(CSRC / s) for s in SOURCES],
            extra_cflags=flags,
            extra_include_paths=[str(CSRC)],
            verbose=verbose,
        )
        ok = True
    finally:
        if progress is not None:
            progress.stop(ok)
    return module


def load(verbose: bool = False) -> Optional[ModuleType]:
    """The compiled extension, building it on first call; None if unavailable.

    Args:
        verbose: show the compiler's output.

    Returns:
        The extension module, or None (see :func:`unavailable_reason`).
    """
    global _module, _error
    reason = disabled_reason()
    if reason is not None:
        _warn_once(reason)
        return None
    if _module is not None or _error is not None:
        if _error is not None:
            _warn_once(_error)
        return _module
    with _lock:
        if _module is None and _error is None:
            try:
                _module = _build_and_load(verbose)
            except Exception as err:  # noqa: BLE001 - no compiler, no ninja, a build error: fall back
                first = str(err).strip().splitlines()
                _error = f"the compiled core could not be built ({type(err).__name__}: {first[0] if first else ''})"
    if _error is not None:
        _warn_once(_error)
    return _module


def unavailable_reason() -> Optional[str]:
    """None if :func:`load` gives the extension (building it if needed), else why not."""
    if load() is not None:
        return None
    return disabled_reason() or _error or "the compiled core is unavailable"
