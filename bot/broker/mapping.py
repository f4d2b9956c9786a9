"""Pure translation between alpaca-py's models (or raw JSON) and pairbot's domain values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from alpaca.trading.enums import PositionSide
from alpaca.trading.models import Asset, Calendar, Clock, TradeAccount
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.models import Position as AlpacaPosition

from bot.core.domain import (
    AccountState,
    AssetInfo,
    Fill,
    MarketClock,
    OpenOrder,
    OrderState,
    Position,
    Quote,
    Session,
    Side,
    Symbol,
)

NEW_YORK = ZoneInfo("America/New_York")


def dec(value: object, default: str = "0") -> Decimal:
    """Alpaca sends decimals as strings (and sometimes numbers); never go through float."""
    if value is None or value == "":
        return Decimal(default)
    return Decimal(str(value))


def utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def to_position(raw: AlpacaPosition) -> Position:
    sign = -1 if raw.side == PositionSide.SHORT else 1  # sign from side, whatever qty's string says
    return Position(
        symbol=Symbol(raw.symbol),
        qty=abs(dec(raw.qty)) * sign,
        market_value=abs(dec(raw.market_value)) * sign,
        avg_entry_price=dec(raw.avg_entry_price),
    )


def to_account_state(raw: TradeAccount) -> AccountState:
    status = raw.status.value if hasattr(raw.status, "value") else str(raw.status)
    return AccountState(
        account_number=raw.account_number,
        status=str(status),
        trading_blocked=bool(raw.trading_blocked),
        account_blocked=bool(raw.account_blocked),
        trade_suspended_by_user=bool(raw.trade_suspended_by_user),
        shorting_enabled=bool(raw.shorting_enabled),
    )


def to_clock(raw: Clock) -> MarketClock:
    return MarketClock(as_of=utc(raw.timestamp), is_open=raw.is_open, next_open=utc(raw.next_open),
                       next_close=utc(raw.next_close))


def to_session(raw: Calendar) -> Session:
    """alpaca-py builds naive New York datetimes for the calendar: localize, then go to UTC."""
    day = raw.date if isinstance(raw.date, date) else date.fromisoformat(str(raw.date))
    return Session(day=day, open=_ny(day, raw.open), close=_ny(day, raw.close))


def _ny(day: date, value: datetime | time) -> datetime:
    t = value.time() if isinstance(value, datetime) else value
    return datetime.combine(day, t, tzinfo=NEW_YORK).astimezone(UTC)


def to_asset(raw: Asset) -> AssetInfo:
    return AssetInfo(symbol=Symbol(raw.symbol), tradable=raw.tradable, shortable=raw.shortable,
                     easy_to_borrow=raw.easy_to_borrow, fractionable=raw.fractionable)


def to_order_state(raw: AlpacaOrder) -> OrderState:
    side = raw.side.value if raw.side is not None else "buy"
    return OrderState(
        order_id=str(raw.id),
        client_order_id=raw.client_order_id,
        symbol=Symbol(raw.symbol or ""),
        side=Side(side),
        qty=dec(raw.qty),
        filled_qty=dec(raw.filled_qty),
        filled_avg_price=None if raw.filled_avg_price in (None, "") else dec(raw.filled_avg_price),
        status=raw.status.value if hasattr(raw.status, "value") else str(raw.status),
        submitted_at=utc(raw.submitted_at),
    )


def to_open_order(state: OrderState) -> OpenOrder:
    return OpenOrder(order_id=state.order_id, client_order_id=state.client_order_id, symbol=state.symbol,
                     side=state.side, qty=state.qty, filled_qty=state.filled_qty, status=state.status)


def to_quote(symbol: str, raw: Any) -> Quote:
    return Quote(symbol=Symbol(symbol), bid=dec(raw.bid_price), ask=dec(raw.ask_price), as_of=utc(raw.timestamp))


def fill_from_activity(raw: Mapping[str, Any], client_order_id: str) -> Fill:
    """One FILL activity (raw JSON from /v2/account/activities) as a domain Fill."""
    return Fill(
        activity_id=str(raw["id"]),
        order_id=str(raw["order_id"]),
        client_order_id=client_order_id,
        symbol=Symbol(str(raw["symbol"])),
        side=Side(str(raw["side"]).replace("sell_short", "sell")),
        qty=dec(raw["qty"]),
        price=dec(raw["price"]),
        filled_at=utc(datetime.fromisoformat(str(raw["transaction_time"]).replace("Z", "+00:00"))),
    )
