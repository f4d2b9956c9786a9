"""Pure, tolerant translation of Alpaca's JSON into pairbot's domain values.

Missing deprecated fields, new fields and unknown enum values never crash; a reply without a field we
truly need (an order's id, a position's symbol or qty) is BrokerUnavailable with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from bot.adapters.broker.reading import Json, as_object, as_objects, flag, moment, number, required, shape, unexpected
from bot.core.domain import (
    NEW_YORK,
    AccountEvent,
    AccountState,
    AssetInfo,
    Fill,
    MarketClock,
    OrderState,
    Position,
    Quote,
    Session,
    Side,
    Symbol,
    is_ours,
)


def to_position(raw: object) -> Position:
    obj = as_object(raw, "position")
    symbol = str(required(obj, "symbol", "position"))
    qty = number(obj, "qty", "position", need=True)
    side = obj.get("side")
    # the sign comes from side, whatever qty's string says; an unknown side leaves it to qty's sign
    sign = -1 if side == "short" else 1 if side == "long" else (-1 if qty < 0 else 1)
    return Position(symbol=Symbol(symbol), qty=abs(qty) * sign,
                    market_value=abs(number(obj, "market_value", "position")) * sign,
                    avg_entry_price=number(obj, "avg_entry_price", "position"))


@dataclass(frozen=True, slots=True)
class AccountReading:
    """GET /v2/account in domain terms: the flags and the three amounts a snapshot needs."""

    state: AccountState
    equity: Decimal
    cash: Decimal
    buying_power: Decimal


def to_account(raw: object) -> AccountReading:
    obj = as_object(raw, "account")
    state = AccountState(
        account_number=str(required(obj, "account_number", "account")),
        status=str(obj.get("status") or "UNKNOWN"),
        trading_blocked=flag(obj, "trading_blocked"),
        account_blocked=flag(obj, "account_blocked"),
        trade_suspended_by_user=flag(obj, "trade_suspended_by_user"),
        shorting_enabled=flag(obj, "shorting_enabled"),
    )
    return AccountReading(state=state, equity=number(obj, "equity", "account", need=True),
                          cash=number(obj, "cash", "account", need=True),
                          buying_power=number(obj, "buying_power", "account", need=True))


def is_easy_to_borrow(obj: Json) -> bool:
    """borrow_status ETB (2026 schema); else the deprecated easy_to_borrow; neither: not easy to borrow."""
    status = obj.get("borrow_status")
    if status is not None:
        return bool(status == "ETB")
    return obj.get("easy_to_borrow") is True


def to_asset(raw: object, symbol: str) -> AssetInfo:
    obj = as_object(raw, "asset")
    return AssetInfo(symbol=Symbol(str(obj.get("symbol") or symbol)), tradable=flag(obj, "tradable"),
                     shortable=flag(obj, "shortable"), easy_to_borrow=is_easy_to_borrow(obj),
                     fractionable=flag(obj, "fractionable"))


def to_clock(raw: object) -> MarketClock:
    obj = as_object(raw, "clock")
    is_open = required(obj, "is_open", "clock")
    if not isinstance(is_open, bool):
        raise unexpected(f"clock.is_open is not true or false: {is_open!r}")
    return MarketClock(as_of=moment(obj, "timestamp", "clock"), is_open=is_open,
                       next_open=moment(obj, "next_open", "clock"), next_close=moment(obj, "next_close", "clock"))


def to_session(raw: object) -> Session:
    """Calendar times are New York wall-clock "HH:MM" without a zone: localize, then go to UTC."""
    obj = as_object(raw, "calendar day")
    try:
        day = date.fromisoformat(str(required(obj, "date", "calendar day"))[:10])
        opens = time.fromisoformat(str(required(obj, "open", "calendar day")))
        closes = time.fromisoformat(str(required(obj, "close", "calendar day")))
    except ValueError:
        raise unexpected(f"calendar day with an unreadable date or time: {dict(obj)!r}"[:200]) from None
    return Session(day=day, open=_ny(day, opens), close=_ny(day, closes))


def _ny(day: date, t: time) -> datetime:
    return datetime.combine(day, t, tzinfo=NEW_YORK).astimezone(UTC)


def _side(obj: Json, kind: str, *, need: bool = False, ours: bool = True) -> Side | None:
    """buy or sell (a short sale is a sell); an order with no side (a multi-leg order) reads as buy. A side no
    client knows yet is never guessed: refused for pairbot's own orders and fills (their shares are journaled),
    None for the user's (pairbot only looks at their symbol, or leaves them out)."""
    value = required(obj, "side", kind) if need else obj.get("side")
    if value in (None, ""):
        return Side.BUY
    if value in ("buy", "sell", "sell_short"):
        return Side.SELL if value != "buy" else Side.BUY
    if not ours:
        return None
    raise unexpected(f"{kind} {obj.get('id', '')} with side {value!r}, neither buy nor sell")


def to_order_state(raw: object) -> OrderState:
    """An unknown status is kept as its string: only the known terminal ones count as done."""
    obj = as_object(raw, "order")
    order_id = str(required(obj, "id", "order"))
    submitted = "submitted_at" if obj.get("submitted_at") else "created_at"
    price = obj.get("filled_avg_price")
    client_order_id = str(obj.get("client_order_id") or "")
    return OrderState(
        order_id=order_id,
        client_order_id=client_order_id,
        symbol=Symbol(str(obj.get("symbol") or "")),
        side=_side(obj, "order", ours=is_ours(client_order_id)) or Side.BUY,  # the user's: only its symbol counts
        qty=number(obj, "qty", "order"),
        filled_qty=number(obj, "filled_qty", "order"),
        filled_avg_price=None if price in (None, "") else number(obj, "filled_avg_price", "order"),
        status=str(required(obj, "status", "order")),
        submitted_at=moment(obj, submitted, "order"),
    )


def to_quote(symbol: str, raw: object) -> Quote | None:
    """A latest quote as given (a zero or crossed bid/ask included); None when it lacks a price or a time."""
    obj = as_object(raw, "quote")
    if any(obj.get(f) in (None, "") for f in ("bp", "ap", "t")):
        return None
    return Quote(symbol=Symbol(symbol), bid=number(obj, "bp", "quote"), ask=number(obj, "ap", "quote"),
                 as_of=moment(obj, "t", "quote"))


def activity_order_id(obj: Json) -> str:
    return str(required(obj, "order_id", "fill activity"))


def fill_from_activity(raw: object, client_order_id: str) -> Fill | None:
    """One FILL activity (GET /v2/account/activities) as a domain Fill; None for a fill of the user's whose side
    no client knows yet (it could only explain a difference, and a guessed side could explain it wrongly)."""
    obj = as_object(raw, "fill activity")
    qty = number(obj, "qty", "fill activity", need=True)
    if qty <= 0:
        raise unexpected(f"fill activity {obj.get('id')} with qty {qty}")
    side = _side(obj, "fill activity", need=True, ours=is_ours(client_order_id))
    if side is None:
        return None
    return Fill(
        activity_id=str(required(obj, "id", "fill activity")),
        order_id=activity_order_id(obj),
        client_order_id=client_order_id,
        symbol=Symbol(str(required(obj, "symbol", "fill activity"))),
        side=side,
        qty=qty,
        price=number(obj, "price", "fill activity", need=True),
        filled_at=moment(obj, "transaction_time", "fill activity"),
    )


def to_account_event(raw: object) -> AccountEvent:
    """One non-trade activity (a SPLIT leg, DIV, DIVNRA, CIL, FEE, INT, a journal...) as booked.

    An unknown type is kept as its code; amounts come as strings or numbers; only id, type and date
    are needed. The sub type is read from entry_sub_type (or activity_sub_type); the booking time
    from transaction_time (or created_at).
    """
    kind = "account activity"
    obj = as_object(raw, kind)
    activity_id = str(required(obj, "id", kind))
    text = str(required(obj, "date", kind))
    try:
        on = date.fromisoformat(text[:10])
    except ValueError:
        raise unexpected(f"{kind} {activity_id} with an unreadable date {text!r}") from None
    symbol = obj.get("symbol")
    per_share = obj.get("per_share_amount")
    stamp = "transaction_time" if obj.get("transaction_time") else "created_at" if obj.get("created_at") else None
    return AccountEvent(
        activity_id=activity_id, activity_type=str(required(obj, "activity_type", kind)), on=on,
        symbol=Symbol(str(symbol).upper()) if symbol else None, qty=number(obj, "qty", kind),
        cash=number(obj, "net_amount", kind),
        per_share=None if per_share in (None, "") else number(obj, "per_share_amount", kind),
        sub_type=str(obj.get("entry_sub_type") or obj.get("activity_sub_type") or ""),
        description=str(obj.get("description") or ""),
        booked_at=None if stamp is None else moment(obj, stamp, kind),
    )


@dataclass(frozen=True, slots=True)
class DailyBar:
    """One daily bar; its session is the New York date of its timestamp."""

    symbol: str
    timestamp: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    @property
    def session(self) -> date:
        return self.timestamp.astimezone(NEW_YORK).date()


def to_bar(symbol: str, raw: object) -> DailyBar:
    """t and c are needed; a missing open, high or low reads as the close, a missing volume as 0."""
    obj = as_object(raw, "bar")
    close = number(obj, "c", "bar", need=True)
    o, h, lo = (number(obj, f, "bar", default=str(close)) for f in ("o", "h", "l"))
    return DailyBar(symbol=symbol.upper(), timestamp=moment(obj, "t", "bar"), open=o, high=h, low=lo, close=close,
                    volume=number(obj, "v", "bar"))


def bars_page(raw: object) -> tuple[dict[str, list[Json]], str | None]:
    """One page of GET /v2/stocks/bars: the bar objects per symbol, and the next page's token."""
    obj = as_object(raw, "bars reply")
    bars = obj.get("bars") or {}
    rows = {str(sym): as_objects(items or [], "bar") for sym, items in as_object(bars, "bars").items()}
    token = obj.get("next_page_token")
    if token is not None and not isinstance(token, str):
        raise unexpected(f"next_page_token is {shape(token)}")
    return rows, token or None


def latest_quotes(raw: object) -> dict[str, Json]:
    """GET /v2/stocks/quotes/latest: the quote object per symbol (symbols without data are absent)."""
    quotes = as_object(raw, "quotes reply").get("quotes") or {}
    return {str(sym): as_object(q, "quote") for sym, q in as_object(quotes, "quotes").items()}
