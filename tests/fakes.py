"""FakeBroker: the Broker port in memory, with the rules the run protocol depends on.

Client order ids are unique forever (a resend of a known id returns that order, as the adapter resolves a
duplicate), market orders fill at the quote (the ask for buys, the bid for sells) when polled, as the local
exchange fills them lazily: all at once or in two parts; an order may not flip a position's sign; short sales
are whole shares; faults come on demand.
It inherits nothing from the real adapter: it obeys the port's contract (bot/adapters/broker/port.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pandas as pd

from bot.adapters.broker.schema import SchemaSeen
from bot.core.domain import (
    NEW_YORK,
    ZERO,
    AccountEvent,
    AccountSnapshot,
    AccountState,
    AssetInfo,
    Fill,
    MarketClock,
    OrderIntent,
    OrderState,
    Position,
    PositionIntent,
    Quote,
    Session,
    Side,
    Symbol,
)
from bot.errors import BotError, BrokerUnavailable, OrderRejected

Step = Callable[[], None]


@dataclass
class FakeBroker:
    prices: dict[str, Decimal]
    cash: Decimal = Decimal(100000)
    now: datetime = datetime(2026, 12, 2, 15, 45, tzinfo=UTC)  # 10:45 New York, a Wednesday
    half_spread: Decimal = Decimal("0.01")
    partial_fill: bool = False  # fill half on the first poll, the rest on the next
    account: AccountState = field(default_factory=lambda: AccountState("PA-FAKE", "ACTIVE"))
    assets: dict[str, AssetInfo] = field(default_factory=dict)  # default: every priced symbol, shortable, ETB
    events: list[AccountEvent] = field(default_factory=list)
    events_asked_after: list[date | None] = field(default_factory=list)  # what each account_events call asked
    request_count: int = 0
    _positions: dict[Symbol, Decimal] = field(default_factory=dict)
    _orders: dict[str, OrderState] = field(default_factory=dict)  # by order id, in submission order
    _fills: list[Fill] = field(default_factory=list)
    _faults: dict[str, list[BotError | str]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- faults on demand -------------------------------------------------------------------------------

    def fail(self, method: str, *outcomes: BotError | str) -> None:
        """The next calls of `method` raise these errors in turn; "apply" (submit only) sends the order and
        then raises BrokerUnavailable, as a timeout after the broker applied it does."""
        self._faults.setdefault(method, []).extend(outcomes)

    def _call(self, method: str) -> str | None:
        self.request_count += 1
        queue = self._faults.get(method)
        if not queue:
            return None
        outcome = queue.pop(0)
        if isinstance(outcome, BotError):
            raise outcome
        return outcome

    # -- the account ------------------------------------------------------------------------------------

    def hand_trade(self, symbol: str, qty: Decimal) -> None:
        """A trade a person made (no pairbot client order id), filled at once."""
        self._apply(self._new_order(f"manual-{next(self._ids)}", Symbol(symbol), qty))

    def split(self, symbol: str, ratio: Decimal) -> None:
        """A split today, booked as Alpaca books it: two SPLIT activities; the position and price move by it."""
        sym = Symbol(symbol)
        old = self._positions.get(sym, ZERO)
        new = old * ratio
        self._positions[sym], self.prices[symbol] = new, self.prices[symbol] / ratio
        day = self.now.astimezone(NEW_YORK).date()
        for leg, qty in (("REMOVE", -old), ("ADD", new)):
            self.events.append(AccountEvent(f"split-{symbol}-{day}-{leg}", "SPLIT", day, sym, qty,
                                            description=f"{leg}, From QTY {abs(old)} To QTY {abs(new)}"))

    def account_number(self) -> str:
        self._call("account_number")
        return self.account.account_number

    def clock(self) -> MarketClock:
        self._call("clock")
        return MarketClock(self.now, True, self.now + timedelta(days=1), self.now + timedelta(hours=5, minutes=15))

    def positions(self) -> tuple[Position, ...]:
        self._call("positions")
        return tuple(Position(s, q, q * self._mark(s), self._mark(s)) for s, q in sorted(self._positions.items()) if q)

    def snapshot(self, symbols: Collection[Symbol]) -> AccountSnapshot:
        self._call("snapshot")
        held = {p.symbol: p for p in self.positions()}
        equity = self.cash + sum((p.market_value for p in held.values()), ZERO)
        gross = sum((abs(p.market_value) for p in held.values()), ZERO)
        known = [s for s in symbols if s in self.prices]
        return AccountSnapshot(
            as_of=self.now, equity=equity, cash=self.cash, buying_power=max(ZERO, 2 * equity - gross),
            positions=held, quotes={Symbol(s): self._quote(s) for s in known}, account=self.account,
            clock=self.clock(), assets={Symbol(s): self._asset(s) for s in known},
        )

    def asset(self, symbol: str) -> AssetInfo | None:
        self._call("asset")
        return self._asset(symbol) if symbol in self.prices else None

    def sessions(self, start: date, end: date) -> tuple[Session, ...]:
        self._call("sessions")
        days = (start + timedelta(days=i) for i in range((end - start).days + 1))
        return tuple(Session(d, _ny(d, time(9, 30)), _ny(d, time(16))) for d in days if d.weekday() < 5)

    # -- orders -----------------------------------------------------------------------------------------

    def submit(self, order: OrderIntent) -> OrderState:
        outcome = self._call("submit")
        existing = self._find(order.client_order_id)
        if existing is not None:
            return existing  # ids are unique forever: a resend finds the first
        self._check(order)
        state = self._new_order(order.client_order_id, order.symbol, order.signed_qty)  # fills when polled
        if outcome == "apply":
            raise BrokerUnavailable(f"order {order.client_order_id}: no answer within the timeout")
        return self._orders[state.order_id]

    def _check(self, order: OrderIntent) -> None:
        held = self._positions.get(order.symbol, ZERO)
        after = held + order.signed_qty
        if held and after and (held > 0) != (after > 0):
            raise OrderRejected(f"order {order.client_order_id}: refused (403: position intent mismatch)")
        if order.intent is PositionIntent.SELL_TO_OPEN and order.qty != order.qty.to_integral_value():
            raise OrderRejected(f"order {order.client_order_id}: refused (403: fractional orders cannot be short)")
        asset = self._asset(order.symbol)
        if order.intent is PositionIntent.SELL_TO_OPEN and not (asset.shortable and asset.easy_to_borrow):
            raise OrderRejected(f"order {order.client_order_id}: refused (422: not shortable)")

    def order_by_client_id(self, client_order_id: str) -> OrderState | None:
        self._call("order_by_client_id")
        return self._find(client_order_id)

    def _find(self, client_order_id: str) -> OrderState | None:
        return next((o for o in self._orders.values() if o.client_order_id == client_order_id), None)

    def order(self, order_id: str) -> OrderState:
        self._call("order")
        state = self._orders[order_id]
        if state.status == "new" and self.partial_fill and state.qty >= 2:
            self._apply(state, part=(state.qty / 2).to_integral_value())
        elif not state.is_terminal:
            self._apply(state)
        return self._orders[order_id]

    def open_orders(self) -> tuple[OrderState, ...]:
        self._call("open_orders")
        return tuple(o for o in self._orders.values() if not o.is_terminal)

    def all_orders(self) -> tuple[OrderState, ...]:
        self._call("all_orders")
        return tuple(self._orders.values())

    def cancel(self, order_id: str) -> None:
        self._call("cancel")
        state = self._orders.get(order_id)
        if state is not None and not state.is_terminal:
            self._orders[order_id] = replace(state, status="canceled")

    def fills(self, *, after: datetime | None = None, known: Mapping[str, str] | None = None) -> tuple[Fill, ...]:
        self._call("fills")
        return tuple(f for f in self._fills if after is None or f.filled_at > after)

    def account_events(self, *, after: date | None = None) -> tuple[AccountEvent, ...]:
        self._call("account_events")
        self.events_asked_after.append(after)
        return tuple(e for e in self.events if after is None or e.on >= after - timedelta(days=1))

    def daily_closes(self, symbols: Collection[Symbol], start: date, end: date, *,
                     adjustment: str = "all") -> pd.DataFrame:
        self._call("daily_closes")
        days = pd.bdate_range(start, end)
        return pd.DataFrame({s: [float(self.prices[s])] * len(days) for s in symbols if s in self.prices}, index=days)

    def schema_seen(self) -> SchemaSeen:
        return SchemaSeen("2026", "a fake broker (no JSON)")

    # -- the matching -----------------------------------------------------------------------------------

    def _new_order(self, client_order_id: str, symbol: Symbol, signed_qty: Decimal) -> OrderState:
        order_id = f"fake-{next(self._ids)}"
        side = Side.BUY if signed_qty > 0 else Side.SELL
        state = OrderState(order_id, client_order_id, symbol, side, abs(signed_qty), ZERO, None, "new", self.now)
        self._orders[order_id] = state
        return state

    def _apply(self, state: OrderState, part: Decimal | None = None) -> None:
        qty = (state.qty - state.filled_qty) if part is None else part
        price = self._quote(state.symbol).ask if state.side is Side.BUY else self._quote(state.symbol).bid
        signed = qty if state.side is Side.BUY else -qty
        self._positions[state.symbol] = self._positions.get(state.symbol, ZERO) + signed
        self.cash -= signed * price
        self.now += timedelta(milliseconds=1)
        self._fills.append(Fill(f"{self.now:%Y%m%d%H%M%S%f}::{state.order_id}-{len(self._fills)}", state.order_id,
                                state.client_order_id, state.symbol, state.side, qty, price, self.now))
        filled = state.filled_qty + qty
        self._orders[state.order_id] = replace(state, filled_qty=filled, filled_avg_price=price,
                                               status="filled" if filled == state.qty else "partially_filled")

    def _mark(self, symbol: str) -> Decimal:
        return self.prices[symbol]

    def _quote(self, symbol: str) -> Quote:
        p = self.prices[symbol]
        return Quote(Symbol(symbol), p - self.half_spread, p + self.half_spread, self.now)

    def _asset(self, symbol: str) -> AssetInfo:
        return self.assets.get(symbol, AssetInfo(Symbol(symbol)))


def _ny(day: date, at: time) -> datetime:
    return datetime.combine(day, at, NEW_YORK).astimezone(UTC)
