"""The alpaca-py adapter against the local exchange: timeouts, bounded read retries, and order
submission that never doubles: an ambiguous outcome is resolved by looking the client order id up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

import pytest
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest

from bot.adapters.broker.bars import bar_params, read_daily_bars
from bot.adapters.exchange import ExchangeSettings, LocalExchange
from bot.adapters.exchange.faults import Fault
from bot.core.domain import OrderIntent, PositionIntent, Symbol
from bot.errors import BrokerUnavailable, ConfigError, OrderRejected

from .conftest import broker_for

KEY, SECRET = "PKTESTBROKER00001", "broker-secret"


@pytest.fixture
def exchange() -> Iterator[LocalExchange]:
    with LocalExchange(ExchangeSettings(state_path=None, api_key=KEY, secret_key=SECRET)) as ex:
        yield ex


def buy(symbol: str = "IWM", qty: str = "10", coid: str = "pb-t-IWM-bto-1") -> OrderIntent:
    return OrderIntent(symbol=Symbol(symbol), intent=PositionIntent.BUY_TO_OPEN, qty=Decimal(qty),
                       client_order_id=coid, reference_price=Decimal("200"))


def orders_at(ex: LocalExchange) -> list[str]:
    client = TradingClient(KEY, SECRET, paper=True, url_override=ex.base_url)
    return [o.client_order_id for o in client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500))]


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="drop_after_apply", method="POST", path="/v2/orders", on_calls=frozenset({1})),
        Fault(kind="status", status=504, html=True, after_apply=True, method="POST", path="/v2/orders",
              on_calls=frozenset({1})),
        Fault(kind="delay", delay_seconds=1.5, method="POST", path="/v2/orders", on_calls=frozenset({1})),
    ],
    ids=["connection dropped after apply", "504 html after apply", "reply slower than the read timeout"],
)
def test_an_order_applied_before_an_ambiguous_failure_is_adopted_not_resent(exchange: LocalExchange,
                                                                          fault: Fault) -> None:
    exchange.faults.add(fault)
    broker = broker_for(exchange, read_timeout=0.5)

    state = broker.submit(buy())

    assert state.client_order_id == "pb-t-IWM-bto-1"
    time.sleep(1.2 if fault.kind == "delay" else 0)
    assert orders_at(exchange) == ["pb-t-IWM-bto-1"]


def test_an_order_dropped_before_it_reached_the_exchange_is_sent_again_with_the_same_id(
        exchange: LocalExchange) -> None:
    exchange.faults.add(Fault(kind="drop_before", method="POST", path="/v2/orders", on_calls=frozenset({1})))

    state = broker_for(exchange).submit(buy())

    assert state.client_order_id == "pb-t-IWM-bto-1"
    assert orders_at(exchange) == ["pb-t-IWM-bto-1"]


def test_sending_the_same_client_order_id_twice_adopts_the_first_order(exchange: LocalExchange) -> None:
    broker = broker_for(exchange)

    first = broker.submit(buy())
    second = broker.submit(buy())

    assert second.order_id == first.order_id
    assert orders_at(exchange) == ["pb-t-IWM-bto-1"]


def test_a_business_rejection_is_order_rejected_and_not_retried(exchange: LocalExchange) -> None:
    with pytest.raises(OrderRejected, match="insufficient buying power"):
        broker_for(exchange).submit(buy(qty="100000"))

    assert sum(1 for m, p, _q in exchange.requests if (m, p) == ("POST", "/v2/orders")) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_reads_retry_server_errors_and_then_succeed(exchange: LocalExchange, status: int) -> None:
    exchange.faults.add(Fault(kind="status", status=status, html=status == 502, method="GET", path="/v2/account",
                              on_calls=frozenset({1, 2})))

    assert broker_for(exchange).account_number()
    assert sum(1 for _m, p, _q in exchange.requests if p == "/v2/account") == 3


def test_reads_give_up_after_the_bounded_attempts_as_broker_unavailable(exchange: LocalExchange) -> None:
    exchange.faults.add(Fault(kind="status", status=503, method="GET", path="/v2/account"))

    with pytest.raises(BrokerUnavailable, match="503"):
        broker_for(exchange, attempts=3).account_number()

    assert sum(1 for _m, p, _q in exchange.requests if p == "/v2/account") == 3


def test_a_silent_server_costs_at_most_the_read_timeout_per_attempt(exchange: LocalExchange) -> None:
    exchange.faults.add(Fault(kind="delay", delay_seconds=3.0, method="GET", path="/v2/account"))
    broker = broker_for(exchange, read_timeout=0.3, attempts=2)

    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="timeout"):
        broker.account_number()

    assert time.monotonic() - started < 2.0


def test_a_rate_limit_is_retried_after_the_servers_hint(exchange: LocalExchange) -> None:
    exchange.faults.add(Fault(kind="rate_limit", retry_after=0, method="GET", path="/v2/account",
                              on_calls=frozenset({1})))

    assert broker_for(exchange).account_number()


def test_wrong_keys_are_a_config_error(exchange: LocalExchange) -> None:
    with pytest.raises(ConfigError, match="refused the API keys"):
        broker_for(exchange, secret="wrong").account_number()


def test_fills_are_read_across_pages_with_our_client_order_ids(exchange: LocalExchange) -> None:
    broker = broker_for(exchange)
    for i in range(105):
        broker.submit(buy(qty="1", coid=f"pb-t-IWM-bto-{i}"))
    broker.open_orders()  # any request lets the exchange's engine fill what is due

    fills = broker.fills()

    assert len({f.activity_id for f in fills}) == len(fills) >= 105
    assert {f.client_order_id for f in fills} == {f"pb-t-IWM-bto-{i}" for i in range(105)}


def test_daily_bars_are_read_page_by_page_until_the_token_runs_out(exchange: LocalExchange) -> None:
    client = StockHistoricalDataClient(KEY, SECRET, url_override=exchange.base_url)
    tokens: list[str | None] = []

    def get(path: str, query: dict[str, str]) -> object:
        tokens.append(query.get("page_token"))
        return client.get(path, query)

    params = bar_params(["QQQ", "IWM"], start=datetime(2024, 1, 1), end=datetime(2024, 1, 31, 23, 59), feed="iex")
    bars = read_daily_bars(get, params | {"limit": "7"})

    sessions = [d.date() for d in exchange.book.bars("IWM", date(2024, 1, 1), date(2024, 1, 31)).index]
    assert tokens[0] is None and len(tokens) == 6 and len(set(tokens)) == 6
    assert [b.session for b in bars["IWM"]] == [b.session for b in bars["QQQ"]] == sessions
