"""The trading window: New York wall-clock [start, end), its refusal line, next start and host-zone cron entries."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.core.window import (
    CronEntry,
    TradingWindow,
    cron_entries,
    cron_mismatch,
    next_start,
    refusal,
)

WINDOW = TradingWindow(time(10, 30), time(11, 30))
TWO_YEARS = 732


def utc(y: int, m: int, d: int, hh: int, mm: int, ss: int = 0, us: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, us, tzinfo=UTC)


def fields(host: str, *, start: date = date(2026, 1, 5), days: int = TWO_YEARS) -> list[str]:
    return [e.fields for e in cron_entries(WINDOW, ZoneInfo(host), start=start, days=days)]


class TestParse:
    def test_reads_hh_mm_dash_hh_mm_and_prints_it_back(self) -> None:
        window = TradingWindow.parse("10:30-11:30")

        assert (window.start, window.end) == (time(10, 30), time(11, 30))
        assert str(window) == "10:30-11:30"
        assert window.describe() == "10:30-11:30 New York"

    @pytest.mark.parametrize("text", ["10:30", "10:30-", "1030-1130", "10.30-11.30", "24:00-25:00", "10:60-11:00", ""])
    def test_anything_else_is_refused_with_the_expected_format(self, text: str) -> None:
        with pytest.raises(ValueError, match='"HH:MM-HH:MM" in New York time'):
            TradingWindow.parse(text)

    @pytest.mark.parametrize(
        ("text", "why"),
        [
            ("09:30-10:00", "must start after the 09:30 open"),
            ("09:00-09:45", "must start after the 09:30 open"),
            ("15:30-16:30", "ends at 16:30, after the 16:00 close"),
            ("11:30-10:30", "starts at 11:30, which is not before its end at 10:30"),
            ("11:00-11:00", "not before its end"),
            ("10:30-11:31", "61 minutes long, more than 60"),
        ],
    )
    def test_a_window_the_bot_cannot_keep_is_refused_saying_why(self, text: str, why: str) -> None:
        with pytest.raises(ValueError, match=why):
            TradingWindow.parse(text)

    def test_a_long_window_is_refused_because_a_host_zone_crontab_would_run_twice(self) -> None:
        with pytest.raises(ValueError, match=r"crontab in the host's zone .* EST/EDT.* two of them"):
            TradingWindow.parse("10:30-12:00")

    def test_an_hour_long_window_and_one_ending_at_the_close_are_fine(self) -> None:
        assert TradingWindow.parse("09:31-10:31").minutes == 60
        assert TradingWindow.parse("15:00-16:00").end == time(16, 0)

    def test_the_constructor_refuses_what_parse_refuses(self) -> None:
        with pytest.raises(ValueError, match="after the 16:00 close"):
            TradingWindow(time(15, 45), time(16, 15))


class TestFireTime:
    def test_a_run_starts_a_quarter_hour_into_the_window(self) -> None:
        assert WINDOW.fire_time() == time(10, 45)

    def test_in_a_window_shorter_than_half_an_hour_it_starts_half_way(self) -> None:
        assert TradingWindow.parse("10:30-10:50").fire_time() == time(10, 40)


class TestContains:
    def test_the_window_is_half_open_start_in_end_out(self) -> None:
        """10:30 EDT is 14:30 UTC in July."""
        assert WINDOW.contains(utc(2026, 7, 15, 14, 30))
        assert WINDOW.contains(utc(2026, 7, 15, 15, 29, 59, 999999))
        assert not WINDOW.contains(utc(2026, 7, 15, 15, 30))
        assert not WINDOW.contains(utc(2026, 7, 15, 14, 29, 59))

    def test_it_reads_new_york_wall_time_in_winter_and_summer(self) -> None:
        assert WINDOW.contains(utc(2026, 1, 14, 15, 45))  # 10:45 EST
        assert not WINDOW.contains(utc(2026, 1, 14, 14, 45))  # 09:45 EST
        assert WINDOW.contains(utc(2026, 7, 15, 14, 45))  # 10:45 EDT
        assert not WINDOW.contains(utc(2026, 7, 15, 15, 45))  # 11:45 EDT

    def test_on_the_day_new_york_changes_clocks_the_same_utc_time_moves_by_an_hour(self) -> None:
        """2026-03-08: EST to EDT at 02:00; 2026-11-01: back to EST."""
        assert not WINDOW.contains(utc(2026, 3, 7, 14, 45))  # Sat 09:45 EST
        assert WINDOW.contains(utc(2026, 3, 8, 14, 45))  # Sun 10:45 EDT
        assert WINDOW.contains(utc(2026, 10, 31, 14, 45))  # Sat 10:45 EDT
        assert not WINDOW.contains(utc(2026, 11, 1, 14, 45))  # Sun 09:45 EST
        assert WINDOW.contains(utc(2026, 11, 1, 15, 45))  # Sun 10:45 EST

    def test_an_instant_in_another_zone_is_converted_first(self) -> None:
        assert WINDOW.contains(datetime(2026, 7, 15, 16, 45, tzinfo=ZoneInfo("Europe/Berlin")))

    def test_a_naive_time_is_refused(self) -> None:
        with pytest.raises(ValueError, match="time zone is needed"):
            WINDOW.contains(datetime(2026, 7, 15, 14, 45))


class TestRefusal:
    def test_outside_the_window_it_is_one_line_with_the_new_york_time(self) -> None:
        assert refusal(utc(2026, 7, 15, 18, 2), WINDOW) == (
            "outside the trading window 10:30-11:30 New York (now 14:02 New York); nothing to do")

    def test_inside_the_window_there_is_nothing_to_say(self) -> None:
        assert refusal(utc(2026, 7, 15, 14, 45), WINDOW) is None

    def test_with_no_window_any_time_is_fine(self) -> None:
        assert refusal(utc(2026, 7, 15, 3, 0), None) is None


class TestNextStart:
    SESSIONS = (date(2026, 3, 5), date(2026, 3, 6), date(2026, 3, 9), date(2026, 3, 10))

    def test_before_the_window_it_is_todays_start(self) -> None:
        assert next_start(utc(2026, 3, 5, 13, 0), WINDOW, self.SESSIONS) == utc(2026, 3, 5, 15, 30)

    def test_at_the_start_it_is_now(self) -> None:
        assert next_start(utc(2026, 3, 5, 15, 30), WINDOW, self.SESSIONS) == utc(2026, 3, 5, 15, 30)

    def test_inside_the_window_it_is_the_next_sessions_start(self) -> None:
        assert next_start(utc(2026, 3, 5, 15, 45), WINDOW, self.SESSIONS) == utc(2026, 3, 6, 15, 30)

    def test_it_skips_days_without_a_session_and_follows_the_clock_change(self) -> None:
        """Friday 10:30 EST is 15:30 UTC; after the weekend's change Monday 10:30 EDT is 14:30 UTC."""
        assert next_start(utc(2026, 3, 6, 16, 0), WINDOW, self.SESSIONS) == utc(2026, 3, 9, 14, 30)

    def test_sessions_in_any_order_give_the_earliest(self) -> None:
        assert next_start(utc(2026, 3, 5, 13, 0), WINDOW, self.SESSIONS[::-1]) == utc(2026, 3, 5, 15, 30)

    def test_when_the_sessions_run_out_it_says_so(self) -> None:
        with pytest.raises(ValueError, match="no session"):
            next_start(utc(2026, 3, 10, 16, 0), WINDOW, self.SESSIONS)


class TestCronEntries:
    def test_a_utc_host_gets_one_line_for_est_and_one_for_edt(self) -> None:
        assert sorted(fields("UTC")) == ["45 14 * * 1-5", "45 15 * * 1-5"]

    def test_a_new_york_host_gets_one_line(self) -> None:
        assert fields("America/New_York") == ["45 10 * * 1-5"]

    def test_a_berlin_host_gets_one_line_for_six_hours_and_one_for_five(self) -> None:
        assert sorted(fields("Europe/Berlin")) == ["45 15 * * 1-5", "45 16 * * 1-5"]

    def test_a_tokyo_host_fires_before_midnight_in_edt_and_on_the_next_day_in_est(self) -> None:
        assert fields("Asia/Tokyo") == ["45 23 * * 1-5", "45 0 * * 2-6"]

    def test_a_span_inside_one_season_needs_one_line(self) -> None:
        assert fields("UTC", start=date(2026, 1, 5), days=30) == ["45 15 * * 1-5"]

    def test_each_entry_knows_where_its_runs_land(self) -> None:
        winter, = (e for e in cron_entries(WINDOW, UTC, start=date(2026, 1, 5), days=TWO_YEARS)
                   if e.at == time(15, 45))

        assert {(x.new_york, x.new_york_zone, x.inside) for x in winter.landings} == {
            (time(10, 45), "EST", True), (time(11, 45), "EDT", False)}

    def test_a_chosen_time_inside_the_window_is_used(self) -> None:
        entries = cron_entries(WINDOW, UTC, start=date(2026, 7, 6), days=7, at=time(11, 5))

        assert [e.fields for e in entries] == ["5 15 * * 1-5"]

    def test_a_chosen_time_outside_the_window_is_refused(self) -> None:
        with pytest.raises(ValueError, match="11:30 is outside the trading window"):
            cron_entries(WINDOW, UTC, start=date(2026, 7, 6), days=7, at=time(11, 30))


class TestCronMismatch:
    @pytest.mark.parametrize("host", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Asia/Kolkata",
                                      "America/Los_Angeles", "Pacific/Auckland", "Pacific/Kiritimati"])
    def test_with_an_hour_long_window_every_host_gets_one_run_a_weekday(self, host: str) -> None:
        zone, start = ZoneInfo(host), date(2026, 1, 5)

        entries = cron_entries(WINDOW, zone, start=start, days=TWO_YEARS)

        assert cron_mismatch(entries, WINDOW, zone, start=start, days=TWO_YEARS) is None

    def test_offsets_half_an_hour_apart_would_put_two_runs_in_an_hour_long_window(self) -> None:
        """Lord Howe Island moves its clock by 30 minutes."""
        zone, start = ZoneInfo("Australia/Lord_Howe"), date(2026, 1, 5)

        problem = cron_mismatch(cron_entries(WINDOW, zone, start=start, days=TWO_YEARS), WINDOW, zone,
                                start=start, days=TWO_YEARS)

        assert problem is not None and "2 of these crontab entries would run inside the window" in problem

    def test_a_half_hour_window_keeps_lord_howe_to_one_run(self) -> None:
        window, zone, start = TradingWindow.parse("10:30-11:00"), ZoneInfo("Australia/Lord_Howe"), date(2026, 1, 5)

        entries = cron_entries(window, zone, start=start, days=TWO_YEARS)

        assert cron_mismatch(entries, window, zone, start=start, days=TWO_YEARS) is None

    def test_lines_made_for_winter_only_miss_the_first_summer_weekday(self) -> None:
        winter = cron_entries(WINDOW, UTC, start=date(2026, 1, 5), days=30)

        problem = cron_mismatch(winter, WINDOW, UTC, start=date(2026, 3, 2), days=14)

        assert problem == ("on Mon 2026-03-09 0 of these crontab entries would run inside the window "
                           "10:30-11:30 New York, not 1")

    def test_a_saturday_run_inside_the_window_is_a_mismatch(self) -> None:
        every_day = [CronEntry(time(15, 45), weekdays=tuple(range(7)))]

        problem = cron_mismatch(every_day, WINDOW, UTC, start=date(2026, 1, 5), days=7)

        assert problem is not None and problem.startswith("on Sat 2026-01-10 1 of these")
        assert problem.endswith("not 0")

