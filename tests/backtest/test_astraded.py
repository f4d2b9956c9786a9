"""As-traded prices from a split list, splits applied to the holdings, and the legs whole shares cannot hold."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from bot.config import strategy_from
from bot.core.corporate import Split, split_factor
from bot.core.domain import Symbol
from bot.research.backtest import BacktestSettings, run_backtest
from bot.research.backtest.astraded import HoldingSplits, as_traded, as_traded_frames, split_shares
from bot.research.backtest.kernel import Market, Variants, run_kernel
from bot.research.backtest.sweep import run_sweep
from tests.backtest.test_reference import SYNTHETIC_SPLITS, yahoo_style

DATES = pd.DatetimeIndex(pd.bdate_range("2020-01-01", "2020-03-31"), name="date")
SQQQ, UPRO = Symbol("SQQQ"), Symbol("UPRO")
OVERLAY = strategy_from("overlay", {})
# SQQQ reverse-split five times 1-for-5 (a factor of 3,125), once after the range; UPRO split 2-for-1 once
SQQQ_SPLITS = tuple(Split(SQQQ, date(y, 6, 3), Decimal("0.2")) for y in (2016, 2018, 2020, 2022, 2026))
OVERLAY_SPLITS = (*SQQQ_SPLITS, Split(UPRO, date(2019, 1, 14), Decimal(2)))
SETTINGS = BacktestSettings(start=date(2015, 1, 2), end=date(2024, 12, 31), leg_band=0.05)


def split(symbol: Symbol, on: str, ratio: str) -> Split:
    return Split(symbol, date.fromisoformat(on), Decimal(ratio))


class TestAsTraded:
    def test_factors_are_split_factor_on_every_session(self):
        """Splits before, on, inside, between sessions and after the range: the core's rule at each session."""
        splits = [split(SQQQ, "2019-12-02", "0.25"), split(SQQQ, "2020-01-01", "0.2"),
                  split(SQQQ, "2020-02-08", "0.2"), split(SQQQ, "2020-06-01", "0.25"), split(UPRO, "2020-03-02", "3")]

        found = as_traded(DATES, [SQQQ, UPRO, Symbol("SPY")], splits)

        expected = [[float(split_factor(splits, s, d.date())) for s in (SQQQ, UPRO, Symbol("SPY"))] for d in DATES]
        assert found.factors.tolist() == expected

    def test_only_splits_after_the_first_session_convert_holdings_on_their_first_session(self):
        """A Saturday split converts on the Monday; one on the first session or outside the range does not."""
        splits = [split(SQQQ, "2020-01-01", "0.2"), split(SQQQ, "2020-02-08", "0.2"), split(UPRO, "2020-03-02", "3"),
                  split(UPRO, "2020-06-01", "2")]

        found = as_traded(DATES, [SQQQ, UPRO], splits)

        assert [DATES[d].date().isoformat() for d in found.holding_splits.day] == ["2020-02-10", "2020-03-02"]
        assert found.holding_splits.column.tolist() == [0, 1]
        assert found.holding_splits.ratio.tolist() == [0.2, 3.0]
        assert [s.on for s in found.applied] == [date(2020, 2, 8), date(2020, 3, 2)]

    def test_as_traded_frames_scale_prices_and_volume(self):
        frame = pd.DataFrame({c: np.full(len(DATES), 100.0) for c in ("open", "high", "low", "close", "adj_close",
                                                                       "volume")}, index=DATES)

        out = as_traded_frames({"SQQQ": frame}, [split(SQQQ, "2020-02-10", "0.25")])["SQQQ"]

        assert out.loc["2020-02-07", ["open", "close", "adj_close", "volume"]].tolist() == [25.0, 25.0, 25.0, 400.0]
        assert out.loc["2020-02-10", ["open", "close", "adj_close", "volume"]].tolist() == [100.0] * 4

    @pytest.mark.parametrize(("fill", "expected"), [("close", [7.0, 7.0, 1.4, 1.4, 2.8, 2.8]),
                                                    ("next_open", [0.0, 7.0, 1.4, 1.4, 2.8, 2.8])])
    def test_the_loop_holds_its_shares_converted_at_each_split(self, fill, expected):
        """7 shares, 1-for-5 -> 1.4, then 2-for-1 -> 2.8; a next-open fill shows from the session after."""
        px = np.full((6, 1), 100.0)
        splits = HoldingSplits(np.array([2, 4]), np.array([0, 0]), np.array([0.2, 2.0]))
        market = Market(px, px, np.zeros(6), np.ones(6), np.ones((1, 1)), splits)
        due = np.zeros((1, 6), dtype=np.bool_)
        due[0, 0] = True
        one, inf, zero = np.zeros(1, dtype=np.intp), np.full(1, np.inf), np.zeros(1)
        variants = Variants(np.array([[0.7]]), one, due, one, inf, inf, inf, inf, zero, zero, zero, zero, zero,
                            np.full(1, 1000.0), np.zeros(1, dtype=np.bool_))

        out = run_kernel(market, variants, fill=fill, record=True)

        assert out.held is not None and out.held[0, :, 0].tolist() == expected

    def test_a_split_keeps_nine_decimals(self):
        assert split_shares(-7.0, 0.2) == -1.4
        assert split_shares(1.000000001, 0.25) == 0.25


@pytest.fixture(scope="module")
def dear_sqqq(synthetic: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The synthetic market read as split-adjusted history: its decaying SQQQ "costs" $15,500 in 2015, which after
    five 1-for-5 splits is $4.96 as traded."""
    return synthetic


class TestWholeShares:
    def test_without_splits_a_dear_fund_is_named_with_the_fix(self, dear_sqqq):
        result = run_backtest(OVERLAY, dear_sqqq, SETTINGS)

        legs = result.metrics["unholdable_legs"]
        assert [leg["symbol"] for leg in legs] == ["SQQQ"]
        assert legs[0]["first"] == "2015-01-02" and legs[0]["under_one_share"] > 0
        assert result.metrics["prices_as_traded"] is False and result.metrics["splits_applied"] is None
        assert len(result.warnings) == 1 and "splits.csv" in result.warnings[0] and "SQQQ" in result.warnings[0]

    def test_with_splits_it_is_held_from_the_first_session_at_its_traded_price(self, synthetic, dear_sqqq):
        result = run_backtest(OVERLAY, dear_sqqq, dataclasses.replace(SETTINGS, splits=OVERLAY_SPLITS))

        assert result.positions["SQQQ"].iloc[0] > 0
        assert result.metrics["unholdable_legs"] == [] and result.warnings == ()
        assert result.metrics["splits_applied"] == {"SPY": 0, "SQQQ": 4, "TNA": 0, "UPRO": 1}
        first = result.trades[result.trades["symbol"] == "SQQQ"].iloc[0]
        assert first["price"] == pytest.approx(synthetic["SQQQ"]["adj_close"].iloc[0] / 3125, rel=1e-12)

    @pytest.mark.parametrize("fill", ["close", "next_open"])
    def test_a_split_changes_shares_not_value(self, dear_sqqq, fill):
        """Session to session, equity moves by what the positions table holds times the price moves, splits
        included: the table is the loop's book, and a split's conversion leaves the value where it was."""
        settings = dataclasses.replace(SETTINGS, splits=OVERLAY_SPLITS, fill=fill)
        result = run_backtest(OVERLAY, dear_sqqq, settings)
        held, equity = result.positions.to_numpy(), result.equity.to_numpy()
        close = held * 0 + _as_traded_closes(dear_sqqq, result)

        traded = set(result.trades["date"])
        quiet = [t for t in range(1, len(equity)) if result.equity.index[t].date().isoformat() not in traded]
        moves = [equity[t] - equity[t - 1] - (held[t] @ close[t] - held[t - 1] @ close[t - 1]) for t in quiet]

        assert max(abs(m) for m in moves) < 1e-6
        converted = result.equity.index.searchsorted([pd.Timestamp(s.on) for s in SQQQ_SPLITS[:4]])
        sqqq = result.positions["SQQQ"].to_numpy()
        assert (sqqq[converted] != sqqq[converted - 1]).all()

    def test_each_sweep_row_equals_its_own_single_backtest_with_splits(self, dear_sqqq):
        grid = {"leg_band": [0.03, None], "frequency": ["quarterly", "annual"]}
        settings = dataclasses.replace(SETTINGS, splits=OVERLAY_SPLITS)

        table = run_sweep(dear_sqqq, "overlay", {}, grid, settings, sort_by="cagr")

        for _, row in table.iterrows():
            alone = run_backtest(OVERLAY, dear_sqqq, dataclasses.replace(
                settings, leg_band=None if pd.isna(row["leg_band"]) else row["leg_band"], frequency=row["frequency"]))
            assert row["final_equity"] == pytest.approx(alone.metrics["final_equity"], rel=1e-12)
            assert row["rebalances"] == alone.metrics["rebalances"]
        assert any("splits applied" in n for n in table.attrs["notes"])

    def test_a_pair_short_left_fractional_is_named_and_rounded_at_the_next_rebalance(self, synthetic):
        frames = yahoo_style(synthetic, SYNTHETIC_SPLITS)
        settings = dataclasses.replace(SETTINGS, splits=SYNTHETIC_SPLITS)

        result = run_backtest(strategy_from("pair", {}), frames, settings)

        shorts = result.metrics["fractional_shorts"]
        assert [(s["symbol"], s["split_on"]) for s in shorts] == [("QQQ", "2017-05-01"), ("QQQ", "2020-08-18")]
        for s in shorts:
            assert s["shares"] != int(s["shares"]) and s["message"] in result.notes
            rounded = result.positions.loc[s["rounded_on"], "QQQ"]
            assert rounded == int(rounded) and s["rounded_on"] in set(result.trades["date"])


def _as_traded_closes(frames: dict[str, pd.DataFrame], result: object) -> np.ndarray:
    """The as-traded closes of the result's symbols on its sessions, computed here from the core's rule."""
    dates = result.equity.index  # type: ignore[attr-defined]
    cols = [frames[s]["adj_close"].reindex(dates).to_numpy() * np.array(
        [float(split_factor(OVERLAY_SPLITS, Symbol(s), d.date())) for d in dates]) for s in result.positions.columns]  # type: ignore[attr-defined]
    return np.column_stack(cols)
