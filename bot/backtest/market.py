"""From price frames to the kernel's arrays: common sessions, adjusted opens, cash carry, calendar."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from bot.backtest.arrays import BoolArray, FloatArray
from bot.backtest.kernel import Market
from bot.core.domain import Symbol, Vehicle
from bot.errors import DataError

FREQUENCIES = ("monthly", "quarterly", "annual", "none")


@dataclass(frozen=True, slots=True)
class PricedMarket:
    """The kernel's Market plus the labels that go with it."""

    market: Market
    dates: pd.DatetimeIndex
    symbols: tuple[Symbol, ...]
    underlyings: tuple[Symbol, ...]
    notes: tuple[str, ...]  # e.g. "start moved to 2006-06-21: first session with PSQ"


def common_sessions(
    frames: Mapping[str, pd.DataFrame], symbols: Sequence[str], start: date | None, end: date | None
) -> tuple[pd.DatetimeIndex, tuple[str, ...]]:
    """Sessions where every symbol has a bar, within [start, end]; notes say when the data cut the range."""
    missing = [s for s in symbols if s not in frames]
    if missing:
        raise DataError(f"no price history for {', '.join(missing)}")
    index = frames[symbols[0]].index
    for sym in symbols[1:]:
        index = index.intersection(frames[sym].index)
    notes: list[str] = []
    if start is not None:
        if len(index) and index[0] > pd.Timestamp(start):
            late = max(symbols, key=lambda s: frames[s].index[0])
            notes.append(f"start moved from {start} to {index[0].date()}: first session with {late}")
        index = index[index >= pd.Timestamp(start)]
    if end is not None:
        index = index[index <= pd.Timestamp(end)]
    if len(index) < 2:
        raise DataError(f"fewer than 2 common sessions for {', '.join(symbols)} between {start} and {end}")
    return pd.DatetimeIndex(index, name="date"), tuple(notes)


def build_market(
    frames: Mapping[str, pd.DataFrame],
    symbols: Sequence[Symbol],
    vehicles: Mapping[Symbol, Vehicle],
    *,
    start: date | None,
    end: date | None,
    cash_rate: float = 0.0,
    cash_symbol: str | None = None,
) -> PricedMarket:
    """Adjusted closes and opens of `symbols` on their common sessions; cash at a rate or a fund's returns.

    Opens are scaled by adj_close / close, so a next-open fill is in the same total-return units.
    With `cash_symbol` (e.g. BIL) cash earns that fund's daily total return where it has one and
    `cash_rate` (act/360) elsewhere.
    """
    dates, notes = common_sessions(frames, list(symbols), start, end)
    close = np.column_stack([frames[s]["adj_close"].reindex(dates).to_numpy(np.float64) for s in symbols])
    factor = np.column_stack(
        [(frames[s]["adj_close"] / frames[s]["close"]).reindex(dates).to_numpy(np.float64) for s in symbols]
    )
    opens = np.column_stack([frames[s]["open"].reindex(dates).to_numpy(np.float64) for s in symbols]) * factor
    days = np.concatenate(([0.0], np.diff(dates.to_numpy().astype("datetime64[D]")).astype(np.float64)))
    cash_return = cash_rate * days / 360.0
    if cash_symbol is not None:
        fund = _fund_returns(frames, cash_symbol, dates)
        known = ~np.isnan(fund)
        cash_return[known] = fund[known]
        if not known[1:].any():
            notes += (f"no {cash_symbol} data in range: cash earns {cash_rate:.2%}",)
        elif not known[1:].all():
            since = dates[int(np.argmax(known[1:])) + 1].date()
            notes += (f"cash earns {cash_symbol} from {since}, {cash_rate:.2%} before",)
    cash_return[0] = 0.0
    underlyings = tuple(sorted({_vehicle(vehicles, s).underlying for s in symbols}))
    multiples = np.zeros((len(symbols), len(underlyings)))
    for i, sym in enumerate(symbols):
        v = _vehicle(vehicles, sym)
        multiples[i, underlyings.index(v.underlying)] = float(v.multiple)
    market = Market(close=close, open=opens, cash_return=cash_return, accrual_days=days, multiples=multiples)
    return PricedMarket(market, dates, tuple(symbols), underlyings, notes)


def _vehicle(vehicles: Mapping[Symbol, Vehicle], sym: Symbol) -> Vehicle:
    return vehicles.get(sym, Vehicle(sym, sym))


def _fund_returns(frames: Mapping[str, pd.DataFrame], symbol: str, dates: pd.DatetimeIndex) -> FloatArray:
    if symbol not in frames:
        raise DataError(f"no price history for cash fund {symbol}")
    adj = frames[symbol]["adj_close"]
    adj = adj[(adj.index >= dates[0]) & (adj.index <= dates[-1])]
    on_sessions = adj.reindex(dates)
    returns: FloatArray = on_sessions.div(on_sessions.shift(1)).sub(1.0).to_numpy(np.float64)
    return returns


def due_sessions(dates: pd.DatetimeIndex, frequency: str) -> BoolArray:
    """The first session of each calendar period (and the first session, which builds the book).

    With every session present, "due until done" in the live schedule fires exactly here.
    """
    if frequency not in FREQUENCIES:
        raise ValueError(f"unknown frequency {frequency!r}; expected one of {', '.join(FREQUENCIES)}")
    due = np.zeros(len(dates), dtype=np.bool_)
    due[0] = True
    if frequency == "none":
        return due
    months = dates.year.to_numpy() * 12 + dates.month.to_numpy() - 1
    span = {"monthly": 1, "quarterly": 3, "annual": 12}[frequency]
    period = months // span
    due[1:] = period[1:] != period[:-1]
    return due
