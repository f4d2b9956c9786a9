"""Research signals computed from daily adjusted closes (pure: a DataFrame in, values out): the trailing
spread and the trend state (50-week average, weekly MACD, daily RSI) the pair's gates read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from bot.core.domain import Symbol
from bot.errors import DataError

TRADING_DAYS_PER_YEAR = 252


def closes_up_to(closes: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Rows dated on or before as_of: a strategy must never see tomorrow's close."""
    rows = _sorted_rows_up_to(closes.index, as_of)
    if rows is not None:
        return closes.iloc[:rows]
    index = pd.DatetimeIndex(pd.to_datetime(closes.index))
    return closes.loc[index <= pd.Timestamp(as_of)]


def _sorted_rows_up_to(index: pd.Index, as_of: date) -> int | None:
    """How many leading rows of a sorted naive DatetimeIndex are dated on or before as_of (None: another index).

    A gated backtest asks once a session: a numpy search, where pandas' slicing would cost more than the gate.
    """
    if isinstance(index, pd.DatetimeIndex) and index.tz is None and index.is_monotonic_increasing:
        return int(np.searchsorted(index.values, np.datetime64(as_of, "D"), side="right"))
    return None


def column_up_to(closes: pd.DataFrame, symbol: Symbol, as_of: date) -> tuple[np.ndarray, np.ndarray]:
    """(dates, closes) of one column on or before as_of, without missing values, as numpy arrays."""
    if symbol not in closes.columns:
        raise DataError(f"closes have no column {symbol}")
    rows = _sorted_rows_up_to(closes.index, as_of)
    if rows is None:
        kept = closes_up_to(closes, as_of)
        stamps, values = pd.DatetimeIndex(pd.to_datetime(kept.index)).values, kept[symbol].to_numpy(np.float64)
    else:
        stamps, values = closes.index.values[:rows], closes[symbol].to_numpy(np.float64)[:rows]
    if np.isnan(values).any():
        known = ~np.isnan(values)
        return stamps[known], values[known]
    return stamps, values


def trailing_return(closes: pd.DataFrame, symbol: Symbol, *, days: int, as_of: date) -> float:
    """Total return over the last `days` sessions (adjusted closes carry the dividends)."""
    _, series = column_up_to(closes, symbol, as_of)
    if len(series) < days + 1:
        got = len(series)
        raise DataError(f"{symbol}: a {days}-day return needs {days + 1} closes up to {as_of}, got {got}")
    first, last = float(series[-days - 1]), float(series[-1])
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


# -- the trend of one fund: 50-week average, weekly MACD, daily RSI ---------------------------------------

TREND_HISTORY_SESSIONS = 520  # about two years: the weekly EMAs forget their start to a few parts in 10,000
MA_WEEKS = 50
RSI_PERIOD = 14


@dataclass(frozen=True, slots=True)
class TrendState:
    as_of: date
    close: float
    ma_50w: float
    macd: float  # weekly EMA12 - EMA26
    macd_signal: float  # EMA9 of macd
    rsi_14: float  # daily, Wilder smoothing

    @property
    def above_ma(self) -> bool:
        return self.close > self.ma_50w

    @property
    def macd_histogram(self) -> float:
        return self.macd - self.macd_signal

    @property
    def score(self) -> int:
        """How many of the three read up: above the 50-week average, MACD over its signal, RSI over 50."""
        return sum((self.above_ma, self.macd_histogram > 0, self.rsi_14 > 50))

    @property
    def state(self) -> str:
        return {3: "uptrend", 2: "leaning up", 1: "leaning down", 0: "downtrend"}[self.score]


def trend_state(close: pd.Series, *, sessions: int = TREND_HISTORY_SESSIONS) -> TrendState:
    """The trend read from the last `sessions` daily closes of a Series with a DatetimeIndex."""
    values = close.to_numpy(np.float64)
    known = ~np.isnan(values)
    return trend_of(pd.DatetimeIndex(close.index).values[known], values[known], sessions=sessions)


def trend_of(stamps: np.ndarray, values: np.ndarray, *, sessions: int = TREND_HISTORY_SESSIONS) -> TrendState:
    """The trend from the last `sessions` of these dates and closes, the same way on every day: weeks end
    on Friday (the last close of each week, the current week's so far), the 50-week simple average of
    those, MACD(12, 26, 9) on them, and Wilder's RSI(14) on the daily closes."""
    stamps, values = stamps[-sessions:], values[-sessions:]
    if not len(values):
        raise DataError("no closes to read a trend from")
    days = stamps.astype("datetime64[D]").astype(np.int64)
    weeks = (days - 2) // 7  # 1970-01-01 was a Thursday: weeks run Saturday to Friday
    weekly = values[np.flatnonzero(np.append(np.diff(weeks) != 0, True))]
    if len(weekly) < MA_WEEKS:
        raise DataError(f"the 50-week average needs 50 weeks of closes, got {len(weekly)}")
    macd_line = ema(weekly, 12) - ema(weekly, 26)
    signal = ema(macd_line, 9)
    return TrendState(
        as_of=pd.Timestamp(stamps[-1]).date(),
        close=float(values[-1]),
        ma_50w=float(weekly[-MA_WEEKS:].mean()),
        macd=float(macd_line[-1]),
        macd_signal=float(signal[-1]),
        rsi_14=rsi_last(values, RSI_PERIOD),
    )


def ema(values: np.ndarray, span: int) -> np.ndarray:
    """Exponential average started at the first value (pandas' ewm(span, adjust=False))."""
    alpha = 2.0 / (span + 1.0)
    out = np.empty(len(values))
    level = float(values[0])
    for i, v in enumerate(values.tolist()):
        level += alpha * (v - level)
        out[i] = level
    return out


def rsi_last(values: np.ndarray, period: int) -> float:
    """Wilder's RSI on the last value: gains and losses smoothed with alpha 1/period from the first change
    (pandas' ewm(alpha=1/period, adjust=False)), as one weighted sum each."""
    change = np.diff(values)
    if len(change) < period:
        raise DataError(f"RSI({period}) needs {period + 1} closes, got {len(values)}")
    alpha = 1.0 / period
    weights = alpha * (1.0 - alpha) ** np.arange(len(change) - 1, -1, -1, dtype=np.float64)
    weights[0] = (1.0 - alpha) ** (len(change) - 1)  # the first change starts the average
    gain = float(weights @ np.maximum(change, 0.0))
    loss = float(weights @ np.maximum(-change, 0.0))
    return 100.0 if loss == 0 else 100.0 - 100.0 / (1.0 + gain / loss)
