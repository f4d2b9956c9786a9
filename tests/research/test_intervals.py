"""Block-bootstrap intervals on a backtest's headline figures."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from bot.adapters.history.frame import synthetic_history
from bot.commands.outputs import result_intervals
from bot.config import strategy_from
from bot.research.backtest import BacktestSettings, run_backtest
from bot.research.intervals import BootstrapSpec, bootstrap_intervals, stationary_indices

SPEC = BootstrapSpec(resamples=300, block_sessions=21, seed=5)


def curve(daily: float, sessions: int = 2520, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100_000 * np.cumprod(np.r_[1.0, 1.0 + daily + rng.normal(0.0, 0.01, sessions - 1)])


@pytest.fixture(scope="module")
def result():
    frames = synthetic_history(["IWM", "QQQ", "SPY", "BIL"], start=date(2010, 1, 4), end=date(2020, 12, 31))
    return run_backtest(strategy_from("pair", {}), frames, BacktestSettings(cash_symbol="BIL"))


class TestBootstrapIntervals:
    def test_the_estimates_are_the_backtests_own_figures(self, result):
        """The bootstrap measures the actual path with the same definitions as metrics.json."""
        figures = result_intervals(result, SPEC).figures

        for key in ("cagr", "sharpe", "max_drawdown"):
            assert figures[key].estimate == pytest.approx(result.metrics[key], rel=1e-9)
        spy = result.metrics["benchmarks"]["SPY"]["cagr"]
        assert figures["excess_cagr_vs_SPY"].estimate == pytest.approx(result.metrics["cagr"] - spy, rel=1e-9)

    def test_each_interval_brackets_its_estimate(self, result):
        for iv in result_intervals(result, SPEC).figures.values():
            assert iv.low <= iv.estimate <= iv.high

    def test_the_same_seed_gives_the_same_interval_and_another_seed_another(self, result):
        first, again = result_intervals(result, SPEC), result_intervals(result, SPEC)
        other = result_intervals(result, BootstrapSpec(resamples=300, block_sessions=21, seed=6))

        assert first.doc() == again.doc()
        assert first.figures["cagr"].low != other.figures["cagr"].low

    def test_the_excess_over_a_copy_of_itself_is_exactly_zero(self):
        """Strategy and benchmark are resampled on the same sessions, so the difference is paired."""
        equity = curve(0.0004)

        found = bootstrap_intervals(equity, years=10.0, cash_return=np.zeros(len(equity)),
                                    benchmarks={"TWIN": equity}, spec=SPEC)

        twin = found.figures["excess_cagr_vs_TWIN"]
        assert (twin.estimate, twin.low, twin.high) == (0.0, 0.0, 0.0)

    def test_a_clear_edge_excludes_zero_and_noise_does_not(self):
        edge = bootstrap_intervals(curve(0.002), years=10.0, cash_return=np.zeros(2520), benchmarks={},
                                   spec=SPEC).figures["excess_cagr_vs_cash"]
        noise = bootstrap_intervals(curve(0.0, seed=3), years=10.0, cash_return=np.zeros(2520), benchmarks={},
                                    spec=SPEC).figures["excess_cagr_vs_cash"]

        assert edge.excludes_zero and edge.share_positive == 1.0
        assert not noise.excludes_zero

    def test_the_document_states_method_block_seed_and_resamples(self, result):
        doc = result_intervals(result, SPEC).doc()

        assert doc["mean_block_sessions"] == 21 and doc["seed"] == 5 and doc["resamples"] == 300
        assert "stationary block bootstrap (Politis-Romano" in str(doc["method"])
        assert set(doc["cagr"]) == {"estimate", "low", "high", "share_positive"}

    @pytest.mark.parametrize(("n", "block", "seed"), [(2520, 21, 5), (6371, 63, 12), (50, 1, 3), (40, 500, 9),
                                                      (1, 63, 1), (2, 2, 0)])
    def test_the_resamples_are_arch_index_for_index(self, n, block, seed):
        """arch is the reference (a test dependency): its StationaryBootstrap on the same seed, resample after
        resample, draws the same sessions."""
        from arch.bootstrap import StationaryBootstrap

        theirs = StationaryBootstrap(block, np.zeros(n), seed=seed)
        ours = np.random.default_rng(seed)

        for _ in range(6):
            assert stationary_indices(ours, n, block).tolist() == theirs.update_indices().tolist()

    def test_blocks_run_on_and_wrap_past_the_last_session(self):
        index = stationary_indices(np.random.default_rng(2), 500, 50)

        steps = np.diff(index)
        assert ((steps == 1) | (steps == -499)).mean() > 0.9  # mostly the next session
        assert index.min() >= 0 and index.max() < 500

    @pytest.mark.parametrize(("kwargs", "match"), [({"resamples": 10}, "at least 100"),
                                                   ({"block_sessions": 0}, "block length"),
                                                   ({"confidence": 1.0}, "confidence")])
    def test_a_spec_that_cannot_give_an_interval_is_refused(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            BootstrapSpec(**kwargs)
