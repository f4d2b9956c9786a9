"""The SQLite ledger: pairbot's journal of runs, order intents, orders, fills, accepted adjustments, snapshots."""

from bot.adapters.ledger.records import Adjustment, BookedEvent, IntentRecord, RunRecord, leg_key
from bot.adapters.ledger.store import Ledger
from bot.adapters.ledger.tables import MEMORY, SCHEMA_VERSION

__all__ = ["MEMORY", "SCHEMA_VERSION", "Adjustment", "BookedEvent", "IntentRecord", "Ledger", "RunRecord", "leg_key"]
