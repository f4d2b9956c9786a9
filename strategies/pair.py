"""The relative-value pair: long IWM, short QQQ in equal dollars, via a short sale or an inverse fund."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from bot.core.domain import ONE, ZERO, Symbol, TargetWeights, Vehicle
from bot.errors import DataError
from strategies.base import MarketView, require_distinct, require_positive
from strategies.signals import TRADING_DAYS_PER_YEAR, trailing_spread


class Hedge(StrEnum):
    SHORT = "short"  # sell the short leg short
    INVERSE = "inverse"  # hold an inverse fund long, sized for the same effective exposure


@dataclass(frozen=True, slots=True)
class PairStrategy:
    """Equal dollars long `long_leg` and short `short_leg`; `gross` = |long| + |short| over equity.

    With `max_trailing_spread` set, the pair is held only while the trailing total-return spread
    long - short over `lookback_days` sessions is at most that value; otherwise the target is flat.
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
        if self.max_trailing_spread is None:
            return frozenset()
        return frozenset({self.long_leg, self.short_leg})

    @property
    def needs_history_days(self) -> int:
        """Daily closes needed up to as_of: one more than the lookback, since a return needs two ends."""
        return self.lookback_days + 1 if self.max_trailing_spread is not None else 0

    def target_weights(self, market: MarketView) -> TargetWeights:
        if not self.is_gate_open(market):
            return TargetWeights({sym: ZERO for sym in sorted(self.universe)})
        half = self.gross / 2
        hedge = -half if self.hedge is Hedge.SHORT else -half / self.inverse_multiple
        return TargetWeights({self.long_leg: half, self.hedge_symbol: hedge})

    def is_gate_open(self, market: MarketView) -> bool:
        if self.max_trailing_spread is None:
            return True
        if market.closes is None:
            raise DataError(f"pair with max_trailing_spread needs {self.needs_history_days} daily closes")
        spread = trailing_spread(
            market.closes,
            long=self.long_leg,
            short=self.short_leg,
            as_of=market.as_of,
            days=self.lookback_days,
        )
        return Decimal(repr(spread)) <= self.max_trailing_spread
