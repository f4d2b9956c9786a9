"""kill -9 at a checkpoint of the run protocol, then rerun: nothing doubled, nothing lost, book at target."""

from __future__ import annotations

import sqlite3
from collections import Counter
from decimal import Decimal

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest

from bot.exchange import LocalExchange
from tests.e2e.conftest import KEY, SECRET, Cli, paper_env

CHECKPOINTS = ["after_lock", "after_reconcile", "after_intent:1", "after_submit:1", "after_intent:2",
               "after_submit:2", "mid_poll:1", "after_ingest:1"]


def broker_state(ex: LocalExchange) -> tuple[dict[str, Decimal], list[str], set[str]]:
    client = TradingClient(KEY, SECRET, paper=True, url_override=ex.base_url)
    positions = {p.symbol: Decimal(p.qty) for p in client.get_all_positions()}
    orders = [o.client_order_id for o in client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500))]
    fills = {a["id"] for a in client.get("/account/activities/FILL", {"page_size": 100})}
    return positions, orders, fills


def ledger_state(cli: Cli) -> tuple[dict[str, Decimal], set[str]]:
    with sqlite3.connect(cli.workdir / ".state" / "ledger-paper.sqlite") as db:
        rows = db.execute("SELECT activity_id, symbol, side, qty FROM fills").fetchall()
    positions: Counter[str] = Counter()
    for _id, symbol, side, qty in rows:
        positions[symbol] += Decimal(qty) * (1 if side == "buy" else -1)
    return {s: q for s, q in positions.items() if q}, {r[0] for r in rows}


@pytest.mark.parametrize("point", CHECKPOINTS)
def test_a_run_killed_at_a_checkpoint_converges_on_rerun_without_doubling(cli: Cli, exchange: LocalExchange,
                                                                           point: str) -> None:
    cli.write_config(mode="paper")
    env = paper_env(exchange)

    crashed = cli.run("rebalance", env={**env, "PAIRBOT_TEST_CRASH_AT": point})
    rerun = cli.run("rebalance", env=env)
    last = cli.run("rebalance", env=env)

    assert crashed.returncode == -9
    assert rerun.returncode == 0, rerun.stderr
    assert last.returncode == 0 and "within band" in last.stdout
    positions, orders, fills = broker_state(exchange)
    assert all(n == 1 for n in Counter(orders).values())
    assert len({o.rsplit("-", 1)[0] for o in orders}) == len(orders)  # one order per leg: no second attempt needed
    assert ledger_state(cli) == (positions, fills)
    assert positions["IWM"] > 0 > positions["QQQ"]
