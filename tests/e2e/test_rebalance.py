"""The main job as a user runs it: `pairbot rebalance` in a subprocess, the embedded exchange, a real ledger."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

from alpaca.trading.client import TradingClient

from bot.adapters.exchange import ExchangeSettings, LocalExchange
from tests.e2e.conftest import KEY, SECRET, Cli, trading_hours


def ledger_rows(cli: Cli, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(cli.workdir / ".state" / "ledger-local.sqlite") as db:
        return db.execute(sql).fetchall()


def log_events(cli: Cli, event: str) -> list[dict[str, object]]:
    lines = (cli.workdir / "logs" / "pairbot.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("event") == event]


def test_first_rebalance_from_flat_buys_iwm_and_shorts_qqq_in_equal_dollars(cli: Cli) -> None:
    cli.write_config()

    done = cli.run("rebalance")

    assert done.returncode == 0, done.stderr
    assert "decision: calendar" in done.stdout and "SYNTHETIC" in done.stdout
    positions = dict(ledger_rows(cli, "SELECT symbol, SUM(CASE side WHEN 'buy' THEN qty ELSE -qty END)"
                                      " FROM fills GROUP BY symbol"))
    assert positions["IWM"] > 0 > positions["QQQ"]
    [snap] = ledger_rows(cli, "SELECT positions FROM snapshots WHERE stage = 'after'")
    values = {s: Decimal(p["market_value"]) for s, p in json.loads(str(snap[0])).items()}
    assert abs(values["IWM"] + values["QQQ"]) < Decimal("600")  # equal dollars within about one QQQ share


def test_a_second_rebalance_right_after_the_first_sends_no_order(cli: Cli) -> None:
    cli.write_config()
    assert cli.run("rebalance").returncode == 0
    orders_before = ledger_rows(cli, "SELECT COUNT(*) FROM orders")[0][0]

    again = cli.run("rebalance")

    assert again.returncode == 0, again.stderr
    assert "within band" in again.stdout
    assert ledger_rows(cli, "SELECT COUNT(*) FROM orders")[0][0] == orders_before
    assert log_events(cli, "rebalance_finished")[-1]["sent"] == 0


def test_switching_to_overlay_moves_the_book_with_reductions_first(cli: Cli) -> None:
    cli.write_config()
    assert cli.run("rebalance").returncode == 0
    cli.write_config(strategy="overlay")

    moved = cli.run("rebalance")

    assert moved.returncode == 0, moved.stderr
    assert "decision: drift" in moved.stdout
    intents = [r[0] for r in ledger_rows(cli, "SELECT intent FROM intents i JOIN runs r USING (run_id)"
                                               " WHERE r.strategy = 'overlay' ORDER BY i.created_at")]
    first_increase = next(i for i, v in enumerate(intents) if v.endswith("open"))
    assert all(v.endswith("close") for v in intents[:first_increase])
    assert not any(v.endswith("close") for v in intents[first_increase:])
    held = dict(ledger_rows(cli, "SELECT symbol, SUM(CASE side WHEN 'buy' THEN qty ELSE -qty END)"
                                 " FROM fills GROUP BY symbol"))
    assert held["IWM"] == 0 and held["QQQ"] == 0 and held["SPY"] > 0 and held["SQQQ"] > 0


def test_dry_run_plans_but_sends_nothing(cli: Cli) -> None:
    cli.write_config()

    planned = cli.run("rebalance", "--dry-run")

    assert planned.returncode == 0, planned.stderr
    assert "dry run" in planned.stdout and "buy_to_open" in planned.stdout
    assert ledger_rows(cli, "SELECT COUNT(*) FROM intents")[0][0] == 0


def test_ledger_fills_equal_the_exchange_fills(cli: Cli) -> None:
    cli.write_config(local={"partial_fill_probability": 0.5, "seed": 11})
    assert cli.run("rebalance").returncode == 0

    settings = ExchangeSettings(state_path=cli.workdir / ".state" / "exchange.sqlite", api_key=KEY, secret_key=SECRET,
                                now=trading_hours())
    with LocalExchange(settings) as ex:
        client = TradingClient(KEY, SECRET, paper=True, url_override=ex.base_url)
        activities = client.get("/account/activities/FILL", {"direction": "asc", "page_size": 100})

    ledger_ids = {r[0] for r in ledger_rows(cli, "SELECT activity_id FROM fills")}
    assert ledger_ids == {a["id"] for a in activities}
    assert len(ledger_ids) >= 2


def test_the_kill_switch_stops_every_run_without_trading(cli: Cli) -> None:
    cli.write_config()
    (cli.workdir / ".state").mkdir()
    (cli.workdir / ".state" / "KILL").touch()

    stopped = cli.run("rebalance")

    assert stopped.returncode == 3
    assert "kill switch" in stopped.stderr
    assert ledger_rows(cli, "SELECT COUNT(*) FROM intents")[0][0] == 0


def test_files_the_bot_writes_are_private(cli: Cli) -> None:
    cli.write_config()
    assert cli.run("rebalance").returncode == 0

    for path in (Path(".state/ledger-local.sqlite"), Path("logs/pairbot.jsonl"), Path(".state/pairbot.lock")):
        assert (cli.workdir / path).stat().st_mode & 0o077 == 0, path
