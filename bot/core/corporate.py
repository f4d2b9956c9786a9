"""Corporate actions as values: splits (and, from the broker, their booked entries' effect on a position)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bot.core.domain import ONE, Symbol


@dataclass(frozen=True, slots=True)
class Split:
    """A split of one fund: from `on` (the first session at the new quantity and price) each old share is
    `ratio` new shares: 2 for a 2-for-1 split, 0.25 for a 1-for-4 reverse split."""

    symbol: Symbol
    on: date
    ratio: Decimal

    def __post_init__(self) -> None:
        if not self.ratio.is_finite() or self.ratio <= 0 or self.ratio == ONE:
            raise ValueError(f"{self.symbol} split on {self.on}: ratio must be positive and not 1, got {self.ratio}")

    @property
    def is_reverse(self) -> bool:
        return self.ratio < ONE

    def describe(self) -> str:
        """'2-for-1' or '1-for-4'."""
        if self.is_reverse:
            return f"1-for-{_plain(ONE / self.ratio)}"
        return f"{_plain(self.ratio)}-for-1"


def _plain(x: Decimal) -> str:
    return format(x.normalize(), "f")


def split_factor(splits: Iterable[Split], symbol: Symbol, day: date) -> Decimal:
    """Product of the ratios of the symbol's splits after `day`: as-traded price = split-adjusted price x this."""
    out = ONE
    for s in splits:
        if s.symbol == symbol and s.on > day:
            out *= s.ratio
    return out
