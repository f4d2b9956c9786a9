"""The strategy registry: config name -> strategy class, and build_strategy(name, params)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import cast

from strategies.base import (
    MarketView,
    Strategy,
    parse_vehicles,
    parse_weights,
    to_decimal,
    to_symbol,
)
from strategies.overlay import OverlayStrategy, ReplicaStrategy
from strategies.pair import Hedge, PairStrategy

__all__ = [
    "STRATEGIES",
    "Hedge",
    "MarketView",
    "OverlayStrategy",
    "PairStrategy",
    "ReplicaStrategy",
    "Strategy",
    "build_strategy",
]

STRATEGIES: Mapping[str, type] = {
    "pair": PairStrategy,
    "overlay": OverlayStrategy,
    "replica": ReplicaStrategy,
}


def _to_int(value: object, what: str) -> int:
    number = to_decimal(value, what)
    if number != number.to_integral_value():
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    return int(number)


def _to_optional_int(value: object, what: str) -> int | None:
    return None if value is None or str(value).strip().lower() in ("none", "null") else _to_int(value, what)


def _to_optional_decimal(value: object, what: str) -> object:
    return None if value is None else to_decimal(value, what)


def _to_hedge(value: object, what: str) -> Hedge:
    try:
        return Hedge(str(value).strip().lower())
    except ValueError as err:
        raise ValueError(f"{what} must be one of {', '.join(Hedge)}, got {value!r}") from err


# Field annotations are strings (from __future__ import annotations); each names its parser.
_PARSERS: Mapping[str, Callable[[object, str], object]] = {
    "Symbol": to_symbol,
    "Decimal": to_decimal,
    "Decimal | None": _to_optional_decimal,
    "int": _to_int,
    "int | None": _to_optional_int,
    "Hedge": _to_hedge,
    "Mapping[Symbol, Decimal]": parse_weights,
    "Mapping[Symbol, Vehicle]": parse_vehicles,
}


def build_strategy(name: str, params: Mapping[str, object]) -> Strategy:
    """A registered strategy from config params; an unknown name or parameter raises ValueError naming it."""
    cls = STRATEGIES.get(name)
    if cls is None:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
    fields = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        known = ", ".join(fields)
        raise ValueError(f"strategy {name!r}: unknown parameter(s) {', '.join(unknown)}; known: {known}")
    kwargs = {key: _PARSERS[fields[key]](value, f"{name}.{key}") for key, value in params.items()}
    return cast(Strategy, cls(**kwargs))
