"""Walk-forward, the rebalance day and a gate's episodes."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from bot.adapters.history.frame import synthetic_history
from bot.config import strategy_from
from bot.errors import ConfigError
from bot.research.backtest import BacktestSettings, run_backtest
from bot.research.backtest.market import due_sessions
from bot.research.backtest.sweep import run_sweep
from bot.research.hindsight import gate_report, rebalance_day_sensitivity, shifted_due, sweep_start, walk_forward


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return synthetic_history(["IWM", "QQQ", "SPY", "TNA"], start=date(2012, 1, 3), end=date(2019, 12, 31))


class TestWalkForward:
    GRID = {"max_trailing_spread": [-0.05, 0.0, 0.05]}

    def test_the_training_best_is_followed_onto_the_sessions_after(self, frames):
        found = walk_forward(frames, "pair", {}, self.GRID, BacktestSettings(), train_to=date(2016, 12, 30))

        assert found.chosen["max_trailing_spread"] == found.train.iloc[0]["max_trailing_spread"]
        assert found.train_span[1] <= "2016-12-30" < found.test_span[0]
        same = found.test[found.test["max_trailing_spread"] == found.chosen["max_trailing_spread"]].iloc[0]
        assert found.chosen_test["sharpe"] == same["sharpe"]
        assert found.test.iloc[found.chosen_test_rank - 1]["sharpe"] == same["sharpe"]

    def test_the_test_span_is_a_sweep_of_its_own(self, frames):
        """What the test span shows is what a sweep over only those sessions gives."""
        found = walk_forward(frames, "pair", {}, self.GRID, BacktestSettings(), train_to=date(2016, 12, 30))

        alone = run_sweep(frames, "pair", {}, self.GRID, BacktestSettings(start=date(2016, 12, 31)))
        assert found.test["cagr"].tolist() == alone["cagr"].tolist()

    def test_a_training_span_past_the_data_is_refused(self, frames):
        with pytest.raises(ConfigError, match="no test span"):
            walk_forward(frames, "pair", {}, self.GRID, BacktestSettings(end=date(2015, 1, 2)),
                         train_to=date(2016, 1, 4))

    def test_a_gated_grid_starts_where_every_variant_can_decide(self, frames):
        start = sweep_start(frames, "pair", {}, {"min_trend_score": [1, 3], "gross": [1]}, None)

        assert start == frames["IWM"].index[519].date()


class TestRebalanceDay:
    def test_an_offset_moves_each_periods_rebalance_by_that_many_sessions(self):
        dates = pd.bdate_range("2020-01-01", "2020-12-31")
        base = due_sessions(dates, "quarterly")

        moved = shifted_due(base, 3)

        assert moved[0]
        assert (np.flatnonzero(moved)[1:] == np.flatnonzero(base)[1:] + 3).all()

    def test_offset_zero_is_the_ordinary_backtest(self, frames):
        replica = strategy_from("replica", {})
        table = rebalance_day_sensitivity(replica, frames, BacktestSettings(), offsets=5)

        ordinary = run_backtest(replica, frames, BacktestSettings())
        assert table["cagr"].iloc[0] == ordinary.metrics["cagr"]
        assert table["offset"].tolist() == [0, 1, 2, 3, 4]
        assert table["cagr"].nunique() > 1

    def test_a_strategy_without_a_calendar_has_no_rebalance_day(self, frames):
        with pytest.raises(ConfigError, match="calendar frequency"):
            rebalance_day_sensitivity(strategy_from("replica", {}), frames, BacktestSettings(frequency="none"))


class TestGateReport:
    def test_time_in_market_and_episodes_follow_the_held_book(self, frames):
        result = run_backtest(strategy_from("pair", {"max_trailing_spread": "0.0"}), frames, BacktestSettings())
        held = result.exposure["gross"].to_numpy()[:-1] > 1e-9

        report = gate_report(result, gap=0)

        assert report.in_market_sessions == int(held.sum())
        assert sum(e.sessions for e in report.episodes) == report.in_market_sessions
        assert report.episodes[0].start == str(result.exposure.index[int(np.argmax(held))].date())

    def test_short_pauses_merge_into_one_episode(self, frames):
        result = run_backtest(strategy_from("pair", {"max_trailing_spread": "0.0"}), frames, BacktestSettings())

        assert len(gate_report(result, gap=63).episodes) < len(gate_report(result, gap=0).episodes)

    def test_an_ungated_pair_is_in_the_market_all_along(self, frames):
        report = gate_report(run_backtest(strategy_from("pair", {}), frames, BacktestSettings()))

        assert report.time_in_market > 0.99 and len(report.episodes) == 1
