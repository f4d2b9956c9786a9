"""The Broker port: what the runner and the commands call on a broker, in domain words only.

AlpacaBroker (bot/adapters/broker/alpaca.py) implements it over HTTP; tests/fakes.py's FakeBroker in memory.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Protocol

import pandas as pd

from bot.adapters.broker.schema import SchemaSeen
from bot.core.domain import (
    AccountEvent,
    AccountSnapshot,
    AssetInfo,
    Fill,
    MarketClock,
    OrderIntent,
    OrderState,
    Position,
    Session,
    Symbol,
)


class Broker(Protocol):
    @property
    def request_count(self) -> int:
        """Requests sent so far (for the run's log line)."""
        ...

    def account_number(self) -> str: ...

    def clock(self) -> MarketClock: ...

    def snapshot(self, symbols: Collection[Symbol]) -> AccountSnapshot:
        """Account, every position, quotes and assets of `symbols`; a symbol the broker does not know is absent
        from assets and quotes."""
        ...

    def positions(self) -> tuple[Position, ...]: ...

    def asset(self, symbol: str) -> AssetInfo | None:
        """None when the broker does not know the symbol."""
        ...

    def sessions(self, start: date, end: date) -> tuple[Session, ...]: ...

    def submit(self, order: OrderIntent) -> OrderState:
        """Send once; resolve an ambiguous outcome by looking the client order id up (ids are unique forever)."""
        ...

    def order_by_client_id(self, client_order_id: str) -> OrderState | None: ...

    def order(self, order_id: str) -> OrderState: ...

    def open_orders(self) -> tuple[OrderState, ...]: ...

    def all_orders(self) -> tuple[OrderState, ...]:
        """Every order of the account, oldest first (to adopt pairbot's into a new ledger)."""
        ...

    def cancel(self, order_id: str) -> None:
        """Ask to cancel; an order already final or gone is not an error."""
        ...

    def fills(self, *, after: datetime | None = None, known: Mapping[str, str] | None = None) -> tuple[Fill, ...]:
        """FILL activities, oldest first, strictly after `after` when given, each with its order's client
        order id (`known`: order id -> client order id; the others are found in bulk, not one request each)."""
        ...

    def account_events(self, *, after: date | None = None) -> tuple[AccountEvent, ...]:
        """Non-trade activities (splits, dividends, cash entries), oldest first; with `after`, those dated
        from the day before it on (a day of overlap: the caller de-duplicates by activity id)."""
        ...

    def daily_closes(self, symbols: Collection[Symbol], start: date, end: date, *,
                     adjustment: str = "all") -> pd.DataFrame:
        """Daily closes (adjusted, or as traded with "raw"), index = session dates, one column per symbol."""
        ...

    def schema_seen(self) -> SchemaSeen:
        """What the broker's JSON looked like, and what was tolerated (for status and doctor)."""
        ...
