"""Replay across a split and a dividend: booked in order, exactly once, whichever process moves the date."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

from alpaca.trading.requests import MarketOrderRequest

from bot.adapters.exchange import ExchangeSettings, LocalExchange

from .conftest import activities, position, trading_client

SESSIONS = ["2024-03-01", "2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]
ADJ = ["39.2", "39.2", "39.2", "39.2", "40", "40"]  # 0.80 a share goes ex on 03-07

SECOND_PROCESS = """
import json, sys
from datetime import date
from pathlib import Path
from bot.adapters.exchange import ExchangeSettings, LocalExchange
from bot.adapters.exchange.activity_store import ActivityQuery
state, prices = Path(sys.argv[1]), Path(sys.argv[2])
with LocalExchange(ExchangeSettings(state_path=state, prices=prices, clock="replay")) as ex:
    ex.advance_session()
    ex.set_date(date(2024, 3, 4))
    for _ in range(3):
        ex.advance_session()
    ex.settle()
    rows = ex.store.activities_page(ActivityQuery(ascending=True))
    print(json.dumps({"day": ex.current_date.isoformat(), "types": [r["activity_type"] for r in rows],
                      "positions": {s: str(q) for s, (q, _) in ex.store.positions().items()}}))
"""


def price_dir(root: Path) -> Path:
    prices = root / "prices"
    prices.mkdir()
    rows = [f"{d},40,40,40,40,{a},1000" for d, a in zip(SESSIONS, ADJ, strict=True)]
    (prices / "PSQ.csv").write_text("date,open,high,low,close,adj_close,volume\n" + "\n".join(rows) + "\n")
    (prices / "splits.csv").write_text("symbol,date,ratio,kind\nPSQ,2024-03-06,0.25,reverse\n")
    return prices


def settings(root: Path, start: date | None = None) -> ExchangeSettings:
    return ExchangeSettings(state_path=root / "state.sqlite", prices=price_dir(root) if start else root / "prices",
                            clock="replay", replay_start=start, half_spread_bps=Decimal(0))


def buy_psq(ex: LocalExchange) -> None:
    client = trading_client(ex)
    client.submit_order(MarketOrderRequest(symbol="PSQ", qty=100, side="buy", time_in_force="day"))
    client.get_clock()


def test_replay_across_a_split_applies_it_once_even_when_a_second_process_replays_the_dates_again(
        tmp_path: Path) -> None:
    with LocalExchange(settings(tmp_path, date(2024, 3, 4))) as ex:
        buy_psq(ex)
        assert position(trading_client(ex), "PSQ")["avg_entry_price"] == "10"
        ex.advance_session()
        ex.advance_session()
        client = trading_client(ex)
        assert (position(client, "PSQ")["qty"], position(client, "PSQ")["current_price"]) == ("25", "40")

    done = subprocess.run([sys.executable, "-c", SECOND_PROCESS, str(tmp_path / "state.sqlite"),
                           str(tmp_path / "prices")], capture_output=True, text=True, timeout=120, check=True)

    seen = json.loads(done.stdout)
    assert (seen["day"], seen["types"]) == ("2024-03-07", ["FILL", "SPLIT", "SPLIT", "DIV"])
    assert {s: Decimal(q) for s, q in seen["positions"].items()} == {"PSQ": 25}


def test_two_exchanges_open_on_one_state_file_book_the_split_and_the_dividend_once(tmp_path: Path) -> None:
    with LocalExchange(settings(tmp_path, date(2024, 3, 4))) as first:
        buy_psq(first)
        first.advance_session()
        with LocalExchange(settings(tmp_path)) as second:
            assert second.current_date == date(2024, 3, 5)

            for ex in (first, second, first, second):
                ex.set_date(date(2024, 3, 7))
                ex.settle()

            client = trading_client(second)
            assert [a["activity_type"] for a in activities(client)] == ["FILL", "SPLIT", "SPLIT", "DIV"]
            assert position(client, "PSQ")["qty"] == "25"
            assert activities(client, "DIV")[0]["net_amount"] == "20"
