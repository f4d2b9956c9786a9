"""Trading API v2 routes: account, positions, orders, clock, calendar, assets (activities: routes_activities.py)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.adapters.exchange.faults import Fault
from bot.adapters.exchange.generations import render
from bot.adapters.exchange.matching import Engine
from bot.adapters.exchange.models import (
    JSON,
    ApiError,
    account_id,
    asset_json,
    calendar_json,
    clock_json,
    not_found,
    num,
    order_json,
    position_json,
    unprocessable,
)
from bot.adapters.exchange.rules import OrderRequest, parse_order_request, submit
from bot.adapters.exchange.state import Order

Reply = tuple[int, Any]


@dataclass
class Ctx:
    engine: Engine
    at: datetime
    query: dict[str, str]
    body: Any
    faults: list[Fault]
    label: str
    schema: str = "today"

    def render(self, kind: str, obj: JSON) -> JSON:
        """One object in the schema generation this exchange serves."""
        return render(kind, obj, self.schema)

    def order(self, order: Order) -> JSON:
        return self.render("order", order_json(order, self.engine.asset_id(order.symbol, order.session)))

    def asset_id(self, symbol: str) -> str:
        return self.engine.asset_id(symbol, self.engine.clock.price_day(self.at))


Handler = Callable[[Ctx, "re.Match[str]"], Reply]


def get_account(ctx: Ctx, _: re.Match[str]) -> Reply:
    n = ctx.engine.account_numbers(ctx.at)
    flags = ctx.engine.store.account_flags()
    return 200, ctx.render("account", {
        "id": account_id(ctx.label), "account_number": f"PA-LOCAL-{ctx.label.upper()}", "status": flags["status"],
        "crypto_status": "INACTIVE", "currency": "USD", "buying_power": num(n.buying_power),
        "regt_buying_power": num(n.buying_power), "non_marginable_buying_power": num(n.non_marginable_buying_power),
        "options_buying_power": "0", "cash": num(n.cash), "accrued_fees": "0", "pending_transfer_in": "0",
        "pending_transfer_out": "0", "portfolio_value": num(n.equity), "equity": num(n.equity),
        "last_equity": num(n.last_equity), "long_market_value": num(n.long_market_value),
        "short_market_value": num(n.short_market_value), "position_market_value": num(
            n.long_market_value - n.short_market_value),
        "initial_margin": num(n.initial_margin), "maintenance_margin": num(n.maintenance_margin),
        "last_maintenance_margin": num(n.maintenance_margin), "sma": "0", "multiplier": str(n.multiplier),
        "shorting_enabled": bool(flags["shorting_enabled"]), "trading_blocked": bool(flags["trading_blocked"]),
        "transfers_blocked": bool(flags["transfers_blocked"]), "account_blocked": bool(flags["account_blocked"]),
        "trade_suspended_by_user": bool(flags["trade_suspended_by_user"]),
        "created_at": "2024-01-02T15:04:05.123456Z", "balance_asof": ctx.at.date().isoformat(),
    })


def _position(ctx: Ctx, symbol: str, qty: Decimal, avg: Decimal) -> JSON:
    mark = ctx.engine.mark(symbol, ctx.at)
    price, previous = (mark.price, mark.previous) if mark else (avg, avg)
    held = ctx.engine.held_for_orders(symbol, "sell" if qty > 0 else "buy")
    return ctx.render("position", position_json(symbol, qty, avg, price, previous, held, ctx.asset_id(symbol)))


def list_positions(ctx: Ctx, _: re.Match[str]) -> Reply:
    return 200, [_position(ctx, s, q, a) for s, (q, a) in ctx.engine.store.positions().items()]


def _find_position(ctx: Ctx, key: str) -> tuple[str, Decimal, Decimal]:
    for sym, (qty, avg) in ctx.engine.store.positions().items():
        if key.upper() == sym or key == ctx.asset_id(sym):
            return sym, qty, avg
    raise not_found("position does not exist")


def get_position(ctx: Ctx, m: re.Match[str]) -> Reply:
    sym, qty, avg = _find_position(ctx, m["symbol"])
    return 200, _position(ctx, sym, qty, avg)


def _close(ctx: Ctx, symbol: str, qty: Decimal, how: dict[str, str]) -> Order:
    amount = abs(qty)
    if how.get("qty"):
        amount = _dec(how["qty"], "qty")
    elif how.get("percentage"):
        pct = _dec(how["percentage"], "percentage")
        if not 0 < pct <= 100:
            raise unprocessable("percentage must be within (0, 100]")
        amount = (abs(qty) * pct / 100).quantize(Decimal("0.000000001"))
    req = OrderRequest(symbol, "sell" if qty > 0 else "buy", "market", "day", amount, None, None,
                       str(uuid.uuid4()), None, False)
    return submit(ctx.engine, req, {}, ctx.at)


def close_position(ctx: Ctx, m: re.Match[str]) -> Reply:
    sym, qty, _ = _find_position(ctx, m["symbol"])
    return 200, ctx.order(_close(ctx, sym, qty, ctx.query))


def close_all_positions(ctx: Ctx, _: re.Match[str]) -> Reply:
    if ctx.query.get("cancel_orders", "").lower() == "true":
        for order in ctx.engine.store.open_orders():
            ctx.engine.cancel(order, ctx.at)
    out: list[JSON] = []
    for sym, (qty, _avg) in ctx.engine.store.positions().items():
        try:
            order = _close(ctx, sym, qty, {})
            out.append({"symbol": sym, "status": 200, "order_id": order.id, "body": ctx.order(order)})
        except ApiError as err:
            out.append({"symbol": sym, "status": err.status, "body": err.body() | {"symbol": sym}})
    return 207, out


def post_order(ctx: Ctx, _: re.Match[str]) -> Reply:
    req = parse_order_request(ctx.body)
    order = submit(ctx.engine, req, ctx.body, ctx.at)
    for fault in ctx.faults:
        if fault.kind == "stuck":
            order.hold_polls = fault.polls
        elif fault.kind in ("partial_then_expire", "late_fill_after_cancel", "reject_later"):
            order.fault = fault.kind
    if ctx.faults:
        ctx.engine.store.save_order(order)
    return 200, ctx.order(order)


def list_orders(ctx: Ctx, _: re.Match[str]) -> Reply:
    q = ctx.query
    status = q.get("status", "open")
    if status not in ("open", "closed", "all"):
        raise unprocessable(f"invalid status {status}")
    limit = min(_int(q.get("limit"), 50), 500)
    after, until = _when(q.get("after")), _when(q.get("until"))
    symbols = {s.strip().upper() for s in q["symbols"].split(",")} if q.get("symbols") else None
    side = q.get("side")
    store = ctx.engine.store
    picked = [o for o in (store.open_orders() if status == "open" else store.all_orders())
              if (status == "all" or o.is_open == (status == "open"))
              and (after is None or o.submitted_at > after) and (until is None or o.submitted_at < until)
              and (symbols is None or o.symbol in symbols) and (side is None or o.side == side)]
    if q.get("direction", "desc") != "asc":
        picked.reverse()
    return 200, [ctx.order(o) for o in picked[:limit]]


def _order(ctx: Ctx, order_id: str) -> Order:
    order = ctx.engine.store.order(order_id=order_id)
    if order is None:
        raise not_found("order not found")
    return order


def get_order(ctx: Ctx, m: re.Match[str]) -> Reply:
    return 200, ctx.order(_order(ctx, m["id"]))


def get_order_by_client_id(ctx: Ctx, _: re.Match[str]) -> Reply:
    order = ctx.engine.store.order(client_order_id=ctx.query.get("client_order_id", ""))
    if order is None:
        raise not_found("order not found")
    return 200, ctx.order(order)


def cancel_order(ctx: Ctx, m: re.Match[str]) -> Reply:
    order = _order(ctx, m["id"])
    if not order.is_open or order.status == "pending_cancel":
        raise unprocessable(f"order is already in \"{order.status}\" state", 42210000)
    if any(f.kind == "late_fill_after_cancel" for f in ctx.faults):
        order.fault = "late_fill_after_cancel"
    ctx.engine.cancel(order, ctx.at)
    return 204, None


def cancel_all_orders(ctx: Ctx, _: re.Match[str]) -> Reply:
    out: list[JSON] = []
    for order in ctx.engine.store.open_orders():
        ctx.engine.cancel(order, ctx.at)
        out.append({"id": order.id, "status": 200, "body": ctx.order(order)})
    return 207, out


def get_clock(ctx: Ctx, _: re.Match[str]) -> Reply:
    clock = ctx.engine.clock
    return 200, ctx.render("clock", clock_json(ctx.at, clock.is_open(ctx.at), clock.next_open(ctx.at),
                                               clock.next_close(ctx.at)))


def get_calendar(ctx: Ctx, _: re.Match[str]) -> Reply:
    today = ctx.at.date()
    start = _day(ctx.query.get("start")) or today - timedelta(days=365)
    end = _day(ctx.query.get("end")) or today + timedelta(days=365)
    return 200, [ctx.render("calendar", calendar_json(d)) for d in ctx.engine.clock.calendar(start, end)]


def _asset(ctx: Ctx, symbol: str) -> JSON:
    suffix = " (synthetic prices)" if ctx.label == "synthetic" else " (CSV replay)"
    flags = ctx.engine.store.asset_flags(symbol)
    return ctx.render("asset", asset_json(symbol, flags, symbol + suffix, ctx.asset_id(symbol)))


def get_asset(ctx: Ctx, m: re.Match[str]) -> Reply:
    symbol = m["symbol"].upper()
    if not ctx.engine.book.has(symbol):
        raise not_found(f"asset not found: {symbol}")
    return 200, _asset(ctx, symbol)


def list_assets(ctx: Ctx, _: re.Match[str]) -> Reply:
    return 200, [_asset(ctx, s) for s in ctx.engine.book.symbols]


def _dec(raw: str, what: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation as err:
        raise unprocessable(f"invalid {what}: {raw}") from err
    if not value.is_finite() or value <= 0:
        raise unprocessable(f"{what} must be > 0")
    return value


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw else default
    except ValueError as err:
        raise unprocessable(f"invalid integer {raw!r}") from err


def _when(raw: str | None) -> datetime | None:
    if not raw:
        return None
    text = raw.strip().replace(" ", "+").replace("Z", "+00:00")
    try:
        value = datetime.fromisoformat(text)
    except ValueError as err:
        raise unprocessable(f"invalid timestamp {raw!r}") from err
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _day(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError as err:
        raise unprocessable(f"invalid date {raw!r}") from err


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", r"/v2/account", get_account),
    ("GET", r"/v2/positions", list_positions),
    ("DELETE", r"/v2/positions", close_all_positions),
    ("GET", r"/v2/positions/(?P<symbol>[^/]+)", get_position),
    ("DELETE", r"/v2/positions/(?P<symbol>[^/]+)", close_position),
    ("POST", r"/v2/orders", post_order),
    ("GET", r"/v2/orders", list_orders),
    ("DELETE", r"/v2/orders", cancel_all_orders),
    ("GET", r"/v2/orders:by_client_order_id", get_order_by_client_id),
    ("GET", r"/v2/orders/(?P<id>[^/]+)", get_order),
    ("DELETE", r"/v2/orders/(?P<id>[^/]+)", cancel_order),
    ("GET", r"/v2/clock", get_clock),
    ("GET", r"/v2/calendar", get_calendar),
    ("GET", r"/v2/assets", list_assets),
    ("GET", r"/v2/assets/(?P<symbol>[^/]+)", get_asset),
]
