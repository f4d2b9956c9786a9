"""Booking corporate actions into the account, lazily and exactly once.

Each request (or settle) books what the calendar has due between the store's watermark and now, in
time order, then moves the watermark: the store is shared by processes and every step runs inside its
transaction, so no process books a step twice. A fresh account starts its watermark at its first settle
(it held nothing before). A split's booking step records what it booked; its effect step applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from bot.adapters.exchange import entries
from bot.adapters.exchange.actions import Dividend, Due
from bot.adapters.exchange.entries import Entry, SplitLegs
from bot.adapters.exchange.prices import CENT, PriceBook
from bot.adapters.exchange.settings import Remainder
from bot.adapters.exchange.state import PRICE_QUANTUM, QTY_QUANTUM, ZERO, Store
from bot.core.corporate import Split

BOOKED_THROUGH = "corporate_booked_through"
PENDING = "corporate_pending_splits"
CASH_BOOKINGS = "cash_bookings"


@dataclass(frozen=True, slots=True)
class BookingRules:
    remainder: Remainder = "fractional"  # Alpaca since 2021: fractional shares, no cash in lieu
    withholding: Decimal = ZERO  # share of a long's dividend withheld (booked as DIVNRA)
    notices: bool = False  # drift schema: each split also books an activity of a type no client knows


def booked_through(store: Store) -> datetime | None:
    raw = store.get_meta(BOOKED_THROUGH)
    return None if raw is None else datetime.fromisoformat(raw)


class Booker:
    """Turns due calendar steps into activities, positions and cash; runs under the exchange lock."""

    def __init__(self, store: Store, book: PriceBook, rules: BookingRules) -> None:
        self.store, self.book, self.rules = store, book, rules

    def run(self, at: datetime) -> None:
        through = booked_through(self.store)
        if through is not None and at <= through:
            return
        if through is not None:
            for due in self.book.calendar.between(through, at):
                self._do(due)
        self.store.set_meta(BOOKED_THROUGH, at.isoformat())

    def _do(self, due: Due) -> None:
        if isinstance(due.action, Dividend):
            self._pay(due.action, due.moment)
        elif due.step == "split_booking":
            self._book_split(due.action, due.key, due.moment)
        else:
            self._apply_split(due.action, due.key, due.moment)

    def _book(self, *booked: Entry) -> None:
        for entry in booked:
            self.store.add_activity(entry.id, entry.moment, entry.json())

    def _qty(self, symbol: str) -> tuple[Decimal, Decimal]:
        return self.store.positions().get(symbol, (ZERO, ZERO))

    def book_cash(self, kind: str, amount: Decimal, on: date, at: datetime, description: str) -> None:
        number = int(self.store.get_meta(CASH_BOOKINGS) or "0") + 1
        entry = entries.cash(kind, amount, on, at, number, description)
        self.store.set_meta(CASH_BOOKINGS, str(number))
        self._book(entry)
        self.store.add_cash(amount)

    def journal_shares(self, symbol: str, qty: Decimal, on: date, at: datetime, description: str) -> None:
        number = int(self.store.get_meta(CASH_BOOKINGS) or "0") + 1
        self.store.set_meta(CASH_BOOKINGS, str(number))
        self._book(entries.stock_journal(symbol, qty, on, at, number, description))
        held, avg = self._qty(symbol)
        after, mark = held + qty, self.book.mark(symbol, on)
        same_side = held != 0 and (held > 0) == (after > 0)  # the entry price stays; else the day's mark
        self.store.set_position(symbol, after, avg if same_side or mark is None else mark.price)

    # -- splits ---------------------------------------------------------------------------------

    def _book_split(self, split: Split, key: str, moment: datetime) -> None:
        qty = self._qty(split.symbol)[0]
        new, paid = self._legs(split, qty, key, moment)
        pending = self.store.get_json(PENDING, {})
        pending[key] = [str(qty), str(new), str(paid)]
        self.store.set_json(PENDING, pending)

    def _legs(self, split: Split, qty: Decimal, key: str, moment: datetime) -> tuple[Decimal, Decimal]:
        """Book the SPLIT pair (and a CIL) for a signed quantity; the new quantity and the cash paid."""
        if qty == 0:
            return ZERO, ZERO
        mark = self.book.mark(split.symbol, split.on - timedelta(days=1))
        old_price = mark.price if mark is not None else ZERO
        exact = qty * split.ratio
        new = exact.to_integral_value(ROUND_DOWN) if self.rules.remainder == "cash" else exact.quantize(
            QTY_QUANTUM, ROUND_DOWN)
        legs = SplitLegs(split.symbol, split.on, moment, key, qty, new,
                         old_price, (old_price / split.ratio).quantize(CENT, ROUND_HALF_EVEN), split.is_reverse)
        self._book(*legs.entries())
        paid = ZERO
        if self.rules.remainder == "cash" and exact != new:
            fraction = exact - new
            paid = (fraction * legs.new_price).quantize(CENT, ROUND_HALF_EVEN)
            self._book(entries.cash_in_lieu(legs, fraction, paid))
        if self.rules.notices:
            self._book(entries.notice(legs))
        return new, paid

    def _apply_split(self, split: Split, key: str, moment: datetime) -> None:
        """The effective session: the booked quantity, plus any shares traded since the booking, split."""
        pending = self.store.get_json(PENDING, {})
        old, new, paid = (Decimal(x) for x in pending.pop(key, ["0", "0", "0"]))
        self.store.set_json(PENDING, pending)
        qty, avg = self._qty(split.symbol)
        late_new, late_paid = self._legs(split, qty - old, key + ":late", moment)
        self.store.set_position(split.symbol, new + late_new, (avg / split.ratio).quantize(PRICE_QUANTUM))
        self.store.add_cash(paid + late_paid)
        self._adjust_orders(split, moment)

    def _adjust_orders(self, split: Split, moment: datetime) -> None:
        """Reverse: open GTC orders placed before it are cancelled. Forward: GTC buy limits are adjusted."""
        for order in self.store.open_orders():
            if order.symbol != split.symbol or order.time_in_force != "gtc" or order.submitted_at >= moment:
                continue
            if split.is_reverse:
                order.status, order.canceled_at = "canceled", moment
            elif order.side == "buy" and order.limit_price is not None and order.qty is not None \
                    and order.filled_qty == 0:
                order.qty = (order.qty * split.ratio).quantize(QTY_QUANTUM, ROUND_DOWN)
                order.limit_price = (order.limit_price / split.ratio).quantize(CENT, ROUND_HALF_EVEN)
            else:
                continue
            order.updated_at = moment
            self.store.save_order(order)

    # -- dividends ------------------------------------------------------------------------------

    def _pay(self, div: Dividend, moment: datetime) -> None:
        """Credited to a long, debited to a short, at the start of the ex-date; withholding apart."""
        qty = self._qty(div.symbol)[0]
        if qty == 0:
            return
        amount = (qty * div.per_share).quantize(CENT, ROUND_HALF_EVEN)
        paid = entries.dividend(div.symbol, div.ex_date, moment, qty, div.per_share, amount)
        self._book(paid)
        self.store.add_cash(amount)
        if self.rules.withholding > 0 and amount > 0:
            tax = -(amount * self.rules.withholding).quantize(CENT, ROUND_HALF_EVEN)
            self._book(entries.withholding(paid, self.rules.withholding, tax))
            self.store.add_cash(tax)
