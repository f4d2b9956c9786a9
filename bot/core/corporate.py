"""Corporate actions as values: splits (and, from the broker, their booked entries' effect on a position)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bot.core.domain import ONE, ZERO, AccountEvent, Symbol


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


STOCK_TYPES = frozenset({"SPIN"})  # activities that move pairbot's shares as sent (a spin-off of a fund it holds)
# Shares a person moved in or out (a stock journal, an ACATS transfer): journaled as events, but the change is not
# pairbot's; the difference it leaves stops the run until `ledger accept` makes it pairbot's.
MOVED_BY_HAND = frozenset({"JNLS", "ACATS"})


def moved_by_hand(events: Iterable[AccountEvent]) -> dict[Symbol, Decimal]:
    """Shares per symbol that stock journals and transfers moved (signed as the broker sent them)."""
    out: dict[Symbol, Decimal] = {}
    for e in events:
        if e.symbol is not None and e.activity_type in MOVED_BY_HAND and e.qty:
            out[e.symbol] = out.get(e.symbol, ZERO) + e.qty
    return out


def event_effects(events: Sequence[AccountEvent], held: Mapping[Symbol, Decimal]) -> list[Decimal]:
    """The change each event makes to pairbot's position in its symbol, in order (`held`: before the first).

    A split REMOVEs the old quantity and ADDs the new one: each takes the sign of the position it acts on,
    whether the broker sent it signed or not. Cash-only events (dividends, fees, cash in lieu) change nothing.
    """
    pos = dict(held)
    removed_sign: dict[Symbol, int] = {}
    out: list[Decimal] = []
    for e in events:
        change = ZERO
        if e.symbol is not None:
            now = pos.get(e.symbol, ZERO)
            if e.is_split and e.split_leg == "remove":
                sign = _sign(now) or -_sign(e.qty) or 1
                removed_sign[e.symbol] = sign
                change = -sign * abs(e.qty)
            elif e.is_split:
                change = (removed_sign.pop(e.symbol, 0) or _sign(now) or _sign(e.qty) or 1) * abs(e.qty)
            elif e.activity_type in STOCK_TYPES:
                change = e.qty
            pos[e.symbol] = now + change
        out.append(change)
    return out


def _sign(x: Decimal) -> int:
    return 1 if x > 0 else -1 if x < 0 else 0


def split_like(before: Decimal, after: Decimal, *, price_before: Decimal, price_after: Decimal) -> Decimal | None:
    """The ratio when the position went from `before` to `after` shares as a split would take it (k-for-1 or
    1-for-k, k up to 100, a remainder paid in cash or kept as a fraction) and the price moved by its inverse
    (within 25%: a day's move, not a hand trade at an unchanged price); else None."""
    if before == 0 or after == 0 or (before > 0) != (after > 0) or price_before <= 0 or price_after <= 0:
        return None
    for k in range(2, 101):
        for ratio in (Decimal(k), ONE / Decimal(k)):
            if 0 <= abs(before * ratio) - abs(after) < 1 and abs(price_after * ratio / price_before - ONE) < QUARTER:
                return ratio
    return None


QUARTER = Decimal("0.25")


# How the cash of an account event counts: on a leg (its P&L), as account income or cost, or as money moved in
# or out (not P&L). Unknown types count as "other" (shown, never guessed into P&L).
CASH_KIND = {
    "DIV": "dividend", "DIVNRA": "withholding", "DIVROC": "dividend", "DIVTW": "withholding", "DIVFT": "withholding",
    "CIL": "cash in lieu", "FEE": "fee", "INT": "interest", "INTNRA": "withholding",
    "JNLC": "transfer", "JNL": "transfer", "CSD": "transfer", "CSW": "transfer", "TRANS": "transfer",
    "ACATC": "transfer",
}
TRANSFER = "transfer"


def cash_kind(e: AccountEvent) -> str:
    return CASH_KIND.get(e.activity_type, "split" if e.is_split else "other")


def leg_cash(events: Iterable[AccountEvent]) -> dict[Symbol, Decimal]:
    """Cash per symbol from events on a leg (dividends received or paid, withholding, cash in lieu)."""
    out: dict[Symbol, Decimal] = {}
    for e in events:
        if e.symbol is not None and e.cash and cash_kind(e) != TRANSFER:
            out[e.symbol] = out.get(e.symbol, ZERO) + e.cash
    return out


def account_cash(events: Iterable[AccountEvent]) -> dict[str, Decimal]:
    """Cash per kind from account-level events (fees, interest, transfers in and out, other)."""
    out: dict[str, Decimal] = {}
    for e in events:
        if e.symbol is None and e.cash:
            out[cash_kind(e)] = out.get(cash_kind(e), ZERO) + e.cash
    return out


def net_transfers(events: Iterable[AccountEvent]) -> Decimal:
    """Money moved in (+) or out (-): changes equity without being P&L."""
    return sum((e.cash for e in events if cash_kind(e) == TRANSFER), ZERO)


def split_lines(events: Iterable[AccountEvent]) -> list[str]:
    """One line per split seen: 'PSQ 2026-12-03: 1575 -> 393.75 shares' (quantities as the broker booked them)."""
    removed: dict[tuple[Symbol, date], Decimal] = {}
    out = []
    for e in events:
        if not e.is_split or e.symbol is None:
            continue
        if e.split_leg == "remove":
            removed[(e.symbol, e.on)] = abs(e.qty)
        else:
            old = removed.pop((e.symbol, e.on), None)
            out.append(f"{e.symbol} {e.on}: {'?' if old is None else _plain(old)} -> {_plain(abs(e.qty))} shares")
    return out
