"""Clock modes: always-open (every day, consistent with its calendar), NYSE holidays and early closes from
exchange_calendars, and the replay driver."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from alpaca.data.requests import StockLatestTradeRequest
from alpaca.trading.enums import OrderStatus
from alpaca.trading.requests import GetCalendarRequest, MarketOrderRequest

from bot.adapters.exchange import Fault
from bot.adapters.history.frame import synthetic_history

from .conftest import ET, MakeExchange, data_client, trading_client


@pytest.mark.parametrize("day", [date(2024, 3, 5), date(2024, 3, 9)], ids=["Tuesday", "Saturday"])
@pytest.mark.parametrize("hour", [time(9, 0), time(12, 0), time(15, 45), time(17, 0)],
                         ids=["09:00", "12:00", "15:45", "17:00"])
def test_the_always_open_clock_is_open_at_any_hour_and_its_calendar_has_that_day(make_exchange: MakeExchange,
                                                                                 day: date, hour: time) -> None:
    now = datetime.combine(day, hour, ET)
    client = trading_client(make_exchange(clock="always-open", now=lambda: now))

    clock = client.get_clock()
    sessions = client.get_calendar(GetCalendarRequest(start=day, end=day))

    assert clock.is_open and clock.timestamp == now
    assert clock.next_close - clock.timestamp == timedelta(hours=6)
    assert clock.next_open > clock.next_close
    assert [s.date for s in sessions] == [day]
    assert sessions[0].open <= now.replace(tzinfo=None) < sessions[0].close


def test_the_always_open_clock_fills_a_saturday_order_on_the_saturday(make_exchange: MakeExchange) -> None:
    ex = make_exchange(clock="always-open", now=lambda: datetime(2024, 3, 9, 17, 0, tzinfo=ET))
    client = trading_client(ex)

    placed = client.submit_order(MarketOrderRequest(symbol="IWM", qty=1, side="buy", time_in_force="day"))

    assert placed.status == OrderStatus.NEW
    assert client.get_order_by_id(placed.id).status == OrderStatus.FILLED


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
