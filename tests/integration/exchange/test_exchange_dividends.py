"""Dividends (scripted, or derived from close against adj_close), withholding, and cash entries."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import MarketOrderRequest

from bot.adapters.exchange import LocalExchange

from .conftest import MakeExchange, activities, cash, et, position, trading_client

EX_DATE = date(2024, 3, 6)
BEFORE, AFTER = et(2024, 3, 5, 15, 0), et(2024, 3, 6, 10, 0)
SESSIONS = ["2024-03-01", "2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]


def trade(client: TradingClient, symbol: str, side: str, qty: float) -> None:
    client.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force="day"))
    client.get_clock()


def write_prices(directory: Path, symbol: str, closes: list[str], adj_closes: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rows = [f"{d},{c},{c},{c},{c},{a},1000" for d, c, a in zip(SESSIONS, closes, adj_closes, strict=True)]
    (directory / f"{symbol}.csv").write_text("date,open,high,low,close,adj_close,volume\n" + "\n".join(rows) + "\n")
    return directory


def holding(make_exchange: MakeExchange, symbol: str, per_share: str, side: str,
            qty: float) -> tuple[LocalExchange, TradingClient, Decimal]:
    """An exchange with a dividend scheduled for EX_DATE and a position taken the day before; its cash then."""
    ex = make_exchange(now=lambda: BEFORE)
    ex.schedule_dividend(symbol, EX_DATE, Decimal(per_share))
    client = trading_client(ex)
    trade(client, symbol, side, qty)
    return ex, client, cash(client)


def test_a_long_is_credited_a_dividend_at_the_start_of_the_ex_date(make_exchange: MakeExchange) -> None:
    ex, client, cash_before = holding(make_exchange, "IWM", "0.8123", "buy", 100)
    ex.set_now(et(2024, 3, 5, 23, 59))
    assert activities(client, "DIV") == []

    ex.set_now(AFTER)

    assert cash(client) == cash_before + Decimal("81.23")
    assert activities(client, "DIV") == [{
        "id": activities(client, "DIV")[0]["id"], "activity_type": "DIV", "date": "2024-03-06",
        "net_amount": "81.23", "description": "Cash DIV @ 0.8123, Pos QTY: 100", "status": "executed",
        "symbol": "IWM", "qty": "100", "price": None, "per_share_amount": "0.8123", "entry_sub_type": "CDIV",
        "created_at": "2024-03-06T05:00:00.000000Z"}]


def test_a_short_is_debited_the_dividend(make_exchange: MakeExchange) -> None:
    ex, client, cash_before = holding(make_exchange, "QQQ", "0.5", "sell", 10)

    ex.set_now(AFTER)

    (div,) = activities(client, "DIV")
    assert (div["qty"], div["net_amount"], div["per_share_amount"]) == ("-10", "-5", "0.5")
    assert cash(client) == cash_before - 5


def test_withholding_is_booked_apart_as_divnra_on_a_long_only(make_exchange: MakeExchange) -> None:
    ex = make_exchange(now=lambda: BEFORE, dividend_withholding=Decimal("0.3"))
    ex.schedule_dividend("IWM", EX_DATE, Decimal("1.25"))
    ex.schedule_dividend("QQQ", EX_DATE, Decimal("1"))
    client = trading_client(ex)
    trade(client, "IWM", "buy", 10)
    trade(client, "QQQ", "sell", 10)
    cash_before = cash(client)

    ex.set_now(AFTER)

    (nra,) = activities(client, "DIVNRA")
    assert {k: nra[k] for k in ("activity_type", "date", "net_amount", "symbol", "qty", "per_share_amount")} == {
        "activity_type": "DIVNRA", "date": "2024-03-06", "net_amount": "-3.75", "symbol": "IWM", "qty": "10",
        "per_share_amount": "1.25"}
    assert nra["description"] == "NRA withholding 30% of 12.50"
    assert cash(client) == cash_before + Decimal("12.5") - Decimal("3.75") - 10


def test_dividends_are_derived_from_close_against_adj_close(make_exchange: MakeExchange, tmp_path: Path) -> None:
    closes = ["100", "100", "100", "99", "99", "99"]
    adj = ["98", "98", "98", "99", "99", "99.0000001"]  # 2 a share went ex on 03-06; the last row is noise
    prices = write_prices(tmp_path / "prices", "SPY", closes, adj)
    ex = make_exchange(prices=prices, now=lambda: BEFORE)
    client = trading_client(ex)
    trade(client, "SPY", "buy", 10)

    ex.set_now(et(2024, 3, 8, 12, 0))

    (div,) = activities(client, "DIV")
    assert (div["date"], div["per_share_amount"], div["net_amount"]) == ("2024-03-06", "2", "20")


def test_derived_dividends_are_paid_per_share_held_after_a_split(make_exchange: MakeExchange, tmp_path: Path) -> None:
    prices = write_prices(tmp_path / "prices", "SPY", ["100"] * 6, ["98", "98", "98", "100", "100", "100"])
    (prices / "splits.csv").write_text("symbol,date,ratio\nSPY,2024-03-08,2\n")
    ex = make_exchange(prices=prices, now=lambda: BEFORE)
    client = trading_client(ex)
    trade(client, "SPY", "buy", 10)
    assert position(client, "SPY")["current_price"] == "200"

    ex.set_now(AFTER)

    (div,) = activities(client, "DIV")
    assert (div["per_share_amount"], div["net_amount"]) == ("4", "40")  # 2 a share, split-adjusted: 4 as traded


def test_no_dividends_when_they_are_not_simulated_as_on_alpaca_paper(make_exchange: MakeExchange,
                                                                      tmp_path: Path) -> None:
    prices = write_prices(tmp_path / "prices", "SPY", ["100"] * 6, ["98", "98", "98", "100", "100", "100"])
    ex = make_exchange(prices=prices, now=lambda: BEFORE, simulate_dividends=False)
    client = trading_client(ex)
    trade(client, "SPY", "buy", 10)

    ex.set_now(AFTER)

    assert activities(client, "DIV") == []
    with pytest.raises(RuntimeError, match="simulate_dividends"):
        ex.schedule_dividend("SPY", date(2024, 3, 8), Decimal("1"))


@pytest.mark.parametrize(("kind", "amount"), [("FEE", "-1.5"), ("INT", "0.42"), ("JNLC", "2500")])
def test_cash_entries_move_cash_and_are_listed_with_their_date(make_exchange: MakeExchange, kind: str,
                                                               amount: str) -> None:
    ex = make_exchange(now=lambda: AFTER)
    client = trading_client(ex)
    cash_before = cash(client)

    ex.book_cash(kind, Decimal(amount), date(2024, 3, 5), "booked by the test")

    (entry,) = activities(client, kind)
    assert entry == {"id": entry["id"], "activity_type": kind, "date": "2024-03-05", "net_amount": amount,
                     "description": "booked by the test", "status": "executed", "symbol": None, "qty": None,
                     "price": None, "per_share_amount": None, "entry_sub_type": None,
                     "created_at": "2024-03-06T15:00:00.000000Z"}
    assert cash(client) == cash_before + Decimal(amount)


def test_book_cash_refuses_a_type_that_is_not_cash(make_exchange: MakeExchange) -> None:
    with pytest.raises(ValueError, match="book_cash"):
        make_exchange().book_cash("SPLIT", Decimal(1), date(2024, 3, 5))
