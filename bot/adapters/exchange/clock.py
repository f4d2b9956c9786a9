"""Market time for the exchange: always-open (demo, every day), nyse (XNYS calendar), replay (driven date)."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.adapters.history.xnys import xnys_schedule

ET = ZoneInfo("America/New_York")
REGULAR_CLOSE = time(16, 0)
DAY_END = time(23, 59)  # the always-open calendar's close: Alpaca's calendar has no "24:00"


@dataclass(frozen=True, slots=True)
class CalendarDay:
    day: date
    open: datetime  # tz-aware ET
    close: datetime  # tz-aware ET


class NyseSessions:
    """XNYS sessions with their open and close (early closes included), from exchange_calendars."""

    def __init__(self) -> None:
        sched = xnys_schedule()
        self.days: list[date] = sched.days.astype(object).tolist()
        self.opens: list[datetime] = [_utc(ns).astimezone(ET) for ns in sched.opens.tolist()]
        self.closes: list[datetime] = [_utc(ns).astimezone(ET) for ns in sched.closes.tolist()]
        self._pos = {d: i for i, d in enumerate(self.days)}

    def index_of(self, day: date) -> int | None:
        return self._pos.get(day)

    def at_or_after(self, day: date) -> int:
        return bisect.bisect_left(self.days, day)

    def between(self, start: date, end: date) -> list[CalendarDay]:
        lo, hi = bisect.bisect_left(self.days, start), bisect.bisect_right(self.days, end)
        return [CalendarDay(self.days[i], self.opens[i], self.closes[i]) for i in range(lo, hi)]


def _utc(ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=ns // 1000)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=1)
def nyse_sessions() -> NyseSessions:
    return NyseSessions()


def _real_now() -> datetime:
    return datetime.now(UTC)


class MarketClock:
    """The base: a wall clock that tests can inject or pin with ``set_now``."""

    mode = "base"

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self._now_fn = now or _real_now
        self._pinned: datetime | None = None

    def set_now(self, when: datetime | None) -> None:
        if when is not None and when.tzinfo is None:
            raise ValueError("set_now needs a tz-aware datetime")
        self._pinned = when

    def now(self) -> datetime:
        return (self._pinned or self._now_fn()).astimezone(UTC)

    def is_open(self, at: datetime) -> bool:
        raise NotImplementedError

    def order_session(self, at: datetime) -> date:
        """The session an order submitted at ``at`` trades in (the next one when closed)."""
        raise NotImplementedError

    def session_close(self, day: date) -> datetime:
        raise NotImplementedError

    def next_open(self, at: datetime) -> datetime:
        raise NotImplementedError

    def next_close(self, at: datetime) -> datetime:
        raise NotImplementedError

    def calendar(self, start: date, end: date) -> list[CalendarDay]:
        raise NotImplementedError

    def price_day(self, at: datetime) -> date:
        """Prices are the close of the latest session on or before this day."""
        return at.astimezone(ET).date()


class AlwaysOpenClock(MarketClock):
    """The demo default, open whatever the wall clock says (weekends included), and consistent with itself.

    Each New York day is one session, 00:00 to 23:59 in the calendar (Alpaca's HH:MM; the clock treats it
    as running to the next midnight, when day orders expire), so the calendar never calls a day closed
    that the clock calls open. ``next_close`` is always "now + 6 h", so a client reading minutes-to-close
    from the clock always has time to trade; ``next_open`` is the session after the one that close falls in.
    """

    mode = "always-open"

    def is_open(self, at: datetime) -> bool:
        return True

    def order_session(self, at: datetime) -> date:
        return at.astimezone(ET).date()

    def session_close(self, day: date) -> datetime:
        return datetime.combine(day + timedelta(days=1), time(0), ET)

    def next_close(self, at: datetime) -> datetime:
        return (at + timedelta(hours=6)).astimezone(ET)

    def next_open(self, at: datetime) -> datetime:
        return datetime.combine(self.next_close(at).date() + timedelta(days=1), time(0), ET)

    def calendar(self, start: date, end: date) -> list[CalendarDay]:
        days = (start + timedelta(days=i) for i in range((end - start).days + 1))
        return [CalendarDay(d, datetime.combine(d, time(0), ET), datetime.combine(d, DAY_END, ET)) for d in days]


class NyseClock(MarketClock):
    """Regular NYSE hours with holidays and early closes from exchange_calendars XNYS."""

    mode = "nyse"

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        super().__init__(now)
        self.sessions = nyse_sessions()

    def _current(self, at: datetime) -> int | None:
        s = self.sessions
        i = bisect.bisect_right(s.opens, at) - 1
        return i if i >= 0 and at < s.closes[i] else None

    def is_open(self, at: datetime) -> bool:
        return self._current(at) is not None

    def order_session(self, at: datetime) -> date:
        i = self._current(at)
        if i is None:
            i = bisect.bisect_right(self.sessions.opens, at)
        return self.sessions.days[i]

    def session_close(self, day: date) -> datetime:
        i = self.sessions.index_of(day)
        return self.sessions.closes[i] if i is not None else datetime.combine(day, REGULAR_CLOSE, ET)

    def next_open(self, at: datetime) -> datetime:
        return self.sessions.opens[bisect.bisect_right(self.sessions.opens, at)]

    def next_close(self, at: datetime) -> datetime:
        return self.sessions.closes[bisect.bisect_right(self.sessions.closes, at)]

    def calendar(self, start: date, end: date) -> list[CalendarDay]:
        return self.sessions.between(start, end)


class ReplayClock(NyseClock):
    """A simulated session date moved by a driver; the clock reads 15:00 ET (an hour before an early close)."""

    mode = "replay"

    def __init__(self, day: date) -> None:
        super().__init__(None)
        self.day = self._check(day)
        self._ticks = 0  # each reading moves the clock 1 ms, so fills and orders keep a strict time order

    def _check(self, day: date) -> date:
        if self.sessions.index_of(day) is None:
            raise ValueError(f"{day} is not an NYSE session")
        return day

    def set_date(self, day: date) -> None:
        self.day, self._ticks = self._check(day), 0

    def advance(self) -> date:
        i = self.sessions.index_of(self.day)
        assert i is not None
        self.day, self._ticks = self.sessions.days[i + 1], 0
        return self.day

    def now(self) -> datetime:
        close = self.session_close(self.day)
        at = min(datetime.combine(self.day, time(15, 0), ET), close - timedelta(hours=1))
        self._ticks += 1
        return (at + timedelta(milliseconds=self._ticks)).astimezone(UTC)

    def order_session(self, at: datetime) -> date:
        return self.day


def make_clock(mode: str, *, now: Callable[[], datetime] | None, replay_day: date | None) -> MarketClock:
    if mode == "always-open":
        return AlwaysOpenClock(now)
    if mode == "nyse":
        return NyseClock(now)
    if mode == "replay":
        sessions = nyse_sessions()
        if replay_day is None:
            today = (now or _real_now)().astimezone(ET).date()
            replay_day = sessions.days[max(sessions.at_or_after(today + timedelta(days=1)) - 1, 0)]
        return ReplayClock(replay_day)
    raise ValueError(f"unknown clock mode {mode!r}")
