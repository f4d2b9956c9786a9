"""Clock modes: NYSE holidays and early closes from exchange_calendars, and the replay driver."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from alpaca.data.requests import StockLatestTradeRequest
from alpaca.trading.enums import OrderStatus
from alpaca.trading.requests import GetCalendarRequest, MarketOrderRequest

from bot.exchange import Fault
from bot.history.frame import synthetic_history

from .conftest import MakeExchange, data_client, trading_client


def test_the_nyse_calendar_skips_thanksgiving_and_closes_early_the_day_after(make_exchange: MakeExchange) -> None:
    client = trading_client(make_exchange(clock="nyse"))

    days = client.get_calendar(GetCalendarRequest(start=date(2024, 11, 25), end=date(2024, 11, 29)))

    assert [d.date.day for d in days] == [25, 26, 27, 29]
    assert days[-1].open == datetime(2024, 11, 29, 9, 30) and days[-1].close == datetime(2024, 11, 29, 13, 0)


def test_the_nyse_clock_is_closed_on_a_holiday_and_names_the_half_day(make_exchange: MakeExchange) -> None:
    ex = make_exchange(clock="nyse")
    ex.set_now(datetime.fromisoformat("2024-11-28T12:00:00-05:00"))

    clock = trading_client(ex).get_clock()

    assert not clock.is_open
    assert clock.next_open.isoformat() == "2024-11-29T09:30:00-05:00"
    assert clock.next_close.isoformat() == "2024-11-29T13:00:00-05:00"


def test_the_nyse_clock_closes_at_13_00_on_an_early_close(make_exchange: MakeExchange) -> None:
    ex = make_exchange(clock="nyse")
    client = trading_client(ex)

    ex.set_now(datetime.fromisoformat("2024-11-29T12:59:00-05:00"))
    before = client.get_clock()
    ex.set_now(datetime.fromisoformat("2024-11-29T13:00:00-05:00"))
    after = client.get_clock()

    assert before.is_open and not after.is_open
    assert after.next_open.isoformat() == "2024-12-02T09:30:00-05:00"


def test_an_injected_now_function_drives_the_nyse_clock(make_exchange: MakeExchange) -> None:
    ex = make_exchange(clock="nyse", now=lambda: datetime.fromisoformat("2024-07-03T14:00:00-04:00"))

    clock = trading_client(ex).get_clock()

    assert not clock.is_open  # July 3rd closes at 13:00
    assert clock.next_open.isoformat() == "2024-07-05T09:30:00-04:00"


def test_replay_reads_15_00_et_and_prices_at_that_days_close(make_exchange: MakeExchange) -> None:
    ex = make_exchange(clock="replay", replay_start=date(2024, 3, 1))
    close = synthetic_history(["IWM"], start=date(2024, 3, 1), end=date(2024, 3, 1))["IWM"]["close"].iloc[0]

    clock = trading_client(ex).get_clock()
    trade = data_client(ex).get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="IWM"))["IWM"]

    assert clock.is_open and clock.timestamp.strftime("%Y-%m-%d %H:%M") == "2024-03-01 15:00"
    assert trade.price == pytest.approx(close, abs=0.006)


def test_replay_fills_at_the_days_close_and_advancing_expires_open_day_orders(make_exchange: MakeExchange) -> None:
    ex = make_exchange(clock="replay", replay_start=date(2024, 3, 1))
    client = trading_client(ex)
    filled = client.submit_order(MarketOrderRequest(symbol="SPY", qty=2, side="buy", time_in_force="day"))
    ex.faults.add(Fault(kind="stuck", method="POST", path="/v2/orders", polls=1000))
    stuck = client.submit_order(MarketOrderRequest(symbol="IWM", qty=2, side="buy", time_in_force="day"))

    assert ex.advance_session() == date(2024, 3, 4)

    close = synthetic_history(["SPY"], start=date(2024, 3, 1), end=date(2024, 3, 1))["SPY"]["close"].iloc[0]
    assert float(client.get_order_by_id(filled.id).filled_avg_price or 0) == pytest.approx(close, abs=0.006)
    assert client.get_order_by_id(stuck.id).status == OrderStatus.EXPIRED
    assert client.get_clock().timestamp.date() == date(2024, 3, 4)


def test_replay_refuses_a_date_that_is_not_a_session(make_exchange: MakeExchange) -> None:
    ex = make_exchange(clock="replay", replay_start=date(2024, 3, 1))

    with pytest.raises(ValueError, match="not an NYSE session"):
        ex.set_date(date(2024, 3, 2))
