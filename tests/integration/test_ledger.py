"""The SQLite ledger on a real file: idempotent fills, journaled intents, and refusal of a bad file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.adapters.ledger import Ledger
from bot.core.domain import Fill, OrderIntent, OrderState, PositionIntent, Side, Symbol
from bot.errors import ReconciliationBreak

T0 = datetime(2026, 10, 1, 14, 0, tzinfo=UTC)


def fill(activity_id: str, symbol: str = "IWM", side: Side = Side.BUY, qty: str = "10") -> Fill:
    return Fill(activity_id=activity_id, order_id="o-" + activity_id, client_order_id="pb-x", symbol=Symbol(symbol),
                side=side, qty=Decimal(qty), price=Decimal("200"), filled_at=T0)


def intent(coid: str = "pb-2026Q4-abc123-IWM-bto-1") -> OrderIntent:
    return OrderIntent(symbol=Symbol("IWM"), intent=PositionIntent.BUY_TO_OPEN, qty=Decimal("10"),
                       client_order_id=coid, reference_price=Decimal("200"))


def test_ingesting_the_same_fill_twice_records_it_once(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        assert ledger.ingest_fills([fill("a"), fill("b")], run_id="r1") == 2

        assert ledger.ingest_fills([fill("b"), fill("c", side=Side.SELL, qty="5")], run_id="r2") == 1

        assert [f.activity_id for f in ledger.fills()] == ["a", "b", "c"]
        assert ledger.positions() == {"IWM": Decimal("15")}


def test_a_journaled_intent_survives_a_reopen_and_becomes_submitted_when_its_order_is_recorded(
        tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.start_run(run_id="r1", started_at=T0, mode="local", command="rebalance", strategy="pair")
        ledger.journal_intent(intent(), run_id="r1", run_key="2026Q4-abc123", attempt=1, created_at=T0)

    with Ledger(path) as ledger:
        [rec] = ledger.intents(state="journaled")
        sent = OrderState(order_id="11111111-1111-1111-1111-111111111111", client_order_id=rec.client_order_id,
                          symbol=Symbol("IWM"), side=Side.BUY, qty=Decimal("10"), filled_qty=Decimal("0"),
                          filled_avg_price=None, status="new", submitted_at=T0)
        ledger.record_order(sent, observed_at=T0)

        assert ledger.intents(state="journaled") == []
        assert ledger.intents(state="submitted")[0].leg_key == "2026Q4-abc123-IWM-bto"


def test_a_status_change_appends_to_the_order_history_and_a_repeat_does_not(tmp_path: Path) -> None:
    def state(status: str, filled: str) -> OrderState:
        return OrderState(order_id="o1", client_order_id="pb-x", symbol=Symbol("IWM"), side=Side.BUY,
                          qty=Decimal("10"), filled_qty=Decimal(filled), filled_avg_price=None, status=status,
                          submitted_at=T0)

    with Ledger(tmp_path / "l.sqlite") as ledger:
        for s in (state("new", "0"), state("new", "0"), state("partially_filled", "4"), state("filled", "10")):
            ledger.record_order(s, observed_at=T0)

        assert [e["status"] for e in ledger.order_events("o1")] == ["new", "partially_filled", "filled"]


def test_calendar_periods_count_as_done_only_when_the_run_finished_done(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        for run_id, period, outcome in (("r1", "2026Q3", "done"), ("r2", "2026Q4", "OrderRejected")):
            ledger.start_run(run_id=run_id, started_at=T0, mode="local", command="rebalance", strategy="pair")
            ledger.record_decision(run_id, decision="calendar", period=period, run_key=f"{period}-abc", why="due")
            ledger.finish_run(run_id, finished_at=T0, outcome=outcome, exit_code=0, summary={})

        assert ledger.done_periods() == {"2026Q3"}


def test_the_ledger_file_is_private(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite"):
        pass

    assert (tmp_path / "l.sqlite").stat().st_mode & 0o777 == 0o600


def test_a_corrupted_ledger_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.ingest_fills([fill("a")], run_id="r1")
    path.write_bytes(b"garbage" * 1000)

    with pytest.raises(ReconciliationBreak, match="refusing to trade"):
        Ledger(path).open()


def test_a_ledger_with_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    with Ledger(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")

    with pytest.raises(ReconciliationBreak, match="schema version 99"):
        Ledger(path).open()


def test_a_sqlite_file_that_is_not_a_ledger_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")

    with pytest.raises(ReconciliationBreak, match="not a pairbot ledger"):
        Ledger(path).open()
