"""The Broker port: what the runner needs from a broker, in domain words only."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Protocol

import pandas as pd

from bot.core.domain import AccountEvent, AccountSnapshot, AssetInfo, Fill, OrderIntent, OrderState, Session, Symbol


class Broker(Protocol):
    def snapshot(self, symbols: Collection[Symbol]) -> AccountSnapshot:
        """A symbol the broker does not know is absent from the snapshot's assets (and quotes)."""
        ...

    def asset(self, symbol: str) -> AssetInfo | None:
        """None when the broker does not know the symbol."""
        ...

    def sessions(self, start: date, end: date) -> tuple[Session, ...]: ...

    def submit(self, order: OrderIntent) -> OrderState:
        """Send once; resolve an ambiguous outcome by looking the client order id up."""
        ...

    def order_by_client_id(self, client_order_id: str) -> OrderState | None: ...

    def order(self, order_id: str) -> OrderState: ...

    def open_orders(self) -> tuple[OrderState, ...]: ...

    def cancel(self, order_id: str) -> None: ...

    def fills(self, *, after: datetime | None = None) -> tuple[Fill, ...]:
        """FILL activities, oldest first, strictly after `after` when given."""
        ...

    def account_events(self, *, after: date | None = None) -> tuple[AccountEvent, ...]:
        """Non-trade activities (splits, dividends, cash entries), oldest first; with `after`, those dated
        from the day before it on (a day of overlap: the caller de-duplicates by activity id)."""
        ...

    def daily_closes(self, symbols: Collection[Symbol], start: date, end: date, *,
                     adjustment: str = "all") -> pd.DataFrame:
        """Daily closes (adjusted, or as traded with "raw"), index = session dates, one column per symbol."""
        ...
