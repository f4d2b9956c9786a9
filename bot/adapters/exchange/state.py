"""The exchange's account in SQLite: a file shared by processes, or memory for tests."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.adapters.exchange import activity_store
from bot.adapters.exchange.activity_store import ActivityQuery

ZERO = Decimal(0)
QTY_QUANTUM = Decimal("0.000000001")  # quantities to 9 decimals, as Alpaca's fractional shares
PRICE_QUANTUM = Decimal("0.000001")  # average prices
REVIEW_STATUS = "pending_risk_review"  # drift schema: a status no client knows; the order waits in it, unfillable
OPEN_STATUSES = frozenset({"new", "accepted", "partially_filled", "pending_new", "pending_cancel", "held",
                           REVIEW_STATUS})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, qty TEXT NOT NULL, avg_entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS asset_flags (symbol TEXT PRIMARY KEY, flags TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, client_order_id TEXT NOT NULL UNIQUE,
    symbol TEXT NOT NULL, is_open INTEGER NOT NULL, submitted_at TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_open ON orders (is_open);
CREATE TABLE IF NOT EXISTS activities (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, transaction_time TEXT NOT NULL,
    activity_type TEXT NOT NULL DEFAULT 'FILL', day TEXT, body TEXT NOT NULL);
"""

ACCOUNT_FLAG_DEFAULTS: dict[str, Any] = {
    "status": "ACTIVE", "shorting_enabled": True, "trading_blocked": False, "account_blocked": False,
    "trade_suspended_by_user": False, "transfers_blocked": False,
}
ASSET_FLAG_DEFAULTS: dict[str, bool] = {
    "tradable": True, "shortable": True, "easy_to_borrow": True, "fractionable": True, "marginable": True,
}


@dataclass
class Order:
    """One order as the exchange keeps it; models.py renders it as Alpaca JSON."""

    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    position_intent: str
    extended_hours: bool
    status: str
    session: date
    created_at: datetime
    submitted_at: datetime
    updated_at: datetime
    submitted_wall: float  # time.time() at submission, for fill latency
    eligible_request: int  # the request counter from which the order may fill
    filled_qty: Decimal = ZERO
    filled_avg_price: Decimal | None = None
    filled_at: datetime | None = None
    expired_at: datetime | None = None
    canceled_at: datetime | None = None
    failed_at: datetime | None = None
    expires_at: datetime | None = None
    hold_polls: int = 0  # fault "stuck": requests to wait before any fill
    fault: str = ""  # partial_then_expire | late_fill_after_cancel | reject_later | expire_next
    review_until: int = 0  # drift schema: in REVIEW_STATUS up to and including this request number
    fills: int = 0
    seq: int = field(default=0, compare=False)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def remaining(self) -> Decimal | None:
        return None if self.qty is None else self.qty - self.filled_qty


_ORDER_TYPES = {f.name: f.type for f in fields(Order)}


def _encode(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _decode(name: str, value: Any) -> Any:
    kind = str(_ORDER_TYPES[name])
    if value is None:
        return None
    if "Decimal" in kind:
        return Decimal(value)
    if "datetime" in kind:
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    return value


class Store:
    """Thin SQL over the account; callers hold the exchange lock and wrap work in ``transaction()``."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(path, 0o600)
        self.db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False,
                                  isolation_level=None, timeout=30)
        if path is not None:
            # Every request is a write (its number drives the lazy fills), so a commit per request. WAL without
            # an fsync per commit: a killed process loses nothing committed (the OS holds it); only a power cut
            # could lose the last requests of a simulation, never corrupt it. About 1 ms less per request.
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        activity_store.migrate(self.db)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def is_initialised(self) -> bool:
        return self.get_meta("cash") is not None

    def reset(self, cash: Decimal) -> None:
        for table in ("meta", "positions", "asset_flags", "orders", "activities"):
            self.db.execute(f"DELETE FROM {table}")
        self.db.execute("DELETE FROM sqlite_sequence")
        self.set_meta("cash", str(cash))
        self.set_meta("starting_cash", str(cash))
        self.set_meta("requests", "0")
        self.set_meta("account", json.dumps(ACCOUNT_FLAG_DEFAULTS))

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def cash(self) -> Decimal:
        return Decimal(self.get_meta("cash") or "0")

    def bump_requests(self) -> int:
        n = int(self.get_meta("requests") or "0") + 1
        self.set_meta("requests", str(n))
        return n

    def account_flags(self) -> dict[str, Any]:
        stored: dict[str, Any] = json.loads(self.get_meta("account") or "{}")
        return ACCOUNT_FLAG_DEFAULTS | stored

    def set_account_flags(self, **flags: Any) -> None:
        unknown = set(flags) - set(ACCOUNT_FLAG_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown account flags {sorted(unknown)}")
        self.set_meta("account", json.dumps(self.account_flags() | flags))

    def asset_flags(self, symbol: str) -> dict[str, bool]:
        row = self.db.execute("SELECT flags FROM asset_flags WHERE symbol = ?", (symbol,)).fetchone()
        return ASSET_FLAG_DEFAULTS | (json.loads(row[0]) if row else {})

    def set_asset_flags(self, symbol: str, **flags: bool) -> None:
        unknown = set(flags) - set(ASSET_FLAG_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown asset flags {sorted(unknown)}")
        merged = self.asset_flags(symbol) | flags
        self.db.execute("INSERT OR REPLACE INTO asset_flags (symbol, flags) VALUES (?, ?)",
                        (symbol, json.dumps(merged)))

    def positions(self) -> dict[str, tuple[Decimal, Decimal]]:
        rows = self.db.execute("SELECT symbol, qty, avg_entry FROM positions ORDER BY symbol")
        return {sym: (Decimal(q), Decimal(a)) for sym, q, a in rows}

    def set_position(self, symbol: str, qty: Decimal, avg_entry: Decimal) -> None:
        if qty == 0:
            self.db.execute("DELETE FROM positions WHERE symbol = ?", (symbol,))
        else:
            self.db.execute("INSERT OR REPLACE INTO positions (symbol, qty, avg_entry) VALUES (?, ?, ?)",
                            (symbol, str(qty), str(avg_entry)))

    def add_cash(self, delta: Decimal) -> None:
        self.set_meta("cash", str(self.cash() + delta))

    def insert_order(self, order: Order) -> None:
        cur = self.db.execute(
            "INSERT INTO orders (id, client_order_id, symbol, is_open, submitted_at, body) VALUES (?,?,?,?,?,?)",
            (order.id, order.client_order_id, order.symbol, int(order.is_open), order.submitted_at.isoformat(),
             self._body(order)))
        order.seq = int(cur.lastrowid or 0)

    def save_order(self, order: Order) -> None:
        self.db.execute("UPDATE orders SET is_open = ?, body = ? WHERE id = ?",
                        (int(order.is_open), self._body(order), order.id))

    def client_id_exists(self, client_order_id: str) -> bool:
        sql = "SELECT 1 FROM orders WHERE client_order_id = ?"
        return self.db.execute(sql, (client_order_id,)).fetchone() is not None

    def order(self, *, order_id: str | None = None, client_order_id: str | None = None) -> Order | None:
        column, value = ("id", order_id) if order_id is not None else ("client_order_id", client_order_id)
        row = self.db.execute(f"SELECT seq, body FROM orders WHERE {column} = ?", (value,)).fetchone()
        return None if row is None else self._load(row)

    def open_orders(self) -> list[Order]:
        return [self._load(r) for r in self.db.execute("SELECT seq, body FROM orders WHERE is_open = 1 ORDER BY seq")]

    def all_orders(self) -> list[Order]:
        return [self._load(r) for r in self.db.execute("SELECT seq, body FROM orders ORDER BY seq")]

    def add_activity(self, activity_id: str, transaction_time: datetime, body: dict[str, Any]) -> None:
        activity_store.insert(self.db, activity_id, transaction_time, body)

    def activities_page(self, query: ActivityQuery) -> list[dict[str, Any]]:
        return activity_store.page(self.db, query)

    def get_json(self, key: str, default: Any) -> Any:
        raw = self.get_meta(key)
        return default if raw is None else json.loads(raw)

    def set_json(self, key: str, value: Any) -> None:
        self.set_meta(key, json.dumps(value))

    @staticmethod
    def _body(order: Order) -> str:
        data = {k: _encode(v) for k, v in asdict(order).items() if k != "seq"}
        return json.dumps(data)

    @staticmethod
    def _load(row: tuple[int, str]) -> Order:
        data = json.loads(row[1])
        order = Order(**{k: _decode(k, v) for k, v in data.items()})
        order.seq = int(row[0])
        return order
