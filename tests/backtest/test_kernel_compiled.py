"""The compiled loop's own paths: Decimal tie-breaks that stop and resume a variant, and its metrics."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from bot.research import metrics
from bot.research.backtest import codes
from bot.research.backtest.arrays import FloatArray
from bot.research.backtest.engine import metrics_of, row_metrics, variant_metrics
from bot.research.backtest.kernel import KernelResult, Market, Variants, exact_target, run_kernel


def one_symbol(prices: list[float], *, band: float, fractional: bool = False) -> KernelResult:
    """Target 50% of one symbol, decided on the first session and then only on a band breach; no costs."""
    t = len(prices)
    px = np.array(prices)[:, None]
    market = Market(close=px, open=px, cash_return=np.zeros(t), accrual_days=np.ones(t), multiples=np.ones((1, 1)))
    due = np.zeros((1, t), dtype=np.bool_)
    due[0, 0] = True
    one = np.zeros(1, dtype=np.intp)

    def col(x: float) -> np.ndarray:
        return np.full(1, x)

    variants = Variants(np.array([[0.5]]), one, due, one, col(band), col(np.inf), col(np.inf), col(np.inf),
                        col(0.0), col(0.0), col(0.0), col(0.0), col(0.0), col(100_000.0),
                        np.array([fractional]))
    return run_kernel(market, variants, record=True)


class TestDecimalTieBreaks:
    def test_a_drift_exactly_on_the_band_is_not_a_breach(self) -> None:
        """500 shares at 150 with 50,000 cash weigh exactly 0.6: 10pp off 0.5, not over a 10pp band.

        In floats the gap is a hair under the band, so the loop stops and asks; Decimal says no. At 151
        the leg is over and the book trades.
        """
        out = one_symbol([100.0, 150.0, 151.0], band=0.1)

        assert out.decisions.tolist() == [2]
        assert out.trades[0].days.tolist() == [0, 2]
        assert out.trades[0].shares[0].tolist() == [500.0]  # 0.5 x 100,000 / 100: a whole-share quotient

    def test_a_slightly_tighter_band_breaches_on_the_tie_session(self) -> None:
        out = one_symbol([100.0, 150.0, 151.0], band=0.0999)

        assert out.trades[0].days.tolist()[:2] == [0, 1]

    def test_fractional_longs_are_the_planners_nine_decimal_targets(self) -> None:
        """Every fractional rebalance is settled in Decimal, and the loop resumes with its answer."""
        out = one_symbol([300.0, 301.7, 460.3, 455.1], band=0.05, fractional=True)

        batch = out.trades[0]
        first = exact_target(0.5, 100_000.0, 300.0, 0.0, fractional_longs=True)
        assert Decimal(repr(float(batch.shares[0, 0]))) == first
        assert batch.shares[0, 0] != np.trunc(batch.shares[0, 0])
        assert out.decisions[0] == len(batch.days) >= 2


def test_summary_metrics_equal_bot_metrics() -> None:
    """variant_metrics's one compiled pass gives bot.research.metrics' numbers, for many curves at once."""
    rng = np.random.default_rng(7)
    t = 900
    equity: FloatArray = 100_000 * np.cumprod(1 + rng.normal(0.0003, 0.012, size=(5, t)), axis=1, dtype=np.float64)
    cash = np.concatenate(([0.0], np.full(t - 1, 0.0001)))
    dates = pd.bdate_range("2020-01-01", periods=t)
    out = KernelResult(equity, np.full(5, 2e6), np.zeros(5), np.zeros(5), np.zeros(5, dtype=np.intp),
                       np.zeros(5, dtype=np.intp))

    got = variant_metrics(out, dates, cash)

    years = (dates[-1] - dates[0]).days / metrics.DAYS_PER_YEAR
    rets = metrics.daily_returns(equity)
    expected = {
        "cagr": metrics.cagr(equity, years),
        "volatility": metrics.volatility(rets),
        "sharpe": metrics.sharpe(rets, cash[1:]),
        "sortino": metrics.sortino(rets, cash[1:]),
        "max_drawdown": metrics.max_drawdown(equity),
        "turnover": metrics.annual_turnover(np.full(5, 2e6), equity.mean(axis=1), years),
    }
    for key, values in expected.items():
        assert got[key] == pytest.approx(values, rel=1e-9), key


def test_a_single_runs_row_metrics_are_metrics_of_bit_for_bit() -> None:
    """row_metrics (Python floats, for one run and its benchmarks) gives metrics_of's numpy numbers to the last
    bit, flat curves (no spread: NaN ratios), a wiped-out curve and a zero start included."""
    rng = np.random.default_rng(11)
    stats = rng.normal(0.001, 0.02, size=(40, codes.C_LEN))
    stats[:, codes.C_FIRST] = rng.uniform(1e3, 1e6, 40)
    stats[:, codes.C_LAST] = stats[:, codes.C_FIRST] * rng.uniform(0.2, 9.0, 40)
    stats[:, [codes.C_R_SD, codes.C_X_SD, codes.C_DOWNSIDE]] = np.abs(stats[:, [codes.C_R_SD, codes.C_X_SD,
                                                                                 codes.C_DOWNSIDE]])
    stats[1, [codes.C_X_SD, codes.C_DOWNSIDE]] = 0.0
    stats[2, codes.C_X_SD] = np.nan
    stats[3, codes.C_LAST] = -5.0
    stats[4, codes.C_FIRST] = 0.0
    years = 7.3

    with np.errstate(divide="ignore", invalid="ignore"):  # the zero start divides by zero, as numpy does
        rows = row_metrics(stats.tolist(), years)
        expected = metrics_of(stats, years)

    for k, values in expected.items():
        assert np.array([r[k] for r in rows]).tobytes() == values.tobytes(), k
