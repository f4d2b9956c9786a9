"""The SQLite ledger: runs, order intents (journaled before the POST), broker orders, fills, snapshots."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.adapters.ledger.records import Adjustment, BookedEvent, IntentRecord, RunRecord, leg_key
from bot.adapters.ledger.tables import MEMORY, MIGRATIONS, SCHEMA, SCHEMA_VERSION
from bot.core.corporate import event_effects
from bot.core.domain import (
    NEW_YORK,
    OUR_PREFIX,
    AccountEvent,
    AccountSnapshot,
    Fill,
    OrderIntent,
    OrderState,
    Side,
    Symbol,
    is_ours,
)
from bot.errors import ReconciliationBreak


class Ledger:
    """One SQLite file per mode and account. Every write commits before the call returns."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly  # doctor's view: opened mode=ro, never created nor migrated
        self._db: sqlite3.Connection | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def open(self) -> Ledger:
        """Create or open the file, check its schema and integrity; refuse a bad ledger."""
        if self.readonly:
            return self._open_readonly()
        if self.path == MEMORY:
            self._db = sqlite3.connect(":memory:", isolation_level=None)
            self._check_or_create(existed=False)
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            existed = self.path.exists() and self.path.stat().st_size > 0
            if not existed:
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            os.chmod(self.path, 0o600)
            db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._db = db
            self._check_or_create(existed)
        except sqlite3.DatabaseError as err:
            self.close()
            raise self._unusable(err) from None
        except OSError as err:
            self.close()
            raise ReconciliationBreak(f"ledger {self.path}: {err.strerror or err}; refusing to trade") from None
        return self

    def _open_readonly(self) -> Ledger:
        try:
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
            self._check_or_create(existed=True)
        except sqlite3.DatabaseError as err:
            self.close()
            raise self._unusable(err) from None
        return self

    def _unusable(self, err: sqlite3.DatabaseError) -> ReconciliationBreak:
        text = str(err)
        if "readonly" in text or "read-only" in text:
            why = "read-only (check the file's and its directory's permissions)"
        elif "disk is full" in text or "disk I/O" in text:
            why = f"cannot write ({text}: is the disk full?)"
        elif "locked" in text:
            why = "locked by another process for over 10 s"
        else:
            why = f"unreadable ({text})"
        return ReconciliationBreak(f"ledger {self.path}: {why}; refusing to trade")

    def _check_or_create(self, existed: bool) -> None:
        db = self._conn
        if existed:
            ok = db.execute("PRAGMA quick_check").fetchone()[0]
            if ok != "ok":
                raise ReconciliationBreak(f"ledger {self.path}: integrity check failed ({ok}); refusing to trade")
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "meta" not in tables:
                raise ReconciliationBreak(f"ledger {self.path}: not a pairbot ledger; refusing to trade")
            version = self.meta("schema_version")
            if version is None or not version.isdigit() or not 1 <= int(version) <= SCHEMA_VERSION:
                raise ReconciliationBreak(
                    f"ledger {self.path}: schema version {version}, this pairbot reads 1 to {SCHEMA_VERSION}; "
                    "refusing to trade"
                )
            if not self.readonly:
                self._migrate(int(version))
        else:
            db.executescript(SCHEMA)
            with self.transaction():
                db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', '1')")
            self._migrate(1)

    def _migrate(self, version: int) -> None:
        """Bring an older ledger up to SCHEMA_VERSION, one step per transaction; nothing is dropped."""
        for step in range(version, SCHEMA_VERSION):
            with self.transaction() as db:
                for statement in MIGRATIONS[step - 1].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(step + 1),))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Ledger:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("ledger is not open")
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One committed write; a write the disk or the file refuses stops the run (exit 6), naming the path."""
        db = self._conn
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.OperationalError as err:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise self._unusable(err) from None

    # -- meta --------------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- runs --------------------------------------------------------------------------------------

    def start_run(self, *, run_id: str, started_at: datetime, mode: str, command: str, strategy: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs (run_id, started_at, mode, command, strategy) VALUES (?, ?, ?, ?, ?)",
                (run_id, started_at.isoformat(), mode, command, strategy),
            )

    def record_decision(self, run_id: str, *, decision: str, period: str | None, run_key: str | None,
                        why: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET decision = ?, period = ?, run_key = ?, why = ? WHERE run_id = ?",
                (decision, period, run_key, why, run_id),
            )

    def finish_run(self, run_id: str, *, finished_at: datetime, outcome: str, exit_code: int | None,
                   summary: dict[str, Any]) -> None:
        """exit_code None: not known (a run a rebuilt ledger recovered from the broker's orders)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, outcome = ?, exit_code = ?, summary = ? WHERE run_id = ?",
                (finished_at.isoformat(), outcome, exit_code, json.dumps(summary, default=str), run_id),
            )

    def runs(self, limit: int | None = None) -> list[RunRecord]:
        sql = "SELECT * FROM runs ORDER BY started_at DESC" + (f" LIMIT {int(limit)}" if limit else "")
        return [_run_record(r) for r in self._rows(sql)]

    def done_periods(self) -> frozenset[str]:
        """Calendar periods whose rebalance finished."""
        rows = self._conn.execute(
            "SELECT DISTINCT period FROM runs WHERE decision = 'calendar' AND outcome = 'done' AND period IS NOT NULL"
        )
        return frozenset(str(r[0]) for r in rows)

    # -- intents and orders ------------------------------------------------------------------------

    def journal_intent(self, order: OrderIntent, *, run_id: str, run_key: str, attempt: int,
                       created_at: datetime) -> None:
        """Committed (fsync'd) before the order is sent. A resend of an unsent id refreshes it."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO intents (client_order_id, run_id, run_key, leg_key, attempt, symbol, side, intent,"
                " qty, reference_price, created_at, state) VALUES (?,?,?,?,?,?,?,?,?,?,?,'journaled')"
                " ON CONFLICT(client_order_id) DO UPDATE SET run_id = excluded.run_id, qty = excluded.qty,"
                " reference_price = excluded.reference_price, created_at = excluded.created_at,"
                " state = 'journaled'",
                (order.client_order_id, run_id, run_key, leg_key(run_key, order.symbol, order.intent.short_code),
                 attempt, order.symbol, order.side.value, order.intent.value, str(order.qty),
                 str(order.reference_price), created_at.isoformat()),
            )

    def mark_intent(self, client_order_id: str, state: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE intents SET state = ? WHERE client_order_id = ?", (state, client_order_id))

    def intents(self, *, run_key: str | None = None, state: str | None = None) -> list[IntentRecord]:
        sql, args = "SELECT * FROM intents WHERE 1=1", list[str]()
        if run_key is not None:
            sql, args = sql + " AND run_key = ?", [*args, run_key]
        if state is not None:
            sql, args = sql + " AND state = ?", [*args, state]
        return [_intent_record(r) for r in self._rows(sql + " ORDER BY created_at", args)]

    def record_order(self, order: OrderState, *, observed_at: datetime) -> None:
        """Upsert the broker's view of an order; a status change appends to its history."""
        with self.transaction() as db:
            prev = db.execute("SELECT status, filled_qty FROM orders WHERE order_id = ?", (order.order_id,)).fetchone()
            db.execute(
                "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(order_id) DO UPDATE SET"
                " status = excluded.status, filled_qty = excluded.filled_qty,"
                " filled_avg_price = excluded.filled_avg_price, updated_at = excluded.updated_at",
                (order.order_id, order.client_order_id, order.symbol, order.side.value, str(order.qty),
                 str(order.filled_qty), None if order.filled_avg_price is None else str(order.filled_avg_price),
                 order.status, order.submitted_at.isoformat(), observed_at.isoformat()),
            )
            if prev is None or (prev[0], prev[1]) != (order.status, str(order.filled_qty)):
                db.execute(
                    "INSERT INTO order_events (order_id, status, filled_qty, observed_at) VALUES (?,?,?,?)",
                    (order.order_id, order.status, str(order.filled_qty), observed_at.isoformat()),
                )
            db.execute("UPDATE intents SET state = 'submitted' WHERE client_order_id = ?", (order.client_order_id,))

    def client_order_id_of(self, order_id: str) -> str | None:
        row = self._conn.execute("SELECT client_order_id FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        return None if row is None else str(row[0])

    def orders(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM orders ORDER BY submitted_at")

    def order_events(self, order_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT status, filled_qty, observed_at FROM order_events WHERE order_id = ? ORDER BY id",
                          [order_id])

    # -- fills -------------------------------------------------------------------------------------

    def ingest_fills(self, fills: Iterable[Fill], *, run_id: str) -> int:
        """Idempotent: a fill already recorded (same activity id) is ignored. Returns how many were new.

        Only fills of pairbot's own orders are journaled; the caller may pass the broker's whole list.
        """
        new = 0
        with self.transaction() as db:
            for f in fills:
                if not is_ours(f.client_order_id):
                    continue
                cur = db.execute(
                    "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?)",
                    (f.activity_id, f.order_id, f.client_order_id, f.symbol, f.side.value, str(f.qty),
                     str(f.price), f.filled_at.isoformat(), run_id),
                )
                new += cur.rowcount
        return new

    def fills(self) -> list[Fill]:
        """pairbot's fills (a version-1 ledger may also hold fills of orders it did not place: never read)."""
        return [
            Fill(activity_id=r["activity_id"], order_id=r["order_id"], client_order_id=r["client_order_id"],
                 symbol=Symbol(r["symbol"]), side=Side(r["side"]), qty=Decimal(r["qty"]),
                 price=Decimal(r["price"]), filled_at=datetime.fromisoformat(r["filled_at"]))
            for r in self._rows(f"SELECT * FROM fills WHERE {_OURS} ORDER BY filled_at, activity_id")
        ]

    def fill_watermark(self) -> datetime | None:
        row = self._conn.execute(f"SELECT MAX(filled_at) FROM fills WHERE {_OURS}").fetchone()
        return None if row is None or row[0] is None else datetime.fromisoformat(row[0])

    def positions(self, as_of: date | None = None) -> dict[Symbol, Decimal]:
        """pairbot's signed quantity per symbol: its fills, the adjustments a person accepted, and the account
        events in effect on `as_of` (all of them when None) that move its shares (splits, spin-offs; never a
        stock journal or transfer, which a person made: corporate.MOVED_BY_HAND)."""
        out: dict[Symbol, Decimal] = {}
        for f in self.fills():
            out[f.symbol] = out.get(f.symbol, Decimal(0)) + f.signed_qty
        for a in self.adjustments():
            out[a.symbol] = out.get(a.symbol, Decimal(0)) + a.qty
        for b in self.events():
            e = b.event
            if e.symbol is not None and b.position_effect and (as_of is None or e.on <= as_of):
                out[e.symbol] = out.get(e.symbol, Decimal(0)) + b.position_effect
        return {s: q for s, q in out.items() if q != 0}

    def daily_positions(self) -> list[tuple[date, dict[Symbol, Decimal]]]:
        """pairbot's positions at the close of each New York day something changed them, oldest first."""
        changes: dict[date, list[tuple[Symbol, Decimal]]] = {}
        for f in self.fills():
            changes.setdefault(f.filled_at.astimezone(NEW_YORK).date(), []).append((f.symbol, f.signed_qty))
        for a in self.adjustments():
            changes.setdefault(a.accepted_at.astimezone(NEW_YORK).date(), []).append((a.symbol, a.qty))
        for b in self.events():
            if b.event.symbol is not None and b.position_effect:
                changes.setdefault(b.event.on, []).append((b.event.symbol, b.position_effect))
        held: dict[Symbol, Decimal] = {}
        out = []
        for day in sorted(changes):
            for sym, qty in changes[day]:
                held[sym] = held.get(sym, Decimal(0)) + qty
            out.append((day, {s: q for s, q in held.items() if q != 0}))
        return out

    # -- account events ----------------------------------------------------------------------------

    def ingest_events(self, events: Iterable[AccountEvent], *, run_id: str, ours: Collection[Symbol]) -> int:
        """Journal new events (by activity id) of pairbot's symbols and of the account's cash; an event in a
        symbol that is the user's is not pairbot's and is left out. Returns how many were new."""
        known = {b.event.activity_id for b in self.events()}
        fresh = sorted((e for e in events if e.activity_id not in known and (e.symbol is None or e.symbol in ours)),
                       key=_event_order)
        effects = event_effects(fresh, self.positions())
        with self.transaction() as db:
            for e, effect in zip(fresh, effects, strict=True):
                db.execute(
                    "INSERT OR IGNORE INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (e.activity_id, e.activity_type, e.sub_type, e.symbol, e.on.isoformat(), str(e.qty), str(e.cash),
                     None if e.per_share is None else str(e.per_share), e.description,
                     None if e.booked_at is None else e.booked_at.isoformat(), str(effect), run_id),
                )
        return len(fresh)

    def events(self, symbol: Symbol | None = None) -> list[BookedEvent]:
        if not self._has_table("events"):  # an older ledger seen read-only
            return []
        rows = self._rows("SELECT * FROM events ORDER BY effective, booked_at, activity_id")
        return [_booked(r) for r in rows if symbol is None or r["symbol"] == symbol]

    def event_watermark(self) -> datetime | None:
        """When the latest journaled event was booked (or took effect), to ask the broker for later ones."""
        marks = [b.event.booked_at or datetime.combine(b.event.on, time(0), UTC) for b in self.events()]
        return max(marks, default=None)

    # -- adjustments -------------------------------------------------------------------------------

    def accept(self, changes: Iterable[Adjustment], *, run_id: str) -> None:
        """Journal the broker's quantities as pairbot's (one row per symbol), in one transaction."""
        with self.transaction() as db:
            for a in changes:
                db.execute(
                    "INSERT INTO adjustments (symbol, qty, ledger_qty, broker_qty, reason, accepted_by, accepted_at,"
                    " run_id, price) VALUES (?,?,?,?,?,?,?,?,?)",
                    (a.symbol, str(a.qty), str(a.ledger_qty), str(a.broker_qty), a.reason, a.accepted_by,
                     a.accepted_at.isoformat(), run_id, None if a.price is None else str(a.price)),
                )

    def adjustments(self) -> list[Adjustment]:
        if self.readonly and not self._has_table("adjustments"):  # a version-1 ledger seen read-only
            return []
        return [
            Adjustment(symbol=Symbol(r["symbol"]), qty=Decimal(r["qty"]), ledger_qty=Decimal(r["ledger_qty"]),
                       broker_qty=Decimal(r["broker_qty"]), reason=r["reason"], accepted_by=r["accepted_by"],
                       accepted_at=datetime.fromisoformat(r["accepted_at"]), id=r["id"],
                       rebalanced_by=r["rebalanced_by"], price=_decimal_or_none(r.get("price")))
            for r in self._rows("SELECT * FROM adjustments ORDER BY id")
        ]

    def pending_adjustments(self) -> list[Adjustment]:
        """Accepted changes no rebalance has traded back to target yet."""
        return [a for a in self.adjustments() if a.rebalanced_by is None]

    def mark_rebalanced(self, adjustment_ids: Iterable[int], run_id: str) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE adjustments SET rebalanced_by = ? WHERE id = ?",
                           [(run_id, i) for i in adjustment_ids])

    # -- snapshots ---------------------------------------------------------------------------------

    def record_snapshot(self, run_id: str, stage: str, snap: AccountSnapshot) -> None:
        positions = {s: {"qty": str(p.qty), "market_value": str(p.market_value)} for s, p in snap.positions.items()}
        quotes = {s: {"bid": str(q.bid), "ask": str(q.ask), "as_of": q.as_of.isoformat()}
                  for s, q in snap.quotes.items()}
        with self.transaction() as db:
            db.execute(
                "INSERT INTO snapshots (run_id, stage, taken_at, equity, cash, buying_power, positions, quotes)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (run_id, stage, snap.as_of.isoformat(), str(snap.equity), str(snap.cash), str(snap.buying_power),
                 json.dumps(positions), json.dumps(quotes)),
            )

    def last_marks(self) -> dict[Symbol, Decimal]:
        """Each symbol's mid price in the latest snapshot that quoted it (to tell a split from a trade)."""
        out: dict[Symbol, Decimal] = {}
        for row in reversed(self._rows("SELECT quotes FROM snapshots ORDER BY id DESC LIMIT 20")):
            for sym, q in json.loads(row["quotes"]).items():
                out[Symbol(sym)] = (Decimal(q["bid"]) + Decimal(q["ask"])) / 2
        return out

    def snapshots(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM snapshots ORDER BY id")

    # -- helpers -----------------------------------------------------------------------------------

    def _has_table(self, name: str) -> bool:
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self._conn.execute(sql, (name,)).fetchone() is not None

    def _rows(self, sql: str, args: Iterable[object] = ()) -> list[dict[str, Any]]:
        cur = self._conn.execute(sql, tuple(args))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


_OURS = f"substr(client_order_id, 1, {len(OUR_PREFIX)}) = '{OUR_PREFIX}'"


def _decimal_or_none(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _event_order(e: AccountEvent) -> tuple[object, ...]:
    """Effective date, then booking time, then a split's REMOVE before its ADD."""
    return (e.on, e.booked_at or datetime.combine(e.on, time(0), UTC), e.split_leg != "remove", e.activity_id)


def _booked(r: dict[str, Any]) -> BookedEvent:
    event = AccountEvent(
        activity_id=r["activity_id"], activity_type=r["activity_type"], on=date.fromisoformat(r["effective"]),
        symbol=None if r["symbol"] is None else Symbol(r["symbol"]), qty=Decimal(r["qty"]), cash=Decimal(r["cash"]),
        per_share=None if r["per_share"] is None else Decimal(r["per_share"]), sub_type=r["sub_type"],
        description=r["description"],
        booked_at=None if r["booked_at"] is None else datetime.fromisoformat(r["booked_at"]))
    return BookedEvent(event, Decimal(r["position_effect"]))


def _run_record(r: dict[str, Any]) -> RunRecord:
    return RunRecord(**{**r, "summary": json.loads(r["summary"]) if r["summary"] else {}})


def _intent_record(r: dict[str, Any]) -> IntentRecord:
    return IntentRecord(**{**r, "symbol": Symbol(r["symbol"]), "side": Side(r["side"]), "qty": Decimal(r["qty"]),
                           "reference_price": Decimal(r["reference_price"])})
