"""Drift: weights per leg and book measures (gross, net, long/short, effective exposure), and the bands."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.core.domain import (
    ONE,
    ZERO,
    AccountSnapshot,
    BookMeasures,
    DriftReport,
    LegDrift,
    Symbol,
    TargetWeights,
    Vehicle,
)


@dataclass(frozen=True, slots=True)
class DriftBands:
    """Largest tolerated |current - target|, as fractions of equity; None leaves a measure unbanded."""

    leg: Decimal
    gross: Decimal | None = None
    net: Decimal | None = None
    effective: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("leg", "gross", "net", "effective"):
            band = getattr(self, name)
            if band is not None and (not band.is_finite() or band < 0):
                raise ValueError(f"drift band {name} must be a non-negative number, got {band}")


def mark(snapshot: AccountSnapshot, symbol: Symbol) -> Decimal:
    """The quote's mid; a held symbol without a quote falls back to its market value per share."""
    if symbol in snapshot.quotes:
        return snapshot.price(symbol)
    pos = snapshot.positions.get(symbol)
    if pos is not None and pos.qty != 0:
        return abs(pos.market_value / pos.qty)
    raise ValueError(f"{symbol}: no quote and no position to price it by")


def current_weights(snapshot: AccountSnapshot) -> dict[Symbol, Decimal]:
    """Signed market value at the mark over equity, for every held symbol."""
    if snapshot.equity <= 0:
        raise ValueError(f"equity must be positive to measure weights, got {snapshot.equity}")
    return {
        sym: pos.qty * mark(snapshot, sym) / snapshot.equity
        for sym, pos in snapshot.positions.items()
        if pos.qty != 0
    }


def book_measures(weights: Mapping[Symbol, Decimal], vehicles: Mapping[Symbol, Vehicle]) -> BookMeasures:
    """Gross and net of capital weights; long/short ratio and per-underlying exposure of effective ones.

    A symbol without a vehicle counts as itself x 1. The ratio is taken on effective exposure, which
    for a plain short pair is the long leg's value over the short leg's, and still reads 1.0 when the
    short leg is a long PSQ position.
    """
    effective: dict[Symbol, Decimal] = {}
    for sym, w in weights.items():
        vehicle = vehicles.get(sym, Vehicle(sym, sym, ONE))
        effective[vehicle.underlying] = effective.get(vehicle.underlying, ZERO) + w * vehicle.multiple
    longs = sum((e for e in effective.values() if e > 0), ZERO)
    shorts = sum((e for e in effective.values() if e < 0), ZERO)
    return BookMeasures(
        gross=sum((abs(w) for w in weights.values()), ZERO),
        net=sum(weights.values(), ZERO),
        long_short_ratio=longs / -shorts if shorts < 0 else None,
        effective=dict(sorted(effective.items())),
    )


def measure_drift(
    targets: TargetWeights, snapshot: AccountSnapshot, vehicles: Mapping[Symbol, Vehicle]
) -> DriftReport:
    """Each leg's weight against its target; a held symbol the targets omit has target 0."""
    current = current_weights(snapshot)
    symbols = sorted(set(targets.weights) | set(current))
    legs = tuple(
        LegDrift(
            symbol=sym,
            target=targets.get(sym),
            current=current.get(sym, ZERO),
            multiple=vehicles[sym].multiple if sym in vehicles else ONE,
        )
        for sym in symbols
    )
    return DriftReport(
        legs=legs,
        current=book_measures(current, vehicles),
        target=book_measures(targets.weights, vehicles),
    )


def _breach(label: str, current: Decimal, target: Decimal, band: Decimal) -> str | None:
    drift = current - target
    if abs(drift) <= band:
        return None
    return f"{label} {_pct(current)} vs target {_pct(target)} (drift {_pts(drift)} > band {_pts(band).lstrip('+')})"


def _pct(value: Decimal) -> str:
    """A fraction of equity as the plan's table shows it: 0.4312 -> '43.12%'."""
    return f"{value * 100:.2f}%"


def _pts(value: Decimal) -> str:
    """A difference of fractions in percentage points: -0.0688 -> '-6.88 pts'."""
    return f"{value * 100:+.2f} pts"


def drift_breaches(report: DriftReport, bands: DriftBands) -> tuple[str, ...]:
    """One human reason per measure outside its band, e.g. "IWM weight 43.12% vs target 50.00% (...)"."""
    found = [_breach(f"{leg.symbol} weight", leg.current, leg.target, bands.leg) for leg in report.legs]
    now, want = report.current, report.target
    if bands.gross is not None:
        found.append(_breach("gross", now.gross, want.gross, bands.gross))
    if bands.net is not None:
        found.append(_breach("net", now.net, want.net, bands.net))
    if bands.effective is not None:
        for underlying in sorted(set(now.effective) | set(want.effective)):
            found.append(
                _breach(
                    f"effective {underlying}",
                    now.effective.get(underlying, ZERO),
                    want.effective.get(underlying, ZERO),
                    bands.effective,
                )
            )
    return tuple(reason for reason in found if reason is not None)
