"""`pairbot trades`: the trade log read from the ledger only."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from decimal import Decimal

from tests.ops.conftest import Pairbot


def test_trades_lists_runs_with_their_decision_orders_fills_and_shortfall(traded: Pairbot) -> None:
    done = traded.run("trades")

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "calendar" in out and "quarterly rebalance for" in out
    assert "none" in out and "within band" in out
    assert "pb-" in out and "new > filled" in out
    assert "implementation shortfall" in out


def test_trades_json_signs_the_shortfall_so_that_a_cost_is_positive(traded: Pairbot) -> None:
    doc = json.loads(traded.run("trades", "--json").stdout)

    orders = [o for r in doc["runs"] for o in r["orders"]]
    assert {o["symbol"] for o in orders} == {"IWM", "QQQ"}
    for o in orders:
        assert [e["status"] for e in o["status_history"]][-1] == "filled"
        assert o["fills"] and sum(Decimal(f["qty"]) for f in o["fills"]) == Decimal(o["qty"])
        avg, ref = Decimal(o["avg_fill_price"]), Decimal(o["reference_price"])
        sign = 1 if o["side"] == "buy" else -1
        assert Decimal(o["shortfall_usd"]) == round(sign * (avg - ref) * Decimal(o["filled_qty"]), 2)
    assert doc["totals"] == {"runs": 2, "orders": 2, "fills": 2, "shortfall_usd": doc["totals"]["shortfall_usd"],
                             "events": 0}


def test_trades_csv_has_a_row_per_order_and_one_per_run_without_orders(traded: Pairbot) -> None:
    rows = list(csv.DictReader(io.StringIO(traded.run("trades", "--csv").stdout)))

    assert [r["decision"] for r in rows] == ["calendar", "calendar", "none"]
    assert rows[0]["client_order_id"].startswith("pb-") and rows[0]["shortfall_bps"]
    assert rows[2]["client_order_id"] == ""


def test_trades_filters_by_symbol_run_and_dates(traded: Pairbot) -> None:
    with sqlite3.connect(traded.workdir / ".state" / "ledger-local.sqlite") as db:
        first, started = db.execute("SELECT run_id, started_at FROM runs ORDER BY started_at").fetchone()
    day = started[:10]

    qqq_in_first = json.loads(traded.run("trades", "--json", "--symbol", "qqq", "--run", first).stdout)["runs"]
    that_day = json.loads(traded.run("trades", "--json", "--since", day, "--until", day).stdout)["runs"]

    assert [r["run_id"] for r in qqq_in_first] == [first]
    assert [o["symbol"] for r in qqq_in_first for o in r["orders"]] == ["QQQ"]
    assert len(that_day) == 2


def test_trades_without_a_ledger_says_so_in_one_line_and_exits_2(pairbot: Pairbot) -> None:
    done = pairbot.run("trades")

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no ledger" in done.stderr
    assert not (pairbot.workdir / ".state" / "ledger-local.sqlite").exists()
