"""Time series: Mauna Loa CO2 and airline passengers (forecasting), JapaneseVowels (classification)."""

from __future__ import annotations

import csv
from typing import List, Optional, Tuple

import numpy as np

from rnnkit.data.cache import PathLike, cached, pack_sequences, unpack_sequences
from rnnkit.data.datasets import _locate
from rnnkit.data.labels import encode_labels
from rnnkit.data.tsfile import read_ts_file

CO2_FILE = "datasets/co2/co2.csv"
AIRLINE_FILE = "datasets/data/Airline/Airline.csv"
VOWELS_FILE = "datasets/data/JapaneseVowels/JapaneseVowels_{}.ts"


def load_co2(*, cache_dir: Optional[PathLike] = None, use_cache: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Weekly atmospheric CO2 at Mauna Loa, March 1958 to December 2001 (2,284 weeks).

    From statsmodels' ``co2.csv``, read without importing statsmodels. The 59 missing
    weeks are filled by linear interpolation in time.

    Args:
        cache_dir: where parsed arrays are cached.
        use_cache: ``False`` parses the file every time and writes nothing.

    Returns:
        ``(dates, values)``: ``datetime64[D]`` ``(2284,)`` (Saturdays) and float64 ppm ``(2284,)``, no NaN.

    Raises:
        DatasetNotInstalled: statsmodels is missing (``pip install statsmodels``).
    """
    path = _locate.data_path("co2", "statsmodels", CO2_FILE)

    def build() -> dict:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        dates = np.array([f"{r['date'][:4]}-{r['date'][4:6]}-{r['date'][6:8]}" for r in rows], dtype="datetime64[D]")
        values = np.array([float(r["co2"]) if r["co2"].strip() else np.nan for r in rows], dtype=np.float64)
        gaps = np.isnan(values)
        t = dates.astype(np.int64).astype(np.float64)
        values[gaps] = np.interp(t[gaps], t[~gaps], values[~gaps])
        return {"dates": dates, "values": values}

    arrays = cached("co2", [path], build, directory=cache_dir, use_cache=use_cache)
    return arrays["dates"], arrays["values"]


def load_airline(*, cache_dir: Optional[PathLike] = None, use_cache: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Monthly international airline passengers (thousands), 1949 to 1960 (144 months; Box & Jenkins).

    From sktime's ``Airline.csv``, read without importing sktime.

    Args:
        cache_dir: where parsed arrays are cached.
        use_cache: ``False`` parses the file every time and writes nothing.

    Returns:
        ``(dates, values)``: ``datetime64[M]`` ``(144,)`` and float64 ``(144,)``.

    Raises:
        DatasetNotInstalled: sktime is missing (``pip install --no-deps sktime==1.2.0``).
    """
    path = _locate.data_path("airline", "sktime", AIRLINE_FILE)

    def build() -> dict:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        dates = np.array([r["Date"] for r in rows], dtype="datetime64[M]")
        return {"dates": dates, "values": np.array([float(r["Passengers"]) for r in rows], dtype=np.float64)}

    arrays = cached("airline", [path], build, directory=cache_dir, use_cache=use_cache)
    return arrays["dates"], arrays["values"]


def load_japanese_vowels(
    split: str = "train", *, cache_dir: Optional[PathLike] = None, use_cache: bool = True
) -> Tuple[List[np.ndarray], np.ndarray]:
    """UEA JapaneseVowels: nine speakers saying /ae/, 12 LPC cepstrum channels, variable length.

    Parsed from sktime's shipped ``.ts`` files (UCI; CC BY 4.0) without importing sktime.
    The task is to predict the speaker.

    Args:
        split: ``"train"`` (270 cases, lengths 7..26) or ``"test"`` (370 cases, lengths 7..29).
        cache_dir: where parsed arrays are cached.
        use_cache: ``False`` parses the file every time and writes nothing.

    Returns:
        ``(sequences, labels)``: float32 arrays ``(T_i, 12)`` and int64 ``(N,)`` labels 0..8
        (speaker 1..9 minus one).

    Raises:
        DatasetNotInstalled: sktime is missing (``pip install --no-deps sktime==1.2.0``).
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_japanese_vowels: split must be 'train' or 'test', got {split!r}")
    path = _locate.data_path("japanese_vowels", "sktime", VOWELS_FILE.format(split.upper()))

    def build() -> dict:
        sequences, raw = read_ts_file(path)
        labels, _ = encode_labels(raw, classes=[str(k) for k in range(1, 10)])  # type: ignore[arg-type]
        packed = pack_sequences(sequences)
        return {"values": packed["values"], "lengths": packed["lengths"], "labels": labels}

    arrays = cached(f"japanese_vowels_{split}", [path], build, directory=cache_dir, use_cache=use_cache)
    return unpack_sequences(arrays["values"], arrays["lengths"]), arrays["labels"]
