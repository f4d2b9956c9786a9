"""The ledger's tables: the version-1 schema and the migrations that bring a ledger up to SCHEMA_VERSION."""

from __future__ import annotations

from pathlib import Path

SCHEMA_VERSION = 4
MEMORY = Path(":memory:")  # Ledger(MEMORY): an empty ledger that lives and dies with the process

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, mode TEXT NOT NULL,
    command TEXT NOT NULL, strategy TEXT NOT NULL, decision TEXT, period TEXT, run_key TEXT,
    why TEXT, outcome TEXT, exit_code INTEGER, summary TEXT
);
CREATE TABLE IF NOT EXISTS intents (
    client_order_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, run_key TEXT NOT NULL, leg_key TEXT NOT NULL,
    attempt INTEGER NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL, intent TEXT NOT NULL,
    qty TEXT NOT NULL, reference_price TEXT NOT NULL, created_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'journaled'
);
CREATE INDEX IF NOT EXISTS intents_leg ON intents (leg_key, attempt);
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
    qty TEXT NOT NULL, filled_qty TEXT NOT NULL, filled_avg_price TEXT, status TEXT NOT NULL,
    submitted_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_coid ON orders (client_order_id);
CREATE TABLE IF NOT EXISTS order_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL, status TEXT NOT NULL,
    filled_qty TEXT NOT NULL, observed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fills (
    activity_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, client_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, qty TEXT NOT NULL, price TEXT NOT NULL,
    filled_at TEXT NOT NULL, ingested_by TEXT
);
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, stage TEXT NOT NULL, taken_at TEXT NOT NULL,
    equity TEXT NOT NULL, cash TEXT NOT NULL, buying_power TEXT NOT NULL, positions TEXT NOT NULL,
    quotes TEXT NOT NULL
);
"""

# Each entry takes a ledger from version N to N + 1 (index 0: 1 -> 2). New ledgers get _SCHEMA + all of them.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS adjustments (
        id INTEGER PRIMARY KEY AUTOINCREMENT, symbol TEXT NOT NULL, qty TEXT NOT NULL,
        ledger_qty TEXT NOT NULL, broker_qty TEXT NOT NULL, reason TEXT NOT NULL, accepted_by TEXT NOT NULL,
        accepted_at TEXT NOT NULL, run_id TEXT NOT NULL, rebalanced_by TEXT
    );
    """,
    """
    CREATE TABLE IF NOT EXISTS events (
        activity_id TEXT PRIMARY KEY, activity_type TEXT NOT NULL, sub_type TEXT NOT NULL, symbol TEXT,
        effective TEXT NOT NULL, qty TEXT NOT NULL, cash TEXT NOT NULL, per_share TEXT, description TEXT NOT NULL,
        booked_at TEXT, position_effect TEXT NOT NULL, ingested_by TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS events_symbol ON events (symbol, effective);
    """,
    """
    ALTER TABLE adjustments ADD COLUMN price TEXT;
    """,  # the broker's mark when a change was accepted: the cost the shares entered pairbot's book at
)
