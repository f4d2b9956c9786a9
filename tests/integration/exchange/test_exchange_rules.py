"""Alpaca's order-entry rules, one test each, observed through alpaca-py."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.requests import StockLatestQuoteRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderStatus
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from bot.adapters.exchange import LocalExchange

from .conftest import MakeExchange, data_client, trading_client

SATURDAY = datetime.fromisoformat("2024-06-08T12:00:00-04:00")


def order(client: TradingClient, symbol: str, side: str, qty: float | None = None, **kw: object) -> str:
    kind = LimitOrderRequest if kw.pop("type", "market") == "limit" else MarketOrderRequest
    req = kind(symbol=symbol, side=side, qty=qty, time_in_force=kw.pop("tif", "day"), **kw)
    return str(client.submit_order(req).id)


def refusal(client: TradingClient, symbol: str, side: str, qty: float | None = None, **kw: object) -> APIError:
    with pytest.raises(APIError) as err:
        order(client, symbol, side, qty, **kw)
    return err.value


def queued_exchange(make_exchange: MakeExchange, **kw: object) -> tuple[LocalExchange, TradingClient]:
    """NYSE clock pinned to a Saturday, so orders stay open (accepted) until Monday."""
    ex = make_exchange(clock="nyse", **kw)
    ex.set_now(SATURDAY)
    return ex, trading_client(ex)


def test_client_order_id_is_unique_forever_even_after_a_cancel(make_exchange: MakeExchange) -> None:
    _, client = queued_exchange(make_exchange)
    first = order(client, "IWM", "buy", 1, client_order_id="once")
    client.cancel_order_by_id(first)

    err = refusal(client, "IWM", "buy", 1, client_order_id="once")

    assert err.status_code == 422 and err.code == 40010001
    assert err.message == "client_order_id must be unique"


def test_qty_and_notional_together_are_refused(trading: TradingClient) -> None:
    with pytest.raises(APIError) as err:
        trading.post("/orders", {"symbol": "IWM", "qty": 1, "notional": 100, "side": "buy", "type": "market",
                                 "time_in_force": "day"})

    assert err.value.status_code == 422 and "notional" in err.value.message


def test_a_notional_market_day_buy_fills_a_fractional_quantity(trading: TradingClient) -> None:
    placed = trading.submit_order(MarketOrderRequest(symbol="IWM", notional=1000, side="buy", time_in_force="day"))

    filled = trading.get_order_by_id(placed.id)

    assert placed.notional == "1000" and placed.qty is None
    assert filled.status == OrderStatus.FILLED
    qty = Decimal(str(filled.filled_qty))
    assert qty != qty.to_integral_value()
    assert qty * Decimal(str(filled.filled_avg_price)) <= Decimal(1000)


def test_fractional_orders_must_be_market_day_orders(trading: TradingClient) -> None:
    err = refusal(trading, "IWM", "buy", 1.5, tif="gtc")

    assert err.status_code == 422 and "fractional" in err.message


def test_fractional_orders_need_a_fractionable_asset(exchange: LocalExchange, trading: TradingClient) -> None:
    exchange.set_asset_flags("IWM", fractionable=False)

    err = refusal(trading, "IWM", "buy", 0.5)

    assert err.status_code == 422 and err.message == "requested asset is not fractionable"


def test_fractional_and_notional_shorts_are_refused(trading: TradingClient) -> None:
    fractional = refusal(trading, "QQQ", "sell", 1.5)
    notional = refusal(trading, "QQQ", "sell", notional=500)

    for err in (fractional, notional):
        assert err.status_code == 403 and err.message == "fractional orders are not allowed to short"


def test_one_order_cannot_flip_a_long_into_a_short(trading: TradingClient) -> None:
    order(trading, "IWM", "buy", 10)
    trading.get_account()

    err = refusal(trading, "IWM", "sell", 15)

    assert err.status_code == 403 and err.code == 40310000
    assert err.message == "insufficient qty available for order (requested: 15, available: 10)"
    body = err.response.json()
    assert (body["available"], body["existing_qty"], body["held_for_orders"]) == ("10", "10", "0")


def test_one_order_cannot_flip_a_short_into_a_long(trading: TradingClient) -> None:
    order(trading, "QQQ", "sell", 4)
    trading.get_account()

    err = refusal(trading, "QQQ", "buy", 5)

    assert err.status_code == 403 and "(requested: 5, available: 4)" in err.message


def test_an_opposite_side_open_order_is_a_potential_wash_trade(make_exchange: MakeExchange) -> None:
    _, client = queued_exchange(make_exchange)
    order(client, "IWM", "buy", 5)

    err = refusal(client, "IWM", "sell", 5)

    assert err.status_code == 403 and err.code == 40310000
    assert err.message == "potential wash trade detected. use complex orders"


def test_a_buy_beyond_buying_power_is_refused_with_the_numbers(make_exchange: MakeExchange) -> None:
    client = trading_client(make_exchange(starting_cash=Decimal("10000")))

    err = refusal(client, "QQQ", "buy", 100)

    assert err.status_code == 403 and err.message == "insufficient buying power"
    body = err.response.json()
    assert Decimal(body["buying_power"]) == Decimal("20000") and Decimal(body["cost_basis"]) > 20000


def test_reg_t_buying_power_is_twice_equity_above_2000_and_once_below(make_exchange: MakeExchange) -> None:
    rich = trading_client(make_exchange(starting_cash=Decimal("2000")))
    poor = trading_client(make_exchange(starting_cash=Decimal("1999")))

    assert Decimal(rich.get_account().buying_power) == Decimal("4000")
    assert Decimal(poor.get_account().buying_power) == Decimal("1999")
    assert poor.get_account().multiplier == "1"


@pytest.mark.parametrize(("side", "buffer"), [("sell", "1.03"), ("buy", "1.04")])
def test_a_market_short_or_buy_is_valued_above_the_ask_but_a_limit_buy_at_its_limit(
        make_exchange: MakeExchange, side: str, buffer: str) -> None:
    """REFERENCE 10.2: an opening short at 3% above the ask, a market buy 2.5-4% above the market (the exchange
    takes the top), a limit buy at its limit."""
    ex = make_exchange(starting_cash=Decimal("10000"))
    client = trading_client(ex)
    quote = data_client(ex).get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="QQQ"))["QQQ"]
    ask = Decimal(str(quote.ask_price))
    qty = int(Decimal("20000") / ask)

    order(client, "QQQ", "buy", qty, type="limit", limit_price=float(ask), client_order_id="limit-fits")
    client.close_position("QQQ")
    client.get_account()
    err = refusal(client, "QQQ", side, qty)

    assert err.message == "insufficient buying power"
    assert Decimal(err.response.json()["cost_basis"]) == (Decimal(buffer) * ask * qty).quantize(Decimal("0.01"))


def test_open_orders_hold_buying_power(make_exchange: MakeExchange) -> None:
    _, client = queued_exchange(make_exchange, starting_cash=Decimal("10000"))
    order(client, "IWM", "buy", 50)  # about 10k of the 20k

    err = refusal(client, "SPY", "buy", 30)  # about 15k more

    assert err.message == "insufficient buying power"


def test_shorting_needs_shorting_enabled(exchange: LocalExchange, trading: TradingClient) -> None:
    exchange.set_account_flags(shorting_enabled=False)

    err = refusal(trading, "QQQ", "sell", 1)

    assert err.status_code == 403 and err.message == "account is not allowed to short"


def test_shorting_needs_2000_of_equity(make_exchange: MakeExchange) -> None:
    client = trading_client(make_exchange(starting_cash=Decimal("1500")))

    err = refusal(client, "PSQ", "sell", 1)

    assert err.status_code == 403 and err.message == "account is not allowed to short"


def test_shorting_needs_a_shortable_asset(exchange: LocalExchange, trading: TradingClient) -> None:
    exchange.set_asset_flags("QQQ", shortable=False)

    err = refusal(trading, "QQQ", "sell", 1)

    assert err.status_code == 422 and err.code == 42210000 and err.message == "asset QQQ is not shortable"


def test_shorting_needs_an_easy_to_borrow_asset(exchange: LocalExchange, trading: TradingClient) -> None:
    exchange.set_asset_flags("QQQ", easy_to_borrow=False)

    err = refusal(trading, "QQQ", "sell", 1)

    assert err.status_code == 422 and "hard-to-borrow" in err.message


def test_closing_a_long_is_allowed_in_a_hard_to_borrow_asset(exchange: LocalExchange, trading: TradingClient) -> None:
    order(trading, "QQQ", "buy", 2)
    trading.get_account()
    exchange.set_asset_flags("QQQ", easy_to_borrow=False, shortable=False)

    order(trading, "QQQ", "sell", 2)

    assert trading.get_all_positions() == []


@pytest.mark.parametrize(("flag", "message"), [
    ("trading_blocked", "trading is blocked for this account"),
    ("account_blocked", "account is blocked"),
    ("trade_suspended_by_user", "new orders are rejected by user request"),
])
def test_blocked_accounts_refuse_new_orders(exchange: LocalExchange, trading: TradingClient, flag: str,
                                            message: str) -> None:
    exchange.set_account_flags(**{flag: True})

    err = refusal(trading, "IWM", "buy", 1)

    assert err.status_code == 403 and err.code == 40310000 and err.message == message
    assert getattr(trading.get_account(), flag) is True


def test_an_untradable_asset_is_refused(exchange: LocalExchange, trading: TradingClient) -> None:
    exchange.set_asset_flags("SPY", tradable=False)

    err = refusal(trading, "SPY", "buy", 1)

    assert err.status_code == 422 and err.message == "asset SPY is not tradable"


def test_position_intent_must_match_the_position(trading: TradingClient) -> None:
    order(trading, "IWM", "buy", 10)
    trading.get_account()

    err = refusal(trading, "IWM", "sell", 5, position_intent="sell_to_open")
    ok = trading.submit_order(MarketOrderRequest(symbol="IWM", qty=5, side="sell", time_in_force="day",
                                                 position_intent="sell_to_close"))

    assert err.status_code == 403 and err.message == "position intent mismatch. inferred sell to close"
    assert ok.position_intent == "sell_to_close"


def test_orders_while_the_market_is_closed_are_accepted_and_fill_at_the_open(make_exchange: MakeExchange) -> None:
    ex, client = queued_exchange(make_exchange)
    placed = client.submit_order(MarketOrderRequest(symbol="IWM", qty=3, side="buy", time_in_force="day"))

    assert placed.status == OrderStatus.ACCEPTED and client.get_order_by_id(placed.id).status == "accepted"
    ex.set_now(datetime.fromisoformat("2024-06-10T09:31:00-04:00"))
    client.get_clock()
    assert client.get_order_by_id(placed.id).status == OrderStatus.FILLED


def test_day_orders_expire_at_the_close(make_exchange: MakeExchange) -> None:
    ex, client = queued_exchange(make_exchange)
    placed = client.submit_order(LimitOrderRequest(symbol="IWM", qty=3, side="buy", time_in_force="day",
                                                   limit_price=1.0))
    gtc = client.submit_order(LimitOrderRequest(symbol="SPY", qty=1, side="buy", time_in_force="gtc",
                                                limit_price=1.0))

    ex.set_now(datetime.fromisoformat("2024-06-10T16:00:00-04:00"))

    assert client.get_order_by_id(placed.id).status == OrderStatus.EXPIRED
    assert client.get_order_by_id(gtc.id).status == OrderStatus.ACCEPTED
