"""The matching engine: lazy fills at the quote, partial fills, expiry, cancels, account arithmetic."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from bot.adapters.exchange.booking import Booker, BookingRules
from bot.adapters.exchange.clock import MarketClock
from bot.adapters.exchange.models import asset_id, num, ts
from bot.adapters.exchange.prices import Mark, PriceBook
from bot.adapters.exchange.state import PRICE_QUANTUM, QTY_QUANTUM, REVIEW_STATUS, ZERO, Order, Store

SHORT_BUFFER = Decimal("1.03")  # Alpaca's buying-power check: an opening short at 3% above the ask
BUY_BUFFER = Decimal("1.04")  # a market buy at 2.5-4% above the market (REFERENCE 10.2): the top of the range
MARGIN_MINIMUM = Decimal(2000)


@dataclass(frozen=True, slots=True)
class AccountNumbers:
    cash: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    equity: Decimal
    last_equity: Decimal
    multiplier: int
    initial_margin: Decimal
    maintenance_margin: Decimal
    buying_power: Decimal
    non_marginable_buying_power: Decimal


class Engine:
    """Owns the rules that need prices and time; every method runs under the exchange lock."""

    def __init__(self, store: Store, book: PriceBook, clock: MarketClock, *, seed: int,
                 partial_fill_probability: float, fill_latency_seconds: float, review_requests: int = 0,
                 booking: BookingRules | None = None) -> None:
        self.store, self.book, self.clock = store, book, clock
        self.booker = Booker(store, book, booking or BookingRules())
        self.seed = seed
        self.review_requests = review_requests  # drift schema: requests a new order spends in REVIEW_STATUS
        self.partial_fill_probability = partial_fill_probability
        self.fill_latency_seconds = fill_latency_seconds

    def mark(self, symbol: str, at: datetime) -> Mark | None:
        return self.book.mark(symbol, self.clock.price_day(at))

    def asset_id(self, symbol: str, day: date) -> str:
        """The asset's id on a day: each reverse split before it gave the asset a new one (a new CUSIP)."""
        return asset_id(symbol, self.book.calendar.reverse_splits_through(symbol, day))

    def account_numbers(self, at: datetime) -> AccountNumbers:
        cash = self.store.cash()
        long_mv = short_mv = last = ZERO
        for sym, (qty, avg) in self.store.positions().items():
            mark = self.mark(sym, at)
            price, previous = (mark.price, mark.previous) if mark else (avg, avg)
            value = qty * price
            if qty > 0:
                long_mv += value
            else:
                short_mv += value
            last += qty * previous
        equity = cash + long_mv + short_mv
        gross = long_mv - short_mv
        multiplier = 2 if equity >= MARGIN_MINIMUM else 1
        initial = gross / multiplier
        buying_power = max(ZERO, (equity - initial) * multiplier)
        return AccountNumbers(cash, long_mv, short_mv, equity, cash + last, multiplier, initial,
                              gross * Decimal("0.3"), buying_power, max(ZERO, equity - initial))

    def reserved_buying_power(self, at: datetime) -> Decimal:
        """Open buy-long and sell-short orders hold buying power until they fill or end."""
        positions = self.store.positions()
        total = ZERO
        for order in self.store.open_orders():
            qty = positions.get(order.symbol, (ZERO, ZERO))[0]
            total += self.opening_cost(order, qty, at)
        return total

    def opening_cost(self, order: Order, position_qty: Decimal, at: datetime) -> Decimal:
        closing = (order.side == "buy" and position_qty < 0) or (order.side == "sell" and position_qty > 0)
        if closing:
            return ZERO
        if order.notional is not None:
            return order.notional if order.filled_qty == 0 else ZERO
        mark = self.mark(order.symbol, at)
        remaining = order.remaining() or ZERO
        if mark is None:
            return ZERO
        if order.side == "buy":
            return order.limit_price * remaining if order.limit_price is not None else BUY_BUFFER * mark.ask * remaining
        return max(order.limit_price or ZERO, SHORT_BUFFER * mark.ask) * remaining

    def held_for_orders(self, symbol: str, side: str) -> Decimal:
        return sum(((o.remaining() or ZERO) for o in self.store.open_orders()
                    if o.symbol == symbol and o.side == side), ZERO)

    def settle(self, at: datetime) -> None:
        """Run at the start of every request: books corporate actions, fills what is due, expires what is over."""
        request = self.store.bump_requests()
        self.booker.run(at)
        wall = time.time()
        for order in self.store.open_orders():
            if self._step(order, at, request, wall):
                order.updated_at = at
                self.store.save_order(order)

    def _step(self, order: Order, at: datetime, request: int, wall: float) -> bool:
        if order.fault == "expire_next" or (
                order.time_in_force == "day" and at >= self.clock.session_close(order.session)):
            order.status, order.expired_at = "expired", at
            return True
        if order.status == "pending_cancel":
            if order.fault == "late_fill_after_cancel":
                return self._fill(order, at, request, allow_partial=False)
            order.status, order.canceled_at = "canceled", at
            return True
        reviewed = self._end_review(order, request)
        if order.status == REVIEW_STATUS:
            return False
        if not self.clock.is_open(at) or self.clock.order_session(at) < order.session:
            return reviewed
        changed = order.status == "accepted"
        if changed:
            order.status = "new"
        if order.fault == "reject_later":
            order.status, order.failed_at = "rejected", at
            return True
        if wall - order.submitted_wall < self.fill_latency_seconds or request < order.eligible_request:
            return changed
        if order.hold_polls > 0:
            order.hold_polls -= 1
            return True
        return self._fill(order, at, request, allow_partial=True) or changed

    @staticmethod
    def _end_review(order: Order, request: int) -> bool:
        """A reviewed order goes on as a queued (accepted) one; the next lines open it when the market is."""
        if order.status != REVIEW_STATUS or request <= order.review_until:
            return False
        order.status = "accepted"
        return True

    def _fill(self, order: Order, at: datetime, request: int, *, allow_partial: bool) -> bool:
        mark = self.mark(order.symbol, at)
        if mark is None:
            return False
        price = mark.ask if order.side == "buy" else mark.bid
        if order.limit_price is not None and (
                (order.side == "buy" and price > order.limit_price)
                or (order.side == "sell" and price < order.limit_price)):
            return False
        if order.notional is not None:
            qty = (order.notional / price).quantize(QTY_QUANTUM, ROUND_DOWN)
            leaves = ZERO
        else:
            remaining = order.remaining() or ZERO
            qty = self._partial(order, remaining) if allow_partial else remaining
            leaves = remaining - qty
        if qty <= 0:
            return False
        self._apply(order, qty, price, leaves, at)
        if leaves > 0:
            order.eligible_request = request + 1
            if order.fault == "partial_then_expire":
                order.fault = "expire_next"
        return True

    def _partial(self, order: Order, remaining: Decimal) -> Decimal:
        rng = random.Random(f"{self.seed}:{order.seq}:{order.fills}")
        forced = order.fault == "partial_then_expire" and order.fills == 0
        if not forced and rng.random() >= self.partial_fill_probability:
            return remaining
        tenths = Decimal(rng.randint(1, 9)) / 10
        whole = remaining == remaining.to_integral_value()
        part = (remaining * tenths).quantize(Decimal(1) if whole else QTY_QUANTUM, ROUND_DOWN)
        return part if 0 < part < remaining else remaining

    def _apply(self, order: Order, qty: Decimal, price: Decimal, leaves: Decimal, at: datetime) -> None:
        signed = qty if order.side == "buy" else -qty
        held, avg = self.store.positions().get(order.symbol, (ZERO, ZERO))
        new_qty = held + signed
        if held == 0 or (held > 0) == (signed > 0):
            avg = ((abs(held) * avg + qty * price) / abs(new_qty)).quantize(PRICE_QUANTUM, ROUND_HALF_EVEN)
        elif (held > 0) != (new_qty > 0) and new_qty != 0:
            avg = price
        self.store.set_position(order.symbol, new_qty, avg)
        self.store.add_cash(-signed * price)
        before = order.filled_qty
        order.filled_qty = before + qty
        paid = (order.filled_avg_price or ZERO) * before + price * qty
        order.filled_avg_price = (paid / order.filled_qty).quantize(PRICE_QUANTUM, ROUND_HALF_EVEN)
        order.fills += 1
        order.status = "partially_filled" if leaves > 0 else "filled"
        if leaves == 0:
            order.filled_at = at
        stamp = at.astimezone(UTC)
        activity_id = f"{stamp:%Y%m%d%H%M%S}{stamp.microsecond // 1000:03d}::{uuid.uuid4()}"
        self.store.add_activity(activity_id, at, {
            "id": activity_id, "activity_type": "FILL", "transaction_time": ts(at),
            "type": "partial_fill" if leaves > 0 else "fill", "price": num(price), "qty": num(qty),
            "side": order.side, "symbol": order.symbol, "leaves_qty": num(leaves), "order_id": order.id,
            "cum_qty": num(order.filled_qty), "order_status": order.status,
        })

    def cancel(self, order: Order, at: datetime) -> None:
        if order.fault == "late_fill_after_cancel":
            order.status = "pending_cancel"
        else:
            order.status, order.canceled_at = "canceled", at
        order.updated_at = at
        self.store.save_order(order)
