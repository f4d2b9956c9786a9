"""The calendar: a period's rebalance is due until done, a missed first session is caught up."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.core.schedule import (
    calendar_due,
    first_session_of_period,
    next_calendar_rebalance,
    period_key,
    run_key,
)


def weekdays(start: date, end: date) -> list[date]:
    """A stand-in session calendar: every weekday (holidays are the calendar's business, not this one's)."""
    days = (start + timedelta(n) for n in range((end - start).days + 1))
    return [d for d in days if d.weekday() < 5]


class TestPeriodKey:
    @pytest.mark.parametrize(
        ("day", "frequency", "key"),
        [
            (date(2026, 11, 2), "quarterly", "2026Q4"),
            (date(2026, 1, 1), "quarterly", "2026Q1"),
            (date(2026, 3, 31), "quarterly", "2026Q1"),
            (date(2026, 4, 1), "quarterly", "2026Q2"),
            (date(2026, 11, 2), "monthly", "2026-11"),
            (date(2026, 2, 28), "monthly", "2026-02"),
            (date(2026, 11, 2), "annual", "2026"),
        ],
    )
    def test_names_the_calendar_period(self, day: date, frequency: str, key: str) -> None:
        assert period_key(day, frequency) == key

    def test_an_unknown_frequency_is_refused(self) -> None:
        with pytest.raises(ValueError, match="weekly"):
            period_key(date(2026, 1, 1), "weekly")


class TestCalendarDue:
    def test_the_first_session_of_a_quarter_is_due(self) -> None:
        assert calendar_due(date(2026, 10, 1), "quarterly", {"2026Q3"}) == "2026Q4"

    def test_a_missed_first_session_is_caught_up_on_the_next_run(self) -> None:
        """The box was down on 1 October; the run on the 6th still rebalances for Q4."""
        assert calendar_due(date(2026, 10, 6), "quarterly", {"2026Q3"}) == "2026Q4"

    def test_a_done_quarter_is_not_redone(self) -> None:
        assert calendar_due(date(2026, 11, 2), "quarterly", {"2026Q3", "2026Q4"}) is None

    def test_the_year_boundary_starts_a_new_quarter(self) -> None:
        """Q4 done in 2025 does not cover Q1 2026."""
        assert calendar_due(date(2026, 1, 2), "quarterly", {"2025Q4"}) == "2026Q1"

    def test_an_annual_rebalance_done_last_year_is_due_this_year(self) -> None:
        assert calendar_due(date(2027, 1, 4), "annual", {"2026"}) == "2027"


class TestFirstSessionOfPeriod:
    def test_skips_a_weekend_start(self) -> None:
        """1 November 2026 is a Sunday."""
        sessions = weekdays(date(2026, 10, 26), date(2026, 11, 10))

        assert first_session_of_period(sessions, "2026-11", "monthly") == date(2026, 11, 2)

    def test_a_period_outside_the_sessions_has_none(self) -> None:
        assert first_session_of_period(weekdays(date(2026, 1, 1), date(2026, 1, 31)), "2026Q2", "quarterly") is None


class TestNextCalendarRebalance:
    def test_after_this_quarter_is_done_the_next_is_its_first_session(self) -> None:
        """2027 opens on a Friday (1 January, which a real calendar drops as a holiday)."""
        sessions = weekdays(date(2026, 11, 1), date(2027, 1, 31))

        assert next_calendar_rebalance(date(2026, 11, 2), sessions, "quarterly", {"2026Q4"}) == date(2027, 1, 1)

    def test_a_missed_quarter_is_due_at_the_next_session(self) -> None:
        sessions = weekdays(date(2026, 10, 1), date(2027, 1, 31))

        assert next_calendar_rebalance(date(2026, 10, 3), sessions, "quarterly", {"2026Q3"}) == date(2026, 10, 5)

    def test_none_when_the_sessions_run_out(self) -> None:
        sessions = weekdays(date(2026, 11, 1), date(2026, 12, 31))

        assert next_calendar_rebalance(date(2026, 11, 2), sessions, "quarterly", {"2026Q4"}) is None


class TestRunKey:
    def test_is_the_decision_and_a_short_config_hash(self) -> None:
        assert run_key("2026Q4", "A1B2C3D4E5F6") == "2026Q4-a1b2c3"

    def test_stays_short_enough_for_client_order_ids(self) -> None:
        """pb-{run key}-{symbol}-{bto}-{attempt} must fit Alpaca's 48 characters."""
        key = run_key("2026-11-02d", "ffffffffff")

        assert len(f"pb-{key}-SQQQ-sto-99") <= 48

    def test_a_key_too_long_is_refused(self) -> None:
        with pytest.raises(ValueError, match="longer"):
            run_key("a-very-long-decision-key-indeed", "abc123")

    def test_characters_outside_letters_digits_and_dashes_are_refused(self) -> None:
        with pytest.raises(ValueError, match="decision key"):
            run_key("2026 Q4", "abc123")
