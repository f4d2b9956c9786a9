"""Account activities in SQLite: FILLs and the non-trade entries (splits, dividends, cash), one table.

A FILL is found by its transaction time; a non-trade activity by its `date` (the day it takes effect),
as Alpaca's after/until/date filters treat the two.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

COLUMNS = {"activity_type": "TEXT NOT NULL DEFAULT 'FILL'", "day": "TEXT"}  # added after the first schema


def migrate(db: sqlite3.Connection) -> None:
    """A state file from before non-trade activities gains their columns; its rows are all FILLs."""
    have = {row[1] for row in db.execute("PRAGMA table_info(activities)")}
    for name, kind in COLUMNS.items():
        if name not in have:
            db.execute(f"ALTER TABLE activities ADD COLUMN {name} {kind}")


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def insert(db: sqlite3.Connection, activity_id: str, transaction_time: datetime, body: dict[str, Any]) -> None:
    kind = str(body.get("activity_type") or "FILL")
    day = None if kind == "FILL" else str(body["date"])
    db.execute("INSERT INTO activities (id, transaction_time, activity_type, day, body) VALUES (?, ?, ?, ?, ?)",
               (activity_id, stamp(transaction_time), kind, day, json.dumps(body)))


@dataclass(frozen=True, slots=True)
class ActivityQuery:
    """One page of GET /v2/account/activities: every bound is strict, as Alpaca's are."""

    kinds: frozenset[str] | None = None  # None: every type
    after: datetime | None = None
    until: datetime | None = None
    on: date | None = None
    ascending: bool = False
    page_token: str | None = None
    limit: int = 100


def _bound(where: list[str], args: list[object], op: str, at: datetime) -> None:
    where.append(f"((day IS NULL AND transaction_time {op} ?) OR (day IS NOT NULL AND day {op} ?))")
    args.extend((stamp(at), at.astimezone(UTC).date().isoformat()))


TRANS_TYPES = ("CSD", "CSW")  # the filter-only TRANS: cash transactions
NOT_MISC = ("FILL", "DIV", *TRANS_TYPES)  # the filter-only MISC: "all types except those in TRANS, DIV, or FILL"


def _kinds(where: list[str], args: list[object], kinds: frozenset[str]) -> None:
    """Any of the types asked for, the filter-only groups TRANS and MISC standing for the types they cover."""
    named = sorted((kinds - {"TRANS", "MISC"}) | (set(TRANS_TYPES) if "TRANS" in kinds else set()))
    either = [f"activity_type IN ({','.join('?' * len(named))})"] if named else []
    args.extend(named)
    if "MISC" in kinds:
        either.append(f"activity_type NOT IN ({','.join('?' * len(NOT_MISC))})")
        args.extend(NOT_MISC)
    where.append(f"({' OR '.join(either)})")


def page(db: sqlite3.Connection, q: ActivityQuery) -> list[dict[str, Any]]:
    where, args = ["1 = 1"], list[object]()
    if q.kinds is not None:
        _kinds(where, args, q.kinds)
    if q.on is not None:
        start = datetime.combine(q.on, datetime.min.time(), UTC)
        where.append("((day IS NULL AND transaction_time >= ? AND transaction_time < ?) OR day = ?)")
        args.extend((stamp(start), stamp(start + timedelta(days=1)), q.on.isoformat()))
    if q.after is not None:
        _bound(where, args, ">", q.after)
    if q.until is not None:
        _bound(where, args, "<", q.until)
    if q.page_token:
        row = db.execute("SELECT seq FROM activities WHERE id = ?", (q.page_token,)).fetchone()
        if row is None:
            return []
        where.append("seq > ?" if q.ascending else "seq < ?")
        args.append(int(row[0]))
    order = "ASC" if q.ascending else "DESC"
    sql = f"SELECT body FROM activities WHERE {' AND '.join(where)} ORDER BY seq {order} LIMIT ?"
    return [json.loads(body) for (body,) in db.execute(sql, (*args, q.limit))]
