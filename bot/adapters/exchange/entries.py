"""Non-trade activities as Alpaca serves them today: SPLIT, DIV, DIVNRA, CIL and the cash entries.

Every entry has the same keys (null where a type has no value); generations.py turns them into the
legacy or the drift schema. Ids are "<booking time>::<uuid5 of what was booked>", so the same history
booked twice (another exchange, another schema mode) has the same ids.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from bot.adapters.exchange.models import JSON, num, ts

_NS = uuid.UUID("8d0c7c1e-5a7b-4f0e-9a51-3c1f2e6b7d42")
NOTICE_TYPE, NOTICE_SUB_TYPE = "CAINFO", "NOTICE"  # drift: a type (and sub type) no client knows yet
CASH_TYPES = frozenset({"FEE", "INT", "JNLC", "CSD", "CSW"})


def activity_id(moment: datetime, key: str) -> str:
    stamp = moment.astimezone(UTC)
    return f"{stamp:%Y%m%d%H%M%S}{stamp.microsecond // 1000:03d}::{uuid.uuid5(_NS, key)}"


@dataclass(frozen=True, slots=True)
class Entry:
    """What every non-trade activity says; the builders below fill it in per type."""

    kind: str
    key: str  # unique per account history: the id's source
    on: date
    moment: datetime  # when it was booked (transaction time)
    net: Decimal
    symbol: str | None = None
    qty: Decimal | None = None
    price: Decimal | None = None
    per_share: Decimal | None = None
    sub_type: str | None = None
    description: str = ""

    @property
    def id(self) -> str:
        return activity_id(self.moment, self.key)

    def json(self) -> JSON:
        return {"id": self.id, "activity_type": self.kind, "date": self.on.isoformat(), "net_amount": num(self.net),
                "description": self.description, "status": "executed", "symbol": self.symbol, "qty": num(self.qty),
                "price": num(self.price), "per_share_amount": num(self.per_share), "entry_sub_type": self.sub_type,
                "created_at": ts(self.moment)}


@dataclass(frozen=True, slots=True)
class SplitLegs:
    """One position through one split: the signed quantities before and after, and the prices."""

    symbol: str
    on: date
    moment: datetime
    key: str
    old_qty: Decimal
    new_qty: Decimal
    old_price: Decimal
    new_price: Decimal
    reverse: bool

    def entries(self) -> tuple[Entry, Entry]:
        """REMOVE minus the old signed quantity, ADD the new one: their sum is the change."""
        return self._leg("remove", -self.old_qty, self.old_price), self._leg("add", self.new_qty, self.new_price)

    def _leg(self, word: str, qty: Decimal, price: Decimal) -> Entry:
        value = (self.old_qty * self.old_price).quantize(Decimal("0.01"))
        said = f"{word.upper()}, From QTY {num(self.old_qty)} To QTY {num(self.new_qty)}, Position Value {value}"
        return Entry("SPLIT", f"{self.key}:{word}", self.on, self.moment, Decimal(0), symbol=self.symbol, qty=qty,
                     price=price, sub_type="RSPLIT" if self.reverse else None, description=said)


def cash_in_lieu(legs: SplitLegs, fraction: Decimal, amount: Decimal) -> Entry:
    """The fraction (signed like the position) paid out at the new price: a short pays it."""
    return Entry("CIL", legs.key + ":cil", legs.on, legs.moment, amount, symbol=legs.symbol, qty=fraction,
                 price=legs.new_price, description=f"Cash in lieu of {num(abs(fraction))} shares @ {legs.new_price}")


def dividend(symbol: str, ex_date: date, moment: datetime, qty: Decimal, per_share: Decimal,
             amount: Decimal) -> Entry:
    return Entry("DIV", f"dividend:{symbol}:{ex_date}", ex_date, moment, amount, symbol=symbol, qty=qty,
                 per_share=per_share, sub_type="CDIV", description=f"Cash DIV @ {num(per_share)}, Pos QTY: {num(qty)}")


def withholding(div: Entry, rate: Decimal, amount: Decimal) -> Entry:
    return Entry("DIVNRA", div.key + ":nra", div.on, div.moment, amount, symbol=div.symbol, qty=div.qty,
                 per_share=div.per_share, description=f"NRA withholding {num(rate * 100)}% of {div.net}")


def notice(legs: SplitLegs) -> Entry:
    return Entry(NOTICE_TYPE, legs.key + ":notice", legs.on, legs.moment, Decimal(0), symbol=legs.symbol,
                 sub_type=NOTICE_SUB_TYPE, description="corporate action notice")


def stock_journal(symbol: str, qty: Decimal, on: date, moment: datetime, number: int, description: str) -> Entry:
    """JNLS: shares moved into (+) or out of (-) the account by a journal; no cash moves."""
    return Entry("JNLS", f"jnls:{number}", on, moment, Decimal(0), symbol=symbol, qty=qty,
                 description=description or f"stock journal of {qty} {symbol}")


def cash(kind: str, amount: Decimal, on: date, moment: datetime, number: int, description: str) -> Entry:
    if kind not in CASH_TYPES:
        raise ValueError(f"book_cash books {sorted(CASH_TYPES)}, not {kind!r}")
    return Entry(kind, f"cash:{number}", on, moment, amount, description=description)
