"""Core + leveraged/inverse overlay (SPY + UPRO/TNA/SQQQ), and the leveraged replica (TNA + cash)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import ClassVar

from bot.core.domain import ONE, Symbol, TargetWeights, Vehicle
from strategies.base import MarketView, known_vehicle, require_positive


def _default_overlay_weights() -> Mapping[Symbol, Decimal]:
    return {
        Symbol("SPY"): Decimal("0.70"),
        Symbol("UPRO"): Decimal("0.10"),
        Symbol("TNA"): Decimal("0.10"),
        Symbol("SQQQ"): Decimal("0.10"),
    }


@dataclass(frozen=True, slots=True)
class OverlayStrategy:
    """Fixed weights over a core fund and leveraged/inverse funds; the rest of equity stays cash.

    Funds outside the defaults (IWM, QQQ, SPY, PSQ, SQQQ, TNA, UPRO) are declared in `vehicle_specs`,
    which also overrides a default's underlying or multiple.
    """

    name: ClassVar[str] = "overlay"

    weights: Mapping[Symbol, Decimal] = field(default_factory=_default_overlay_weights)
    vehicle_specs: Mapping[Symbol, Vehicle] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for sym, w in self.weights.items():
            if not isinstance(w, Decimal) or not w.is_finite():
                raise ValueError(f"overlay weight of {sym} must be a finite Decimal, got {w!r}")
        require_positive(sum((abs(w) for w in self.weights.values()), Decimal(0)), "overlay gross")
        for sym, vehicle in self.vehicle_specs.items():
            if vehicle.symbol != sym:
                raise ValueError(f"vehicle_specs[{sym}] describes {vehicle.symbol}")
        for sym in self.weights:
            known_vehicle(sym, self.vehicle_specs)
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights)))
        object.__setattr__(self, "vehicle_specs", MappingProxyType(dict(self.vehicle_specs)))

    @property
    def universe(self) -> frozenset[Symbol]:
        return frozenset(self.weights)

    @property
    def vehicles(self) -> Mapping[Symbol, Vehicle]:
        return {sym: known_vehicle(sym, self.vehicle_specs) for sym in sorted(self.weights)}

    @property
    def needs_history_days(self) -> int:
        return 0

    @property
    def history_symbols(self) -> frozenset[Symbol]:
        return frozenset()

    def target_weights(self, market: MarketView) -> TargetWeights:
        # Daily-reset funds keep their multiple only day to day; the drift band corrects the slippage.
        return TargetWeights(dict(self.weights))


@dataclass(frozen=True, slots=True)
class ReplicaStrategy:
    """One leveraged fund and cash: 33% TNA (IWM x 3) gives about 100% effective small-cap exposure."""

    name: ClassVar[str] = "replica"

    symbol: Symbol = Symbol("TNA")
    weight: Decimal = Decimal("0.33")
    underlying: Symbol = Symbol("IWM")
    multiple: Decimal = Decimal("3")

    def __post_init__(self) -> None:
        require_positive(self.weight, f"replica weight of {self.symbol}")
        if self.weight > ONE:
            raise ValueError(f"replica weight of {self.symbol} must be at most 1, got {self.weight}")
        Vehicle(self.symbol, self.underlying, self.multiple)

    @property
    def universe(self) -> frozenset[Symbol]:
        return frozenset({self.symbol})

    @property
    def vehicles(self) -> Mapping[Symbol, Vehicle]:
        return {self.symbol: Vehicle(self.symbol, self.underlying, self.multiple)}

    @property
    def needs_history_days(self) -> int:
        return 0

    @property
    def history_symbols(self) -> frozenset[Symbol]:
        return frozenset()

    def target_weights(self, market: MarketView) -> TargetWeights:
        return TargetWeights({self.symbol: self.weight})
