"""Every route answers JSON that alpaca-py's models parse, with Alpaca's statuses and error bodies; assets are
read raw, as today's schema has no easy_to_borrow and alpaca-py 0.44's Asset model still requires it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderStatus, PositionSide, QueryOrderStatus
from alpaca.trading.requests import ClosePositionRequest, GetCalendarRequest, GetOrdersRequest, MarketOrderRequest

from bot.adapters.exchange import LocalExchange
from bot.adapters.history.frame import synthetic_history

from .conftest import MakeExchange, data_client, trading_client


def buy(client: TradingClient, symbol: str, qty: float, cid: str | None = None) -> str:
    order = client.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side="buy", time_in_force="day",
                                                   client_order_id=cid))
    return str(order.id)


def sell(client: TradingClient, symbol: str, qty: float, cid: str | None = None) -> str:
    order = client.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side="sell", time_in_force="day",
                                                   client_order_id=cid))
    return str(order.id)


def test_a_fresh_account_parses_and_holds_the_starting_cash(trading: TradingClient) -> None:
    account = trading.get_account()

    assert account.status == "ACTIVE"
    assert Decimal(account.cash) == Decimal(account.equity) == Decimal("100000")
    assert Decimal(account.buying_power) == Decimal("200000")
    assert account.multiplier == "2" and account.shorting_enabled


def test_wrong_keys_get_401_with_alpacas_code(exchange: LocalExchange) -> None:
    client = TradingClient("PKWRONG", "nope", paper=True, url_override=exchange.base_url)

    with pytest.raises(APIError) as err:
        client.get_account()

    assert err.value.status_code == 401
    assert err.value.code == 40110000 and err.value.message == "request is not authorized"


def test_missing_key_headers_get_401(exchange: LocalExchange) -> None:
    reply = requests.get(exchange.base_url + "/v2/account", timeout=5)

    assert reply.status_code == 401 and reply.json()["code"] == 40110000


def test_unknown_routes_answer_a_json_404(trading: TradingClient) -> None:
    with pytest.raises(APIError) as err:
        trading.get("/no/such/route")

    assert err.value.status_code == 404
    assert err.value.code == 40410000 and err.value.message == "endpoint not found"


def test_responses_say_the_prices_are_synthetic(exchange: LocalExchange) -> None:
    reply = requests.get(exchange.base_url + "/v2/account", timeout=5,
                         headers={"APCA-API-KEY-ID": exchange.keys[0], "APCA-API-SECRET-KEY": exchange.keys[1]})

    assert reply.headers["X-Pairbot-Prices"] == "synthetic"
    assert "SYNTHETIC" in reply.json()["account_number"]


def test_positions_list_one_and_close_with_qty_and_percentage(trading: TradingClient) -> None:
    buy(trading, "IWM", 100)
    sell(trading, "QQQ", 40)

    positions = {p.symbol: p for p in trading.get_all_positions()}
    assert positions["IWM"].side == PositionSide.LONG and positions["IWM"].qty == "100"
    assert positions["QQQ"].side == PositionSide.SHORT and positions["QQQ"].qty == "-40"
    assert Decimal(positions["QQQ"].market_value or "0") < 0 and Decimal(positions["QQQ"].cost_basis) < 0

    assert trading.get_open_position("IWM").qty == "100"
    assert trading.close_position("IWM", ClosePositionRequest(qty="30")).qty == "30"
    assert trading.close_position("QQQ", ClosePositionRequest(percentage="50")).qty == "20"
    assert trading.get_open_position("IWM").qty == "70"
    assert trading.get_open_position("QQQ").qty == "-20"


def test_an_unknown_position_is_a_404(trading: TradingClient) -> None:
    with pytest.raises(APIError) as err:
        trading.get_open_position("SPY")

    assert err.value.status_code == 404 and err.value.code == 40410000


def test_close_all_positions_answers_207_and_flattens(trading: TradingClient) -> None:
    buy(trading, "IWM", 10)
    sell(trading, "QQQ", 5)
    trading.get_account()

    responses = trading.close_all_positions(cancel_orders=True)

    assert sorted((r.symbol, r.status) for r in responses) == [("IWM", 200), ("QQQ", 200)]
    assert trading.get_all_positions() == []


def test_orders_list_filters_by_status_symbols_side_and_direction(trading: TradingClient) -> None:
    first = buy(trading, "IWM", 1, "o-1")
    buy(trading, "SPY", 1, "o-2")
    sell(trading, "QQQ", 1, "o-3")
    trading.get_account()

    everything = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, direction="asc"))
    assert [o.client_order_id for o in everything] == ["o-1", "o-2", "o-3"]
    assert trading.get_orders() == []
    only = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED, symbols=["IWM", "QQQ"], side="buy"))
    assert [str(o.id) for o in only] == [first]
    assert len(trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=2))) == 2
    cutoff = everything[1].submitted_at
    later = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, after=cutoff))
    assert [o.client_order_id for o in later] == ["o-3"]


def test_an_order_is_found_by_id_and_by_client_order_id(trading: TradingClient) -> None:
    order_id = buy(trading, "IWM", 3, "find-me")

    assert str(trading.get_order_by_client_id("find-me").id) == order_id
    assert trading.get_order_by_id(order_id).client_order_id == "find-me"
    with pytest.raises(APIError) as err:
        trading.get_order_by_client_id("nobody")
    assert err.value.status_code == 404


def test_cancel_one_and_cancel_all(make_exchange: MakeExchange) -> None:
    ex = make_exchange(clock="nyse")
    ex.set_now(datetime.fromisoformat("2024-06-08T12:00:00-04:00"))  # a Saturday: orders queue
    client = trading_client(ex)
    one = buy(client, "IWM", 1)
    buy(client, "SPY", 1)

    assert client.cancel_order_by_id(one) is None
    assert client.get_order_by_id(one).status == OrderStatus.CANCELED
    with pytest.raises(APIError) as err:
        client.cancel_order_by_id(one)
    assert err.value.status_code == 422
    assert [r.status for r in client.cancel_orders()] == [200]
    assert client.get_orders() == []


def test_assets_carry_the_flags_the_bot_checks_in_todays_schema(exchange: LocalExchange,
                                                                  trading: TradingClient) -> None:
    exchange.set_asset_flags("QQQ", easy_to_borrow=False)

    asset = trading.get("/assets/QQQ")

    assert asset["symbol"] == "QQQ" and asset["shortable"] and asset["fractionable"]
    assert asset["borrow_status"] == "HTB" and "easy_to_borrow" not in asset
    assert {"min_order_size", "min_trade_increment", "price_increment"} <= set(asset)
    assert trading.get("/assets/IWM")["borrow_status"] == "ETB"
    with pytest.raises(APIError):
        trading.get("/assets/NOPE")


def test_the_always_open_clock_is_open_and_its_calendar_lists_every_day(trading: TradingClient) -> None:
    clock = trading.get_clock()
    days = trading.get_calendar(GetCalendarRequest(start=date(2024, 11, 25), end=date(2024, 12, 1)))

    assert clock.is_open and clock.next_close > clock.timestamp
    assert clock.next_open > clock.next_close
    assert [d.date.day for d in days] == [25, 26, 27, 28, 29, 30, 1]
    assert (days[5].open, days[5].close) == (datetime(2024, 11, 30, 0, 0), datetime(2024, 11, 30, 23, 59))


def test_latest_quotes_and_trades_are_the_latest_synthetic_close(exchange: LocalExchange) -> None:
    client = data_client(exchange)
    today = exchange.current_date
    close = synthetic_history(["IWM"], start=date(2020, 1, 1), end=today)["IWM"]["close"].iloc[-1]

    quote = client.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=["IWM", "NOPE"]))
    trade = client.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="IWM", feed="iex"))

    assert set(quote) == {"IWM"}
    assert quote["IWM"].bid_price == quote["IWM"].ask_price == pytest.approx(close, abs=0.006)
    assert trade["IWM"].price == pytest.approx(close, abs=0.006)


def test_daily_bars_for_two_symbols_parse_into_a_barset(exchange: LocalExchange) -> None:
    client = data_client(exchange)

    bars = client.get_stock_bars(StockBarsRequest(symbol_or_symbols=["IWM", "QQQ"], timeframe=TimeFrame.Day,
                                                  start=datetime(2024, 1, 1), end=datetime(2024, 1, 6),
                                                  adjustment="all", feed="iex"))

    assert [b.timestamp.isoformat() for b in bars["IWM"]] == [
        f"2024-01-0{d}T05:00:00+00:00" for d in (2, 3, 4, 5)]
    assert len(bars["QQQ"]) == 4
    assert {"open", "high", "low", "close", "volume", "vwap"} <= set(bars.df.columns)
