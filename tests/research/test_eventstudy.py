"""The event study counts overlapping windows once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bot.research.eventstudy import non_overlapping, study


def regime_closes(sessions: int = 3000, seed: int = 2) -> pd.DataFrame:
    """IWM and QQQ as random walks; IWM gains on QQQ through one 300-session regime."""
    rng = np.random.default_rng(seed)
    drift = np.zeros(sessions)
    drift[1000:1300] = 0.003
    index = pd.bdate_range("2000-01-03", periods=sessions)
    iwm = 100 * np.cumprod(1 + drift + rng.normal(0, 0.01, sessions))
    qqq = 100 * np.cumprod(1 + rng.normal(0, 0.01, sessions))
    return pd.DataFrame({"IWM": iwm, "QQQ": qqq}, index=index)


class TestEventStudy:
    def test_non_overlapping_keeps_events_a_horizon_apart(self):
        assert non_overlapping([0, 10, 62, 63, 100, 130], 63) == [0, 63, 130]

    def test_a_cluster_of_events_in_one_regime_counts_as_one_window(self):
        """Twenty events on consecutive weeks of one regime look strong one by one, and are one window."""
        closes = regime_closes()
        events = closes.index[np.arange(1000, 1100, 5)]

        found = study(closes, events, long="IWM", short="QQQ", horizon=252)

        assert found.events == 20 and found.independent == 1
        assert found.naive_t > 3
        assert "non-overlapping" not in found.tests_passed
        assert "mixed" in found.verdict or "not distinguishable" in found.verdict

    def test_random_days_are_not_significant(self):
        closes = regime_closes(seed=7)
        events = closes.index[np.random.default_rng(3).choice(np.arange(1500, 2700), 30, replace=False)]

        found = study(closes, sorted(events), long="IWM", short="QQQ", horizon=63)

        assert found.tests_passed == ()
        assert found.verdict.startswith("over 63 sessions: not distinguishable from noise")

    def test_the_placebo_is_seeded_and_reported_with_its_size(self):
        closes = regime_closes()
        events = closes.index[[1000, 1400, 1800]]

        first = study(closes, events, long="IWM", short="QQQ", horizon=63, placebo_draws=500, seed=1)
        again = study(closes, events, long="IWM", short="QQQ", horizon=63, placebo_draws=500, seed=1)

        assert first.placebo_p == again.placebo_p and len(first.placebo_draws) == 500
        assert first.doc()["placebo_sets"] == 500 and "placebo_draws" not in first.doc()

    def test_events_without_a_full_forward_window_are_left_out(self):
        closes = regime_closes()

        found = study(closes, closes.index[[100, len(closes) - 10]], long="IWM", short="QQQ", horizon=63)

        assert found.events == 1
        assert np.isnan(found.naive_t)

    def test_the_plain_t_is_the_mean_over_its_standard_error(self):
        closes = regime_closes()
        positions = [500, 900, 1400, 2000]
        ahead = closes.shift(-63) / closes - 1
        excess = (ahead["IWM"] - ahead["QQQ"]).iloc[positions].to_numpy()

        found = study(closes, closes.index[positions], long="IWM", short="QQQ", horizon=63)

        assert found.naive_t == pytest.approx(excess.mean() / (excess.std(ddof=1) / 2))
        assert found.independent == 4 and found.independent_t == pytest.approx(found.naive_t)
