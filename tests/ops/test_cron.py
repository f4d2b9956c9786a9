"""`pairbot cron`: crontab lines in the host's own zone that give one run a New York weekday, and a systemd timer."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.adapters import hostzone
from bot.cli import main
from bot.commands.cron import SPAN_DAYS, HostZone, Job, crontab, host_zone
from bot.config import parse_config
from bot.core.window import TradingWindow
from bot.errors import ConfigError
from tests.ops.conftest import Pairbot

NEW_YORK = ZoneInfo("America/New_York")
WINDOW = TradingWindow(time(10, 30), time(11, 30))
HOSTS = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
# Printed on these days: winter, summer, the weeks when only the US clock has changed (2026-03-08..29 in spring,
# 2026-10-25..11-01 in autumn: there Europe has changed first), and the days of the changes themselves.
PRINTED_ON = (date(2026, 1, 12), date(2026, 3, 8), date(2026, 3, 20), date(2026, 3, 29), date(2026, 7, 13),
              date(2026, 10, 25), date(2026, 10, 28), date(2026, 11, 1))
PERIODS = {
    "january": (date(2026, 1, 1), date(2026, 2, 1)),
    "july": (date(2026, 7, 1), date(2026, 8, 1)),
    "only the US clock has changed": (date(2026, 3, 8), date(2026, 3, 30)),
    "only the EU clock has changed": (date(2026, 10, 25), date(2026, 11, 2)),
    "around the 2027 changes": (date(2027, 3, 1), date(2027, 4, 5)),
}

CronLine = tuple[int, int, frozenset[int]]  # minute, hour, cron weekdays (Sunday = 0)


def job(tmp_path: Path, at: time = time(10, 45)) -> Job:
    return Job(at=at, project_dir=tmp_path, pairbot="/venv/bin/pairbot", config=tmp_path / "config.yaml")


def host(name: str) -> HostZone:
    return HostZone(ZoneInfo(name), name, "--host-tz")


def cron_days(field: str) -> frozenset[int]:
    days: set[int] = set()
    for part in field.split(","):
        first, _, last = part.partition("-")
        days.update(range(int(first), int(last or first) + 1))
    return frozenset(d % 7 for d in days)


def cron_lines(printed: str) -> list[CronLine]:
    """The schedules of the crontab lines as cron reads them: `minute hour * * weekdays  command`."""
    rows = [line.split()[:5] for line in printed.splitlines() if line[:1].isdigit()]
    assert rows and all(r[2:4] == ["*", "*"] for r in rows)
    return [(int(r[0]), int(r[1]), cron_days(r[4])) for r in rows]


def days_between(first: date, end: date) -> Iterator[date]:
    return (first + timedelta(days=n) for n in range((end - first).days))


def runs_inside_the_window(lines: list[CronLine], zone: ZoneInfo, first: date, end: date) -> Counter[date]:
    """Fire every line at its host wall time on every host day, as cron does; count the runs inside, by NY day."""
    inside: Counter[date] = Counter()
    for day in days_between(first - timedelta(days=1), end + timedelta(days=1)):
        for minute, hour, weekdays in lines:
            fired = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
            if day.isoweekday() % 7 in weekdays and WINDOW.contains(fired):
                inside[fired.astimezone(NEW_YORK).date()] += 1
    return inside


def wrong_days(inside: Counter[date], first: date, end: date) -> list[tuple[date, int]]:
    """New York days without exactly one run inside the window on a weekday, or with any on a weekend."""
    return [(d, inside[d]) for d in days_between(first, end) if inside[d] != (1 if d.weekday() < 5 else 0)]


def printed_lines(tmp_path: Path, zone: str, on: date) -> list[CronLine]:
    return cron_lines(crontab(job(tmp_path), WINDOW, host(zone), start=on))


class TestOneRunEachNewYorkWeekday:
    @pytest.mark.parametrize("on", PRINTED_ON, ids=str)
    @pytest.mark.parametrize("zone", HOSTS)
    def test_over_the_two_years_it_covers_every_weekday_has_one_run_inside_and_weekends_none(
            self, tmp_path: Path, zone: str, on: date) -> None:
        end = on + timedelta(days=SPAN_DAYS)

        inside = runs_inside_the_window(printed_lines(tmp_path, zone, on), ZoneInfo(zone), on, end)

        assert wrong_days(inside, on, end) == []

    @pytest.mark.parametrize("period", PERIODS)
    @pytest.mark.parametrize("zone", HOSTS)
    def test_in_winter_summer_and_the_weeks_between_the_us_and_eu_changes(
            self, tmp_path: Path, zone: str, period: str) -> None:
        first, end = PERIODS[period]

        inside = runs_inside_the_window(printed_lines(tmp_path, zone, date(2026, 1, 5)), ZoneInfo(zone), first, end)

        assert wrong_days(inside, first, end) == []
        assert sum(inside[d] for d in days_between(first, end)) == sum(
            1 for d in days_between(first, end) if d.weekday() < 5)

    @pytest.mark.parametrize(
        ("zone", "day", "line"),
        [
            ("UTC", date(2026, 1, 14), "45 15"),
            ("UTC", date(2026, 7, 15), "45 14"),
            ("Europe/Berlin", date(2026, 1, 14), "45 16"),
            ("Europe/Berlin", date(2026, 3, 18), "45 15"),  # New York on EDT, Berlin still on CET
            ("Europe/Berlin", date(2026, 7, 15), "45 16"),
            ("Europe/Berlin", date(2026, 10, 28), "45 15"),  # Berlin back on CET, New York still on EDT
            ("Asia/Tokyo", date(2026, 1, 14), "45 0"),
            ("Asia/Tokyo", date(2026, 7, 15), "45 23"),
        ],
    )
    def test_the_line_that_lands_inside_is_the_one_for_that_season(
            self, tmp_path: Path, zone: str, day: date, line: str) -> None:
        fired = datetime.combine(day, time(10, 45), tzinfo=NEW_YORK).astimezone(ZoneInfo(zone))

        assert f"{fired.minute} {fired.hour}" == line
        assert (fired.minute, fired.hour) in {(m, h) for m, h, _ in printed_lines(tmp_path, zone, date(2026, 1, 5))}

    def test_a_tokyo_host_runs_the_winter_line_on_tuesday_to_saturday(self, tmp_path: Path) -> None:
        lines = printed_lines(tmp_path, "Asia/Tokyo", date(2026, 1, 5))

        assert sorted(lines) == [(45, 0, frozenset({2, 3, 4, 5, 6})), (45, 23, frozenset({1, 2, 3, 4, 5}))]


class TestTheCrontab:
    def test_each_line_says_what_new_york_time_it_is_in_which_season(self, tmp_path: Path) -> None:
        printed = crontab(job(tmp_path), WINDOW, host("UTC"), start=date(2026, 1, 5))

        assert "# 14:45 UTC = 10:45 New York in EDT; 09:45 EST is outside the window (the run exits 0)" in printed
        assert "# 15:45 UTC = 10:45 New York in EST; 11:45 EDT is outside the window (the run exits 0)" in printed

    def test_in_berlin_the_comment_names_the_hosts_season_too(self, tmp_path: Path) -> None:
        printed = crontab(job(tmp_path), WINDOW, host("Europe/Berlin"), start=date(2026, 1, 5))

        assert ("# 16:45 Europe/Berlin = 10:45 New York in EDT (host on CEST) and EST (host on CET); "
                "11:45 EDT (host on CET) is outside the window (the run exits 0)") in printed

    def test_it_names_the_host_zone_and_where_that_came_from(self, tmp_path: Path) -> None:
        printed = crontab(job(tmp_path), WINDOW, host("Asia/Tokyo"), start=date(2026, 1, 5))

        assert "Host zone: Asia/Tokyo (from --host-tz)" in printed

    def test_a_zone_whose_lines_would_run_twice_a_day_is_refused_for_the_systemd_timer(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"Australia/Lord_Howe: on .* 2 of these .* use the systemd timer"):
            crontab(job(tmp_path), WINDOW, host("Australia/Lord_Howe"), start=date(2026, 1, 5))


class TestScheduleWindowInConfig:
    def test_the_default_is_half_past_ten_to_half_past_eleven_new_york(self) -> None:
        assert parse_config({"mode": "local"}).schedule.window == WINDOW

    def test_null_means_no_window_and_text_is_parsed(self) -> None:
        assert parse_config({"mode": "local", "schedule": {"window": None}}).schedule.window is None
        assert parse_config({"mode": "local", "schedule": {"window": "13:00-13:30"}}).schedule.window == TradingWindow(
            time(13, 0), time(13, 30))

    def test_it_is_written_back_as_text_and_read_again(self) -> None:
        dumped = parse_config({"mode": "local", "schedule": {"window": "13:00-13:30"}}).model_dump()

        assert dumped["schedule"]["window"] == "13:00-13:30"
        assert parse_config(dumped).schedule.window == TradingWindow(time(13, 0), time(13, 30))


class TestHostZone:
    def test_the_flag_wins_over_everything(self, tmp_path: Path) -> None:
        (tmp_path / "localtime").symlink_to("/usr/share/zoneinfo/Etc/UTC")

        found = host_zone("Asia/Tokyo", environ={"TZ": "Europe/Berlin"}, localtime=tmp_path / "localtime",
                          timezone_file=tmp_path / "tz")

        assert (found.name, found.source, found.note) == ("Asia/Tokyo", "--host-tz", None)

    def test_then_the_system_zone_even_when_the_shell_has_another_tz(self, tmp_path: Path) -> None:
        """Cron's daemon runs in the system zone, not in the shell that asks: TZ is named, not used."""
        (tmp_path / "localtime").symlink_to("/usr/share/zoneinfo/Etc/UTC")

        found = host_zone(None, environ={"TZ": "America/New_York"}, localtime=tmp_path / "localtime",
                          timezone_file=tmp_path / "tz")

        assert (found.name, found.source) == ("Etc/UTC", str(tmp_path / "localtime"))
        assert found.note is not None and "pass --host-tz America/New_York" in found.note

    @pytest.mark.parametrize("tz", ["Europe/Berlin", ":Europe/Berlin", ":/usr/share/zoneinfo/Europe/Berlin"])
    def test_with_no_system_zone_the_tz_variable_in_any_of_its_spellings(self, tmp_path: Path, tz: str) -> None:
        found = host_zone(None, environ={"TZ": tz}, localtime=tmp_path / "lt", timezone_file=tmp_path / "tz")

        assert (found.name, found.source) == ("Europe/Berlin", "TZ")
        assert found.note is not None and "no system zone" in found.note

    def test_the_system_zone_is_the_zone_etc_localtime_links_to(self, tmp_path: Path) -> None:
        (tmp_path / "localtime").symlink_to("/usr/share/zoneinfo/posix/America/Chicago")
        (tmp_path / "timezone").write_text("Asia/Tokyo\n")

        found = host_zone(None, environ={}, localtime=tmp_path / "localtime", timezone_file=tmp_path / "timezone")

        assert (found.name, found.source, found.note) == ("America/Chicago", str(tmp_path / "localtime"), None)

    def test_else_etc_timezone(self, tmp_path: Path) -> None:
        (tmp_path / "localtime").write_bytes(b"TZif")
        (tmp_path / "timezone").write_text("Asia/Tokyo\n")

        found = host_zone(None, environ={"TZ": ""}, localtime=tmp_path / "localtime",
                          timezone_file=tmp_path / "timezone")

        assert (found.name, found.source, found.note) == ("Asia/Tokyo", str(tmp_path / "timezone"), None)

    @pytest.mark.parametrize(("tz", "system"), [("Europe/Berlin", "Europe/Berlin"), ("UTC", "Etc/UTC"),
                                                 (":/usr/share/zoneinfo/US/Eastern", "America/New_York")])
    def test_a_tz_that_is_the_system_zone_by_another_name_goes_unremarked(self, tmp_path: Path, tz: str,
                                                                          system: str) -> None:
        (tmp_path / "localtime").symlink_to(f"/usr/share/zoneinfo/{system}")

        found = host_zone(None, environ={"TZ": tz}, localtime=tmp_path / "localtime", timezone_file=tmp_path / "tz")

        assert (found.name, found.note) == (system, None)

    def test_else_utc_and_the_crontab_says_it_could_not_tell(self, tmp_path: Path) -> None:
        found = host_zone(None, environ={}, localtime=tmp_path / "lt", timezone_file=tmp_path / "tz")

        assert (found.name, found.source) == ("UTC", None)
        assert "could not tell it from /etc/localtime, /etc/timezone or TZ; pass --host-tz" in crontab(
            job(tmp_path), WINDOW, found, start=date(2026, 1, 5))

    @pytest.mark.parametrize(("flag", "env"), [("Mars/Olympus", {}), (None, {"TZ": "CET-1CEST,M3.5.0,M10.5.0/3"})])
    def test_a_name_that_is_not_an_iana_zone_is_refused(self, tmp_path: Path, flag: str | None,
                                                         env: dict[str, str]) -> None:
        with pytest.raises(ConfigError, match="not an IANA time zone name"):
            host_zone(flag, environ=env, localtime=tmp_path / "lt", timezone_file=tmp_path / "tz")

    def test_a_posix_tz_beside_a_system_zone_is_named_and_not_used(self, tmp_path: Path) -> None:
        (tmp_path / "localtime").symlink_to("/usr/share/zoneinfo/Etc/UTC")

        found = host_zone(None, environ={"TZ": "CET-1CEST,M3.5.0,M10.5.0/3"}, localtime=tmp_path / "localtime",
                          timezone_file=tmp_path / "tz")

        assert found.name == "Etc/UTC"
        assert found.note is not None and "TZ is CET-1CEST" in found.note and "--host-tz ZONE" in found.note


def cron(pairbot: Pairbot, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["cron", "--config", str(pairbot.config), "--dir", str(pairbot.workdir), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def system_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fake /etc/localtime (a link to Etc/UTC unless a test relinks it) and no /etc/timezone, with TZ unset."""
    localtime = tmp_path / "etc" / "localtime"
    localtime.parent.mkdir()
    localtime.symlink_to("/usr/share/zoneinfo/Etc/UTC")
    monkeypatch.setattr(hostzone, "LOCALTIME", localtime)
    monkeypatch.setattr(hostzone, "TIMEZONE_FILE", tmp_path / "etc" / "timezone")
    monkeypatch.delenv("TZ", raising=False)
    yield localtime


def fields(out: str) -> list[str]:
    return sorted(x.split("  ")[0] for x in out.splitlines() if x[:1].isdigit())


class TestTheZoneTheCommandWritesFor:
    def test_a_shell_tz_unlike_the_system_zone_gets_system_zone_lines_and_one_warning(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str], system_zone: Path,
            monkeypatch: pytest.MonkeyPatch) -> None:
        """On a UTC server, a trader's TZ=America/New_York must not give New York lines: cron fires them in UTC."""
        monkeypatch.setenv("TZ", "America/New_York")

        code, out, err = cron(pairbot, capsys)

        assert code == 0, err
        assert fields(out) == ["45 14 * * 1-5", "45 15 * * 1-5"]
        start = date.today()
        fired = runs_inside_the_window(cron_lines(out), ZoneInfo("Etc/UTC"), start, start + timedelta(days=60))
        assert wrong_days(fired, start, start + timedelta(days=60)) == []
        assert err.count("\n") == 1
        assert err.startswith("pairbot: TZ is America/New_York but the system zone is Etc/UTC")
        assert "pass --host-tz America/New_York" in err
        assert "# Note: TZ is America/New_York but the system zone is Etc/UTC" in out

    def test_the_flag_wins_over_the_system_zone_and_tz(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str], system_zone: Path,
            monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TZ", "Europe/Berlin")

        code, out, err = cron(pairbot, capsys, "--host-tz", "Asia/Tokyo")

        assert (code, err) == (0, "")
        assert fields(out) == ["45 0 * * 2-6", "45 23 * * 1-5"]
        assert "Host zone: Asia/Tokyo (from --host-tz)" in out and "Note:" not in out

    @pytest.mark.parametrize("tz", ["Europe/Berlin", ":Europe/Berlin"])
    def test_a_tz_that_names_the_system_zone_says_nothing_more(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str], system_zone: Path,
            monkeypatch: pytest.MonkeyPatch, tz: str) -> None:
        system_zone.unlink()
        system_zone.symlink_to("/usr/share/zoneinfo/Europe/Berlin")
        monkeypatch.setenv("TZ", tz)

        code, out, err = cron(pairbot, capsys)

        assert (code, err) == (0, "")
        assert "45 16 * * 1-5" in fields(out)
        assert f"Host zone: Europe/Berlin (from {system_zone})" in out and "Note:" not in out

    def test_with_no_system_zone_it_uses_tz_and_says_so(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str], system_zone: Path,
            monkeypatch: pytest.MonkeyPatch) -> None:
        system_zone.unlink()
        monkeypatch.setenv("TZ", "Europe/Berlin")

        code, out, err = cron(pairbot, capsys)

        assert code == 0, err
        assert "45 16 * * 1-5" in fields(out) and "Host zone: Europe/Berlin (from TZ)" in out
        assert err.count("\n") == 1
        assert err.startswith(f"pairbot: no system zone in {system_zone} or ")
        assert "these lines are for TZ=Europe/Berlin" in err and "pass --host-tz ZONE" in err

    def test_with_neither_it_assumes_utc_and_says_so_in_the_crontab(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str], system_zone: Path) -> None:
        system_zone.unlink()

        code, out, err = cron(pairbot, capsys)

        assert (code, err) == (0, "")
        assert fields(out) == ["45 14 * * 1-5", "45 15 * * 1-5"]
        assert "Host zone: UTC (could not tell it from /etc/localtime, /etc/timezone or TZ" in out


class TestTheCommand:
    def test_on_a_utc_host_it_prints_host_zone_lines_and_no_cron_tz(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, err = cron(pairbot, capsys, "--host-tz", "UTC")

        assert code == 0, err
        assert "CRON_TZ" not in out
        lines = [x for x in out.splitlines() if x[:1].isdigit()]
        assert [x.split("  ")[0] for x in lines] in (["45 14 * * 1-5", "45 15 * * 1-5"],
                                                    ["45 15 * * 1-5", "45 14 * * 1-5"])
        for line in lines:
            assert f"cd {pairbot.workdir.resolve()} && mkdir -p logs && " in line
            assert f"rebalance --config {pairbot.config.resolve()} >> logs/cron.log 2>&1" in line
            assert str(Path(sys.prefix)) in line or sys.executable in line

    def test_it_prints_the_systemd_timer_as_the_recommended_way(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = cron(pairbot, capsys, "--host-tz", "Europe/Berlin")

        assert code == 0
        assert "recommended: systemd understands time zones" in out
        assert "OnCalendar=Mon..Fri 10:45 America/New_York" in out
        assert "[Service]" in out and "Type=oneshot" in out and "[Timer]" in out
        assert f"WorkingDirectory={pairbot.workdir.resolve()}" in out

    def test_the_window_in_config_sets_the_time(self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        pairbot.write_config(schedule={"window": "13:00-13:20"})

        code, out, _ = cron(pairbot, capsys, "--host-tz", "America/New_York")

        assert code == 0
        assert "10 13 * * 1-5  cd " in out and "OnCalendar=Mon..Fri 13:10 America/New_York" in out

    def test_time_moves_the_run_inside_the_window(self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = cron(pairbot, capsys, "--host-tz", "UTC", "--time", "11:05")

        assert code == 0
        assert "5 15 * * 1-5  cd " in out and "5 16 * * 1-5  cd " in out
        assert "OnCalendar=Mon..Fri 11:05 America/New_York" in out

    def test_a_time_outside_the_window_is_refused_with_exit_2_and_one_line(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, err = cron(pairbot, capsys, "--host-tz", "UTC", "--time", "15:50")

        assert (code, out) == (2, "")
        assert err.count("\n") == 1 and "--time 15:50: outside the trading window 10:30-11:30 New York" in err

    def test_a_window_whose_runs_the_close_gate_would_refuse_is_refused(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        pairbot.write_config(schedule={"window": "15:30-16:00"}, gates={"min_minutes_before_close": 30})

        code, out, err = cron(pairbot, capsys, "--host-tz", "UTC")

        assert (code, out) == (2, "")
        assert err.count("\n") == 1
        assert "the run time 15:45 (from schedule.window): choose a time after the 09:30 open" in err
        assert "no later than 15:30 New York (30 minutes before the close" in err

    def test_a_bad_window_is_refused_with_exit_2_and_one_line_naming_schedule_window(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        pairbot.write_config(schedule={"window": "10:30-12:00"})

        code, out, err = cron(pairbot, capsys, "--host-tz", "UTC")

        assert (code, out) == (2, "")
        assert err.count("\n") == 1
        assert err.startswith(f"pairbot: {pairbot.config}: schedule.window: the window is 90 minutes long")
        assert "Value error" not in err

    def test_an_unquoted_time_that_yaml_reads_as_a_number_is_explained(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        pairbot.config.write_text("mode: local\nschedule:\n  window: 10:30\n")

        code, _, err = cron(pairbot, capsys)

        assert code == 2 and "schedule.window: expected" in err and "YAML reads an unquoted 10:30 as a number" in err

    def test_a_null_window_is_refused_for_a_crontab_with_exit_2_and_one_line(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        pairbot.write_config(schedule={"window": None})

        code, out, err = cron(pairbot, capsys, "--host-tz", "UTC")

        assert (code, out) == (2, "")
        assert err.count("\n") == 1 and "schedule.window is null" in err and "needs a window" in err

    def test_a_null_window_still_gets_a_systemd_timer(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        pairbot.write_config(schedule={"window": None})

        code, out, _ = cron(pairbot, capsys, "--systemd")

        assert code == 0
        assert "OnCalendar=Mon..Fri 10:45 America/New_York" in out and "crontab" not in out

    def test_a_host_zone_it_cannot_serve_is_refused_with_exit_2_and_one_line(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, err = cron(pairbot, capsys, "--host-tz", "Australia/Lord_Howe")

        assert (code, out) == (2, "")
        assert err.count("\n") == 1 and "pairbot cron --systemd" in err


class TestTheKeysOfAScheduledRun:
    """Cron and systemd start the run with no ALPACA_ variables: a paper or live run reads them from
    <paths.state_dir>/keys.env, and `pairbot cron` says what to write there when it is missing."""

    def test_a_paper_crontab_sources_the_keys_file_and_the_unit_names_it(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        pairbot.write_config(mode="paper")
        keys = pairbot.workdir.resolve() / ".state" / "keys.env"

        code, out, err = cron(pairbot, capsys, "--host-tz", "UTC")

        assert code == 0
        lines = [x for x in out.splitlines() if x[:1].isdigit()]
        assert lines and all(f"cd {pairbot.workdir.resolve()} && set -a && . {keys} && set +a && mkdir -p logs && "
                             in x for x in lines)
        assert f"EnvironmentFile={keys}" in out
        assert err.count("\n") == 1 and err.startswith(f"pairbot: {keys} does not exist")
        assert "ALPACA_API_KEY=... and ALPACA_SECRET_KEY=..." in err and "chmod 600" in err

    def test_with_the_keys_file_in_place_it_says_nothing_and_never_prints_a_key(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        pairbot.write_config(mode="paper")
        keys = pairbot.workdir / ".state" / "keys.env"
        keys.parent.mkdir(exist_ok=True)
        key = "PK" + "SECRETVALUE000001"  # built: no key-shaped literal in git
        keys.write_text(f"ALPACA_API_KEY={key}\nALPACA_SECRET_KEY=not-to-be-printed\n")

        code, out, err = cron(pairbot, capsys, "--systemd")

        assert (code, err) == (0, "")
        assert f"EnvironmentFile={keys.resolve()}" in out
        assert key not in out and "not-to-be-printed" not in out

    def test_a_scheduled_paper_run_reads_the_keys_the_crontab_line_sources(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        """The line itself, run by sh with no ALPACA_ variables, reaches the mode guard with both keys set."""
        pairbot.write_config(mode="paper", broker={"base_url": "http://127.0.0.1:9", "data_url": "http://127.0.0.1:9"},
                             execution={"read_attempts": 1, "connect_timeout_seconds": 0.2})
        keys = pairbot.workdir / ".state" / "keys.env"
        keys.parent.mkdir(exist_ok=True)
        keys.write_text("ALPACA_API_KEY=PKTESTCRON0000001\nALPACA_SECRET_KEY=cron-secret-not-real\n")
        code, out, _ = cron(pairbot, capsys, "--host-tz", "UTC")
        assert code == 0
        line = next(x for x in out.splitlines() if x[:1].isdigit()).split("  ", 1)[1]

        subprocess.run(["sh", "-c", line], env=pairbot.env, timeout=120, check=False)

        log = (pairbot.workdir / "logs" / "cron.log").read_text()
        assert "needs ALPACA_API_KEY and ALPACA_SECRET_KEY" not in log, log
        assert "cron-secret-not-real" not in log

    def test_a_local_crontab_is_unchanged(self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, err = cron(pairbot, capsys, "--host-tz", "UTC")

        assert (code, err) == (0, "")
        assert "keys.env" not in out and "EnvironmentFile" not in out


class TestTheProjectDirectory:
    def test_it_defaults_to_the_config_files_directory_not_the_current_one(
            self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory,
            monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))

        code = main(["cron", "--config", str(pairbot.config.resolve()), "--host-tz", "UTC"])
        out, err = capsys.readouterr()

        assert (code, err) == (0, "")
        assert f"cd {pairbot.workdir.resolve()} && mkdir -p logs" in out
        assert f"WorkingDirectory={pairbot.workdir.resolve()}" in out

    def test_dir_still_wins(self, pairbot: Pairbot, capsys: pytest.CaptureFixture[str],
                            tmp_path_factory: pytest.TempPathFactory) -> None:
        other = tmp_path_factory.mktemp("project").resolve()

        code = main(["cron", "--config", str(pairbot.config), "--dir", str(other), "--systemd"])
        out, _ = capsys.readouterr()

        assert code == 0 and f"WorkingDirectory={other}" in out
