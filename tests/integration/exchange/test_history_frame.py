"""The shared history loaders: CSV validation with one-line errors, and the deterministic synthetic market."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from bot.adapters.history.frame import load_csv_dir, synthetic_history
from bot.errors import DataError

YAHOO = "Date,Open,High,Low,Close,Adj Close,Volume\n"


def write(directory: Path, symbol: str, text: str) -> Path:
    path = directory / f"{symbol}.csv"
    path.write_text(text)
    return path


def rows(*closes: float, start_day: int = 2) -> str:
    return "".join(f"2024-01-{start_day + i:02d},{c},{c + 1},{c - 1},{c},{c},1000\n" for i, c in enumerate(closes))


def test_a_yahoo_csv_loads_into_a_price_frame(tmp_path: Path) -> None:
    write(tmp_path, "IWM", YAHOO + rows(200, 201, 202))

    frame = load_csv_dir(tmp_path)["IWM"]

    assert list(frame.columns) == ["open", "high", "low", "close", "adj_close", "volume"]
    assert frame.index.name == "date" and frame.index.tz is None and frame.index.is_monotonic_increasing
    assert (frame.dtypes == np.float64).all() and frame["close"].tolist() == [200, 201, 202]


def test_header_variants_and_a_missing_adj_close_are_tolerated(tmp_path: Path) -> None:
    write(tmp_path, "QQQ", "date,open,high,low,close,adj_close,volume\n" + rows(400, 401))
    write(tmp_path, "SPY", "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,10\n")
    write(tmp_path, "TNA", "DATE,OPEN,HIGH,LOW,CLOSE,Adj_Close,VOLUME\n" + rows(40))

    frames = load_csv_dir(tmp_path, ["QQQ", "SPY", "TNA"])

    assert frames["SPY"]["adj_close"].iloc[0] == 1.5 and frames["TNA"]["close"].iloc[0] == 40


@pytest.mark.parametrize(("body", "expected"), [
    (YAHOO + rows(200) + "2024-01-01,1,2,0.5,1,1,1\n", "row 3 (2024-01-01): dates are not sorted"),
    (YAHOO + rows(200) + rows(200), "row 3 (2024-01-02): duplicate date"),
    (YAHOO + rows(200) + "2024-01-03,201,202,200,null,201,5\n", "row 3 (2024-01-03): missing or non-numeric"),
    (YAHOO + rows(200) + "2024-01-03,201,202,200,,201,5\n", "row 3 (2024-01-03): missing or non-numeric"),
    (YAHOO + rows(200, 0), "row 3 (2024-01-03): non-positive price"),
    (YAHOO + rows(200, 100.5), "row 3 (2024-01-03): close jumps by ratio 0.502 (near 0.5)"),
    (YAHOO + rows(20, 61), "row 3 (2024-01-03): close jumps by ratio 3.050 (near 3)"),
])
def test_bad_rows_raise_one_line_naming_file_row_and_date(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, "IWM", body)

    with pytest.raises(DataError) as err:
        load_csv_dir(tmp_path)

    assert str(err.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(err.value)


def test_a_missing_file_for_a_requested_symbol_is_a_data_error(tmp_path: Path) -> None:
    write(tmp_path, "IWM", YAHOO + rows(200))

    with pytest.raises(DataError, match="QQQ.csv: missing price file"):
        load_csv_dir(tmp_path, ["IWM", "QQQ"])


def test_a_synthetic_date_does_not_depend_on_start_or_end() -> None:
    short = synthetic_history(["IWM", "SQQQ"], start=date(2024, 1, 1), end=date(2024, 6, 30))
    long = synthetic_history(["IWM", "SQQQ"], start=date(2010, 1, 1), end=date(2026, 1, 1), seed=7)

    for sym in ("IWM", "SQQQ"):
        assert long[sym].loc[short[sym].index].equals(short[sym])


def test_seeds_differ_and_unknown_symbols_are_refused() -> None:
    a = synthetic_history(["QQQ"], start=date(2024, 1, 1), end=date(2024, 2, 1), seed=1)["QQQ"]
    b = synthetic_history(["QQQ"], start=date(2024, 1, 1), end=date(2024, 2, 1), seed=2)["QQQ"]

    assert not a.equals(b)
    with pytest.raises(DataError, match="XYZ"):
        synthetic_history(["XYZ"], start=date(2024, 1, 1), end=date(2024, 2, 1))


def test_synthetic_sessions_follow_nyse_and_funds_follow_their_underlying_daily() -> None:
    h = synthetic_history(["QQQ", "PSQ", "SQQQ", "IWM", "TNA", "SPY", "UPRO", "BIL"],
                          start=date(2024, 11, 25), end=date(2025, 12, 31))
    qqq = h["QQQ"]["close"].pct_change().dropna()

    assert "2024-11-28" not in h["QQQ"].index.strftime("%Y-%m-%d")
    assert np.allclose(h["PSQ"]["close"].pct_change().dropna(), -qqq, atol=1e-4)
    assert np.allclose(h["SQQQ"]["close"].pct_change().dropna(), -3 * qqq, atol=1e-4)
    level = {s: h[s].loc["2025-01-02", "close"] for s in ("IWM", "QQQ", "SPY")}
    assert 150 < level["IWM"] < 260 and 380 < level["QQQ"] < 600 and 420 < level["SPY"] < 700
    bil = h["BIL"]["close"]
    assert 0.02 < bil.iloc[-1] / bil.iloc[0] - 1 < 0.07


def test_synthetic_history_is_fast() -> None:
    symbols = ["IWM", "QQQ", "SPY", "PSQ", "SQQQ", "TNA", "UPRO", "BIL"]
    synthetic_history(symbols, start=date(2000, 1, 3), end=date(2025, 1, 1), seed=3)

    began = time.perf_counter()
    synthetic_history(symbols, start=date(2000, 1, 3), end=date(2025, 1, 1), seed=3)

    assert time.perf_counter() - began < 0.1
