"""The trading window (New York wall-clock hours a run may trade in) and the host-zone cron entries that hit it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from bot.core.domain import NEW_YORK, MarketClock

OPEN = time(9, 30)
CLOSE = time(16, 0)
MAX_LENGTH_MINUTES = 60
MARGIN_MINUTES = 15  # fire this long after the window opens (or half the window, if that is shorter)
FORMAT = '"HH:MM-HH:MM" in New York time, e.g. "10:30-11:30"'
_WINDOW = re.compile(r"\s*(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)\s*")
_DAY_NAMES = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")  # cron numbers its weekdays from Sunday = 0
_NY_WEEKDAYS = range(5)  # date.weekday(): Mon..Fri


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _at_minutes(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


def _new_york(now_utc: datetime) -> datetime:
    if now_utc.tzinfo is None:
        raise ValueError(f"a time zone is needed to place {now_utc:%Y-%m-%d %H:%M} in New York")
    return now_utc.astimezone(NEW_YORK)


def window_problem(start: time, end: time) -> str | None:
    """Why start-end cannot be a trading window, as a phrase for `schedule.window: ...`; None when it can."""
    length = _minutes(end) - _minutes(start)
    if start <= OPEN:
        return f"starts at {start:%H:%M}; it must start after the {OPEN:%H:%M} open"
    if end > CLOSE:
        return f"ends at {end:%H:%M}, after the {CLOSE:%H:%M} close"
    if length <= 0:
        return f"starts at {start:%H:%M}, which is not before its end at {end:%H:%M}"
    if length > MAX_LENGTH_MINUTES:
        return (f"is {length} minutes long, more than {MAX_LENGTH_MINUTES}: a crontab in the host's zone has one "
                "line per offset to New York (an hour apart across EST/EDT), and in a longer window two of them "
                "would run on the same day")
    return None


@dataclass(frozen=True, slots=True)
class TradingWindow:
    """[start, end) in New York wall-clock time, on any day; whether the market is open is another check."""

    start: time
    end: time

    def __post_init__(self) -> None:
        problem = window_problem(self.start, self.end)
        if problem is not None:
            raise ValueError(f"the window {problem}")

    @classmethod
    def parse(cls, text: str) -> TradingWindow:
        match = _WINDOW.fullmatch(text)
        parts = [int(p) for p in match.groups()] if match else []
        if not parts or parts[0] > 23 or parts[2] > 23 or parts[1] > 59 or parts[3] > 59:
            raise ValueError(f"expected {FORMAT}")
        return cls(time(parts[0], parts[1]), time(parts[2], parts[3]))

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def describe(self) -> str:
        return f"{self} New York"

    @property
    def minutes(self) -> int:
        return _minutes(self.end) - _minutes(self.start)

    def fire_time(self) -> time:
        """When a scheduled run starts: a margin after the window opens, so a late timer is still inside."""
        return _at_minutes(_minutes(self.start) + min(MARGIN_MINUTES, self.minutes // 2))

    def contains(self, now_utc: datetime) -> bool:
        return self.start <= _new_york(now_utc).time() < self.end


def refusal(now_utc: datetime, window: TradingWindow | None) -> str | None:
    """The one line a run prints when it is outside its window; None inside it or with no window."""
    if window is None or window.contains(now_utc):
        return None
    return f"outside the trading window {window.describe()} (now {_new_york(now_utc):%H:%M} New York); nothing to do"


def closed_today(clock: MarketClock) -> str:
    """The one line a run inside its window prints when the broker's clock says the market is closed (a holiday)."""
    return (f"the market is closed (the broker's clock; it opens next {_new_york(clock.next_open):%a %Y-%m-%d %H:%M} "
            "New York); nothing to do")


def next_start(now_utc: datetime, window: TradingWindow, sessions: Sequence[date]) -> datetime:
    """The first window start on a session day at or after now_utc, in UTC.

    Raises ValueError when the sessions given run out first.
    """
    _new_york(now_utc)
    starts = (datetime.combine(s, window.start, tzinfo=NEW_YORK).astimezone(UTC) for s in sorted(sessions))
    found = next((s for s in starts if s >= now_utc), None)
    if found is None:
        raise ValueError(f"no session with the window {window.describe()} still ahead in the sessions given")
    return found


@dataclass(frozen=True, slots=True, order=True)
class Landing:
    """Where one firing of a cron entry falls: New York wall time and zone names, and whether it is inside."""

    new_york: time
    new_york_zone: str  # EST or EDT
    host_zone: str  # the host's abbreviation then, e.g. CET
    inside: bool


@dataclass(frozen=True, slots=True)
class CronEntry:
    """One crontab schedule in the host's own zone: `minute hour * * weekdays`."""

    at: time  # host wall time
    weekdays: tuple[int, ...]  # cron numbers, Sunday = 0
    landings: tuple[Landing, ...] = ()

    @property
    def fields(self) -> str:
        return f"{self.at.minute} {self.at.hour} * * {_day_range(self.weekdays, str)}"

    @property
    def day_names(self) -> str:
        return _day_range(self.weekdays, _DAY_NAMES.__getitem__)


def _day_range(days: Sequence[int], name: Callable[[int], str]) -> str:
    """Consecutive runs of cron weekdays as "1-5" or "Mon-Fri", joined with commas."""
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ",".join(str(name(r[0])) if len(r) == 1 else f"{name(r[0])}-{name(r[-1])}" for r in runs)


def _cron_weekday(d: date) -> int:
    return (d.weekday() + 1) % 7


def _span(start: date, days: int) -> Iterator[date]:
    return (start + timedelta(days=n) for n in range(days))


def cron_entries(
    window: TradingWindow, host_zone: tzinfo, *, start: date, days: int, at: time | None = None
) -> list[CronEntry]:
    """One entry per distinct (host wall time, day shift) that `at` New York (default: the window's fire time)
    takes on the New York weekdays of [start, start + days), each with where its firings land."""
    fire = window.fire_time() if at is None else at
    if not window.start <= fire < window.end:
        raise ValueError(f"{fire:%H:%M} is outside the trading window {window.describe()}")
    shapes: set[tuple[time, int]] = set()
    for day in _span(start, days):
        if day.weekday() in _NY_WEEKDAYS:
            host = datetime.combine(day, fire, tzinfo=NEW_YORK).astimezone(host_zone)
            shapes.add((host.time(), (host.date() - day).days))
    entries = [CronEntry(t, tuple(sorted((wd + 1 + shift) % 7 for wd in _NY_WEEKDAYS))) for t, shift in shapes]
    return sorted((_with_landings(e, window, host_zone, start=start, days=days) for e in entries),
                  key=lambda e: (e.weekdays, e.at))


def firings(entry: CronEntry, host_zone: tzinfo, *, start: date, days: int) -> Iterator[datetime]:
    """Every firing of entry at its host wall time whose New York date is in [start, start + days), in New York."""
    for host_day in _span(start - timedelta(days=1), days + 2):
        if _cron_weekday(host_day) in entry.weekdays:
            ny = datetime.combine(host_day, entry.at, tzinfo=host_zone).astimezone(NEW_YORK)
            if start <= ny.date() < start + timedelta(days=days):
                yield ny


def _with_landings(entry: CronEntry, window: TradingWindow, host_zone: tzinfo, *, start: date, days: int) -> CronEntry:
    seen = {Landing(ny.time(), ny.tzname() or "", ny.astimezone(host_zone).tzname() or "", window.contains(ny))
            for ny in firings(entry, host_zone, start=start, days=days)}
    return CronEntry(entry.at, entry.weekdays, tuple(sorted(seen)))


def cron_mismatch(
    entries: Sequence[CronEntry], window: TradingWindow, host_zone: tzinfo, *, start: date, days: int
) -> str | None:
    """The first New York day in the span without exactly one run inside the window (none on a weekend),
    as a phrase; None when every day is right."""
    inside = Counter(ny.date() for e in entries for ny in firings(e, host_zone, start=start, days=days)
                     if window.contains(ny))
    for day in _span(start, days):
        wanted = 1 if day.weekday() in _NY_WEEKDAYS else 0
        if inside[day] != wanted:
            return (f"on {day:%a %Y-%m-%d} {inside[day]} of these crontab entries would run inside the window "
                    f"{window.describe()}, not {wanted}")
    return None
