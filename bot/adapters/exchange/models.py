"""Alpaca JSON shapes as Alpaca serves them today (REFERENCE.md Part C1): orders, positions, account,
assets, clock, calendar, errors. generations.py turns them into the legacy or the drift schema."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from bot.adapters.exchange.clock import ET, CalendarDay
from bot.adapters.exchange.state import Order

JSON = dict[str, Any]
_NS = uuid.UUID("2f6c8a52-0d7e-4c4b-9b1e-6f0a5c3d2e10")
EXCHANGES = {"QQQ": "NASDAQ", "PSQ": "ARCA", "SQQQ": "NASDAQ", "TNA": "ARCA", "UPRO": "ARCA",
             "IWM": "ARCA", "SPY": "ARCA", "BIL": "ARCA"}


class ApiError(Exception):
    """An Alpaca-style refusal: HTTP status, numeric code, message and optional extra fields."""

    def __init__(self, status: int, code: int, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def body(self) -> JSON:
        return {"code": self.code, "message": self.message, **self.extra}


def not_found(message: str) -> ApiError:
    return ApiError(404, 40410000, message)


def unprocessable(message: str, code: int = 40010001) -> ApiError:
    return ApiError(422, code, message)


def forbidden(message: str, **extra: str) -> ApiError:
    return ApiError(403, 40310000, message, **extra)


def num(value: Decimal | None) -> str | None:
    """A decimal as Alpaca writes it: plain digits, no exponent, no trailing zeros."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def et(value: datetime) -> str:
    return value.astimezone(ET).isoformat()


def asset_id(symbol: str, generation: int = 0) -> str:
    """Stable per symbol; generation n: the asset after its n-th reverse split (a new CUSIP)."""
    return str(uuid.uuid5(_NS, f"asset:{symbol}" + (f":{generation}" if generation else "")))


def account_id(label: str) -> str:
    return str(uuid.uuid5(_NS, "account:" + label))


def order_json(o: Order, asset: str | None = None) -> JSON:
    return {
        "id": o.id, "client_order_id": o.client_order_id,
        "created_at": ts(o.created_at), "updated_at": ts(o.updated_at), "submitted_at": ts(o.submitted_at),
        "filled_at": ts(o.filled_at), "expired_at": ts(o.expired_at), "canceled_at": ts(o.canceled_at),
        "failed_at": ts(o.failed_at), "replaced_at": None, "replaced_by": None, "replaces": None,
        "asset_id": asset or asset_id(o.symbol), "symbol": o.symbol, "asset_class": "us_equity",
        "notional": num(o.notional), "qty": num(o.qty), "filled_qty": num(o.filled_qty),
        "filled_avg_price": num(o.filled_avg_price), "order_class": "", "order_type": o.type, "type": o.type,
        "side": o.side, "position_intent": o.position_intent, "time_in_force": o.time_in_force,
        "limit_price": num(o.limit_price), "stop_price": None, "status": o.status,
        "extended_hours": o.extended_hours, "legs": None, "trail_percent": None, "trail_price": None,
        "hwm": None, "subtag": None, "source": None, "expires_at": ts(o.expires_at),
    }


def position_json(symbol: str, qty: Decimal, avg: Decimal, price: Decimal, previous: Decimal,
                  held: Decimal, asset: str | None = None) -> JSON:
    market_value = qty * price
    cost_basis = qty * avg
    upl = market_value - cost_basis
    intraday = qty * (price - previous)
    last_value = abs(qty * previous)
    return {
        "asset_id": asset or asset_id(symbol), "symbol": symbol, "exchange": EXCHANGES.get(symbol, "ARCA"),
        "asset_class": "us_equity", "asset_marginable": True, "qty": num(qty),
        "qty_available": num(qty - held if qty > 0 else qty + held), "avg_entry_price": num(avg),
        "side": "long" if qty > 0 else "short", "market_value": num(market_value), "cost_basis": num(cost_basis),
        "unrealized_pl": num(upl), "unrealized_plpc": num(_ratio(upl, abs(cost_basis))),
        "unrealized_intraday_pl": num(intraday), "unrealized_intraday_plpc": num(_ratio(intraday, last_value)),
        "current_price": num(price), "lastday_price": num(previous),
        "change_today": num(_ratio(price - previous, previous)), "swap_rate": "0", "avg_entry_swap_rate": "0",
    }


def _ratio(a: Decimal, b: Decimal) -> Decimal:
    return (a / b).quantize(Decimal("0.0000000001")) if b else Decimal(0)


def asset_json(symbol: str, flags: dict[str, bool], name: str, asset: str | None = None) -> JSON:
    """The store keeps borrowability as the flag easy_to_borrow; Alpaca now says borrow_status ETB or HTB."""
    increment = "0.000000001" if flags["fractionable"] else "1"
    return {
        "id": asset or asset_id(symbol), "class": "us_equity", "exchange": EXCHANGES.get(symbol, "ARCA"),
        "symbol": symbol, "name": name, "status": "active" if flags["tradable"] else "inactive",
        "tradable": flags["tradable"], "marginable": flags["marginable"], "shortable": flags["shortable"],
        "borrow_status": "ETB" if flags["easy_to_borrow"] else "HTB", "fractionable": flags["fractionable"],
        "maintenance_margin_requirement": 30, "margin_requirement_long": "30", "margin_requirement_short": "30",
        "min_order_size": increment, "min_trade_increment": increment, "price_increment": "0.01", "attributes": [],
    }


def clock_json(now: datetime, is_open: bool, next_open: datetime, next_close: datetime) -> JSON:
    return {"timestamp": et(now), "is_open": is_open, "next_open": et(next_open), "next_close": et(next_close)}


def calendar_json(day: CalendarDay) -> JSON:
    return {"date": day.day.isoformat(), "open": day.open.strftime("%H:%M"), "close": day.close.strftime("%H:%M"),
            "session_open": "0400", "session_close": "2000", "settlement_date": _next_weekday(day.day)}


def _next_weekday(day: date) -> str:
    from datetime import timedelta

    nxt = day + timedelta(days=1)
    while nxt.weekday() >= 5:
        nxt += timedelta(days=1)
    return nxt.isoformat()
