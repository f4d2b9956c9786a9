"""From price frames to the kernel's arrays: common sessions, adjusted opens, cash carry, calendar."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from bot.core.corporate import Split
from bot.core.domain import Symbol, Vehicle
from bot.errors import DataError
from bot.research.backtest.arrays import BoolArray, FloatArray, IntArray
from bot.research.backtest.astraded import AsTraded, as_traded
from bot.research.backtest.kernel import Market

FREQUENCIES = ("monthly", "quarterly", "annual", "none")
PER_DAY = {("D", 1): 1, ("h", 1): 24, ("m", 1): 1440, ("s", 1): 86_400, ("ms", 1): 86_400_000,
           ("us", 1): 86_400_000_000, ("ns", 1): 86_400_000_000_000}  # a datetime64 unit's steps in a day


@dataclass(frozen=True, slots=True)
class PricedMarket:
    """The kernel's Market plus the labels that go with it."""

    market: Market
    dates: pd.DatetimeIndex
    symbols: tuple[Symbol, ...]
    underlyings: tuple[Symbol, ...]
    notes: tuple[str, ...]  # e.g. "start moved to 2006-06-21: first session with PSQ"
    adjusted_close: FloatArray | None = None  # (T, N) split-adjusted closes where market.close is as traded
    as_traded: AsTraded | None = None  # None: no split list, prices as the frames give them

    @property
    def total_return_close(self) -> FloatArray:
        """Closes on one share basis over the whole range (for buy-and-hold curves)."""
        return self.market.close if self.adjusted_close is None else self.adjusted_close


def common_sessions(
    frames: Mapping[str, pd.DataFrame], symbols: Sequence[str], start: date | None, end: date | None
) -> tuple[pd.DatetimeIndex, tuple[str, ...]]:
    """Sessions where every symbol has a bar, within [start, end], named "date" and without a freq; notes say
    when the data cut the range."""
    missing = [s for s in symbols if s not in frames]
    if missing:
        raise DataError(f"no price history for {', '.join(missing)}")
    index = _fast_intersection([frames[s].index for s in symbols])
    if index is None:
        index = frames[symbols[0]].index
        for sym in symbols[1:]:
            index = index.intersection(frames[sym].index)
        index = pd.DatetimeIndex(index, name="date", freq=None)  # sessions carry no freq, whichever the path
    notes: list[str] = []
    held = f"; the prices' common sessions run {index[0].date()} to {index[-1].date()}" if len(index) else ""
    tz = getattr(index, "tz", None)  # session dates may be tz-aware (midnight in New York)
    if start is not None:
        first = pd.Timestamp(start, tz=tz)
        if len(index) and index[0] > first:
            late = max(symbols, key=lambda s: frames[s].index[0])
            notes.append(f"start moved from {start} to {index[0].date()}: first session with {late}")
        index = index[index >= first]
    if end is not None:
        index = index[index <= pd.Timestamp(end, tz=tz)]
    if len(index) < 2:
        span = (f" between {start} and {end}" if start and end else f" from {start} on" if start
                else f" up to {end}" if end else "")
        raise DataError(f"fewer than 2 common sessions for {', '.join(symbols)}{span}{held}")
    return index, tuple(notes)


def build_market(
    frames: Mapping[str, pd.DataFrame],
    symbols: Sequence[Symbol],
    vehicles: Mapping[Symbol, Vehicle],
    *,
    start: date | None,
    end: date | None,
    cash_rate: float = 0.0,
    cash_symbol: str | None = None,
    opens: bool = True,
    splits: Sequence[Split] | None = None,
) -> PricedMarket:
    """Adjusted closes and opens of `symbols` on their common sessions; cash at a rate or a fund's returns.

    Opens are scaled by adj_close / close, so a next-open fill is in the same total-return units; with
    `opens=False` (every fill at the close) they are neither read nor checked.
    With `cash_symbol` (e.g. BIL) cash earns that fund's daily total return where it has one and
    `cash_rate` (act/360) elsewhere.
    With `splits` (the frames are split-adjusted and these are their splits) prices are as traded and the
    market carries the splits inside the range, for the loop to apply to the holdings; see as_traded_market.
    """
    dates, notes = common_sessions(frames, list(symbols), start, end)
    wanted = ("adj_close", "close", "open") if opens else ("adj_close",)
    fast = [session_columns(frames[s], dates, wanted) for s in symbols]
    adjusted_opens: FloatArray | None = None
    if all(cols is not None for cols in fast):
        columns = [cols for cols in fast if cols is not None]
        close = np.column_stack([cols[0] for cols in columns])
        if opens:
            with np.errstate(divide="ignore", invalid="ignore"):  # the same products as open * (adj / raw) stacked
                adjusted_opens = np.column_stack([o * (adj / raw) for adj, raw, o in columns])
    else:
        close = np.column_stack([frames[s]["adj_close"].reindex(dates).to_numpy(np.float64) for s in symbols])
        if opens:
            factor = np.column_stack(
                [(frames[s]["adj_close"] / frames[s]["close"]).reindex(dates).to_numpy(np.float64) for s in symbols]
            )
            raw = np.column_stack([frames[s]["open"].reindex(dates).to_numpy(np.float64) for s in symbols])
            adjusted_opens = raw * factor
    stamps = dates.values if _naive(dates) else dates.tz_localize(None).values  # local calendar days
    numbers = day_numbers(stamps)
    days = np.empty(len(numbers))
    days[0] = 0.0
    np.subtract(numbers[1:], numbers[:-1], out=days[1:])  # whole days, exact in float64
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
    market = Market(close=close, open=adjusted_opens, cash_return=cash_return, accrual_days=days, multiples=multiples)
    priced = PricedMarket(market, dates, tuple(symbols), underlyings, notes)
    return priced if splits is None else as_traded_market(priced, splits)


def as_traded_market(priced: PricedMarket, splits: Sequence[Split]) -> PricedMarket:
    """The market in as-traded prices, whole shares as they traded, with the splits the loop applies.

    A next-open fill prices the decision before it: its opens are on that session's share basis, so an
    order decided the session before a split fills in pre-split shares, which the split then converts.
    """
    found = as_traded(priced.dates, priced.symbols, splits)
    m = priced.market
    close, opens = m.close * found.factors, None
    if m.open is not None:
        basis = np.concatenate([found.factors[:1], found.factors[:-1]])
        opens = m.open * basis
    market = Market(close, opens, m.cash_return, m.accrual_days, m.multiples, found.holding_splits)
    return PricedMarket(market, priced.dates, priced.symbols, priced.underlyings,
                        priced.notes + _split_notes(found), m.close, found)


def _split_notes(found: AsTraded) -> tuple[str, ...]:
    if not found.applied:
        return ("prices as traded: no split inside the range",)
    counts = Counter(str(s.symbol) for s in found.applied)
    named = ", ".join(f"{sym} {n}" for sym, n in counts.most_common())
    return (f"prices as traded: {len(found.applied)} splits applied to the holdings ({named})",)


def day_numbers(stamps: np.ndarray) -> np.ndarray:
    """stamps.astype("datetime64[D]") as int64 day numbers (the same floor), by integer division: several times
    faster than numpy's unit conversion."""
    per_day = PER_DAY.get(np.datetime_data(stamps.dtype))
    if per_day is None or per_day == 1:
        return np.asarray(stamps.astype("datetime64[D]").view(np.int64))
    return np.asarray(stamps.view(np.int64) // per_day)


def _naive(index: pd.Index) -> bool:
    """A tz-naive DatetimeIndex (any unit): its values are plain numpy datetime64."""
    return isinstance(index, pd.DatetimeIndex) and isinstance(index.dtype, np.dtype)


def _plain(index: pd.Index) -> bool:
    """A tz-naive DatetimeIndex, strictly increasing: numpy can stand in for pandas."""
    return _naive(index) and index.is_monotonic_increasing and index.is_unique


def _fast_intersection(indexes: Sequence[pd.Index]) -> pd.DatetimeIndex | None:
    """pandas' chained Index.intersection for plain session indexes of one dtype, in numpy (None otherwise)."""
    if not all(_plain(ix) for ix in indexes) or len({ix.dtype for ix in indexes}) != 1:
        return None
    first = indexes[0]
    unit = first.values.dtype
    base = first.values.view(np.int64)  # integers search and compare several times faster
    stamps = base
    for ix in indexes[1:]:
        stamps = _sorted_intersection(stamps, ix.values.view(np.int64))
    if first.name == "date" and first.freq is None and len(stamps) and np.may_share_memory(stamps, base):
        # a slice of the first index: that index's own sessions (its cached lookups come along when it is whole)
        lo = (stamps.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // base.itemsize
        return first if len(stamps) == len(base) else first[lo : lo + len(stamps)]
    return pd.DatetimeIndex(stamps.view(unit), name="date")


def _sorted_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The values in both of two strictly increasing int64 arrays; a slice when they agree over their overlap."""
    if not len(a) or not len(b):
        return a[:0]
    a0, a1, b0, b1 = int(a[0]), int(a[-1]), int(b[0]), int(b[-1])  # Python ints compare and search faster
    if len(a) == len(b) and a0 == b0 and a1 == b1 and np.array_equal(a, b):
        return a
    lo, hi = max(a0, b0), min(a1, b1)
    a_in = a[a.searchsorted(lo) : a.searchsorted(hi, side="right")]  # the methods: np.searchsorted wraps them
    b_in = b[b.searchsorted(lo) : b.searchsorted(hi, side="right")]
    if np.array_equal(a_in, b_in):
        return a_in
    pos = np.minimum(np.searchsorted(b, a), len(b) - 1)
    kept: np.ndarray = a[b[pos] == a]
    return kept


def session_columns(frame: pd.DataFrame, dates: pd.DatetimeIndex, columns: Sequence[str]) -> list[FloatArray] | None:
    """[frame[c].reindex(dates).to_numpy(float64) for c in columns] by position, for a plain index that holds
    every date; None otherwise (the caller then asks pandas).

    When the whole frame comes out of to_numpy() as float64 its columns are numeric and were cast to float64
    as each column's own to_numpy(float64) casts it; otherwise each column is asked for separately.
    """
    index = frame.index
    if not (_plain(index) and _naive(dates) and dates.dtype == index.dtype) or frame.columns.has_duplicates:
        return None
    if not len(dates) or any(c not in frame.columns for c in columns):
        return None
    keys, wanted = index.values.view(np.int64), dates.values.view(np.int64)
    first = int(keys.searchsorted(wanted[0]))
    at: slice | IntArray = slice(first, first + len(wanted))
    if index is dates:  # the sessions are this frame's own
        at = slice(0, len(keys))
    elif not np.array_equal(keys[at], wanted):
        pos = np.searchsorted(keys, wanted)
        if pos.max() >= len(keys) or not np.array_equal(keys[pos], wanted):
            return None
        at = pos
    values = frame.to_numpy()
    if values.dtype != np.float64:
        return [frame[c].to_numpy(np.float64)[at] for c in columns]
    return [values[at, frame.columns.get_loc(c)] for c in columns]


def _vehicle(vehicles: Mapping[Symbol, Vehicle], sym: Symbol) -> Vehicle:
    found = vehicles.get(sym)  # the default only when needed: building a Vehicle validates it
    return Vehicle(sym, sym) if found is None else found


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
    span = {"monthly": 1, "quarterly": 3, "annual": 12}[frequency]
    if _naive(dates) and len(dates) > 1 and dates.is_monotonic_increasing:
        # the first session on or after each period's first day, as a search over the period starts
        values = dates.values
        months = values[[0, -1]].astype("datetime64[M]").astype(np.int64)
        first = months[0] // span * span + span
        starts = np.arange(first, months[1] + 1, span).astype("datetime64[M]").astype(values.dtype)
        due[np.searchsorted(values, starts)] = True
        return due
    months = dates.year.to_numpy() * 12 + dates.month.to_numpy() - 1
    period = months // span
    due[1:] = period[1:] != period[:-1]
    return due
