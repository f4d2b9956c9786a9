"""The shared daily history and its splits.csv (skipped without ../shared/data/prices): SQQQ's and PSQ's reverse
splits, whole shares against fractional ones, and the command with and without splits.csv beside the prices."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from bot.commands import backtest
from bot.config import strategy_from
from bot.research.backtest import BacktestResult, BacktestSettings, run_backtest
from bot.research.backtest.astraded import as_traded_frames, split_shares
from bot.research.plots import price_label
from tests.backtest.test_commands import parse

OVERLAY = strategy_from("overlay", {})
PSQ_PAIR = strategy_from("pair", {"hedge": "inverse"})
OVERLAY_RANGE = BacktestSettings(start=date(2010, 2, 11), end=date(2025, 9, 26))
PSQ_RANGE = BacktestSettings(start=date(2006, 6, 21), end=date(2025, 9, 26))
OVERLAY_ARGS = ["--strategy", "overlay", "--from", "2010-02-11", "--to", "2025-09-26"]


def close_enough(whole: BacktestResult, fractional: BacktestResult) -> None:
    """Whole shares as traded behave like fractional ones: CAGR within 0.5 pp, rebalances within 2x."""
    assert abs(whole.metrics["cagr"] - fractional.metrics["cagr"]) < 0.005  # type: ignore[operator]
    ratio = whole.metrics["rebalances"] / fractional.metrics["rebalances"]  # type: ignore[operator]
    assert 0.5 <= ratio <= 2.0


@pytest.fixture(scope="module")
def overlay_runs(real_prices, real_splits) -> dict[str, BacktestResult]:
    as_traded = dataclasses.replace(OVERLAY_RANGE, splits=real_splits)
    return {"whole": run_backtest(OVERLAY, real_prices, as_traded),
            "fractional": run_backtest(OVERLAY, real_prices, dataclasses.replace(as_traded, fractional_longs=True))}


class TestOverlay:
    def test_whole_shares_hold_sqqq_from_the_first_session(self, overlay_runs):
        whole = overlay_runs["whole"]

        assert whole.metrics["start"] == "2010-02-11"
        assert whole.positions["SQQQ"].iloc[0] > 0 and (whole.positions["SQQQ"] > 0).all()
        assert whole.metrics["prices_as_traded"] is True and whole.metrics["unholdable_legs"] == []
        assert whole.metrics["splits_applied"] == {"SPY": 0, "SQQQ": 7, "TNA": 2, "UPRO": 5}

    def test_whole_shares_rebalance_and_grow_like_fractional_ones(self, overlay_runs):
        close_enough(overlay_runs["whole"], overlay_runs["fractional"])

    def test_sqqq_converts_on_each_split_date(self, overlay_runs, real_splits):
        """1-for-4 and 1-for-5: the holding on the ex-date is the day before's times the ratio, to 9 decimals."""
        held = overlay_runs["whole"].positions["SQQQ"]
        traded = set(overlay_runs["whole"].trades.query("symbol == 'SQQQ'")["date"])
        for s in (s for s in real_splits if s.symbol == "SQQQ" and s.on <= date(2025, 9, 26)):
            on = held.index.searchsorted(pd.Timestamp(s.on))
            if held.index[on].date().isoformat() not in traded:
                assert held.iloc[on] == split_shares(float(held.iloc[on - 1]), float(s.ratio))


class TestPsqPair:
    def test_whole_shares_across_psq_reverse_splits_behave_like_fractional_ones(self, real_prices, real_splits):
        as_traded = dataclasses.replace(PSQ_RANGE, splits=real_splits)

        whole = run_backtest(PSQ_PAIR, real_prices, as_traded)
        fractional = run_backtest(PSQ_PAIR, real_prices, dataclasses.replace(as_traded, fractional_longs=True))

        close_enough(whole, fractional)
        assert whole.metrics["splits_applied"] == {"IWM": 0, "PSQ": 2}
        assert (whole.positions["PSQ"] > 0).all() and whole.warnings == ()
        assert whole.positions.loc["2014-11-06", "PSQ"] == whole.positions.loc["2014-11-05", "PSQ"] / 4


def test_as_traded_closes_are_the_readme_sanity_figures(real_prices, real_splits):
    """README "Recovering as-traded prices": each equals an independent raw close."""
    raw = as_traded_frames({s: real_prices[s] for s in ("SQQQ", "PSQ", "TNA", "UPRO")}, real_splits)
    firsts = {"SQQQ": 76.98, "PSQ": 68.62, "TNA": 24.23, "UPRO": 86.80}
    on_2020 = {"SQQQ": 21.30, "PSQ": 24.17, "TNA": 72.09, "UPRO": 71.90}

    assert {s: round(float(raw[s]["close"].iloc[0]), 2) for s in firsts} == firsts
    assert {s: round(float(raw[s].loc["2020-01-02", "close"]), 2) for s in on_2020} == on_2020


class TestCommand:
    def test_without_splits_csv_it_names_the_sqqq_leg_it_could_not_hold(self, real_prices_dir, tmp_path, capsys):
        prices = tmp_path / "prices"
        prices.mkdir()
        for path in Path(real_prices_dir).glob("*.csv"):
            if path.name != "splits.csv":
                shutil.copy(path, prices / path.name)
        out = tmp_path / "out"

        assert backtest.run(parse(backtest, [*OVERLAY_ARGS, "--prices", str(prices), "--out", str(out)], tmp_path)) == 0

        printed = capsys.readouterr().out
        doc = json.loads((out / "metrics.json").read_text())
        assert "warning: SQQQ could not be held in whole shares" in printed
        assert "splits.csv (symbol,date,ratio) beside the prices fixes it" in printed
        assert doc["prices_as_traded"] is False and doc["splits_applied"] is None
        [leg] = doc["unholdable_legs"]
        assert leg["symbol"] == "SQQQ" and leg["first"] == "2010-02-11" and leg["rebalances"] > 1000
        assert doc["warnings"] == [leg["message"]]

    def test_with_splits_csv_beside_the_prices_it_sizes_as_traded(self, real_prices_dir, tmp_path, capsys):
        out = tmp_path / "out"

        assert backtest.run(parse(backtest, [*OVERLAY_ARGS, "--prices", str(real_prices_dir), "--out", str(out)],
                                  tmp_path)) == 0

        doc = json.loads((out / "metrics.json").read_text())
        assert doc["prices_as_traded"] is True and doc["splits_applied"]["SQQQ"] == 7
        assert doc["unholdable_legs"] == [] and doc["warnings"] == []
        assert "warning" not in capsys.readouterr().out


def test_the_figure_title_says_which_prices(overlay_runs):
    assert price_label(overlay_runs["whole"]) == "as-traded prices (14 splits applied)"
