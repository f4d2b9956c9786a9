"""The Broker port on alpaca-py: timeouts on every call, bounded retries for reads, no blind order resends."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import pandas as pd
import requests
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.models import BarSet
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.enums import PositionIntent as AlpacaIntent
from alpaca.trading.models import Asset, Calendar, Clock, TradeAccount
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.models import Position as AlpacaPosition
from alpaca.trading.requests import GetCalendarRequest, GetOrdersRequest, MarketOrderRequest
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from bot.broker import mapping
from bot.core.domain import AccountSnapshot, AssetInfo, Fill, OrderIntent, OrderState, Position, Session, Symbol
from bot.errors import BotError, BrokerUnavailable, ConfigError, OrderRejected
from bot.logging import REDACTED, mask_key

T = TypeVar("T")
M = TypeVar("M")


def model(value: object, cls: type[M]) -> M:
    """alpaca-py returns a model or raw JSON (raw_data=True); we always ask for models."""
    if not isinstance(value, cls):
        raise BrokerUnavailable(f"unexpected reply from the broker: {type(value).__name__}, not {cls.__name__}")
    return value


def models(values: object, cls: type[M]) -> list[M]:
    return [model(v, cls) for v in values] if isinstance(values, list) else [model(values, cls)]
Wait = Callable[[RetryCallState], float]


class RateLimited(BrokerUnavailable):
    """HTTP 429; carries the server's hint of when to come back."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class AlpacaSettings:
    api_key: str
    secret_key: str
    base_url: str
    data_url: str
    feed: str = "iex"
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    read_attempts: int = 4
    max_wait_seconds: float = 8.0


def honour_retry_after(fallback: Wait, cap: float) -> Wait:
    """Wait what a 429 asked for (bounded by cap), else the fallback backoff."""

    def wait(state: RetryCallState) -> float:
        err = state.outcome.exception() if state.outcome else None
        if isinstance(err, RateLimited) and err.retry_after is not None:
            return max(0.0, min(err.retry_after, cap))
        return fallback(state)

    return wait


def read_retry(attempts: int, wait: Wait | None = None, cap: float = 8.0) -> Retrying:
    base = wait if wait is not None else wait_exponential(multiplier=0.25, max=cap)
    return Retrying(stop=stop_after_attempt(attempts), wait=honour_retry_after(base, cap), reraise=True,
                    retry=retry_if_exception_type(BrokerUnavailable))


def _add_timeout(session: requests.Session, timeout: tuple[float, float]) -> None:
    original = session.request

    def request(method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", timeout)
        return original(method, url, **kwargs)

    session.request = request  # type: ignore[method-assign,assignment]


def error_parts(err: APIError) -> tuple[int, int | None, str]:
    """Status, Alpaca code and message of an APIError; safe on HTML or empty bodies."""
    status = err.status_code or 0
    try:
        body = json.loads(str(err))
    except (ValueError, TypeError):
        return status, None, " ".join(str(err).split())[:160] or f"HTTP {status}"
    if not isinstance(body, dict):
        return status, None, str(body)[:160]
    code = body.get("code")
    return status, code if isinstance(code, int) else None, str(body.get("message", ""))


def _retry_after(err: APIError) -> float | None:
    headers = err.response.headers if err.response is not None else {}
    if "Retry-After" in headers:
        try:
            return float(headers["Retry-After"])
        except ValueError:
            return None
    if "X-Ratelimit-Reset" in headers:
        try:
            return float(headers["X-Ratelimit-Reset"]) - datetime.now(UTC).timestamp()
        except ValueError:
            return None
    return None


def translate(err: Exception, what: str) -> BotError:
    """Vendor errors become ours, ordered by what the caller must do."""
    if isinstance(err, APIError):
        status, code, message = error_parts(err)
        if status == 429:
            return RateLimited(f"{what}: rate limited by the broker (429)", _retry_after(err))
        if status >= 500:
            return BrokerUnavailable(f"{what}: broker error {status}: {message}")
        if status == 401 or code == 40110000 or (status == 403 and "forbidden" in message.lower()):
            return ConfigError(f"{what}: the broker refused the API keys ({status}: {message})")
        return OrderRejected(f"{what}: refused by the broker ({status}{f' {code}' if code else ''}: {message})")
    if isinstance(err, requests.exceptions.Timeout):
        return BrokerUnavailable(f"{what}: no answer within the timeout")
    if isinstance(err, requests.exceptions.RequestException):
        return BrokerUnavailable(f"{what}: cannot reach the broker ({type(err).__name__})")
    raise err


def is_duplicate_id(err: APIError) -> bool:
    status, code, message = error_parts(err)
    return status == 422 and (code == 40010001 or "client_order_id" in message) and "unique" in message


_INTENTS = {i.value: i for i in AlpacaIntent}


class AlpacaBroker:
    """Implements bot.broker.port.Broker with alpaca-py's TradingClient and StockHistoricalDataClient."""

    def __init__(self, settings: AlpacaSettings, *, retry: Retrying | None = None) -> None:
        self.settings = settings
        self._trading = TradingClient(settings.api_key, settings.secret_key, paper=True,
                                      url_override=settings.base_url)
        self._data = StockHistoricalDataClient(settings.api_key, settings.secret_key, url_override=settings.data_url)
        for client in (self._trading, self._data):
            client._retry = 0  # we own retries: reads in tenacity, orders resolved by client order id
            client._retry_codes = []
            _add_timeout(client._session, (settings.connect_timeout, settings.read_timeout))
        self._retry = retry if retry is not None else read_retry(settings.read_attempts, cap=settings.max_wait_seconds)
        self._client_ids: dict[str, str] = {}
        self.request_count = 0

    def _translate(self, err: Exception, what: str) -> BotError:
        """translate(), with our keys scrubbed: a broker may echo the request (headers too) in its error body."""
        out = translate(err, what)
        text = str(out).replace(self.settings.secret_key, REDACTED).replace(self.settings.api_key,
                                                                              mask_key(self.settings.api_key))
        out.args = (text,)
        return out

    # -- reads -------------------------------------------------------------------------------------

    def _read(self, what: str, call: Callable[[], T]) -> T:
        def once() -> T:
            self.request_count += 1
            try:
                return call()
            except (APIError, requests.exceptions.RequestException) as err:
                raise self._translate(err, what) from None

        return self._retry(once)

    def positions(self) -> tuple[Position, ...]:
        raw = models(self._read("get positions", self._trading.get_all_positions), AlpacaPosition)
        return tuple(mapping.to_position(p) for p in raw)

    def _account(self) -> TradeAccount:
        return model(self._read("get account", self._trading.get_account), TradeAccount)

    def _asset(self, symbol: str) -> AssetInfo:
        def call() -> Asset:
            return model(self._trading.get_asset(symbol), Asset)

        return mapping.to_asset(self._read(f"get asset {symbol}", call))

    def snapshot(self, symbols: Collection[Symbol]) -> AccountSnapshot:
        account = self._account()
        positions = self.positions()
        clock = mapping.to_clock(model(self._read("get clock", self._trading.get_clock), Clock))
        wanted = sorted(set(symbols) | {p.symbol for p in positions})
        assets = {Symbol(s): self._asset(s) for s in sorted(symbols)}
        return AccountSnapshot(
            as_of=clock.as_of,
            equity=mapping.dec(account.equity),
            cash=mapping.dec(account.cash),
            buying_power=mapping.dec(account.buying_power),
            positions={p.symbol: p for p in positions},
            quotes=self.quotes(wanted),
            account=mapping.to_account_state(account),
            clock=clock,
            assets=assets,
            open_orders=tuple(mapping.to_open_order(o) for o in self.open_orders()),
        )

    def quotes(self, symbols: Collection[str]) -> dict[Symbol, Any]:
        if not symbols:
            return {}
        req = StockLatestQuoteRequest(symbol_or_symbols=list(symbols), feed=DataFeed(self.settings.feed))
        raw = self._read("get quotes", lambda: self._data.get_stock_latest_quote(req))
        return {Symbol(s): mapping.to_quote(s, q) for s, q in raw.items()}

    def account_number(self) -> str:
        return self._account().account_number

    def sessions(self, start: date, end: date) -> tuple[Session, ...]:
        req = GetCalendarRequest(start=start, end=end)
        raw = models(self._read("get calendar", lambda: self._trading.get_calendar(req)), Calendar)
        return tuple(mapping.to_session(c) for c in raw)

    def order_by_client_id(self, client_order_id: str) -> OrderState | None:
        def call() -> OrderState | None:
            try:
                return mapping.to_order_state(model(self._trading.get_order_by_client_id(client_order_id), AlpacaOrder))
            except APIError as err:
                if err.status_code == 404:
                    return None
                raise

        return self._read(f"look up order {client_order_id}", call)

    def order(self, order_id: str) -> OrderState:
        raw = self._read(f"get order {order_id}", lambda: self._trading.get_order_by_id(order_id))
        return mapping.to_order_state(model(raw, AlpacaOrder))

    def open_orders(self) -> tuple[OrderState, ...]:
        req = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500, direction=Sort.ASC)
        orders = models(self._read("list open orders", lambda: self._trading.get_orders(req)), AlpacaOrder)
        return tuple(mapping.to_order_state(o) for o in orders)

    def all_orders(self) -> tuple[OrderState, ...]:
        """Every order of the account, oldest first (status=all, paged by submission time, de-duplicated)."""
        seen: dict[str, OrderState] = {}
        after: datetime | None = None
        while True:
            req = GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500, direction=Sort.ASC, after=after)
            page = models(self._read("list all orders", partial(self._trading.get_orders, req)), AlpacaOrder)
            fresh = [mapping.to_order_state(o) for o in page if str(o.id) not in seen]
            seen |= {o.order_id: o for o in fresh}
            if len(page) < 500 or not fresh:
                return tuple(seen.values())
            after = fresh[-1].submitted_at - timedelta(microseconds=1)  # overlap: equal timestamps on a page edge

    def cancel(self, order_id: str) -> None:
        def call() -> None:
            try:
                self._trading.cancel_order_by_id(order_id)
            except APIError as err:
                if err.status_code not in (404, 422):  # already terminal or gone: nothing to cancel
                    raise

        self._read(f"cancel order {order_id}", call)

    def fills(self, *, after: datetime | None = None, known: Mapping[str, str] | None = None) -> tuple[Fill, ...]:
        """Every FILL activity after `after`, oldest first, each with our client order id."""
        raw: list[dict[str, Any]] = []
        params: dict[str, Any] = {"direction": "asc", "page_size": 100}
        if after is not None:
            params["after"] = after.astimezone(UTC).isoformat()
        while True:
            page = self._read("list fill activities", partial(self._trading.get, "/account/activities/FILL",
                                                                  dict(params)))
            batch = page if isinstance(page, list) else []
            raw.extend(batch)
            if len(batch) < params["page_size"]:
                break
            params["page_token"] = batch[-1]["id"]
        return tuple(mapping.fill_from_activity(a, self._client_id(str(a["order_id"]), known or {})) for a in raw)

    def _client_id(self, order_id: str, known: Mapping[str, str]) -> str:
        if order_id in known:
            return known[order_id]
        if order_id not in self._client_ids:
            self._client_ids[order_id] = self.order(order_id).client_order_id
        return self._client_ids[order_id]

    def daily_closes(self, symbols: Collection[Symbol], start: date, end: date) -> pd.DataFrame:
        req = StockBarsRequest(symbol_or_symbols=sorted(symbols), timeframe=TimeFrame.Day,
                               start=datetime.combine(start, datetime.min.time(), UTC),
                               end=datetime.combine(end, datetime.min.time(), UTC) + timedelta(days=1),
                               adjustment=Adjustment.ALL, feed=DataFeed(self.settings.feed))
        bars = model(self._read("get daily bars", lambda: self._data.get_stock_bars(req)), BarSet)
        columns: dict[str, pd.Series] = {}
        for sym, rows in bars.data.items():
            idx = pd.DatetimeIndex([mapping.utc(b.timestamp).astimezone(mapping.NEW_YORK).date() for b in rows])
            columns[sym] = pd.Series([b.close for b in rows], index=idx, dtype="float64")
        return pd.DataFrame(columns).sort_index()

    # -- orders ------------------------------------------------------------------------------------

    def submit(self, order: OrderIntent) -> OrderState:
        """Send a market day order once. An ambiguous outcome is resolved by looking its id up;
        a resend (same client order id, so it can never double) happens only when it was not found."""
        req = MarketOrderRequest(
            symbol=order.symbol, qty=float(order.qty), side=OrderSide(order.side.value),
            time_in_force=TimeInForce.DAY, client_order_id=order.client_order_id,
            position_intent=_INTENTS[order.intent.value],
        )
        what = f"order {order.client_order_id}"
        last: BotError | None = None
        for _ in range(2):
            self.request_count += 1
            try:
                return mapping.to_order_state(model(self._trading.submit_order(req), AlpacaOrder))
            except APIError as err:
                if not (is_duplicate_id(err) or err.status_code == 429 or (err.status_code or 0) >= 500):
                    raise self._translate(err, what) from None
                last = self._translate(err, what) if not is_duplicate_id(err) else None
            except requests.exceptions.RequestException as err:
                last = self._translate(err, what)
            found = self.order_by_client_id(order.client_order_id)
            if found is not None:
                return found
        raise last if last is not None else BrokerUnavailable(f"{what}: outcome unknown and not found at the broker")

