"""Asynchronous fills at the quote, seeded partial fills, and an account that always adds up."""

from __future__ import annotations

import os
import time
from decimal import Decimal
from pathlib import Path

from alpaca.data.requests import StockLatestQuoteRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderStatus
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from bot.adapters.exchange import LocalExchange

from .conftest import MakeExchange, data_client, trading_client


def submit(client: TradingClient, symbol: str, side: str, qty: float) -> str:
    req = MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force="day")
    return str(client.submit_order(req).id)


def fills(client: TradingClient) -> list[dict[str, str]]:
    out = client.get("/account/activities/FILL", {"direction": "asc", "page_size": 100})
    assert isinstance(out, list)
    return out


def test_a_market_order_is_new_on_submit_and_filled_on_the_next_request(trading: TradingClient) -> None:
    placed = trading.submit_order(MarketOrderRequest(symbol="IWM", qty=10, side="buy", time_in_force="day"))

    assert placed.status == OrderStatus.NEW and placed.filled_qty == "0" and placed.filled_avg_price is None
    later = trading.get_order_by_id(placed.id)
    assert later.status == OrderStatus.FILLED and later.filled_qty == "10" and later.filled_at is not None


def test_buys_fill_at_the_ask_and_sells_at_the_bid(make_exchange: MakeExchange) -> None:
    ex = make_exchange(half_spread_bps=Decimal("10"))
    client = trading_client(ex)
    quote = data_client(ex).get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="SPY"))["SPY"]
    mid = (Decimal(str(quote.ask_price)) + Decimal(str(quote.bid_price))) / 2

    bought = submit(client, "SPY", "buy", 1)
    sold = submit(client, "SPY", "sell", 1)

    assert Decimal(str(client.get_order_by_id(bought).filled_avg_price)) == Decimal(str(quote.ask_price))
    assert Decimal(str(client.get_order_by_id(sold).filled_avg_price)) == Decimal(str(quote.bid_price))
    assert abs(Decimal(str(quote.ask_price)) / mid - Decimal("1.001")) < Decimal("0.000001")


def test_fill_latency_delays_the_fill(make_exchange: MakeExchange) -> None:
    client = trading_client(make_exchange(fill_latency_seconds=0.3))
    order_id = submit(client, "IWM", "buy", 1)

    assert client.get_order_by_id(order_id).status == OrderStatus.NEW
    time.sleep(0.35)
    assert client.get_order_by_id(order_id).status == OrderStatus.FILLED


def test_partial_fills_are_seeded_and_completed_on_a_later_request(make_exchange: MakeExchange) -> None:
    client = trading_client(make_exchange(partial_fill_probability=1.0))
    order_id = submit(client, "IWM", "buy", 100)

    first = client.get_order_by_id(order_id)
    assert first.status == OrderStatus.PARTIALLY_FILLED and 0 < Decimal(str(first.filled_qty)) < 100
    while client.get_order_by_id(order_id).status != OrderStatus.FILLED:
        pass
    activity = fills(client)
    assert activity[0]["type"] == "partial_fill" and activity[-1]["type"] == "fill"
    assert sum(Decimal(a["qty"]) for a in activity) == 100
    assert activity[-1]["cum_qty"] == "100" and activity[-1]["leaves_qty"] == "0"
    assert [Decimal(a["cum_qty"]) + Decimal(a["leaves_qty"]) for a in activity] == [100] * len(activity)


def test_the_same_seed_gives_the_same_partial_fills(make_exchange: MakeExchange) -> None:
    sizes = []
    for _ in range(2):
        client = trading_client(make_exchange(partial_fill_probability=0.5, seed=11))
        for _n in range(5):
            submit(client, "IWM", "buy", 50)
        client.get_account()
        sizes.append([a["qty"] for a in fills(client)])

    assert sizes[0] == sizes[1]


def test_cash_and_equity_follow_the_fills(make_exchange: MakeExchange) -> None:
    client = trading_client(make_exchange(half_spread_bps=Decimal("2"), partial_fill_probability=0.3))
    for symbol, side, qty in [("IWM", "buy", 120), ("QQQ", "sell", 40), ("IWM", "sell", 20), ("BIL", "buy", 7)]:
        submit(client, symbol, side, qty)
        client.get_clock()
        client.get_clock()

    account = client.get_account()
    activity = fills(client)
    signed = sum(Decimal(a["qty"]) * Decimal(a["price"]) * (1 if a["side"] == "buy" else -1) for a in activity)
    positions = client.get_all_positions()
    assert Decimal(account.cash) == Decimal("100000") - signed
    assert Decimal(account.equity) == Decimal(account.cash) + sum(Decimal(p.market_value or "0") for p in positions)
    by_symbol = {p.symbol: Decimal(p.qty) for p in positions}
    assert by_symbol == {"IWM": Decimal(100), "QQQ": Decimal(-40), "BIL": Decimal(7)}
    assert Decimal(account.long_market_value) > 0 > Decimal(account.short_market_value)


def test_a_position_reports_cost_and_unrealized_pl(make_exchange: MakeExchange) -> None:
    client = trading_client(make_exchange(half_spread_bps=Decimal("5")))
    submit(client, "QQQ", "sell", 10)

    position = client.get_open_position("QQQ")

    avg, price = Decimal(position.avg_entry_price), Decimal(position.current_price or "0")
    assert position.cost_basis == str((-10 * avg).normalize())
    assert Decimal(position.unrealized_pl or "0") == -10 * price - (-10 * avg)
    assert Decimal(position.unrealized_pl or "0") < 0  # sold at the bid, marked at the mid


def test_a_limit_order_fills_only_when_marketable(trading: TradingClient) -> None:
    far = trading.submit_order(LimitOrderRequest(symbol="IWM", qty=1, side="buy", time_in_force="day",
                                                 limit_price=1.0))
    near = trading.submit_order(LimitOrderRequest(symbol="SPY", qty=1, side="buy", time_in_force="day",
                                                  limit_price=100000.0))

    assert trading.get_order_by_id(far.id).status == OrderStatus.NEW
    assert trading.get_order_by_id(near.id).status == OrderStatus.FILLED


def test_state_in_a_file_is_shared_by_a_second_exchange(make_exchange: MakeExchange, tmp_path: Path) -> None:
    path = tmp_path / "exchange.sqlite"
    submit(trading_client(make_exchange(state_path=path)), "IWM", "buy", 5)

    again = trading_client(make_exchange(state_path=path))

    assert again.get_open_position("IWM").qty == "5"
    assert os.stat(path).st_mode & 0o777 == 0o600
    fresh = trading_client(make_exchange(state_path=path, reset=True))
    assert fresh.get_all_positions() == []


def test_reset_gives_a_fresh_account_with_the_chosen_cash(exchange: LocalExchange, trading: TradingClient) -> None:
    submit(trading, "IWM", "buy", 5)
    trading.get_account()

    exchange.reset(Decimal("50000"))

    assert trading.get_all_positions() == [] and trading.get_account().cash == "50000"
