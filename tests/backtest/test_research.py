"""Research signals on small hand-built series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bot.research.market_signals import rotation_events, rsi_wilder, spread_now, trailing_spread_history


def closes(iwm: list[float], qqq: list[float]) -> pd.DataFrame:
    index = pd.bdate_range("2024-01-01", periods=len(iwm), name="date")
    return pd.DataFrame({"IWM": iwm, "QQQ": qqq}, index=index)


class TestResearch:
    def test_trailing_spread_is_the_difference_of_window_returns(self):
        """IWM 100 -> 110 (+10%) while QQQ 100 -> 130 (+30%) over two sessions: -20 points."""
        frame = closes([100, 105, 110], [100, 120, 130])

        spread = trailing_spread_history(frame, long="IWM", short="QQQ", days=2)

        assert spread.tolist() == pytest.approx([-0.2])

    def test_last_as_extreme_skips_the_current_episode(self):
        """Today's -0.3 was matched 30 sessions back, before 25 calmer sessions; not yesterday's -0.31."""
        values = [0.0] * 10 + [-0.35] + [0.0] * 25 + [-0.31, -0.3]
        spread = pd.Series(values, index=pd.bdate_range("2020-01-01", periods=len(values)))

        now = spread_now(spread)

        assert now.last_as_extreme == spread.index[10].date()
        assert now.percentile == pytest.approx(3 / len(values))

    def test_rotation_events_decluster_and_measure_forward_returns(self):
        """Two +5pp days 3 sessions apart form one cluster; forward returns read later closes."""
        iwm = [100.0, 105.0, 105.0, 105.0, 110.25] + [110.25] * 70
        qqq = [100.0] * 75
        frame = closes(iwm, qqq)

        events = rotation_events(frame, long="IWM", short="QQQ", threshold=0.04)

        assert len(events) == 2
        assert events["first_in_cluster"].tolist() == [True, False]
        assert events["fwd_63d_IWM"].iloc[0] == pytest.approx(0.05)
        assert np.isnan(events["fwd_252d_IWM"].iloc[0])

    def test_rsi_of_a_rising_series_is_100(self):
        assert rsi_wilder(pd.Series(np.arange(1.0, 40.0))).iloc[-1] == 100.0
