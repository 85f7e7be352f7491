"""forecast end to end through ``rnnkit.cli.main``: train -> checkpoint -> resume -> eval -> predict."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.datasets import dataset_status
from rnnkit.recipes.forecast import Config, Forecast, features, seasonal_base
from rnnkit.recipes.forecast_sizes import resolve_sizes
from rnnkit.train import rundir

SMALL = ["--hidden-size", "16", "--batch-size", "16", "--lr", "0.01", "--threads", "1", "--no-progress"]


def series(n: int = 200, seed: int = 0) -> np.ndarray:
    """Monthly-like: level 100, trend 0.5 per step, season 12 of amplitude 10, small noise."""
    t = np.arange(n)
    return 100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(seed).normal(0, 0.5, n)


def write_series(path: Path, y: np.ndarray) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["month", "sales"])
        w.writerows([i, f"{v:.4f}" if i != 7 else "NA"] for i, v in enumerate(y))  # one gap: interpolated


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def records(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_csv_train_resume_eval_predict(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    y = series()
    write_series(tmp_path / "sales.csv", y)
    run = tmp_path / "r"
    args = ["train", "forecast", "--data", str(tmp_path / "sales.csv"), "--column", "sales", "--season", "12", *SMALL]
    assert main([*args, "--epochs", "6", "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "seasonal naive (season 12)" in out and "the model beats the seasonal-naive MAE" in out
    epochs = [r for r in records(run) if r["kind"] == "epoch"]
    assert epochs[-1]["train_loss"] < 0.5 * epochs[0]["train_loss"]
    report = json.loads((run / "report.json").read_text())
    assert report["results"]["beats_naive"] and report["test"]["mae"] < report["test"]["naive_mae"]
    assert (run / "forecast.png").read_bytes()[:4] == b"\x89PNG"
    # the baseline on the held-out tail (the last 24 points, two blocks from true history), by hand
    tail = np.arange(176, 200)  # 10% of 200 points, in whole horizons: two horizons of 12
    assert report["test"]["naive_mae"] == pytest.approx(np.abs(y[tail - 12] - y[tail]).mean(), rel=1e-4)

    assert main(["train", "forecast", "--resume", "--run-dir", str(run), "--epochs", "7", "--no-progress"]) == 0
    assert [r["epoch"] for r in records(run) if r["kind"] == "epoch"] == list(range(7))

    # eval: the test MAE recomputed by hand from the checkpoint's raw output
    assert main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    recipe = rundir.open_recipe(run)
    recipe.load_data()
    model, _ = rundir.load_weights(recipe, run)
    a = recipe.assets
    assert (a["season"], a["horizon"], a["window"], a["test_size"], a["val_size"]) == (12, 12, 24, 24, 24)
    filled = y.copy()
    filled[7] = (y[6] + y[8]) / 2
    x = torch.tensor(features(filled, 12, a["scale1"], a["scale"]), dtype=torch.float32)
    with torch.no_grad():
        out = np.concatenate([model(x[o - 23:o + 1][None])[0][0].double().numpy() for o in (175, 187)])
    assert float(model.base_gate) == 1.0  # the network beat seasonal naive on validation: its corrections are used
    manual = filled[tail - 12] + out * a["scale"]
    assert result["test"]["net_mae"] == pytest.approx(np.abs(manual - y[tail]).mean(), rel=1e-4)
    # the run's forecast: per point the mean of the middle two of network, ETS, naive and network-ETS mean,
    # ETS refitted by statsmodels on the history before each origin, in the form chosen on the training part
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    ets = a["ets"]
    assert ets is not None and ets["seasonal"]  # a seasonal series: the seasonal form wins the AIC
    read = recipe.y.astype(np.float64)  # the values as the run read them from the CSV (4 decimals)
    fits = [ExponentialSmoothing(read[:o + 1], trend="add" if ets["trend"] else None, damped_trend=ets["damped"],
                                 seasonal="add", seasonal_periods=12, initialization_method="estimated").fit()
            for o in (175, 187)]
    ets_fc = np.concatenate([f.forecast(12) for f in fits])
    four = np.sort(np.stack([manual, ets_fc, filled[tail - 12], (manual + ets_fc) / 2]), axis=0)
    combined = (four[1] + four[2]) / 2
    assert result["test"]["ets_mae"] == pytest.approx(np.abs(ets_fc - y[tail]).mean(), rel=1e-4)
    assert result["test"]["mae"] == pytest.approx(np.abs(combined - y[tail]).mean(), rel=1e-4)
    got = np.array([float(r["predicted"]) for r in read_rows(run / "forecasts.csv")])
    assert np.abs(got - combined).max() < 1e-4

    # predict: the 12 steps after the file's end, beside the seasonal-naive forecast
    assert main(["predict", str(run), "--input", str(tmp_path / "sales.csv")]) == 0
    rows = read_rows(tmp_path / "sales.forecast.csv")
    assert [int(r["index"]) for r in rows] == list(range(200, 212))
    assert [float(r["seasonal_naive"]) for r in rows] == pytest.approx(filled[188:200], abs=1e-4)
    truth = series(212)[200:]
    model_err = np.abs([float(r["forecast"]) for r in rows] - truth).mean()
    assert model_err < np.abs(filled[188:200] - truth).mean()  # trend learnt: better than last year's values


def test_untrained_residual_model_is_the_seasonal_naive_forecast():
    y = series(120)
    recipe = Forecast(Config(season=12, data="unused.csv"))
    recipe.assets = {**resolve_sizes(recipe.cfg, len(y)), "scale1": 1.0, "scale": 2.0}
    recipe._read_timed = lambda path=None: (None, y, "")  # type: ignore[method-assign]
    recipe.load_data()
    model = recipe.build_model().eval()
    with torch.no_grad():
        m = recipe.evaluate(model, "test")
    assert m["mae"] == pytest.approx(m["naive_mae"]) and m["mae_vs_naive"] == pytest.approx(1.0)


def test_seasonal_base_and_features():
    a = np.arange(30, dtype=float) ** 1.5
    base = seasonal_base(a, 19, 10, 4)  # last observed index 19, season 4: repeats a[16..19]
    assert base.tolist() == [a[16], a[17], a[18], a[19], a[16], a[17], a[18], a[19], a[16], a[17]]
    f = features(a, 4, 2.0, 3.0)
    assert f[0].tolist() == [0.0, 0.0] and f[3, 1] == 0.0
    assert f[10].tolist() == pytest.approx([(a[10] - a[9]) / 2.0, (a[10] - a[6]) / 3.0])


def test_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_series(tmp_path / "short.csv", series(30))
    short = ["train", "forecast", "--data", str(tmp_path / "short.csv")]
    assert main([*short, "--column", "sales", "--season", "12"]) == 1
    assert "the series must have at least window + season + horizon + val + test" in capsys.readouterr().err
    assert main([*short, "--column", "nope"]) == 1
    assert "no column 'nope'" in capsys.readouterr().err
    write_series(tmp_path / "neg.csv", series() - 500)
    assert main(["train", "forecast", "--data", str(tmp_path / "neg.csv"), "--column", "sales", "--season", "12",
                 "--transform", "log"]) == 1
    assert "--transform log needs positive values" in capsys.readouterr().err


@pytest.mark.skipif(not dataset_status()["airline"][0], reason=dataset_status()["airline"][1])
def test_airline_tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "forecast", "--dataset", "airline", "--tiny", *SMALL, "--epochs", "2",
                 "--run-dir", str(tmp_path / "air")]) == 0
    assets = json.loads((tmp_path / "air" / "assets.json").read_text())
    assert (assets["season"], assets["horizon"], assets["test_size"], assets["transform"]) == (12, 12, 12, "log")


def write_dated(path: Path, y: np.ndarray, start: str = "2001-01", extra: str = "") -> list[str]:
    months = [str(m) for m in np.arange(np.datetime64(start, "M"), np.datetime64(start, "M") + len(y))]
    text = "month,sales\n" + "".join(f"{m},{v:.4f}\n" for m, v in zip(months, y)) + extra
    if path.suffix == ".gz":
        import gzip
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return months


def test_user_series_defaults_forecasts_csv_and_dated_predict(tmp_path, monkeypatch, capsys):
    from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, mean_squared_error

    monkeypatch.chdir(tmp_path)
    y = series(150)
    months = write_dated(tmp_path / "sales.csv.gz", y)
    run = tmp_path / "r"
    assert main(["train", "forecast", "--data", str(tmp_path / "sales.csv.gz"), "--column", "sales", *SMALL,
                 "--epochs", "2", "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    # no --season, --test-size, --val-size: the season from the monthly dates, the tail from the series
    assert "150 points, time column 'month'; transform none (level ratio" in out
    assert ("season 12 (the time column's step is monthly), horizon 12, window 24; "
            "test = the last 12 points (1 forecast origin(s)), validation = the 12 before them") in out
    assert "| model (median of network, ETS, naive, network-ETS mean) |" in out and "MASE" in out and "sMAPE" in out
    assert "| network alone |" in out and "| ETS(A," in out and "combining per point the network, ETS(A," in out
    rows = read_rows(run / "forecasts.csv")
    assert [r["target_time"] for r in rows] == months[138:] and {r["origin_time"] for r in rows} == {months[137]}
    assert [int(r["step_ahead"]) for r in rows] == list(range(1, 13))
    actual = np.array([float(r["actual"]) for r in rows])
    pred = np.array([float(r["predicted"]) for r in rows])
    base = np.array([float(r["baseline"]) for r in rows])
    np.testing.assert_allclose(actual, y[138:], rtol=1e-5)
    np.testing.assert_allclose(base, y[126:138], atol=1e-4)  # seasonal naive: the same month a year before
    test = json.loads((run / "report.json").read_text())["test"]
    q = np.mean(np.abs(y[12:126] - y[:114]))  # MASE scale: in-sample seasonal naive on the training part
    assert test["mae"] == pytest.approx(mean_absolute_error(actual, pred), rel=1e-4)
    assert test["mse"] == pytest.approx(mean_squared_error(actual, pred), rel=1e-4)
    assert test["mape"] == pytest.approx(100 * mean_absolute_percentage_error(actual, pred), rel=1e-4)
    assert test["mase"] == pytest.approx(mean_absolute_error(actual, pred) / q, rel=1e-3)
    assert test["naive_mase"] == pytest.approx(mean_absolute_error(actual, base) / q, rel=1e-3)

    # predict: rows carry the months after the input's end
    assert main(["predict", str(run), "--input", str(tmp_path / "sales.csv.gz")]) == 0
    pred_rows = read_rows(tmp_path / "sales.forecast.csv")
    future = [str(m) for m in np.datetime64(months[-1], "M") + np.arange(1, 13)]
    assert [r["month"] for r in pred_rows] == future and int(pred_rows[0]["index"]) == 150


def test_user_file_errors_speak_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    y = series(150)
    write_dated(tmp_path / "two.csv", y)
    (tmp_path / "wide.csv").write_text("month,a,b\n" + "".join(f"{k},{v},{v}\n" for k, v in enumerate(y)))
    base = ["train", "forecast", *SMALL, "--epochs", "1"]
    assert main([*base, "--data", str(tmp_path / "wide.csv")]) == 1
    err = capsys.readouterr().err
    assert "columns ['month', 'a', 'b']; add --column NAME to choose one" in err and "column=" not in err
    write_dated(tmp_path / "bad.csv", y, extra="2013-07,oops\n" * 20)  # 20 bad rows of 170: 11.8%
    assert main([*base, "--data", str(tmp_path / "bad.csv"), "--column", "sales"]) == 1
    err = capsys.readouterr().err
    assert "line 152: 'sales' must be a finite number, got 'oops' (add --skip-bad to skip bad rows)" in err
    assert main([*base, "--data", str(tmp_path / "bad.csv"), "--column", "sales", "--skip-bad"]) == 1
    err = capsys.readouterr().err
    assert "11.8% skipped, more than the 10% allowed" in err and "(raise --max-bad-share to allow more)" in err
    assert main([*base, "--data", str(tmp_path / "bad.csv"), "--column", "sales", "--skip-bad",
                 "--max-bad-share", "0.2", "--run-dir", str(tmp_path / "ok")]) == 0
    (tmp_path / "latin.csv").write_bytes("month,sales\n1,caf\xe9\n".encode("latin-1"))
    assert main([*base, "--data", str(tmp_path / "latin.csv"), "--column", "sales"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'latin.csv'}, line 2: not valid utf-8" in err and "add --encoding NAME" in err
    short = tmp_path / "short.csv"
    write_dated(short, series(40))
    assert main([*base, "--data", str(short), "--column", "sales", "--run-dir", str(tmp_path / "s")]) == 0
    assert ("season 1 (the time column's step is monthly, but 40 points are too few for season 12 (72 needed): "
            "no season (--season to insist))") in capsys.readouterr().out


def test_base_gate_falls_back_to_the_baseline_when_validation_says_so(tmp_path, capsys):
    y = series(150)
    recipe = Forecast(Config(season=12, data="unused.csv"))
    recipe._read_timed = lambda path=None: (None, y, "")  # type: ignore[method-assign]
    recipe.load_data()
    assert recipe.assets["gate"] is True
    model = recipe.build_model().eval()
    with torch.no_grad():
        model.head.bias.fill_(-3.0)  # a correction against the trend: worse than seasonal naive
        val = recipe.evaluate(model, "val")
        assert float(model.base_gate) == 0.0 and val["base_gate"] == 0.0
        assert val["net_mae"] == pytest.approx(val["naive_mae"])  # the network's forecasts are the baseline's
        test = recipe.evaluate(model, "test")
        assert test["net_mae"] == pytest.approx(test["naive_mae"])
        recipe.finish(model, tmp_path, test)
        assert "the network member forecasts with the seasonal-naive forecast alone (base_gate 0" in \
            capsys.readouterr().out
        # a correction that helps: the true seasonal difference of the trend (0.5 * 12 per step) is learnt
        model.head.bias.fill_(6.0 / recipe.assets["scale"])
        val = recipe.evaluate(model, "val")
        assert float(model.base_gate) == 1.0 and val["net_mae"] < 0.5 * val["naive_mae"]


def test_no_combine_forecasts_with_the_gated_network_alone(tmp_path, capsys):
    y = series(150)
    recipe = Forecast(Config(season=12, data="unused.csv", combine=False))
    recipe._read_timed = lambda path=None: (None, y, "")  # type: ignore[method-assign]
    recipe.load_data()
    assert recipe.assets["ets"] is None and recipe.monitor == "mae"
    model = recipe.build_model().eval()
    with torch.no_grad():
        model.head.bias.fill_(-3.0)  # worse than seasonal naive: gated off on validation
        assert recipe.evaluate(model, "val")["base_gate"] == 0.0
        test = recipe.evaluate(model, "test")
    assert test["mae"] == pytest.approx(test["naive_mae"]) and "net_mae" not in test and "ets_mae" not in test
    assert Config.saved_defaults["combine"] is False  # runs saved before the combination keep their forecasts


GUESS_FILES = {
    "blank leading rows, bom": "\ufeff\n \n,\nmonth,sales\n1,2\n",
    "spaced names": "  Month , sales\n1,2\n",
    "quoted names with the separator": '"sales, total","date"\n2,1\n',
    "two time-like names": "date,t,sales\n1,2,3\n",
    "no time-like name": "when,sales\n1,2\n",
    "header past the read chunk": "\n" * 9000 + ",".join([f"c{i}" for i in range(2000)] + ["week", "sales"]) + "\n",
    "duplicate names": "\n\nmonth,sales,month\n1,2,3\n",
    "only blank rows": "\n\n",
}


@pytest.mark.parametrize("name", list(GUESS_FILES))
def test_time_column_guess_reads_the_header_the_reader_reads(tmp_path, name):
    """The guess from the streamed header equals the one from the whole read's header (or its error)."""
    from rnnkit.data.errors import DataFileError, ProblemLog, decode_file
    from rnnkit.data.rows import csv_rows, looks_like_time

    path = tmp_path / "s.csv.gz"
    path.write_bytes(gzip.compress(GUESS_FILES[name].encode("utf-8")))
    recipe = Forecast(Config(data=str(path), column="sales"))
    try:
        header = csv_rows(path, decode_file(path), ",", ProblemLog(path, True))[0]
    except DataFileError as err:
        with pytest.raises(DataFileError) as got:
            recipe._guess_time_column(path)
        assert str(got.value) == str(err)
        return
    found = [c for c in header if looks_like_time(c) and c != "sales"]
    assert recipe._guess_time_column(path) == (found[0] if len(found) == 1 else "")
    expected = {"blank leading rows, bom": "month", "spaced names": "Month", "quoted names with the separator": "date",
                "header past the read chunk": "week"}
    assert recipe._guess_time_column(path) == expected.get(name, "")


def test_time_column_guess_stops_at_the_header_and_the_reader_reports_what_follows(tmp_path):
    """A bad byte far down the file: the guess still finds the column; the read names the line."""
    from rnnkit.data.errors import DataFileError

    path = tmp_path / "late.csv"
    path.write_bytes(b"\xef\xbb\xbf\nmonth,sales\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(20_000))
                     + b"x,caf\xe9\n")
    recipe = Forecast(Config(data=str(path), column="sales"))
    assert recipe._guess_time_column(path) == "month"
    with pytest.raises(DataFileError, match=r"line 20003: not valid utf-8.*add --encoding NAME"):
        recipe._read_timed()
