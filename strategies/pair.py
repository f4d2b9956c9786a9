"""The relative-value pair: long IWM, short QQQ in equal dollars, via a short sale or an inverse fund."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

import numpy as np
import pandas as pd

from bot.core.domain import ONE, ZERO, Symbol, TargetWeights, Vehicle
from bot.errors import DataError
from strategies.base import MarketView, require_distinct, require_positive
from strategies.indicators import (
    TRADING_DAYS_PER_YEAR,
    TREND_HISTORY_SESSIONS,
    column_up_to,
    trailing_spread,
    trend_of,
    trend_scores,
)

NEAR_LIMIT = 1e-9  # a spread this close to its threshold is compared in Decimal, as target_weights does


def _plain_days(index: pd.Index) -> bool:
    """A tz-naive, increasing DatetimeIndex of midnights: numpy searches it as target_weights' slicing does."""
    if not (isinstance(index, pd.DatetimeIndex) and index.tz is None and index.is_monotonic_increasing):
        return False
    stamps = index.values
    return bool((stamps == stamps.astype("datetime64[D]")).all())


class Hedge(StrEnum):
    SHORT = "short"  # sell the short leg short
    INVERSE = "inverse"  # hold an inverse fund long, sized for the same effective exposure


@dataclass(frozen=True, slots=True)
class PairStrategy:
    """Equal dollars long `long_leg` and short `short_leg`; `gross` = |long| + |short| over equity.

    With `max_trailing_spread` set, the pair is held only while the trailing total-return spread
    long - short over `lookback_days` sessions is at most that value; otherwise the target is flat.
    With `min_trend_score` set (1 to 3), the pair is held only while at least that many of the long leg's
    trend signs read up: its close above the 50-week average, weekly MACD above its signal, RSI(14) over 50.
    With both gates set, both must be open.
    """

    name: ClassVar[str] = "pair"

    long_leg: Symbol = Symbol("IWM")
    short_leg: Symbol = Symbol("QQQ")
    gross: Decimal = Decimal("1.0")
    hedge: Hedge = Hedge.SHORT
    inverse: Symbol = Symbol("PSQ")
    inverse_multiple: Decimal = Decimal("-1")
    max_trailing_spread: Decimal | None = None
    lookback_days: int = TRADING_DAYS_PER_YEAR
    min_trend_score: int | None = None

    def __post_init__(self) -> None:
        require_positive(self.gross, "pair gross")
        legs = [("long leg", self.long_leg), ("short leg", self.short_leg)]
        if self.hedge is Hedge.INVERSE:
            require_distinct([*legs, ("inverse", self.inverse)])
            if self.inverse_multiple >= 0:
                multiple = self.inverse_multiple
                raise ValueError(f"{self.inverse}: inverse multiple must be negative, got {multiple}")
        else:
            require_distinct(legs)
        if self.lookback_days < 1:
            raise ValueError(f"lookback_days must be at least 1, got {self.lookback_days}")
        if self.min_trend_score is not None and not 1 <= self.min_trend_score <= 3:
            raise ValueError(f"min_trend_score must be 1, 2 or 3 of the three trend signs, got {self.min_trend_score}")

    @property
    def hedge_symbol(self) -> Symbol:
        return self.inverse if self.hedge is Hedge.INVERSE else self.short_leg

    @property
    def universe(self) -> frozenset[Symbol]:
        return frozenset({self.long_leg, self.hedge_symbol})

    @property
    def vehicles(self) -> Mapping[Symbol, Vehicle]:
        hedge_multiple = self.inverse_multiple if self.hedge is Hedge.INVERSE else ONE
        return {
            self.long_leg: Vehicle(self.long_leg, self.long_leg, ONE),
            self.hedge_symbol: Vehicle(self.hedge_symbol, self.short_leg, hedge_multiple),
        }

    @property
    def history_symbols(self) -> frozenset[Symbol]:
        """Columns the gate reads from MarketView.closes: the underlyings, even when hedging with PSQ."""
        wanted: set[Symbol] = set()
        if self.max_trailing_spread is not None:
            wanted |= {self.long_leg, self.short_leg}
        if self.min_trend_score is not None:
            wanted.add(self.long_leg)
        return frozenset(wanted)

    @property
    def needs_history_days(self) -> int:
        """Daily closes needed up to as_of: one more than the lookback (a return needs two ends), and the
        trend's two years."""
        spread = self.lookback_days + 1 if self.max_trailing_spread is not None else 0
        return max(spread, TREND_HISTORY_SESSIONS if self.min_trend_score is not None else 0)

    def target_weights(self, market: MarketView) -> TargetWeights:
        if not self.is_gate_open(market):
            return TargetWeights({sym: ZERO for sym in sorted(self.universe)})
        return self._held()

    def _held(self) -> TargetWeights:
        half = self.gross / 2
        hedge = -half if self.hedge is Hedge.SHORT else -half / self.inverse_multiple
        return TargetWeights({self.long_leg: half, self.hedge_symbol: hedge})

    def weights_by_session(self, closes: pd.DataFrame, sessions: pd.DatetimeIndex,
                           symbols: Sequence[Symbol]) -> np.ndarray | None:
        """target_weights as of every session at once (strategies.base.SessionWeights), for a backtest: row t is
        what target_weights returns as of sessions[t] given the rows of `closes` dated up to it, as floats in
        `symbols` order. Both gates are read with the same float operations on the same closes (the spread's
        returns; the trend's averages, MACD and RSI: indicators.trend_scores), and the spread's threshold is
        compared as target_weights compares it (in Decimal wherever floats come near it), so every row is the
        same. None where that cannot be promised (closes it would refuse, an index or sessions not plain dates):
        the caller asks session by session."""
        if self.max_trailing_spread is None and self.min_trend_score is None:
            return None  # no gate: the weights are one row, and a backtest asks once
        index = closes.index
        if not (_plain_days(index) and _plain_days(sessions) and index.dtype == sessions.dtype):
            return None
        if any(sym not in closes.columns for sym in self.history_symbols):
            return None
        ends = np.searchsorted(index.values, sessions.values, side="right")  # closes visible at each session
        held = np.ones(len(ends), dtype=np.bool_)
        if self.max_trailing_spread is not None:
            spread_open = self._spread_open(closes, ends, self.max_trailing_spread)
            if spread_open is None:
                return None
            held &= spread_open
        if self.min_trend_score is not None:
            scores = trend_scores(index.values, closes[self.long_leg].to_numpy(np.float64), ends)
            if scores is None:
                return None
            held &= scores >= self.min_trend_score
        weights = self._held().weights
        row = np.array([float(weights.get(sym, ZERO)) for sym in symbols])
        out = np.zeros((len(ends), len(symbols)))
        out[held] = row
        return out

    def _spread_open(self, closes: pd.DataFrame, ends: np.ndarray, limit: Decimal) -> np.ndarray | None:
        days = self.lookback_days
        if not len(ends) or ends.min() < days + 1:
            return None  # target_weights refuses a session without a full lookback
        legs = []
        for sym in (self.long_leg, self.short_leg):
            values = closes[sym].to_numpy(np.float64)
            first, last = values[ends - 1 - days], values[ends - 1]
            if not (np.isfinite(first).all() and np.isfinite(last).all() and (first > 0).all() and (last > 0).all()):
                return None
            legs.append(last / first - 1.0)
        spread = legs[0] - legs[1]  # long - short, as trailing_spread takes it
        open_: np.ndarray = spread <= float(limit)
        for t in np.flatnonzero(np.abs(spread - float(limit)) <= NEAR_LIMIT).tolist():
            open_[t] = Decimal(repr(float(spread[t]))) <= limit  # where rounding could matter: Decimal itself
        return open_

    def is_gate_open(self, market: MarketView) -> bool:
        if self.max_trailing_spread is None and self.min_trend_score is None:
            return True
        if market.closes is None:
            raise DataError(f"pair with a gate needs {self.needs_history_days} daily closes")
        return self._spread_allows(market.closes, market.as_of) and self._trend_allows(market.closes, market.as_of)

    def _trend_allows(self, closes: pd.DataFrame, as_of: date) -> bool:
        if self.min_trend_score is None:
            return True
        stamps, values = column_up_to(closes, self.long_leg, as_of)
        return trend_of(stamps, values).score >= self.min_trend_score

    def _spread_allows(self, closes: pd.DataFrame, as_of: date) -> bool:
        if self.max_trailing_spread is None:
            return True
        spread = trailing_spread(closes, long=self.long_leg, short=self.short_leg, as_of=as_of,
                                 days=self.lookback_days)
        return Decimal(repr(spread)) <= self.max_trailing_spread
