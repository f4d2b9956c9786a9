"""Splits: as-traded prices, the SPLIT pair booked the evening before, the position changed at the
effective session, fractional or cash remainders, a new asset id on a reverse split, GTC orders."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from alpaca.data.requests import StockLatestTradeRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from bot.adapters.exchange import ExchangeSettings, LocalExchange

from .conftest import MakeExchange, activities, cash, data_client, et, position, trading_client

ON = date(2024, 3, 6)  # a Wednesday: the split's effective session
BEFORE, EVENING, AFTER = et(2024, 3, 5, 15, 0), et(2024, 3, 5, 19, 0), et(2024, 3, 6, 10, 0)
SHARED_PRICES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "prices"


def trade(client: TradingClient, symbol: str, side: str, qty: float) -> None:
    client.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force="day"))
    client.get_clock()  # the next request fills it


def split_exchange(make_exchange: MakeExchange, symbol: str, ratio: str, **settings: object) -> LocalExchange:
    ex = make_exchange(now=lambda: BEFORE, **settings)
    ex.schedule_split(symbol, ON, Decimal(ratio))
    return ex


def test_a_1_for_4_reverse_split_of_a_long_quarters_the_shares_at_four_times_the_price(
        make_exchange: MakeExchange) -> None:
    ex = split_exchange(make_exchange, "PSQ", "0.25")
    client = trading_client(ex)
    trade(client, "PSQ", "buy", 1575)
    before, cash_before = position(client, "PSQ"), cash(client)

    ex.set_now(AFTER)

    after = position(client, "PSQ")
    assert after["qty"] == "393.75" and after["side"] == "long"
    assert Decimal(after["avg_entry_price"]) == Decimal(before["avg_entry_price"]) * 4
    assert Decimal(after["cost_basis"]) == Decimal(before["cost_basis"])
    assert cash(client) == cash_before
    remove, add = activities(client, "SPLIT")
    assert Decimal(remove["price"]) == Decimal(before["current_price"]) and Decimal(add["price"]) == 4 * Decimal(
        before["current_price"])


def test_a_reverse_split_gives_the_asset_a_new_id_and_positions_stay_keyed_by_symbol(
        make_exchange: MakeExchange) -> None:
    ex = split_exchange(make_exchange, "PSQ", "0.25")
    client = trading_client(ex)
    trade(client, "PSQ", "buy", 100)
    old_id = client.get("/assets/PSQ")["id"]

    ex.set_now(AFTER)

    new_id = client.get("/assets/PSQ")["id"]
    assert new_id != old_id and position(client, "PSQ")["asset_id"] == new_id
    assert position(client, new_id)["qty"] == "25"


def test_the_split_is_booked_the_evening_before_and_the_position_changes_at_the_effective_session(
        make_exchange: MakeExchange) -> None:
    ex = split_exchange(make_exchange, "PSQ", "0.25")
    client = trading_client(ex)
    trade(client, "PSQ", "buy", 1575)
    assert activities(client, "SPLIT") == []

    ex.set_now(EVENING)

    remove, add = activities(client, "SPLIT")
    assert position(client, "PSQ")["qty"] == "1575"
    value = (1575 * Decimal(remove["price"])).quantize(Decimal("0.01"))
    assert remove == {
        "id": remove["id"], "activity_type": "SPLIT", "date": "2024-03-06", "net_amount": "0",
        "description": f"REMOVE, From QTY 1575 To QTY 393.75, Position Value {value}", "status": "executed",
        "symbol": "PSQ", "qty": "-1575", "price": remove["price"], "per_share_amount": None,
        "entry_sub_type": "RSPLIT", "created_at": "2024-03-05T22:30:00.000000Z"}
    assert add["description"] == f"ADD, From QTY 1575 To QTY 393.75, Position Value {value}"
    assert (add["qty"], add["entry_sub_type"], add["created_at"]) == ("393.75", "RSPLIT", remove["created_at"])
    assert remove["id"].startswith("20240305223000000::") and remove["id"] != add["id"]

    ex.set_now(AFTER)

    assert position(client, "PSQ")["qty"] == "393.75"
    assert len(activities(client, "SPLIT")) == 2


def test_a_2_for_1_split_of_a_short_doubles_the_shares_at_half_the_price(make_exchange: MakeExchange) -> None:
    ex = split_exchange(make_exchange, "QQQ", "2")
    client = trading_client(ex)
    trade(client, "QQQ", "sell", 10)
    before, cash_before, asset = position(client, "QQQ"), cash(client), client.get("/assets/QQQ")["id"]

    ex.set_now(AFTER)

    after = position(client, "QQQ")
    assert (after["qty"], after["side"]) == ("-20", "short")
    assert Decimal(after["avg_entry_price"]) == Decimal(before["avg_entry_price"]) / 2
    assert cash(client) == cash_before and after["asset_id"] == asset
    remove, add = activities(client, "SPLIT")
    assert (remove["qty"], add["qty"]) == ("10", "-20")  # minus the old signed position, then the new one
    assert remove["entry_sub_type"] is None and add["entry_sub_type"] is None
    assert Decimal(add["price"]) == (Decimal(remove["price"]) / 2).quantize(Decimal("0.01"))
    assert remove["description"].startswith("REMOVE, From QTY -10 To QTY -20, Position Value -")


def test_prices_before_a_scheduled_split_are_as_traded(make_exchange: MakeExchange) -> None:
    plain, split = make_exchange(now=lambda: BEFORE), split_exchange(make_exchange, "QQQ", "2")

    def price(ex: LocalExchange) -> float:
        return data_client(ex).get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="QQQ"))["QQQ"].price

    assert price(split) == pytest.approx(2 * price(plain), abs=0.011)


@pytest.mark.parametrize(("side", "fraction"), [("buy", "0.75"), ("sell", "-0.75")])
def test_the_cash_remainder_rule_pays_the_fraction_as_cash_in_lieu(make_exchange: MakeExchange, side: str,
                                                                   fraction: str) -> None:
    ex = split_exchange(make_exchange, "PSQ", "0.25", split_remainder="cash")
    client = trading_client(ex)
    trade(client, "PSQ", side, 1575)
    cash_before = cash(client)

    ex.set_now(AFTER)

    remove, add, cil = activities(client)[1:]
    assert position(client, "PSQ")["qty"] == ("393" if side == "buy" else "-393")
    assert (remove["activity_type"], add["activity_type"], add["qty"]) == ("SPLIT", "SPLIT", position(client, "PSQ")[
        "qty"])
    amount = (Decimal(fraction) * Decimal(add["price"])).quantize(Decimal("0.01"))
    assert cil == {
        "id": cil["id"], "activity_type": "CIL", "date": "2024-03-06", "net_amount": str(amount),
        "description": f"Cash in lieu of 0.75 shares @ {add['price']}", "status": "executed", "symbol": "PSQ",
        "qty": fraction, "price": add["price"], "per_share_amount": None, "entry_sub_type": None,
        "created_at": "2024-03-05T22:30:00.000000Z"}
    assert cash(client) == cash_before + amount


def test_fractional_remainders_are_kept_for_a_short_too(make_exchange: MakeExchange) -> None:
    ex = split_exchange(make_exchange, "PSQ", "0.25")
    client = trading_client(ex)
    trade(client, "PSQ", "sell", 1575)

    ex.set_now(AFTER)

    assert position(client, "PSQ")["qty"] == "-393.75"
    assert [a["activity_type"] for a in activities(client)] == ["FILL", "SPLIT", "SPLIT"]


def test_a_reverse_split_cancels_open_gtc_orders_and_a_forward_split_adjusts_gtc_buy_limits(
        make_exchange: MakeExchange) -> None:
    ex = make_exchange(now=lambda: BEFORE)
    ex.schedule_split("PSQ", ON, Decimal("0.25"))
    ex.schedule_split("IWM", ON, Decimal("2"))
    client = trading_client(ex)
    psq = client.submit_order(LimitOrderRequest(symbol="PSQ", qty=40, side="buy", limit_price=1, time_in_force="gtc"))
    iwm = client.submit_order(LimitOrderRequest(symbol="IWM", qty=7, side="buy", limit_price=50, time_in_force="gtc"))

    ex.set_now(AFTER)

    assert client.get_order_by_id(psq.id).status == "canceled"
    adjusted = client.get_order_by_id(iwm.id)
    assert (adjusted.status, adjusted.qty, adjusted.limit_price) == ("new", "14", "25")


def test_a_split_too_late_to_book_is_refused(make_exchange: MakeExchange) -> None:
    ex = make_exchange(now=lambda: EVENING)
    trading_client(ex).get_clock()

    with pytest.raises(ValueError, match="too late"):
        ex.schedule_split("PSQ", ON, Decimal("0.25"))


def test_splits_beside_the_csv_prices_give_as_traded_marks_and_raw_bars() -> None:
    if not (SHARED_PRICES / "splits.csv").is_file():
        pytest.skip(f"no shared price data at {SHARED_PRICES}")
    settings = ExchangeSettings(prices=SHARED_PRICES, symbols=("SQQQ",), clock="replay",
                                replay_start=date(2010, 2, 11))
    with LocalExchange(settings) as ex:
        data = data_client(ex)
        trade_price = data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="SQQQ"))["SQQQ"].price
        params = {"symbols": "SQQQ", "timeframe": "1Day", "start": "2010-02-11T00:00:00Z"}
        raw = data.get("/stocks/bars", params | {"adjustment": "raw"})
        adjusted = data.get("/stocks/bars", params | {"adjustment": "split"})

    assert trade_price == 76.98
    assert isinstance(raw, dict) and isinstance(adjusted, dict)
    assert raw["bars"]["SQQQ"][0]["c"] == 76.98 and adjusted["bars"]["SQQQ"][0]["c"] > 9_000_000


def test_shares_bought_after_the_booking_are_split_and_booked_at_the_effective_session(
        make_exchange: MakeExchange) -> None:
    ex = split_exchange(make_exchange, "PSQ", "0.25")
    client = trading_client(ex)
    trade(client, "PSQ", "buy", 100)
    ex.set_now(EVENING)
    trade(client, "PSQ", "buy", 20)

    ex.set_now(AFTER)

    legs = activities(client, "SPLIT")
    assert [(a["qty"], a["created_at"]) for a in legs] == [
        ("-100", "2024-03-05T22:30:00.000000Z"), ("25", "2024-03-05T22:30:00.000000Z"),
        ("-20", "2024-03-06T05:00:00.000000Z"), ("5", "2024-03-06T05:00:00.000000Z")]
    assert position(client, "PSQ")["qty"] == "30"
