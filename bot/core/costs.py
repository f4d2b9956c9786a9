"""What a short book would have cost live where Alpaca paper books nothing: the dividends a short pays on
each ex-date, and the borrow fee (end-of-day short value x rate / 360, every calendar day)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd

from bot.core.domain import ZERO, Symbol

BPS = Decimal(10000)
MAX_DIVIDEND_YIELD = 0.2  # a one-day drop in adjusted/raw beyond this is a split, not a dividend
Holdings = Sequence[tuple[date, Mapping[Symbol, Decimal]]]  # (day, positions at that day's close), sorted


@dataclass(frozen=True, slots=True)
class LiveCosts:
    dividends: dict[Symbol, Decimal] = field(default_factory=dict)  # paid by shorts (negative)
    borrow: dict[Symbol, Decimal] = field(default_factory=dict)  # negative

    @property
    def total(self) -> Decimal:
        return sum(self.dividends.values(), ZERO) + sum(self.borrow.values(), ZERO)


def dividends_per_share(raw: pd.Series, adjusted: pd.Series) -> dict[date, Decimal]:
    """Cash per share on each ex-date, from raw closes against dividend-adjusted ones:
    close(t-1) x (1 - r(t-1) / r(t)), r = adjusted / raw. Jumps a split makes are not dividends."""
    both = pd.concat([raw, adjusted], axis=1, keys=["raw", "adj"]).dropna()
    r = (both["adj"] / both["raw"]).to_numpy()
    closes, days = both["raw"].to_numpy(), [pd.Timestamp(d).date() for d in both.index]
    out: dict[date, Decimal] = {}
    for t in range(1, len(r)):
        cut = 1.0 - r[t - 1] / r[t]
        if 1e-6 < cut < MAX_DIVIDEND_YIELD:
            out[days[t]] = Decimal(repr(float(closes[t - 1] * cut))).quantize(Decimal("0.0001"))
    return out


def position_on(holdings: Holdings, day: date) -> Mapping[Symbol, Decimal]:
    """Positions at the close of the latest day on or before `day` ({} before the first)."""
    found: Mapping[Symbol, Decimal] = {}
    for when, pos in holdings:
        if when > day:
            break
        found = pos
    return found


def live_costs(holdings: Holdings, raw: pd.DataFrame, adjusted: pd.DataFrame, *, borrow_bps: Decimal,
               through: date) -> LiveCosts:
    """The dividends each short would have paid and its borrow fee, from the first holding day to `through`."""
    if not holdings:
        return LiveCosts()
    dividends: dict[Symbol, Decimal] = {}
    borrow: dict[Symbol, Decimal] = {}
    shorts = sorted({s for _, pos in holdings for s, q in pos.items() if q < 0})
    for sym in (s for s in shorts if s in raw and s in adjusted):
        for ex, cash in dividends_per_share(raw[sym], adjusted[sym]).items():
            held = position_on(holdings, ex - timedelta(days=1)).get(sym, ZERO)
            if held < 0 and ex <= through:
                dividends[sym] = dividends.get(sym, ZERO) + held * cash
        borrow[sym] = _borrow(holdings, raw[sym].dropna(), sym, borrow_bps=borrow_bps, through=through)
    return LiveCosts({s: v.quantize(Decimal("0.01")) for s, v in dividends.items()},
                     {s: v.quantize(Decimal("0.01")) for s, v in borrow.items() if v})


def _borrow(holdings: Holdings, closes: pd.Series, sym: Symbol, *, borrow_bps: Decimal, through: date) -> Decimal:
    daily_rate = borrow_bps / BPS / 360
    marks = [(pd.Timestamp(d).date(), Decimal(repr(float(c)))) for d, c in closes.items()]
    total, day, i, price = ZERO, holdings[0][0], 0, None
    while day <= through:
        while i < len(marks) and marks[i][0] <= day:
            price = marks[i][1]
            i += 1
        qty = position_on(holdings, day).get(sym, ZERO)
        if qty < 0 and price is not None:
            total += qty * price * daily_rate  # qty < 0: a cost
        day += timedelta(days=1)
    return total
