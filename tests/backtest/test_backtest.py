"""Backtests on the synthetic market (always available): the broker model and the decision rule."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pandas as pd
import pytest

from bot.config import strategy_from
from bot.core.schedule import period_key
from bot.errors import DataError
from bot.research.backtest import BacktestSettings, run_backtest
from bot.research.backtest.market import due_sessions
from bot.research.backtest.sweep import run_sweep

PAIR = strategy_from("pair", {})
BASE = BacktestSettings(start=date(2016, 1, 4), end=date(2024, 12, 31), leg_band=0.05, slippage_bps=1,
                        borrow_bps=50, cash_rate=0.02)


class TestSchedule:
    @pytest.mark.parametrize("frequency", ["monthly", "quarterly", "annual"])
    def test_due_sessions_are_where_the_live_period_key_changes(self, synthetic, frequency):
        """The backtest's calendar is bot.core.schedule's: due on the first session of each period."""
        dates = synthetic["IWM"].index

        due = due_sessions(dates, frequency)

        keys = [period_key(d.date(), frequency) for d in dates]
        expected = [True] + [a != b for a, b in zip(keys[1:], keys[:-1], strict=True)]
        assert due.tolist() == expected


class TestBacktest:
    def test_pair_holds_whole_shares_long_iwm_short_qqq(self, synthetic):
        """Every position is a whole number of shares; IWM long, QQQ short, after the first session."""
        result = run_backtest(PAIR, synthetic, BASE)

        held = result.positions.to_numpy()
        assert np.array_equal(held, np.trunc(held))
        assert (result.positions["IWM"] > 0).all() and (result.positions["QQQ"] < 0).all()
        assert result.metrics["avg_gross"] == pytest.approx(1.0, abs=0.05)
        assert abs(result.metrics["avg_net"]) < 0.05

    def test_calendar_only_rebalances_once_a_quarter(self, synthetic):
        """Without a band, decisions happen exactly on the first session of each quarter."""
        result = run_backtest(PAIR, synthetic, dataclasses.replace(BASE, leg_band=None))

        trade_days = sorted(set(result.trades["date"]))
        quarters = {period_key(date.fromisoformat(d), "quarterly") for d in trade_days}
        assert len(quarters) == len(trade_days)
        assert result.metrics["decisions"] == len({period_key(d.date(), "quarterly") for d in result.equity.index})

    def test_a_tight_band_rebalances_more_often_than_a_loose_one(self, synthetic):
        tight = run_backtest(PAIR, synthetic, dataclasses.replace(BASE, leg_band=0.01))
        loose = run_backtest(PAIR, synthetic, dataclasses.replace(BASE, leg_band=0.2))

        assert tight.metrics["rebalances"] > loose.metrics["rebalances"]

    def test_costs_and_borrow_only_ever_lower_final_equity(self, synthetic):
        """The same trades with commission, slippage and borrow end lower than without."""
        free = dataclasses.replace(BASE, slippage_bps=0, borrow_bps=0, commission_bps=0)
        costly = dataclasses.replace(BASE, slippage_bps=10, borrow_bps=300, commission_bps=5)

        a = run_backtest(PAIR, synthetic, free).metrics
        b = run_backtest(PAIR, synthetic, costly).metrics

        assert b["final_equity"] < a["final_equity"]
        assert b["costs_usd"] > 0 and b["borrow_usd"] > 0 and a["costs_usd"] == 0

    def test_next_open_fills_trade_at_the_following_sessions_open(self, synthetic):
        """The first trades are dated the day after the first decision and priced at that open."""
        result = run_backtest(PAIR, synthetic, dataclasses.replace(BASE, fill="next_open", slippage_bps=0))

        first = result.trades.iloc[0]
        second_session = result.equity.index[1]
        assert first["date"] == second_session.date().isoformat()
        assert first["price"] == pytest.approx(synthetic[first["symbol"]].loc[second_session, "open"])
        assert result.positions.iloc[0].abs().sum() == 0

    def test_cash_only_book_grows_at_the_cash_rate(self, synthetic):
        """A replica with a tiny weight that rounds to zero shares is all cash: equity compounds act/360."""
        tiny = strategy_from("replica", {"weight": "0.0000001"})
        result = run_backtest(tiny, synthetic, dataclasses.replace(BASE, cash_rate=0.036))

        days = (result.equity.index[-1] - result.equity.index[0]).days
        assert result.trades.empty
        assert result.metrics["final_equity"] == pytest.approx(100_000 * (1 + 0.036 / 360) ** days, rel=1e-3)

    def test_overlay_and_replica_run(self, synthetic):
        for name in ("overlay", "replica"):
            result = run_backtest(strategy_from(name, {}), synthetic, BASE)
            assert result.metrics["final_equity"] > 0
            assert result.metrics["rebalances"] >= 1

    def test_inverse_hedge_holds_psq_long(self, synthetic):
        result = run_backtest(strategy_from("pair", {"hedge": "inverse"}), synthetic, BASE)

        assert (result.positions["PSQ"] > 0).all() and (result.positions["IWM"] > 0).all()
        assert result.metrics["borrow_usd"] == 0

    def test_the_effective_exposure_counts_each_fund_as_its_underlying_times_its_multiple(self, synthetic):
        """PSQ held long is QQQ x -1: the inverse pair's net is about 1, its net by underlying about 0."""
        inverse = run_backtest(strategy_from("pair", {"hedge": "inverse"}), synthetic, BASE)
        plain = run_backtest(strategy_from("pair", {}), synthetic, BASE)

        assert list(inverse.effective.columns) == ["IWM", "QQQ"]
        assert (inverse.exposure["net"] > 0.9).all() and (inverse.effective.sum(axis=1).abs() < 0.1).all()
        assert (inverse.effective["QQQ"] < -0.4).all()
        np.testing.assert_allclose(plain.effective.sum(axis=1), plain.exposure["net"], atol=1e-12)

    def test_gated_pair_moves_its_start_until_it_has_a_year_of_history(self, synthetic):
        """max_trailing_spread reads 253 closes; the backtest starts once they exist, and says so."""
        gated = strategy_from("pair", {"max_trailing_spread": "-0.05"})
        settings = dataclasses.replace(BASE, start=date(2015, 1, 2), end=date(2017, 6, 30))

        result = run_backtest(gated, synthetic, settings)

        assert result.equity.index[0] > pd.Timestamp("2015-12-01")
        assert any("history" in n for n in result.notes)

    def test_missing_symbol_is_a_data_error(self, synthetic):
        frames = {k: v for k, v in synthetic.items() if k != "QQQ"}

        with pytest.raises(DataError, match="QQQ"):
            run_backtest(PAIR, frames, BASE)


class TestSweep:
    @pytest.mark.parametrize(
        "base",
        [BASE, dataclasses.replace(BASE, fill="next_open", commission_bps=3, gross_band=0.04, net_band=0.03)],
        ids=["close", "next-open-with-book-bands"],
    )
    def test_each_sweep_row_equals_its_own_single_backtest(self, synthetic, base):
        """Variants share one kernel call, yet every row is what a lone run of it gives."""
        grid = {"leg_band": [0.03, 0.1, None], "frequency": ["quarterly", "annual"], "gross": [1.0, 1.5],
                "hedge": ["short", "inverse"]}

        table = run_sweep(synthetic, "pair", {}, grid, base, sort_by="cagr", chunk=7)

        assert len(table) == 24
        assert table["cagr"].is_monotonic_decreasing
        for _, row in table.sample(6, random_state=1).iterrows():
            alone = run_backtest(
                strategy_from("pair", {"gross": row["gross"], "hedge": row["hedge"]}),
                synthetic,
                dataclasses.replace(base, leg_band=None if pd.isna(row["leg_band"]) else row["leg_band"],
                                    frequency=row["frequency"], start=date.fromisoformat(table.attrs["start"])),
            )
            assert row["final_equity"] == pytest.approx(alone.metrics["final_equity"], rel=1e-12)
            assert row["rebalances"] == alone.metrics["rebalances"]
