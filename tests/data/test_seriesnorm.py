"""Series normalisation for tsclass, against numpy written out by hand."""

from __future__ import annotations

import numpy as np

from rnnkit.data.seriesnorm import channel_stats, normalise


def test_normalise_modes_against_numpy():
    rng = np.random.default_rng(0)
    seqs = [rng.normal(5, 3, (n, 2)) for n in (4, 7, 9)]
    seqs[1][2, 0] = np.nan  # a missing value
    s = seqs[1]
    z = (s - np.nanmean(s, 0)) / np.nanstd(s, 0)
    assert np.allclose(normalise(s, "series", [0, 0], [1, 1]), np.nan_to_num(z), atol=1e-6)
    mean, std = channel_stats(seqs, "channel")
    steps = np.concatenate(seqs)
    assert np.allclose(mean, np.nanmean(steps, 0)) and np.allclose(std, np.nanstd(steps, 0))
    assert np.allclose(normalise(s, "channel", mean, std), np.nan_to_num((s - mean) / std), atol=1e-5)
    assert normalise(s, "channel", mean, std)[2, 0] == 0.0  # missing -> 0 (the mean)
    mean_b, std_b = channel_stats(seqs, "both")
    zs = np.concatenate([(q - np.nanmean(q, 0)) / np.nanstd(q, 0) for q in seqs])
    assert np.allclose(mean_b, np.nanmean(zs, 0)) and np.allclose(std_b, np.nanstd(zs, 0))
    assert np.allclose(normalise(np.ones((5, 2)), "series", [0, 0], [1, 1]), 0.0)  # constant series: 0, not NaN


def test_auto_is_series_for_one_channel_and_channel_for_several():
    from rnnkit.data.seriesnorm import resolve_mode

    assert resolve_mode("auto", 1) == "series" and resolve_mode("auto", 12) == "channel"
    assert resolve_mode("both", 1) == "both"
    import pytest

    with pytest.raises(ValueError, match="mode must be one of auto, series"):
        resolve_mode("zscore", 1)
