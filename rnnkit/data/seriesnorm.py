"""Normalising time series for classification: per series, per channel, both, or not at all.

``--normalize`` of ``tsclass``: ``auto`` is ``series`` for univariate data (one
channel: the UCR convention, which the archive's series mostly follow already) and
``channel`` for multivariate data (the UEA convention: channels have units and levels
that matter, e.g. JapaneseVowels' LPC coefficients: 98% with ``channel``, 76% with
``series`` in one tuning run); ``series`` z-scores each series per channel over
its own steps (the UCR archive's convention; removes level and scale),
``channel`` standardises each channel with the training split's mean and
standard deviation (keeps each series' level and amplitude, which tell
appliances or speakers apart), ``both`` does the first then the second.
Missing values (NaN) are ignored by the statistics and become 0 afterwards
(the mean).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

__all__ = ["normalise", "channel_stats", "resolve_mode"]

MODES = ("auto", "series", "channel", "both", "none")


def resolve_mode(mode: str, channels: int) -> str:
    """``auto`` -> ``series`` for one channel, ``channel`` for several; other modes as they are."""
    if mode not in MODES:
        raise ValueError(f"resolve_mode: mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "auto":
        return "series" if channels == 1 else "channel"
    return mode


def _zscore(s: np.ndarray) -> np.ndarray:
    """Each channel of one series ``(T, C)`` to mean 0 and std 1 over its steps (NaN ignored; constant -> 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN channel: its mean is NaN, then 0 below
        mean, std = np.nanmean(s, 0), np.nanstd(s, 0)
    return (s - np.nan_to_num(mean)) / np.where(np.nan_to_num(std) > 1e-8, std, 1.0)


def normalise(seq: np.ndarray, mode: str, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """One series ``(T, C)`` normalised as ``--normalize`` says, float32, missing values (NaN) -> 0.

    ``series``: :func:`_zscore`; ``channel``: ``(x - mean) / std`` with the training split's per-channel
    statistics; ``both``: the z-score, then the channel statistics (computed on z-scored series);
    ``none``: as is.
    """
    s = np.asarray(seq, np.float64)
    if mode in ("series", "both"):
        s = _zscore(s)
    if mode in ("channel", "both"):
        s = (s - np.asarray(mean)) / np.asarray(std)
    return np.nan_to_num(s, nan=0.0).astype(np.float32)


def channel_stats(seqs: Sequence[np.ndarray], mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (std 0 -> 1) of the training steps for ``channel``/``both``; else 0 and 1.

    The steps ``(sum T_i, C)`` are gathered into one array (the only copy of the training data made
    here); without missing values the statistics are computed on it in place with exactly the
    operations of ``np.nanmean`` / ``np.nanstd`` (same sums, same order, same results), which would
    otherwise copy it again and add a mask.
    """
    channels = seqs[0].shape[1]
    if mode not in ("channel", "both"):
        return np.zeros(channels), np.ones(channels)
    steps = _gather_steps(seqs, mode == "both")
    if any(np.isnan(steps[i:i + CHUNK_ROWS]).any() for i in range(0, len(steps), CHUNK_ROWS)):
        mean, std = np.nanmean(steps, 0), np.nanstd(steps, 0)
    else:
        mean, std = _mean_std_in_place(steps)
    return np.nan_to_num(mean), np.where(np.nan_to_num(std) > 0, std, 1.0)


CHUNK_ROWS = 1 << 16
"""Rows per step of the chunked passes (bounded temporaries)."""


def _gather_steps(seqs: Sequence[np.ndarray], zscore: bool) -> np.ndarray:
    """``np.concatenate`` of the sequences (z-scored first when ``zscore``), written into one array."""
    dtype = np.float64 if zscore else np.result_type(*[np.asarray(s).dtype for s in seqs])
    steps = np.empty((sum(len(s) for s in seqs), seqs[0].shape[1]), dtype=dtype)
    at = 0
    for s in seqs:
        steps[at:at + len(s)] = _zscore(np.asarray(s, np.float64)) if zscore else s
        at += len(s)
    return steps


def _mean_std_in_place(steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nanmean(steps, 0)``, ``np.nanstd(steps, 0)`` for ``steps`` without NaN, overwriting ``steps``.

    The same operations as numpy's (``numpy/lib/_nanfunctions_impl.py``: sums over axis 0, division by
    an ``intp`` count with ``casting="unsafe"``), minus its copy of the input and its NaN mask.
    """
    count = np.full(steps.shape[1], len(steps), dtype=np.intp)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.sum(steps, axis=0)
        avg = total[None].copy()  # nanstd's own mean (keepdims), divided in its dtype as numpy does
        np.divide(avg, count[None], out=avg, casting="unsafe")
        mean = np.divide(total, count, out=total, casting="unsafe")
        for i in range(0, len(steps), CHUNK_ROWS):  # elementwise, so chunking changes nothing
            part = steps[i:i + CHUNK_ROWS]
            np.subtract(part, avg, out=part, casting="unsafe")
            np.multiply(part, part, out=part)
        var = np.sum(steps, axis=0)
        var = np.divide(var, count, out=var, casting="unsafe")
        return mean, np.sqrt(var, out=var)
