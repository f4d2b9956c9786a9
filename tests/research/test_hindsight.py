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
from bot.research.hindsight import (
    gate_report,
    rebalance_day_sensitivity,
    refit_walk_forward,
    shifted_due,
    sweep_start,
    walk_forward,
)


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


class TestRefitWalkForward:
    GRID = {"leg_band": [0.02, 0.05, 0.1], "frequency": ["monthly", "quarterly"]}

    def refits(self, frames, **kw):
        return refit_walk_forward(frames, "pair", {}, self.GRID, BacktestSettings(), **{"refit_years": 2,
                                  "train_years": 3, **kw})

    def test_test_spans_follow_each_other_from_the_first_refit_to_the_last_session(self, frames):
        found = self.refits(frames)

        spans = [r.test_span for r in found.refits]
        assert [r.train_span[1] for r in found.refits] == ["2015-01-02", "2017-01-03", "2019-01-03"]
        assert spans[0][0] == "2015-01-05" and spans[-1][1] == "2019-12-31"
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))
        assert {r.train_span[0] for r in found.refits} == {"2012-01-03"}  # anchored: all history before

    def test_a_rolling_window_chooses_on_the_last_train_years_only(self, frames):
        found = self.refits(frames, window="rolling")

        assert [r.train_span[0] for r in found.refits] == ["2012-01-03", "2014-01-03", "2016-01-04"]
        again = run_sweep(frames, "pair", {}, self.GRID, BacktestSettings(start=date(2014, 1, 3),
                                                                          end=date(2017, 1, 3)))
        assert {k: again.iloc[0][k] for k in self.GRID} == found.refits[1].chosen

    def test_nothing_after_a_refit_takes_part_in_its_choice(self, frames):
        """Prices after the second refit's day are rewritten: the first two choices stay, bit for bit."""
        cut = pd.Timestamp("2017-01-03")
        rng = np.random.default_rng(3)
        changed = {}
        for sym, frame in frames.items():
            later = frame.index > cut
            shock = np.exp(np.cumsum(rng.normal(0, 0.03, later.sum())))
            f = frame.copy()
            for col in ("open", "high", "low", "close", "adj_close"):
                f.loc[later, col] = f.loc[later, col] * shock
            changed[sym] = f
        before, after = self.refits(frames), self.refits(changed)

        for a, b in zip(before.refits[:2], after.refits[:2], strict=True):
            assert a.chosen == b.chosen and a.train_span == b.train_span
            pd.testing.assert_series_equal(a.chosen_train, b.chosen_train, check_exact=True)  # what it was chosen by
        assert before.refits[1].chosen_test["total_return"] != after.refits[1].chosen_test["total_return"]

    def test_each_test_row_is_a_sweep_of_that_span_and_the_chain_compounds_them(self, frames):
        found = self.refits(frames)

        last = found.refits[-1]
        alone = run_sweep(frames, "pair", {}, self.GRID, BacktestSettings(start=date(2019, 1, 4)))
        same = (alone["leg_band"] == last.chosen["leg_band"]) & (alone["frequency"] == last.chosen["frequency"])
        chosen = alone[same]
        assert chosen.iloc[0]["total_return"] == last.chosen_test["total_return"]
        assert alone.iloc[0]["total_return"] == last.hindsight_test["total_return"]
        years = sum((date.fromisoformat(r.test_span[1]) - date.fromisoformat(r.test_span[0])).days
                    for r in found.refits) / 365.25
        growth = float(np.prod(1 + found.table["test_return"]))
        assert found.chained_cagr("chosen") == pytest.approx(growth ** (1 / years) - 1, rel=1e-12)
        assert all(r.hindsight_test["sharpe"] >= max(r.chosen_test["sharpe"], r.fixed_test["sharpe"])
                   for r in found.refits)  # each span's best by the sort metric, afterwards

    def test_a_last_span_of_days_joins_the_one_before(self, frames):
        short = {s: f[f.index <= "2019-01-10"] for s, f in frames.items()}

        found = self.refits(short)

        assert found.refits[-1].test_span == ("2017-01-04", "2019-01-10")

    def test_history_too_short_for_one_test_span_is_refused(self, frames):
        with pytest.raises(ConfigError, match="no test span of a month"):
            self.refits(frames, train_years=8)


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
