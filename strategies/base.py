"""What a strategy sees (MarketView), what it must offer (Strategy), and parameter parsing shared by all."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Protocol

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


def to_decimal(value: object, what: str) -> Decimal:
    """Numbers from config: Decimal, int, str or float (via repr, so 0.1 stays 0.1); finite only."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{what} must be finite, got {value!r}")
        value = repr(value)
    if not isinstance(value, Decimal | int | str):
        raise ValueError(f"{what} must be a number, got {value!r}")
    try:
        out = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation as err:
        raise ValueError(f"{what} must be a number, got {value!r}") from err
    if not out.is_finite():
        raise ValueError(f"{what} must be finite, got {value!r}")
    return out


def to_symbol(value: object, what: str) -> Symbol:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty symbol, got {value!r}")
    return Symbol(value.strip().upper())


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


def parse_vehicles(value: object, what: str) -> dict[Symbol, Vehicle]:
    """{"SPXL": {"underlying": "SPY", "multiple": "3"}} or Vehicle values, keyed by symbol."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a mapping of symbol to vehicle, got {value!r}")
    out: dict[Symbol, Vehicle] = {}
    for raw_sym, spec in value.items():
        sym = to_symbol(raw_sym, what)
        if isinstance(spec, Vehicle):
            out[sym] = spec
        elif isinstance(spec, Mapping) and set(spec) <= {"underlying", "multiple"} and "underlying" in spec:
            multiple = to_decimal(spec.get("multiple", "1"), f"{what}.{sym}.multiple")
            out[sym] = Vehicle(sym, to_symbol(spec["underlying"], f"{what}.{sym}.underlying"), multiple)
        else:
            raise ValueError(f"{what}.{sym} must give underlying and multiple, got {spec!r}")
    return out


def parse_weights(value: object, what: str) -> dict[Symbol, Decimal]:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{what} must be a non-empty mapping of symbol to weight, got {value!r}")
    return {to_symbol(sym, what): to_decimal(w, f"{what}.{sym}") for sym, w in value.items()}
