"""Offline data for rnnkit: dataset loaders, user data files, vocabularies, splits and batching.

Nothing in this package downloads. See :mod:`rnnkit.data.datasets` for the
real datasets that ship inside installed packages and how to install them.
"""

from rnnkit.data.batching import (
    RandomWindowStream,
    TBPTTStream,
    bucket_batches,
    pad_sequences,
    random_windows,
    sliding_windows,
)
from rnnkit.data.cache import cache_dir
from rnnkit.data.datasets import (
    DATASETS,
    DatasetInfo,
    DatasetNotInstalled,
    dataset_status,
    load_airline,
    load_co2,
    load_digits,
    load_japanese_vowels,
    load_mnist_5k,
    load_rotten_tomatoes,
    load_shakespeare,
    load_shakespeare_files,
)
from rnnkit.data.errors import DataFileError, ReadReport
from rnnkit.data.files import (
    read_labelled_table,
    read_sequences_csv,
    read_series_csv,
    read_text_column,
    read_text_file,
    read_ts_file,
)
from rnnkit.data.labels import encode_labels
from rnnkit.data.splits import random_split, stratified_split, tail_split
from rnnkit.data.text import CharVocab, WordVocab, tokenize

__all__ = [
    "CharVocab",
    "DATASETS",
    "DataFileError",
    "DatasetInfo",
    "DatasetNotInstalled",
    "RandomWindowStream",
    "ReadReport",
    "TBPTTStream",
    "WordVocab",
    "bucket_batches",
    "cache_dir",
    "dataset_status",
    "encode_labels",
    "load_airline",
    "load_co2",
    "load_digits",
    "load_japanese_vowels",
    "load_mnist_5k",
    "load_rotten_tomatoes",
    "load_shakespeare",
    "load_shakespeare_files",
    "pad_sequences",
    "random_split",
    "random_windows",
    "read_labelled_table",
    "read_sequences_csv",
    "read_series_csv",
    "read_text_column",
    "read_text_file",
    "read_ts_file",
    "sliding_windows",
    "stratified_split",
    "tail_split",
    "tokenize",
]
