"""Rows of the ledger as values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.core.domain import AccountEvent, Side, Symbol
from bot.core.orderkey import OrderKey


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    started_at: str
    finished_at: str | None
    mode: str
    command: str
    strategy: str
    decision: str | None
    period: str | None
    run_key: str | None
    why: str | None
    outcome: str | None
    exit_code: int | None
    summary: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A change the broker shows that pairbot did not make, accepted by a person as pairbot's own."""

    symbol: Symbol
    qty: Decimal  # signed: broker_qty - ledger_qty at the time
    ledger_qty: Decimal
    broker_qty: Decimal
    reason: str
    accepted_by: str
    accepted_at: datetime
    id: int = 0
    rebalanced_by: str | None = None  # the run that traded the book back to target afterwards
    price: Decimal | None = None  # the broker's mark when it was accepted (None: accepted before pairbot kept it)


@dataclass(frozen=True, slots=True)
class IntentRecord:
    client_order_id: str
    run_id: str
    run_key: str
    leg_key: str
    attempt: int
    symbol: Symbol
    side: Side
    intent: str
    qty: Decimal
    reference_price: Decimal
    created_at: str
    state: str  # journaled | submitted | unsent


def leg_key(run_key: str, symbol: str, intent_code: str) -> str:
    return OrderKey(run_key, Symbol(symbol), intent_code).leg


@dataclass(frozen=True, slots=True)
class BookedEvent:
    """An account event as the ledger journaled it, with the change it made to pairbot's position."""

    event: AccountEvent
    position_effect: Decimal
