"""The corporate actions the exchange knows: splits and cash dividends, and the moments they act.

A split is booked (its two SPLIT entries) at 22:30 UTC the calendar day before it takes effect, as
Alpaca books them; the position changes at the start of its effective date in New York, when the
exchange's marks move to that date. A dividend is booked and paid at the start of its ex-date.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

import numpy as np
import pandas as pd

from bot.core.corporate import Split, split_factor
from bot.core.domain import NEW_YORK, Symbol

SPLIT_BOOKING_UTC = time(22, 30)
PER_SHARE_QUANTUM = Decimal("0.000001")
DIVIDEND_NOISE = 1e-6  # relative changes of adj_close/close below this are the price files' rounding
Step = Literal["split_booking", "split_effect", "dividend"]
_STEP_ORDER: Mapping[Step, int] = {"split_booking": 0, "split_effect": 1, "dividend": 2}


@dataclass(frozen=True, slots=True)
class Dividend:
    """Cash per share held at the start of the ex-date, in as-traded terms."""

    symbol: Symbol
    ex_date: date
    per_share: Decimal

    def __post_init__(self) -> None:
        if not self.per_share.is_finite() or self.per_share <= 0:
            raise ValueError(f"{self.symbol} dividend on {self.ex_date}: per share must be > 0, got {self.per_share}")


@dataclass(frozen=True, slots=True)
class Due:
    """One thing to do at one moment: book a split, apply it, or pay a dividend."""

    moment: datetime
    step: Step
    action: Split | Dividend

    @property
    def key(self) -> str:
        kind = "split" if isinstance(self.action, Split) else "dividend"
        on = self.action.on if isinstance(self.action, Split) else self.action.ex_date
        return f"{kind}:{self.action.symbol}:{on.isoformat()}"


def start_of(day: date) -> datetime:
    """Midnight in New York starting the day, in UTC."""
    return datetime.combine(day, time(0), NEW_YORK).astimezone(UTC)


def booking_moment(split: Split) -> datetime:
    return datetime.combine(split.on - timedelta(days=1), SPLIT_BOOKING_UTC, UTC)


def _steps(split_or_dividend: Split | Dividend) -> list[Due]:
    if isinstance(split_or_dividend, Split):
        return [Due(booking_moment(split_or_dividend), "split_booking", split_or_dividend),
                Due(start_of(split_or_dividend.on), "split_effect", split_or_dividend)]
    return [Due(start_of(split_or_dividend.ex_date), "dividend", split_or_dividend)]


class CorporateCalendar:
    """Splits and dividends in time order; the factor that turns split-adjusted prices into as-traded ones."""

    def __init__(self, splits: Iterable[Split] = (), dividends: Iterable[Dividend] = ()) -> None:
        self.splits = tuple(sorted(splits, key=lambda s: (s.on, s.symbol)))
        self.dividends = tuple(sorted(dividends, key=lambda d: (d.ex_date, d.symbol)))
        _unique("split", [(s.symbol, s.on) for s in self.splits])
        _unique("dividend", [(d.symbol, d.ex_date) for d in self.dividends])
        self._by_symbol: dict[str, tuple[Split, ...]] = {}
        for s in self.splits:
            self._by_symbol[s.symbol] = (*self._by_symbol.get(s.symbol, ()), s)
        actions: list[Split | Dividend] = [*self.splits, *self.dividends]
        steps = [due for a in actions for due in _steps(a)]
        self._due = sorted(steps, key=lambda d: (d.moment, _STEP_ORDER[d.step], d.action.symbol))
        self._moments = [d.moment for d in self._due]

    def splits_of(self, symbol: str) -> tuple[Split, ...]:
        return self._by_symbol.get(symbol, ())

    def factor(self, symbol: str, day: date) -> Decimal:
        """As-traded price = split-adjusted price x this (1 when the symbol has no later split)."""
        return split_factor(self.splits_of(symbol), Symbol(symbol), day)

    def reverse_splits_through(self, symbol: str, day: date) -> int:
        """How many reverse splits have taken effect by the day: each one gave the asset a new id (CUSIP)."""
        return sum(1 for s in self.splits_of(symbol) if s.is_reverse and s.on <= day)

    def between(self, after: datetime, until: datetime) -> list[Due]:
        """What falls in (after, until], in order: bookings before effects before dividends at one moment."""
        lo, hi = bisect.bisect_right(self._moments, after), bisect.bisect_right(self._moments, until)
        return self._due[lo:hi]


def _unique(kind: str, keys: list[tuple[str, date]]) -> None:
    seen: set[tuple[str, date]] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{key[0]} has two of a {kind} on {key[1]}")
        seen.add(key)


def derive_dividends(frames: Mapping[str, pd.DataFrame], calendar: CorporateCalendar) -> list[Dividend]:
    """Cash dividends implied by close (split-adjusted) against adj_close (split and dividend adjusted).

    With r = adj_close / close, the ex-date t pays close(t-1) x (1 - r(t-1) / r(t)) per share, converted
    to the shares held on t (the split factor of t). Changes under DIVIDEND_NOISE are rounding, not cash.
    """
    out: list[Dividend] = []
    for symbol, frame in frames.items():
        if len(frame) < 2:
            continue
        close, adj = frame["close"].to_numpy(), frame["adj_close"].to_numpy()
        r = adj / close
        change = 1.0 - r[:-1] / r[1:]
        for i in np.flatnonzero(change >= DIVIDEND_NOISE):
            day = frame.index[i + 1].date()
            per_share = _per_share(close[i], adj[i], close[i + 1], adj[i + 1]) * calendar.factor(symbol, day)
            per_share = per_share.quantize(PER_SHARE_QUANTUM, ROUND_HALF_EVEN)
            if per_share > 0:
                out.append(Dividend(Symbol(symbol), day, per_share))
    return out


def _per_share(close_before: float, adj_before: float, close_on: float, adj_on: float) -> Decimal:
    c0, a0, c1, a1 = (Decimal(repr(float(x))) for x in (close_before, adj_before, close_on, adj_on))
    return c0 * (1 - (a0 / c0) / (a1 / c1))
