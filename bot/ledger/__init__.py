"""The SQLite ledger: pairbot's journal of runs, order intents, orders, fills, accepted adjustments, snapshots."""

from bot.ledger.records import Adjustment, BookedEvent, IntentRecord, RunRecord, leg_key
from bot.ledger.schema import MEMORY, SCHEMA_VERSION
from bot.ledger.store import Ledger

__all__ = ["MEMORY", "SCHEMA_VERSION", "Adjustment", "BookedEvent", "IntentRecord", "Ledger", "RunRecord", "leg_key"]
