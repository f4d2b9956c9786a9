"""Research signals computed from daily adjusted closes (pure: a DataFrame in, a Decimal out)."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd

from bot.core.domain import Symbol
from bot.errors import DataError

TRADING_DAYS_PER_YEAR = 252


def closes_up_to(closes: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Rows dated on or before as_of: a strategy must never see tomorrow's close."""
    index = pd.DatetimeIndex(pd.to_datetime(closes.index))
    return closes.loc[index <= pd.Timestamp(as_of)]


def trailing_return(closes: pd.DataFrame, symbol: Symbol, *, days: int, as_of: date) -> float:
    """Total return over the last `days` sessions (adjusted closes carry the dividends)."""
    if symbol not in closes.columns:
        raise DataError(f"closes have no column {symbol}")
    series = closes_up_to(closes, as_of)[symbol].dropna()
    if len(series) < days + 1:
        got = len(series)
        raise DataError(f"{symbol}: a {days}-day return needs {days + 1} closes up to {as_of}, got {got}")
    first, last = float(series.iloc[-days - 1]), float(series.iloc[-1])
    if not (math.isfinite(first) and math.isfinite(last)) or first <= 0 or last <= 0:
        raise DataError(f"{symbol}: closes must be positive and finite, got {first} and {last}")
    return last / first - 1.0


def trailing_spread(
    closes: pd.DataFrame, *, long: Symbol, short: Symbol, as_of: date, days: int = TRADING_DAYS_PER_YEAR
) -> float:
    """Trailing total-return spread long - short, e.g. IWM - QQQ over a year: -0.30 is a 30-point lag."""
    return trailing_return(closes, long, days=days, as_of=as_of) - trailing_return(
        closes, short, days=days, as_of=as_of
    )
