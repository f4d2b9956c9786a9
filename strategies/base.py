"""What a strategy sees (MarketView), what it must offer (Strategy), and the checks its parameters share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from bot.core.domain import Symbol, TargetWeights, Vehicle

# Defaults only: a strategy takes its symbols as parameters and may name other funds with their own multiples.
KNOWN_VEHICLES: Mapping[Symbol, Vehicle] = {
    v.symbol: v
    for v in (
        Vehicle(Symbol("IWM"), Symbol("IWM"), Decimal(1)),
        Vehicle(Symbol("QQQ"), Symbol("QQQ"), Decimal(1)),
        Vehicle(Symbol("SPY"), Symbol("SPY"), Decimal(1)),
        Vehicle(Symbol("PSQ"), Symbol("QQQ"), Decimal(-1)),
        Vehicle(Symbol("SQQQ"), Symbol("QQQ"), Decimal(-3)),
        Vehicle(Symbol("TNA"), Symbol("IWM"), Decimal(3)),
        Vehicle(Symbol("UPRO"), Symbol("SPY"), Decimal(3)),
    )
}


@dataclass(frozen=True, slots=True)
class MarketView:
    """The market as a strategy may see it on one day: latest marks and, if asked for, daily closes."""

    as_of: date
    prices: Mapping[Symbol, Decimal]  # latest marks
    closes: pd.DataFrame | None = None  # daily adjusted closes, index=dates, columns=symbols


class Strategy(Protocol):
    # Read-only, so a ClassVar name on a frozen dataclass satisfies it; callers read strategy.name as usual.
    @property
    def name(self) -> str: ...

    @property
    def universe(self) -> frozenset[Symbol]: ...

    @property
    def vehicles(self) -> Mapping[Symbol, Vehicle]: ...  # every symbol of the universe

    @property
    def needs_history_days(self) -> int: ...  # 0 when no history is needed

    @property
    def history_symbols(self) -> frozenset[Symbol]: ...  # closes read beyond the universe (a gate's underlyings)

    def target_weights(self, market: MarketView) -> TargetWeights: ...


@runtime_checkable
class SessionWeights(Protocol):
    """What a strategy that reads history may also offer a backtest: its target weights as of every session at
    once, each row the same floats target_weights gives as of that session (a test holds them equal), or None
    where it cannot promise that (the backtest then asks session by session)."""

    def weights_by_session(self, closes: pd.DataFrame, sessions: pd.DatetimeIndex,
                           symbols: Sequence[Symbol]) -> np.ndarray | None: ...


def require_distinct(named: Iterable[tuple[str, Symbol]]) -> None:
    """The same fund on two legs would net the legs against each other: refuse it."""
    seen: dict[Symbol, str] = {}
    for role, sym in named:
        if sym in seen:
            raise ValueError(f"{sym} is both {seen[sym]} and {role}")
        seen[sym] = role


def require_positive(value: Decimal, what: str) -> None:
    if value <= 0:
        raise ValueError(f"{what} must be positive, got {value}")


def known_vehicle(symbol: Symbol, overrides: Mapping[Symbol, Vehicle]) -> Vehicle:
    """The vehicle for a symbol: an override first, then the defaults; an unknown fund must be declared."""
    if symbol in overrides:
        return overrides[symbol]
    if symbol in KNOWN_VEHICLES:
        return KNOWN_VEHICLES[symbol]
    raise ValueError(f"{symbol}: unknown vehicle; declare its underlying and multiple in vehicles")
