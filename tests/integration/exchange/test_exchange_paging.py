"""Paging: bars with next_page_token (through alpaca-py's own loop) and FILL activities with page_token."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import MarketOrderRequest

from bot.adapters.exchange import LocalExchange

from .conftest import data_client


def raw_bars(ex: LocalExchange, **params: Any) -> dict[str, Any]:
    headers = {"APCA-API-KEY-ID": ex.keys[0], "APCA-API-SECRET-KEY": ex.keys[1]}
    reply = requests.get(ex.base_url + "/v2/stocks/bars", params=params, headers=headers, timeout=5)
    reply.raise_for_status()
    body: dict[str, Any] = reply.json()
    return body


def test_more_than_10000_bars_arrive_over_pages_through_alpaca_py(exchange: LocalExchange) -> None:
    client = data_client(exchange)

    bars = client.get_stock_bars(StockBarsRequest(symbol_or_symbols=["IWM", "QQQ"], timeframe=TimeFrame.Day,
                                                  start=datetime(2001, 1, 1), end=datetime(2024, 12, 31)))

    pages = [r for r in exchange.requests if r.path == "/v2/stocks/bars"]
    assert len(pages) == 2 and "page_token" in pages[1].params
    assert len(bars["IWM"]) == len(bars["QQQ"]) > 5000
    stamps = [b.timestamp for b in bars["QQQ"]]
    assert stamps == sorted(set(stamps))


def test_bar_pages_split_mid_symbol_and_resume_after_the_token(exchange: LocalExchange) -> None:
    params = {"symbols": "IWM,QQQ", "timeframe": "1Day", "start": "2024-01-01T00:00:00+00:00",
              "end": "2024-01-12T00:00:00+00:00", "limit": 3}
    seen: list[tuple[str, str]] = []
    token = None
    while True:
        page = raw_bars(exchange, **params, **({"page_token": token} if token else {}))
        seen += [(sym, bar["t"]) for sym, rows in page["bars"].items() for bar in rows]
        token = page["next_page_token"]
        if token is None:
            break

    assert len(seen) == len(set(seen)) == 16
    assert [s for s, _ in seen] == ["IWM"] * 8 + ["QQQ"] * 8


def test_bars_never_leak_past_the_current_session(exchange: LocalExchange) -> None:
    page = raw_bars(exchange, symbols="SPY", timeframe="1Day", start="2030-01-01T00:00:00Z")

    assert page == {"bars": {}, "next_page_token": None}


def test_fill_activities_page_forwards_and_backwards_by_token(trading: TradingClient) -> None:
    for n in range(5):
        trading.submit_order(MarketOrderRequest(symbol="IWM", qty=n + 1, side="buy", time_in_force="day"))
        trading.get_clock()

    def walk(direction: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {"direction": direction, "page_size": 2}
        while True:
            page = trading.get("/account/activities/FILL", params)
            assert isinstance(page, list)
            out += page
            if len(page) < 2:
                return out
            params["page_token"] = page[-1]["id"]

    forward, backward = walk("asc"), walk("desc")

    assert [a["qty"] for a in forward] == ["1", "2", "3", "4", "5"]
    assert backward == forward[::-1]
    first = forward[0]
    assert first["activity_type"] == "FILL" and first["type"] == "fill" and "::" in first["id"]
    assert first["id"].split("::")[0].isdigit() and len(first["id"].split("::")[0]) == 17
    assert set(first) >= {"transaction_time", "price", "qty", "side", "symbol", "leaves_qty", "order_id",
                          "cum_qty", "order_status"}


def test_fill_activities_filter_by_time_and_accept_the_query_form(trading: TradingClient) -> None:
    for n in range(3):
        trading.submit_order(MarketOrderRequest(symbol="SPY", qty=n + 1, side="buy", time_in_force="day"))
        trading.get_clock()
    every = trading.get("/account/activities", {"activity_types": "FILL", "direction": "asc"})
    assert isinstance(every, list) and len(every) == 3

    after = trading.get("/account/activities/FILL", {"after": every[0]["transaction_time"], "direction": "asc"})
    until = trading.get("/account/activities/FILL", {"until": every[2]["transaction_time"], "direction": "asc"})

    assert [a["id"] for a in after] == [every[1]["id"], every[2]["id"]]
    assert [a["id"] for a in until] == [every[0]["id"], every[1]["id"]]
    assert trading.get("/account/activities", {"activity_types": "DIV"}) == []
