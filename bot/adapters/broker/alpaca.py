"""The Broker port on alpaca-py's transport: every reply read as JSON and mapped by our own tolerant code.

alpaca-py builds the order requests and carries every request (auth, sessions); its strict response
models are not used, so a field Alpaca drops or adds, or a new enum value, is a log line, not an outage.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote as urlquote

import pandas as pd
import requests
import structlog
from alpaca.common.exceptions import APIError
from alpaca.common.rest import RESTClient
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.enums import PositionIntent as AlpacaIntent
from alpaca.trading.requests import MarketOrderRequest
from tenacity import Retrying

from bot.adapters.broker import mapping, reading
from bot.adapters.broker.bars import bar_params, read_daily_bars
from bot.adapters.broker.reading import Json
from bot.adapters.broker.schema import NON_TRADE_FILTER_TYPES, SchemaRecord, SchemaSeen
from bot.adapters.broker.transport import (
    AlpacaSettings,
    RateLimited,
    add_timeout,
    is_duplicate_id,
    read_retry,
    translate,
)
from bot.adapters.logs import REDACTED, mask_key
from bot.core.domain import (
    AccountEvent,
    AccountSnapshot,
    AssetInfo,
    Fill,
    MarketClock,
    OrderIntent,
    OrderState,
    Position,
    Quote,
    Session,
    Symbol,
)
from bot.errors import BotError, BrokerUnavailable

__all__ = ["AlpacaBroker", "AlpacaSettings", "RateLimited", "read_retry"]

T = TypeVar("T")
log = structlog.get_logger("pairbot.broker")
_INTENTS = {i.value: i for i in AlpacaIntent}
_ABSENT = object()  # a 404 on a read where "not there" is an answer (an asset, an order by client id)
ORDERS_PAGE = 500
ACTIVITIES_PAGE = 100
ORDER_LEAD = timedelta(days=1)  # how long before its fill an order is looked for in the listing
NON_TRADE_FILTER = ",".join(sorted(NON_TRADE_FILTER_TYPES))


def _segment(value: str) -> str:
    """One URL path segment: a symbol or an id can never reach another route."""
    return urlquote(value, safe="")


class AlpacaBroker:
    """Implements the Broker port (bot.adapters.broker.port) over alpaca-py's TradingClient and its REST transport."""

    def __init__(self, settings: AlpacaSettings, *, retry: Retrying | None = None) -> None:
        self.settings = settings
        self._trading = TradingClient(settings.api_key, settings.secret_key, paper=True,
                                      url_override=settings.base_url)
        # Market data through alpaca-py's REST transport itself (what StockHistoricalDataClient is, minus the
        # import of alpaca.data's models, which we never use: every reply is read as JSON).
        self._data = RESTClient(base_url=settings.data_url, api_key=settings.api_key, secret_key=settings.secret_key,
                                api_version="v2")
        for client in (self._trading, self._data):
            client._retry = 0  # we own retries: reads in tenacity, orders resolved by client order id
            client._retry_codes = []
            add_timeout(client._session, (settings.connect_timeout, settings.read_timeout))
        self._retry = retry if retry is not None else read_retry(settings.read_attempts, cap=settings.max_wait_seconds)
        self._client_ids: dict[str, str] = {}
        self._schema = SchemaRecord()
        self.request_count = 0

    def schema_seen(self) -> SchemaSeen:
        """The broker schema seen so far by this adapter, and what was tolerated (doctor prints its summary)."""
        return self._schema.seen()

    def _translate(self, err: Exception, what: str) -> BotError:
        """translate(), with our keys scrubbed: a broker may echo the request (headers too) in its error body."""
        out = translate(err, what)
        text = str(out).replace(self.settings.secret_key, REDACTED).replace(self.settings.api_key,
                                                                              mask_key(self.settings.api_key))
        out.args = (text,)
        return out

    def _observe(self, kind: str, obj: Json) -> None:
        for tolerated in self._schema.see(kind, obj):
            log.warning("broker_schema_tolerated", kind=tolerated.kind, item=tolerated.item)

    def _seen(self, kind: str, raw: object) -> Json:
        obj = reading.as_object(raw, kind)
        self._observe(kind, obj)
        return obj

    def _seen_all(self, kind: str, raw: object) -> list[Json]:
        items = reading.as_objects(raw, kind)
        for obj in items:
            self._observe(kind, obj)
        return items

    # -- reads -------------------------------------------------------------------------------------

    def _read(self, what: str, call: Callable[[], T]) -> T:
        def once() -> T:
            self.request_count += 1
            try:
                return call()
            except (APIError, requests.exceptions.RequestException) as err:
                raise self._translate(err, what) from None

        return self._retry(once)

    def _get(self, what: str, path: str, params: Mapping[str, str] | None = None, *, data: bool = False,
             absent_on_404: bool = False) -> Any:
        client = self._data if data else self._trading

        def call() -> Any:
            try:
                return client.get(path, dict(params) if params else None)
            except APIError as err:
                if absent_on_404 and err.status_code == 404:
                    return _ABSENT
                raise

        return self._read(what, call)

    def positions(self) -> tuple[Position, ...]:
        raw = self._get("get positions", "/positions")
        return tuple(mapping.to_position(p) for p in self._seen_all("position", raw))

    def _account(self) -> mapping.AccountReading:
        return mapping.to_account(self._seen("account", self._get("get account", "/account")))

    def account_number(self) -> str:
        return self._account().state.account_number

    def asset(self, symbol: str) -> AssetInfo | None:
        """The broker's asset, or None when it does not know the symbol (HTTP 404)."""
        raw = self._get(f"get asset {symbol}", f"/assets/{_segment(symbol)}", absent_on_404=True)
        return None if raw is _ABSENT else mapping.to_asset(self._seen("asset", raw), symbol)

    def clock(self) -> MarketClock:
        return mapping.to_clock(self._seen("clock", self._get("get clock", "/clock")))

    def snapshot(self, symbols: Collection[Symbol]) -> AccountSnapshot:
        """Account, positions, clock, quotes, open orders, and the assets the broker knows (unknown ones left out)."""
        account = self._account()
        positions = self.positions()
        clock = self.clock()
        assets = {Symbol(s): a for s in sorted(symbols) if (a := self.asset(s)) is not None}
        held = {p.symbol for p in positions}
        # Quotes for the symbols asked about only: a position of the user's (an option, a coin) is not ours to price.
        wanted = sorted(s for s in set(symbols) if s in assets or s in held)
        return AccountSnapshot(
            as_of=clock.as_of, equity=account.equity, cash=account.cash, buying_power=account.buying_power,
            positions={p.symbol: p for p in positions}, quotes=self.quotes(wanted), account=account.state,
            clock=clock, assets=assets,
        )

    def quotes(self, symbols: Collection[str]) -> dict[Symbol, Quote]:
        """Latest quotes; a symbol without one (or with an unusable one) is absent."""
        if not symbols:
            return {}
        params = {"symbols": ",".join(symbols), "feed": self.settings.feed}
        raw = mapping.latest_quotes(self._get("get quotes", "/stocks/quotes/latest", params, data=True))
        found = {s: mapping.to_quote(s, self._seen("quote", q)) for s, q in raw.items()}
        return {Symbol(s): q for s, q in found.items() if q is not None}

    def sessions(self, start: date, end: date) -> tuple[Session, ...]:
        raw = self._get("get calendar", "/calendar", {"start": start.isoformat(), "end": end.isoformat()})
        return tuple(mapping.to_session(c) for c in self._seen_all("calendar", raw))

    def _order_state(self, raw: object) -> OrderState:
        return mapping.to_order_state(self._seen("order", raw))

    def order_by_client_id(self, client_order_id: str) -> OrderState | None:
        raw = self._get(f"look up order {client_order_id}", "/orders:by_client_order_id",
                        {"client_order_id": client_order_id}, absent_on_404=True)
        return None if raw is _ABSENT else self._order_state(raw)

    def order(self, order_id: str) -> OrderState:
        return self._order_state(self._get(f"get order {order_id}", f"/orders/{_segment(order_id)}"))

    def _orders(self, what: str, params: dict[str, str]) -> list[OrderState]:
        raw = self._get(what, "/orders", {"limit": str(ORDERS_PAGE), "direction": "asc"} | params)
        return [mapping.to_order_state(o) for o in self._seen_all("order", raw)]

    def open_orders(self) -> tuple[OrderState, ...]:
        """Every open order, oldest first, paged as all_orders is (a page holds at most 500: an account with more
        open orders of the user's must not hide pairbot's own)."""
        found: list[OrderState] = []
        for page in self._order_pages("list open orders", {"status": "open"}):
            found += page
        return tuple(found)

    def all_orders(self) -> tuple[OrderState, ...]:
        """Every order of the account, oldest first (status=all, paged by submission time, de-duplicated)."""
        seen: dict[str, OrderState] = {}
        for page in self._order_pages("list all orders", {"status": "all"}):
            seen |= {o.order_id: o for o in page}
        return tuple(seen.values())

    def _order_pages(self, what: str, params: dict[str, str]) -> Iterator[list[OrderState]]:
        """The orders `params` select, page by page, oldest first, each page only the orders not on an earlier one."""
        seen: set[str] = set()
        while True:
            page = self._orders(what, params)
            fresh = [o for o in page if o.order_id not in seen]
            seen |= {o.order_id for o in fresh}
            if fresh:
                yield fresh
            if len(page) < ORDERS_PAGE or not fresh:
                return
            after = fresh[-1].submitted_at - timedelta(microseconds=1)  # overlap: equal timestamps on a page edge
            params = params | {"after": after.isoformat()}

    def cancel(self, order_id: str) -> None:
        def call() -> None:
            try:
                self._trading.delete(f"/orders/{_segment(order_id)}")
            except APIError as err:
                if err.status_code not in (404, 422):  # already terminal or gone: nothing to cancel
                    raise

        self._read(f"cancel order {order_id}", call)

    def fills(self, *, after: datetime | None = None, known: Mapping[str, str] | None = None) -> tuple[Fill, ...]:
        """Every FILL activity after `after`, oldest first, each with its order's client order id."""
        raw: list[Json] = []
        params: dict[str, str] = {"direction": "asc", "page_size": str(ACTIVITIES_PAGE)}
        if after is not None:
            params["after"] = after.astimezone(UTC).isoformat()
        while True:
            batch = self._seen_all("activity", self._get("list fill activities", "/account/activities/FILL", params))
            raw.extend(batch)
            if len(batch) < ACTIVITIES_PAGE:
                break
            params = params | {"page_token": str(reading.required(batch[-1], "id", "fill activity"))}
        ids = self._client_ids_of(raw, known or {})
        fills = (mapping.fill_from_activity(a, ids[mapping.activity_order_id(a)]) for a in raw)
        return tuple(f for f in fills if f is not None)

    def _client_ids_of(self, activities: list[Json], known: Mapping[str, str]) -> dict[str, str]:
        """Order id -> client order id for these fills. Orders not in `known` (the user's, mostly) come from one
        listing of the orders submitted from a day before the earliest of their fills to the latest, paged only
        as far as needed: a look-up per order would cost a request per order the user filled, every run."""
        times: dict[str, datetime] = {}
        for a in activities:
            order_id = mapping.activity_order_id(a)
            if order_id not in known and order_id not in self._client_ids:
                at = reading.moment(a, "transaction_time", "fill activity")
                times[order_id] = min(at, times.get(order_id, at))
        if times:
            self._client_ids |= self._listed_client_ids(set(times), since=min(times.values()) - ORDER_LEAD,
                                                        through=max(times.values()))
        for order_id in times.keys() - self._client_ids.keys():  # submitted over ORDER_LEAD before it filled
            self._client_ids[order_id] = self.order(order_id).client_order_id
        return {**self._client_ids, **known}

    def _listed_client_ids(self, wanted: set[str], *, since: datetime, through: datetime) -> dict[str, str]:
        """Client order ids of the orders submitted in (since, through], oldest first, until every wanted id is
        found or the orders run out."""
        found: dict[str, str] = {}
        params = {"status": "all", "after": since.astimezone(UTC).isoformat(),
                  "until": (through.astimezone(UTC) + timedelta(microseconds=1)).isoformat()}
        for page in self._order_pages("list orders of fills", params):
            found |= {o.order_id: o.client_order_id for o in page}
            if wanted <= found.keys():
                break
        return found

    def account_events(self, *, after: date | None = None) -> tuple[AccountEvent, ...]:
        """Every non-trade activity (splits, dividends, cash entries...), oldest first, asked for by type so that
        no FILL is paged through. With `after`, from the day before it (a day of overlap: de-duplicate by id)."""
        params: dict[str, str] = {"activity_types": NON_TRADE_FILTER, "direction": "asc",
                                  "page_size": str(ACTIVITIES_PAGE)}
        if after is not None:
            params["after"] = (after - timedelta(days=1)).isoformat()
        out: list[AccountEvent] = []
        while True:
            batch = self._seen_all("activity", self._get("list account activities", "/account/activities", params))
            out.extend(mapping.to_account_event(a) for a in batch if a.get("activity_type") != "FILL")
            if len(batch) < ACTIVITIES_PAGE:
                return tuple(out)
            params = params | {"page_token": str(reading.required(batch[-1], "id", "account activity"))}

    def daily_closes(self, symbols: Collection[Symbol], start: date, end: date, *,
                     adjustment: str = "all") -> pd.DataFrame:
        """Daily closes, split- and dividend-adjusted ("all"), or as traded ("raw")."""
        if not symbols:
            return pd.DataFrame()
        params = bar_params(symbols, start=datetime.combine(start, datetime.min.time(), UTC),
                            end=datetime.combine(end, datetime.min.time(), UTC) + timedelta(days=1),
                            feed=self.settings.feed, adjustment=adjustment)
        bars = read_daily_bars(lambda path, query: self._get("get daily bars", path, query, data=True), params,
                               observe=self._observe)
        columns = {sym: pd.Series([float(b.close) for b in rows], index=pd.DatetimeIndex([b.session for b in rows]),
                                  dtype="float64") for sym, rows in bars.items()}
        return pd.DataFrame(columns).sort_index()

    # -- orders ------------------------------------------------------------------------------------

    def submit(self, order: OrderIntent) -> OrderState:
        """Send a market day order once. An ambiguous outcome (an unreadable reply included) is resolved by
        looking its id up; a resend (same client order id, so it can never double) happens only when not found."""
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
                return self._order_state(self._trading.post("/orders", req.to_request_fields()))
            except APIError as err:
                if not (is_duplicate_id(err) or err.status_code == 429 or (err.status_code or 0) >= 500):
                    raise self._translate(err, what) from None
                last = self._translate(err, what) if not is_duplicate_id(err) else None
            except requests.exceptions.RequestException as err:
                last = self._translate(err, what)
            except BrokerUnavailable as err:  # the order was taken but its reply does not read as an order
                last = err
            found = self.order_by_client_id(order.client_order_id)
            if found is not None:
                return found
        raise last if last is not None else BrokerUnavailable(f"{what}: outcome unknown and not found at the broker")
