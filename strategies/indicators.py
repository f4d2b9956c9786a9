"""Research signals computed from daily adjusted closes (pure: a DataFrame in, values out): the trailing
spread and the trend state (50-week average, weekly MACD, daily RSI) the pair's gates read."""

from __future__ import annotations

import functools
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


def trend_scores(stamps: np.ndarray, values: np.ndarray, ends: np.ndarray, *,
                 sessions: int = TREND_HISTORY_SESSIONS) -> np.ndarray | None:
    """trend_of(stamps[:p], values[:p], sessions=sessions).score for each p in `ends` (trend_columns' scores)."""
    found = trend_columns(stamps, values, ends, sessions=sessions)
    if found is None:
        return None
    above = found["close"] > found["ma_50w"]
    scores: np.ndarray = above.astype(np.int64) + (found["macd"] - found["macd_signal"] > 0) + (found["rsi_14"] > 50)
    return scores.astype(np.int64)


def trend_columns(stamps: np.ndarray, values: np.ndarray, ends: np.ndarray, *,
                  sessions: int = TREND_HISTORY_SESSIONS) -> dict[str, np.ndarray] | None:
    """TrendState's figures (close, ma_50w, macd, macd_signal, rsi_14) of trend_of(stamps[:p], values[:p]) for each
    p in `ends`, in one pass: the same float operations on the same closes, so the same figures. The weekly closes
    of every window are laid side by side, each row padded in front with its own first close, which leaves an
    average started at that close where it was (level + alpha x 0); each row's 50-week mean and RSI are taken on
    a window of its own, as trend_of takes them. None where trend_of would refuse a window (no closes, under 50
    weeks): the caller asks it itself."""
    if not len(ends) or ends.min() < 1 or ends.max() > len(values):
        return None
    starts = np.maximum(ends - sessions, 0)
    days = stamps.astype("datetime64[D]").astype(np.int64)
    weeks = (days - 2) // 7  # trend_of's weeks: Saturday to Friday
    week_ends = np.flatnonzero(np.diff(weeks) != 0)  # rows that close a week (the next row starts another)
    lo = np.searchsorted(week_ends, starts)
    hi = np.searchsorted(week_ends, ends - 1)  # week ends before each window's last row, which closes it so far
    count = hi - lo + 1
    if count.min() < MA_WEEKS or (ends - starts).min() <= RSI_PERIOD:
        return None
    width = int(count.max())
    weekly = np.empty((len(ends), width))
    rsi = np.empty(len(ends))
    change = np.diff(values)  # every window's changes are a slice of these: the same subtractions
    gains, losses = np.maximum(change, 0.0), np.maximum(-change, 0.0)
    for t, (a, b, c, start, end) in enumerate(zip(lo.tolist(), hi.tolist(), count.tolist(), starts.tolist(),
                                                 ends.tolist(), strict=True)):
        row = weekly[t]
        row[width - c : width - 1] = values[week_ends[a:b]]
        row[width - 1] = values[end - 1]
        row[: width - c] = row[width - c]
        rsi[t] = _rsi(gains[start : end - 1], losses[start : end - 1], rsi_weights(end - 1 - start, RSI_PERIOD))
    ma = weekly[:, -MA_WEEKS:].mean(axis=1)  # each row's pairwise sum, as a row's own mean() takes it
    macd_line = _ema_columns(weekly, 12) - _ema_columns(weekly, 26)
    return {"close": values[ends - 1], "ma_50w": ma, "macd": macd_line[:, -1],
            "macd_signal": _ema_columns(macd_line, 9)[:, -1], "rsi_14": rsi}


def _ema_columns(rows: np.ndarray, span: int) -> np.ndarray:
    """ema() of every row at once: column by column, the same operations in the same order."""
    alpha = 2.0 / (span + 1.0)
    out = np.empty_like(rows)
    level = rows[:, 0].copy()
    for k in range(rows.shape[1]):
        level += alpha * (rows[:, k] - level)
        out[:, k] = level
    return out


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
    return _rsi(np.maximum(change, 0.0), np.maximum(-change, 0.0), rsi_weights(len(change), period))


@functools.lru_cache(maxsize=64)
def rsi_weights(changes: int, period: int) -> np.ndarray:
    """The weight of each of `changes` daily changes in Wilder's average (oldest first), read-only: the first
    change starts the average."""
    alpha = 1.0 / period
    weights = alpha * (1.0 - alpha) ** np.arange(changes - 1, -1, -1, dtype=np.float64)
    weights[0] = (1.0 - alpha) ** (changes - 1)
    weights.flags.writeable = False
    return weights


def _rsi(gains: np.ndarray, losses: np.ndarray, weights: np.ndarray) -> float:
    gain, loss = float(weights @ gains), float(weights @ losses)
    return 100.0 if loss == 0 else 100.0 - 100.0 / (1.0 + gain / loss)
