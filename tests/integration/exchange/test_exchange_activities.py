"""GET /v2/account/activities with fills and non-trade activities: types, dates, paging, refusals, schemas."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.adapters.exchange import ExchangeSettings, LocalExchange
from bot.adapters.exchange.entries import NOTICE_SUB_TYPE, NOTICE_TYPE, Entry
from bot.adapters.exchange.generations import REVIEW_REQUESTS

from .conftest import MakeExchange, activities, et, trading_client

BEFORE, AFTER = et(2024, 3, 5, 15, 0), et(2024, 3, 6, 10, 0)


def booked(make_exchange: MakeExchange, **settings: Any) -> LocalExchange:
    """A fill on 03-05, a reverse split of PSQ and a dividend of IWM effective 03-06, a fee dated 03-07."""
    ex = make_exchange(now=lambda: BEFORE, **settings)
    ex.schedule_split("PSQ", date(2024, 3, 6), Decimal("0.25"))
    ex.schedule_dividend("IWM", date(2024, 3, 6), Decimal("0.5"))
    client = trading_client(ex)
    for symbol in ("PSQ", "IWM"):  # raw JSON: alpaca-py's Order model refuses drift's order statuses
        client.post("/orders", {"symbol": symbol, "qty": "8", "side": "buy", "type": "market", "time_in_force": "day"})
    for _ in range(REVIEW_REQUESTS + 1):
        client.get("/clock")
    ex.set_now(AFTER)
    ex.book_cash("FEE", Decimal("-0.02"), date(2024, 3, 7))
    return ex


def raw(ex: LocalExchange, path: str, **params: Any) -> requests.Response:
    headers = {"APCA-API-KEY-ID": ex.keys[0], "APCA-API-SECRET-KEY": ex.keys[1]}
    return requests.get(ex.base_url + "/v2/account/activities" + path, params=params, headers=headers, timeout=5)


def kinds(items: list[dict[str, Any]]) -> list[str]:
    return [a["activity_type"] for a in items]


def test_every_type_comes_back_unfiltered_newest_first_by_default(make_exchange: MakeExchange) -> None:
    ex = booked(make_exchange)

    newest_first = trading_client(ex).get("/account/activities")

    assert isinstance(newest_first, list)
    assert kinds(newest_first) == ["FEE", "DIV", "SPLIT", "SPLIT", "FILL", "FILL"]
    assert kinds(activities(trading_client(ex))) == ["FILL", "FILL", "SPLIT", "SPLIT", "DIV", "FEE"]


def test_types_are_picked_by_the_query_or_the_path(make_exchange: MakeExchange) -> None:
    client = trading_client(booked(make_exchange))

    assert kinds(activities(client, activity_types="SPLIT,DIV")) == ["SPLIT", "SPLIT", "DIV"]
    assert kinds(activities(client, "fee")) == ["FEE"]
    assert activities(client, "JNLC") == []


def test_the_filter_only_groups_stand_for_the_types_alpaca_documents_under_them(make_exchange: MakeExchange) -> None:
    ex = booked(make_exchange)
    ex.book_cash("CSD", Decimal("1000"), date(2024, 3, 7))
    ex.book_cash("JNLC", Decimal("50"), date(2024, 3, 7))
    client = trading_client(ex)

    assert kinds(activities(client, activity_types="TRANS")) == ["CSD"]
    assert kinds(activities(client, activity_types="MISC")) == ["SPLIT", "SPLIT", "FEE", "JNLC"]
    assert kinds(activities(client, activity_types="DIV,TRANS,MISC")) == ["SPLIT", "SPLIT", "DIV", "FEE", "CSD",
                                                                          "JNLC"]


def test_dates_bound_non_trade_activities_and_times_bound_fills(make_exchange: MakeExchange) -> None:
    client = trading_client(booked(make_exchange))
    fill_time = activities(client, "FILL")[0]["transaction_time"]

    assert kinds(activities(client, date="2024-03-06")) == ["SPLIT", "SPLIT", "DIV"]
    assert kinds(activities(client, after="2024-03-06")) == ["FEE"]
    assert kinds(activities(client, until="2024-03-06")) == ["FILL", "FILL"]
    assert kinds(activities(client, after="2024-03-05", until="2024-03-07")) == ["SPLIT", "SPLIT", "DIV"]
    assert kinds(activities(client, after="2024-03-05T19:59:59Z", activity_types="FILL")) == ["FILL", "FILL"]
    assert activities(client, after=fill_time, activity_types="FILL") == []


def test_pages_follow_the_page_token_both_ways(make_exchange: MakeExchange) -> None:
    ex = booked(make_exchange)
    client = trading_client(ex)

    def walk(direction: str) -> list[str]:
        out: list[str] = []
        params: dict[str, Any] = {"direction": direction, "page_size": 4}
        while True:
            page = activities(client, **params)
            out += [a["id"] for a in page]
            if len(page) < 4:
                return out
            params["page_token"] = page[-1]["id"]

    forward = walk("asc")

    assert len(forward) == len(set(forward)) == 6
    assert walk("desc") == forward[::-1]


@pytest.mark.parametrize("how", ["query", "path"])
@pytest.mark.parametrize("code", ["SSP", "SSO"])
def test_the_former_split_and_spin_off_codes_are_refused_as_filters(make_exchange: MakeExchange, how: str,
                                                                    code: str) -> None:
    ex = make_exchange()
    ex.start()

    reply = raw(ex, f"/{code}") if how == "path" else raw(ex, "", activity_types=f"DIV,{code}")

    assert reply.status_code == 422
    assert reply.json()["code"] == 40010001 and code in reply.json()["message"]


def test_an_old_ssp_entry_still_comes_back_unfiltered(make_exchange: MakeExchange) -> None:
    ex = make_exchange()
    old = Entry("SSP", "old-split", date(2019, 5, 24), datetime.fromisoformat("2019-05-23T22:30:00+00:00"),
                Decimal(0), symbol="SQQQ", qty=Decimal(-40))
    with ex.lock, ex.store.transaction():
        ex.store.add_activity(old.id, old.moment, old.json())

    assert kinds(activities(trading_client(ex))) == ["SSP"]


def test_legacy_activities_carry_numbers_and_a_transaction_time(make_exchange: MakeExchange) -> None:
    client = trading_client(booked(make_exchange, schema="legacy"))

    remove, add, div, fee = activities(client)[2:]

    assert (remove["qty"], add["qty"], div["net_amount"], div["per_share_amount"], fee["net_amount"]) == (
        -8.0, 2.0, 4.0, 0.5, -0.02)
    assert remove["transaction_time"] == "2024-03-05T22:30:00.000000Z" and "created_at" not in remove
    assert isinstance(activities(client, "FILL")[0]["qty"], str)


def test_drift_adds_unknown_fields_and_books_an_unknown_type_with_each_split(make_exchange: MakeExchange) -> None:
    client = trading_client(booked(make_exchange, schema="drift"))

    every = activities(client)

    assert kinds(every) == ["FILL", "FILL", "SPLIT", "SPLIT", NOTICE_TYPE, "DIV", "FEE"]
    assert all(a["execution_venue"] == "MEMX" for a in every)
    notice = every[4]
    assert (notice["entry_sub_type"], notice["symbol"], notice["net_amount"]) == (NOTICE_SUB_TYPE, "PSQ", "0")


def test_a_state_file_from_before_non_trade_activities_keeps_its_fills(tmp_path: Path) -> None:
    state = tmp_path / "old.sqlite"
    with sqlite3.connect(state) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta (key, value) VALUES ('cash', '100000')")
        db.execute("CREATE TABLE activities (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, "
                   "transaction_time TEXT NOT NULL, body TEXT NOT NULL)")
        db.execute("INSERT INTO activities (id, transaction_time, body) VALUES (?, ?, ?)",
                   ("20240305150000000::f", "2024-03-05T15:00:00.000000+00:00",
                    json.dumps({"id": "20240305150000000::f", "activity_type": "FILL", "qty": "1"})))
    with LocalExchange(ExchangeSettings(state_path=state)) as ex:
        client = trading_client(ex)

        assert [a["id"] for a in activities(client, "FILL")] == ["20240305150000000::f"]
        assert activities(client, "DIV") == [] and kinds(activities(client, date="2024-03-05")) == ["FILL"]
