"""Fixtures: a fresh in-memory exchange per test, reached only through alpaca-py (or raw HTTP)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.trading.client import TradingClient

from bot.adapters.exchange import ExchangeSettings, LocalExchange

ET = ZoneInfo("America/New_York")
MakeExchange = Callable[..., LocalExchange]


@pytest.fixture
def make_exchange() -> Iterator[MakeExchange]:
    started: list[LocalExchange] = []

    def make(**overrides: Any) -> LocalExchange:
        options: dict[str, Any] = {"half_spread_bps": Decimal("0")} | overrides
        ex = LocalExchange(ExchangeSettings(**options))
        ex.start()
        started.append(ex)
        return ex

    yield make
    for ex in started:
        ex.close()


@pytest.fixture
def exchange(make_exchange: MakeExchange) -> LocalExchange:
    return make_exchange()


def trading_client(ex: LocalExchange) -> TradingClient:
    client = TradingClient(*ex.keys, paper=True, url_override=ex.base_url)
    client._retry_wait = 0
    return client


def data_client(ex: LocalExchange) -> StockHistoricalDataClient:
    client = StockHistoricalDataClient(*ex.keys, url_override=ex.base_url)
    client._retry_wait = 0
    return client


@pytest.fixture
def trading(exchange: LocalExchange) -> TradingClient:
    return trading_client(exchange)


def et(*args: int) -> datetime:
    return datetime(*args, tzinfo=ET)  # type: ignore[misc]


def activities(client: TradingClient, kind: str | None = None, **params: Any) -> list[dict[str, Any]]:
    """GET /v2/account/activities[/kind], oldest first unless told otherwise."""
    out = client.get("/account/activities" + (f"/{kind}" if kind else ""), {"direction": "asc"} | params)
    assert isinstance(out, list)
    return out


def position(client: TradingClient, symbol: str) -> dict[str, Any]:
    out = client.get(f"/positions/{symbol}")
    assert isinstance(out, dict)
    return out


def cash(client: TradingClient) -> Decimal:
    account = client.get("/account")
    assert isinstance(account, dict)
    return Decimal(account["cash"])
