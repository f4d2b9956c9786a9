"""Prices for the exchange: one small interface over the synthetic market or a CSV replay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from bot.adapters.exchange.actions import CorporateCalendar
from bot.adapters.history.frame import SYNTHETIC_EPOCH, SYNTHETIC_GRID_END, load_csv_dir, synthetic_history

CENT = Decimal("0.01")
TICK = Decimal("0.0001")
DEFAULT_SYNTHETIC_SYMBOLS = ("IWM", "QQQ", "SPY", "PSQ", "SQQQ", "TNA", "UPRO", "BIL")


@dataclass(frozen=True, slots=True)
class Mark:
    """A symbol's price at one session: the close, the previous close, and the quote around it."""

    symbol: str
    session: date
    price: Decimal
    previous: Decimal
    bid: Decimal
    ask: Decimal


class PriceBook:
    """Daily bars per symbol; the current price is the close of the latest session <= a date.

    The frames are split-adjusted (a CSV's close, or the synthetic walk); with splits known (the calendar)
    marks, quotes and fills are as traded: the adjusted price x the split factor of its day.
    """

    def __init__(self, frames: dict[str, pd.DataFrame], *, label: str, half_spread_bps: Decimal) -> None:
        self.label = label
        self.frames = {sym.upper(): frame for sym, frame in frames.items()}
        self._dates = {sym: f.index.to_numpy(dtype="datetime64[D]") for sym, f in self.frames.items()}
        self._closes = {sym: f["close"].to_numpy() for sym, f in self.frames.items()}
        self._half_spread = half_spread_bps / Decimal(10000)
        self.calendar = CorporateCalendar()

    def set_calendar(self, calendar: CorporateCalendar) -> None:
        self.calendar = calendar

    @classmethod
    def load(cls, prices: str | Path, *, seed: int, half_spread_bps: Decimal,
             symbols: tuple[str, ...] = ()) -> PriceBook:
        if isinstance(prices, str) and prices == "synthetic":
            wanted = symbols or DEFAULT_SYNTHETIC_SYMBOLS
            frames = synthetic_history(wanted, start=SYNTHETIC_EPOCH, end=SYNTHETIC_GRID_END, seed=seed)
            return cls(frames, label="synthetic", half_spread_bps=half_spread_bps)
        frames = load_csv_dir(Path(prices), symbols or None)
        return cls(frames, label="csv", half_spread_bps=half_spread_bps)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted(self.frames))

    def has(self, symbol: str) -> bool:
        return symbol in self.frames

    def latest_date(self, on_or_before: date) -> date | None:
        """The latest session with a price on or before the date, across all symbols."""
        best: date | None = None
        for sym in self.frames:
            found = self._index_on(sym, on_or_before)
            if found is not None:
                d = self._dates[sym][found].astype(object)
                best = d if best is None or d > best else best
        return best

    def mark(self, symbol: str, on_or_before: date) -> Mark | None:
        """As traded on the session found; the previous close is in that session's shares (split-adjusted)."""
        i = self._index_on(symbol, on_or_before)
        if i is None:
            return None
        session: date = self._dates[symbol][i].astype(object)
        factor = self.calendar.factor(symbol, session)
        price = _decimal(self._closes[symbol][i], factor)
        previous = _decimal(self._closes[symbol][max(i - 1, 0)], factor)
        bid = (price * (1 - self._half_spread)).quantize(TICK, ROUND_HALF_EVEN)
        ask = (price * (1 + self._half_spread)).quantize(TICK, ROUND_HALF_EVEN)
        return Mark(symbol, session, price, previous, bid, ask)

    def bars(self, symbol: str, start: date, end: date, *, as_traded: bool = False) -> pd.DataFrame:
        """The frame's rows in [start, end]: split-adjusted, or as traded (prices x factor, volume / factor)."""
        frame = self.frames[symbol].loc[pd.Timestamp(start):pd.Timestamp(end)]
        splits = self.calendar.splits_of(symbol)
        if not as_traded or not splits or frame.empty:
            return frame
        factor = np.ones(len(frame))
        days = frame.index.to_numpy(dtype="datetime64[D]")
        for s in splits:
            factor[days < np.datetime64(s.on, "D")] *= float(s.ratio)
        out = frame.copy()
        for column in ("open", "high", "low", "close", "adj_close"):
            out[column] = frame[column].to_numpy() * factor
        out["volume"] = frame["volume"].to_numpy() / factor
        return out

    def _index_on(self, symbol: str, on_or_before: date) -> int | None:
        dates = self._dates.get(symbol)
        if dates is None:
            return None
        i = int(np.searchsorted(dates, np.datetime64(on_or_before, "D"), side="right")) - 1
        return i if i >= 0 else None


def _decimal(value: float, factor: Decimal) -> Decimal:
    """A price file's float, exactly as written, times the split factor, to the cent."""
    return (Decimal(repr(float(value))) * factor).quantize(CENT, ROUND_HALF_EVEN)
