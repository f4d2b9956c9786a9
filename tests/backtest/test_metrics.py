"""Metrics on tiny series worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot.research import metrics


class TestMetrics:
    def test_cagr_of_a_doubling_over_two_years_is_root_two_minus_one(self):
        """100 -> 200 in two years compounds at sqrt(2) - 1 a year."""
        assert metrics.cagr(np.array([100.0, 150.0, 200.0]), 2.0) == pytest.approx(math.sqrt(2) - 1)

    def test_cagr_of_a_wiped_out_curve_is_minus_one(self):
        """A curve ending at zero or below has lost everything."""
        assert metrics.cagr(np.array([100.0, 50.0, -5.0]), 1.0) == -1.0

    def test_volatility_annualises_the_sample_standard_deviation(self):
        """Returns +10% and -10% have sample sd 0.1414...; times sqrt(252)."""
        returns = np.array([0.1, -0.1])

        assert metrics.volatility(returns) == pytest.approx(math.sqrt(0.02) * math.sqrt(252))

    def test_sharpe_is_mean_excess_over_its_sd(self):
        """Returns 1%, 3% over a 1% cash return: excess 0% and 2%, mean 1%, sd 1.414%."""
        returns, cash = np.array([0.01, 0.03]), np.array([0.01, 0.01])

        assert metrics.sharpe(returns, cash) == pytest.approx(0.01 / math.sqrt(0.0002) * math.sqrt(252))

    def test_sortino_divides_by_the_root_mean_square_of_losses_only(self):
        """Returns +3%, -1%: mean 1%; downside deviation sqrt((0 + 0.0001) / 2)."""
        returns = np.array([0.03, -0.01])

        assert metrics.sortino(returns) == pytest.approx(0.01 / math.sqrt(0.00005) * math.sqrt(252))

    def test_max_drawdown_is_the_worst_fall_from_a_running_peak(self):
        """100, 120, 90, 130, 104: the fall 120 -> 90 is -25%, deeper than 130 -> 104 (-20%)."""
        curve = np.array([100.0, 120.0, 90.0, 130.0, 104.0])

        assert metrics.max_drawdown(curve) == pytest.approx(-0.25)
        assert metrics.worst_drawdown(curve) == metrics.Drawdown(pytest.approx(-0.25), 1, 2, 3)

    def test_a_drawdown_not_yet_recovered_has_no_recovery(self):
        """Peak 120, trough 60, still at 100 at the end."""
        assert metrics.worst_drawdown(np.array([100.0, 120.0, 60.0, 100.0])).recovery is None

    def test_metrics_of_many_curves_at_once_match_one_at_a_time(self):
        """Rows are curves: the vectorised answer is the per-row answer."""
        curves = np.array([[100.0, 110.0, 99.0, 120.0], [100.0, 90.0, 95.0, 80.0]])

        both = metrics.max_drawdown(curves)

        assert both.tolist() == [metrics.max_drawdown(curves[0]), metrics.max_drawdown(curves[1])]

    def test_turnover_is_traded_notional_per_year_over_average_equity(self):
        """$300k traded over 3 years on $100k average equity is 1x a year."""
        assert metrics.annual_turnover(np.array([300_000.0]), np.array([100_000.0]), 3.0) == pytest.approx([1.0])
