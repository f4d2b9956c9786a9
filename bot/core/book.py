"""Whose positions are whose: pairbot's book is its strategy's symbols plus what its ledger holds; the rest is
the user's, never traded. Reconciliation compares only pairbot's book with the broker."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from decimal import Decimal

from bot.core.checks import Violation
from bot.core.domain import ZERO, AccountSnapshot, Fill, Symbol


def our_symbols(universe: Collection[Symbol], ledger_positions: Mapping[Symbol, Decimal]) -> frozenset[Symbol]:
    """The strategy's symbols, and any symbol pairbot still holds (from an earlier strategy: its own to close)."""
    return frozenset(universe) | {s for s, q in ledger_positions.items() if q != 0}


def own_book(snapshot: AccountSnapshot, ours: Collection[Symbol]) -> AccountSnapshot:
    """The snapshot with pairbot's positions only; the others move to other_positions (equity stays the broker's)."""
    mine = {s: p for s, p in snapshot.positions.items() if s in ours}
    others = {s: p for s, p in snapshot.positions.items() if s not in ours}
    return replace(snapshot, positions=mine, other_positions={**snapshot.other_positions, **others})


def outside_trades(fills: Iterable[Fill]) -> dict[Symbol, Decimal]:
    """Signed quantity per symbol traded by orders pairbot did not place (the caller passes only those)."""
    out: dict[Symbol, Decimal] = {}
    for f in fills:
        out[f.symbol] = out.get(f.symbol, ZERO) + f.signed_qty
    return out


def book_breaks(
    ledger_positions: Mapping[Symbol, Decimal],
    broker_positions: Mapping[Symbol, Decimal],
    *,
    ours: Collection[Symbol],
    outside: Mapping[Symbol, Decimal] | None = None,
    moved: Mapping[Symbol, Decimal] | None = None,
) -> tuple[Violation, ...]:
    """Every symbol of pairbot's book whose ledger quantity differs from the broker's, with what explains it:
    `outside`, the shares orders pairbot did not place traded; `moved`, the shares stock journals or transfers
    moved in or out since the last accepted change."""
    found = []
    for sym in sorted(set(ours)):
        mine, theirs = ledger_positions.get(sym, ZERO), broker_positions.get(sym, ZERO)
        if mine == theirs:
            continue
        why = _explained(theirs - mine, (outside or {}).get(sym, ZERO), (moved or {}).get(sym, ZERO))
        found.append(Violation("position_mismatch", f"{sym}: ledger {mine}, broker {theirs}{why}"))
    return tuple(found)


def _explained(gap: Decimal, traded: Decimal, moved: Decimal) -> str:
    """' (+10 by orders pairbot did not place)' when what is known accounts for the whole gap, else ''."""
    orders, journals = f"{traded:+} by orders pairbot did not place", f"{moved:+} by a stock journal or transfer"
    if traded and traded == gap:
        return f" ({orders})"
    if moved and moved == gap:
        return f" ({journals})"
    if traded and moved and traded + moved == gap:
        return f" ({orders}, {journals})"
    return ""


def looks_like_reset(ledger_positions: Mapping[Symbol, Decimal], broker_positions: Mapping[Symbol, Decimal],
                     ours: Collection[Symbol]) -> bool:
    """pairbot held something and the broker holds none of pairbot's symbols: an account reset or transfer out."""
    held = [s for s in ours if ledger_positions.get(s, ZERO) != 0]
    return bool(held) and all(broker_positions.get(s, ZERO) == 0 for s in ours)
