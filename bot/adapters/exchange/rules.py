"""Alpaca's order-entry rules: validation, account and asset gates, shorting, buying power."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.adapters.exchange.matching import MARGIN_MINIMUM, Engine
from bot.adapters.exchange.models import forbidden, num, unprocessable
from bot.adapters.exchange.state import REVIEW_STATUS, ZERO, Order

MAX_CLIENT_ORDER_ID = 48
ASSET_REFUSAL = 42210000


@dataclass(frozen=True, slots=True)
class OrderRequest:
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    client_order_id: str
    position_intent: str | None
    extended_hours: bool


def parse_order_request(body: Any) -> OrderRequest:
    if not isinstance(body, dict):
        raise unprocessable("request body must be a JSON object")
    symbol = str(body.get("symbol") or "").upper()
    if not symbol:
        raise unprocessable("symbol is required")
    side = str(body.get("side") or "")
    if side not in ("buy", "sell"):
        raise unprocessable(f"invalid side: {side!r}")
    qty, notional = _decimal(body, "qty"), _decimal(body, "notional")
    if qty is not None and notional is not None:
        raise unprocessable("only one of qty or notional may be specified")
    if qty is None and notional is None:
        raise unprocessable("qty or notional is required")
    if (qty is not None and qty <= 0) or (notional is not None and notional <= 0):
        raise unprocessable("qty must be > 0" if qty is not None else "notional must be > 0")
    client_order_id = str(body.get("client_order_id") or uuid.uuid4())
    if len(client_order_id) > MAX_CLIENT_ORDER_ID:
        raise unprocessable(f"client_order_id must be no more than {MAX_CLIENT_ORDER_ID} characters")
    intent = body.get("position_intent") or None
    if intent not in (None, "buy_to_open", "buy_to_close", "sell_to_open", "sell_to_close"):
        raise unprocessable(f"invalid position_intent: {intent!r}")
    return OrderRequest(symbol, side, str(body.get("type") or "market"), str(body.get("time_in_force") or ""),
                        qty, notional, _decimal(body, "limit_price"), client_order_id, intent,
                        bool(body.get("extended_hours") or False))


def _decimal(body: dict[str, Any], key: str) -> Decimal | None:
    raw = body.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation as err:
        raise unprocessable(f"invalid {key}: {raw!r}") from err
    if not value.is_finite():
        raise unprocessable(f"invalid {key}: {raw!r}")
    return value


def check_order_shape(req: OrderRequest, body: dict[str, Any]) -> None:
    if (body.get("order_class") or "simple") != "simple":
        raise unprocessable(f"order_class {body.get('order_class')} is not supported by the local exchange")
    if req.type not in ("market", "limit"):
        raise unprocessable(f"order type {req.type} is not supported by the local exchange")
    if req.time_in_force not in ("day", "gtc"):
        raise unprocessable(f"time_in_force {req.time_in_force or '(missing)'} is not supported by the local exchange")
    if req.type == "limit" and (req.limit_price is None or req.limit_price <= 0):
        raise unprocessable("limit_price is required for limit orders")
    if req.type == "market" and req.limit_price is not None:
        raise unprocessable("limit_price must not be set for market orders")
    if req.extended_hours and not (req.type == "limit" and req.time_in_force == "day"):
        raise unprocessable("extended hours order must be DAY limit orders")


def submit(engine: Engine, req: OrderRequest, body: dict[str, Any], at: datetime) -> Order:
    """Apply every entry rule, then store the order as new (market open) or accepted (closed)."""
    store = engine.store
    if store.client_id_exists(req.client_order_id):
        raise unprocessable("client_order_id must be unique")
    check_order_shape(req, body)
    _check_account(store.account_flags())
    if not engine.book.has(req.symbol):
        raise unprocessable(f'asset "{req.symbol}" not found')
    asset = store.asset_flags(req.symbol)
    if not asset["tradable"]:
        raise unprocessable(f"asset {req.symbol} is not tradable", ASSET_REFUSAL)
    mark = engine.mark(req.symbol, at)
    if mark is None:
        raise unprocessable(f"no price for {req.symbol} on {engine.clock.price_day(at)}", ASSET_REFUSAL)
    position = store.positions().get(req.symbol, (ZERO, ZERO))[0]
    opening_short = req.side == "sell" and position <= 0
    _check_fractional(req, asset, opening_short)
    inferred = _infer_intent(req.side, position)
    if req.position_intent is not None and req.position_intent != inferred:
        raise forbidden(f"position intent mismatch. inferred {inferred.replace('_', ' ')}")
    _check_wash_trade(engine, req)
    _check_available_qty(engine, req, position, mark.bid)
    if opening_short:
        _check_short(engine, req, asset, at)
    order = _new_order(engine, req, inferred, at)
    cost = engine.opening_cost(order, position, at)
    if cost > 0:
        available = engine.account_numbers(at).buying_power - engine.reserved_buying_power(at)
        if cost > available:
            raise forbidden("insufficient buying power", buying_power=num(max(available, ZERO)) or "0",
                            cost_basis=num(cost.quantize(Decimal("0.01"))) or "0")
    store.insert_order(order)
    return order


def _check_account(flags: dict[str, Any]) -> None:
    if flags["account_blocked"]:
        raise forbidden("account is blocked")
    if flags["trading_blocked"]:
        raise forbidden("trading is blocked for this account")
    if flags["trade_suspended_by_user"]:
        raise forbidden("new orders are rejected by user request")
    if flags["status"] != "ACTIVE":
        raise forbidden(f"account is not active (status {flags['status']})")


def _check_fractional(req: OrderRequest, asset: dict[str, bool], opening_short: bool) -> None:
    fractional = req.notional is not None or (req.qty is not None and req.qty != req.qty.to_integral_value())
    if not fractional:
        return
    if opening_short:
        raise forbidden("fractional orders are not allowed to short")
    if req.type != "market" or req.time_in_force != "day":
        raise unprocessable("fractional orders must be market orders with time_in_force=day")
    if not asset["fractionable"]:
        raise unprocessable("requested asset is not fractionable", ASSET_REFUSAL)


def _infer_intent(side: str, position: Decimal) -> str:
    if side == "buy":
        return "buy_to_close" if position < 0 else "buy_to_open"
    return "sell_to_close" if position > 0 else "sell_to_open"


def _check_wash_trade(engine: Engine, req: OrderRequest) -> None:
    opposite = "sell" if req.side == "buy" else "buy"
    if any(o.symbol == req.symbol and o.side == opposite for o in engine.store.open_orders()):
        raise forbidden("potential wash trade detected. use complex orders")


def _check_available_qty(engine: Engine, req: OrderRequest, position: Decimal, bid: Decimal) -> None:
    closing = (req.side == "sell" and position > 0) or (req.side == "buy" and position < 0)
    if not closing:
        return
    held = engine.held_for_orders(req.symbol, req.side)
    available = abs(position) - held
    wanted = req.qty if req.qty is not None else (req.notional or ZERO) / bid
    if wanted > available:
        raise forbidden(
            f"insufficient qty available for order (requested: {num(wanted)}, available: {num(available)})",
            available=num(available) or "0", existing_qty=num(position) or "0",
            held_for_orders=num(held) or "0", symbol=req.symbol)


def _check_short(engine: Engine, req: OrderRequest, asset: dict[str, bool], at: datetime) -> None:
    flags = engine.store.account_flags()
    if not flags["shorting_enabled"] or engine.account_numbers(at).equity < MARGIN_MINIMUM:
        raise forbidden("account is not allowed to short")
    if not asset["shortable"]:
        raise unprocessable(f"asset {req.symbol} is not shortable", ASSET_REFUSAL)
    if not asset["easy_to_borrow"]:
        raise unprocessable(f"cannot open a short position in a hard-to-borrow asset ({req.symbol})", ASSET_REFUSAL)


def _new_order(engine: Engine, req: OrderRequest, intent: str, at: datetime) -> Order:
    session = engine.clock.order_session(at)
    is_open = engine.clock.is_open(at) and session == engine.clock.order_session(at)
    request = int(engine.store.get_meta("requests") or 0)
    status = REVIEW_STATUS if engine.review_requests else "new" if is_open else "accepted"
    return Order(
        id=str(uuid.uuid4()), client_order_id=req.client_order_id, symbol=req.symbol, side=req.side,
        type=req.type, time_in_force=req.time_in_force, qty=req.qty, notional=req.notional,
        limit_price=req.limit_price, position_intent=intent, extended_hours=req.extended_hours,
        status=status, session=session, created_at=at, submitted_at=at, updated_at=at,
        submitted_wall=time.time(), eligible_request=request + 1, review_until=request + engine.review_requests,
        expires_at=engine.clock.session_close(session) if req.time_in_force == "day" else None,
    )
