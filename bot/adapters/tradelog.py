"""The trade log read from the ledger file, read-only: runs, orders with their status history, fills, shortfall."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.adapters.ledger import Ledger
from bot.core.domain import AccountEvent, PositionIntent
from bot.core.orderkey import OrderKey
from bot.errors import ConfigError, ReconciliationBreak

BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class TradeFilter:
    since: date | None = None  # inclusive, on the run's start date (UTC)
    until: date | None = None  # inclusive
    symbol: str | None = None
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class FillRow:
    activity_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    filled_at: str


@dataclass
class OrderRow:
    client_order_id: str
    run_id: str
    symbol: str
    side: str
    intent: str
    qty: Decimal
    reference_price: Decimal | None
    intent_state: str
    order_id: str | None = None
    status: str | None = None
    history: list[tuple[str, str, str]] = field(default_factory=list)  # (status, filled qty, observed at)
    fills: list[FillRow] = field(default_factory=list)

    @property
    def filled_qty(self) -> Decimal:
        return sum((f.qty for f in self.fills), Decimal(0))

    @property
    def avg_fill_price(self) -> Decimal | None:
        qty = self.filled_qty
        return None if qty == 0 else sum((f.qty * f.price for f in self.fills), Decimal(0)) / qty

    @property
    def shortfall_usd(self) -> Decimal | None:
        """What the fills cost against the decision price: positive is a cost (bought higher, sold lower)."""
        avg = self.avg_fill_price
        if avg is None or self.reference_price is None:
            return None
        sign = 1 if self.side == "buy" else -1
        return sign * (avg - self.reference_price) * self.filled_qty

    @property
    def shortfall_bps(self) -> Decimal | None:
        avg = self.avg_fill_price
        if avg is None or not self.reference_price:
            return None
        sign = 1 if self.side == "buy" else -1
        return sign * (avg / self.reference_price - 1) * BPS


@dataclass
class RunRow:
    run_id: str
    started_at: str
    command: str
    strategy: str
    decision: str | None
    why: str | None
    outcome: str | None
    exit_code: int | None
    orders: list[OrderRow] = field(default_factory=list)


@contextmanager
def open_readonly(path: Path) -> Iterator[sqlite3.Connection]:
    """The ledger opened with mode=ro: nothing here can write to it, and no lock is needed."""
    if not path.is_file():
        raise ConfigError(f"no ledger at {path}: run `pairbot rebalance` first (or check paths.ledger)")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as err:
        raise ReconciliationBreak(f"ledger {path}: cannot open read-only ({err})") from None
    db.row_factory = sqlite3.Row
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = {"runs", "intents", "orders", "order_events", "fills", "snapshots"} - tables
        if missing:
            raise ReconciliationBreak(f"ledger {path}: not a pairbot ledger (no {', '.join(sorted(missing))} table)")
        yield db
    except sqlite3.DatabaseError as err:
        raise ReconciliationBreak(f"ledger {path}: unreadable ({err})") from None
    finally:
        db.close()


def _runs(db: sqlite3.Connection, flt: TradeFilter) -> list[RunRow]:
    sql, args = "SELECT * FROM runs WHERE 1=1", list[Any]()
    if flt.since is not None:
        sql, args = sql + " AND substr(started_at, 1, 10) >= ?", [*args, flt.since.isoformat()]
    if flt.until is not None:
        sql, args = sql + " AND substr(started_at, 1, 10) <= ?", [*args, flt.until.isoformat()]
    if flt.run_id is not None:
        sql, args = sql + " AND run_id = ?", [*args, flt.run_id]
    return [RunRow(run_id=r["run_id"], started_at=r["started_at"], command=r["command"], strategy=r["strategy"],
                   decision=r["decision"], why=r["why"], outcome=r["outcome"], exit_code=r["exit_code"])
            for r in db.execute(sql + " ORDER BY started_at", args)]


def _orders(db: sqlite3.Connection) -> list[OrderRow]:
    """Every order we journaled, plus broker orders the ledger knows without an intent (adopted, or rebuilt by
    `ledger rebuild`): those go with the run of their decision, by the run key in their client order id."""
    by_key = {r["run_key"]: r["run_id"] for r in db.execute(
        "SELECT run_id, run_key FROM runs WHERE run_key IS NOT NULL ORDER BY started_at DESC")}  # the first run wins
    rows: dict[str, OrderRow] = {}
    for r in db.execute("SELECT * FROM intents ORDER BY created_at"):
        rows[r["client_order_id"]] = OrderRow(
            client_order_id=r["client_order_id"], run_id=r["run_id"], symbol=r["symbol"], side=r["side"],
            intent=r["intent"], qty=Decimal(r["qty"]), reference_price=Decimal(r["reference_price"]),
            intent_state=r["state"])
    for r in db.execute("SELECT * FROM orders ORDER BY submitted_at"):
        row = rows.get(r["client_order_id"])
        if row is None:
            key = OrderKey.parse(r["client_order_id"])
            row = rows[r["client_order_id"]] = OrderRow(
                client_order_id=r["client_order_id"], run_id=by_key.get(key.run_key, "") if key else "",
                symbol=r["symbol"], side=r["side"], intent=_intent_of(key),
                qty=Decimal(r["qty"]), reference_price=None, intent_state="adopted")
        row.order_id, row.status = r["order_id"], r["status"]
        row.history = [(e["status"], e["filled_qty"], e["observed_at"]) for e in db.execute(
            "SELECT status, filled_qty, observed_at FROM order_events WHERE order_id = ? ORDER BY id",
            (r["order_id"],))]
    for r in db.execute("SELECT * FROM fills ORDER BY filled_at, activity_id"):
        row = rows.get(r["client_order_id"])
        if row is not None:
            row.fills.append(FillRow(activity_id=r["activity_id"], symbol=r["symbol"], side=r["side"],
                                     qty=Decimal(r["qty"]), price=Decimal(r["price"]), filled_at=r["filled_at"]))
    return list(rows.values())


def _intent_of(key: OrderKey | None) -> str:
    """What an order without a journaled intent meant to do, from the code in its client order id."""
    return next((i.value for i in PositionIntent if key is not None and i.short_code == key.intent_code), "")


def read_trade_log(path: Path, flt: TradeFilter = TradeFilter()) -> list[RunRow]:
    """Runs (oldest first) with their orders; a symbol filter keeps only runs that traded it."""
    with open_readonly(path) as db:
        runs = _runs(db, flt)
        orders = _orders(db)
    by_run: dict[str, list[OrderRow]] = {}
    for o in orders:
        if flt.symbol is None or o.symbol == flt.symbol.upper():
            by_run.setdefault(o.run_id, []).append(o)
    for run in runs:
        run.orders = by_run.get(run.run_id, [])
    if flt.symbol is not None:
        runs = [r for r in runs if r.orders]
    return runs


def read_snapshots(path: Path) -> list[dict[str, Any]]:
    with open_readonly(path) as db:
        return [dict(r) for r in db.execute("SELECT * FROM snapshots ORDER BY taken_at, id")]


def read_fills(path: Path) -> list[dict[str, Any]]:
    with open_readonly(path) as db:
        return [dict(r) for r in db.execute("SELECT * FROM fills ORDER BY filled_at, activity_id")]


def read_events(path: Path, flt: TradeFilter = TradeFilter()) -> list[AccountEvent]:
    """The account events pairbot journaled (splits, dividends, fees...), by effective date."""
    if not path.is_file():
        raise ConfigError(f"no ledger at {path}: run `pairbot rebalance` first (or check paths.ledger)")
    with Ledger(path, readonly=True) as ledger:
        events = [b.event for b in ledger.events()]
    return [e for e in events
            if (flt.since is None or e.on >= flt.since) and (flt.until is None or e.on <= flt.until)
            and (flt.symbol is None or e.symbol == flt.symbol.upper())]
