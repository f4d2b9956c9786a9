"""Each scripted fault kind, observed from the client side through alpaca-py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderStatus
from alpaca.trading.requests import MarketOrderRequest

from bot.adapters.exchange import Fault, LocalExchange

from .conftest import MakeExchange, trading_client


def buy(client: TradingClient, cid: str, qty: float = 10) -> Any:
    return client.submit_order(MarketOrderRequest(symbol="IWM", qty=qty, side="buy", time_in_force="day",
                                                  client_order_id=cid))


def with_timeout(client: TradingClient, seconds: float) -> TradingClient:
    original = client._session.request

    def request(method: str, url: str, **kw: Any) -> Any:
        kw.setdefault("timeout", seconds)
        return original(method, url, **kw)

    client._session.request = request  # type: ignore[method-assign]
    return client


def test_a_status_fault_answers_json_with_the_code(exchange: LocalExchange, trading: TradingClient) -> None:
    exchange.faults.add(Fault(kind="status", method="GET", path="/v2/account", status=503))

    with pytest.raises(APIError) as err:
        trading.get_account()

    assert err.value.status_code == 503 and err.value.code == 50300000
    assert exchange.requests.count("GET", "/v2/account") == 1  # 503 is not retried by alpaca-py


def test_an_html_error_page_makes_the_code_unreadable(exchange: LocalExchange, trading: TradingClient) -> None:
    exchange.faults.add(Fault(kind="status", path="/v2/clock", status=502, html=True))

    with pytest.raises(APIError) as err:
        trading.get_clock()

    assert err.value.status_code == 502 and "<html>" in str(err.value)
    with pytest.raises(json.JSONDecodeError):
        _ = err.value.code


def test_a_429_carries_retry_after_and_is_retried_by_alpaca_py(exchange: LocalExchange,
                                                               trading: TradingClient) -> None:
    exchange.faults.add(Fault(kind="rate_limit", path="/v2/account", on_calls={1}, retry_after=7))

    assert trading.get_account().status == "ACTIVE"
    assert exchange.requests.count("GET", "/v2/account") == 2


def test_a_persistent_429_surfaces_with_its_headers_after_four_attempts(exchange: LocalExchange,
                                                                        trading: TradingClient) -> None:
    exchange.faults.add(Fault(kind="rate_limit", path="/v2/positions"))

    with pytest.raises(APIError) as err:
        trading.get_all_positions()

    assert err.value.status_code == 429 and exchange.requests.count("GET", "/v2/positions") == 4
    headers = err.value.response.headers
    assert headers["Retry-After"] == "1" and int(headers["X-Ratelimit-Reset"]) > 0


def test_a_delay_beyond_the_read_timeout_is_a_read_timeout(exchange: LocalExchange,
                                                           trading: TradingClient) -> None:
    exchange.faults.add(Fault(kind="delay", path="/v2/clock", on_calls={1}, delay_seconds=0.6))
    client = with_timeout(trading, 0.2)

    with pytest.raises(requests.exceptions.ReadTimeout):
        client.get_clock()

    assert client.get_clock().is_open


def test_a_drop_before_apply_is_a_connection_error_and_no_order(exchange: LocalExchange,
                                                                trading: TradingClient) -> None:
    exchange.faults.add(Fault(kind="drop_before", method="POST", path="/v2/orders", on_calls={1}))

    with pytest.raises(requests.exceptions.ConnectionError):
        buy(trading, "dropped-early")

    with pytest.raises(APIError) as err:
        trading.get_order_by_client_id("dropped-early")
    assert err.value.status_code == 404


def test_a_drop_after_apply_is_a_connection_error_but_the_order_exists(exchange: LocalExchange,
                                                                       trading: TradingClient) -> None:
    exchange.faults.add(Fault(kind="drop_after_apply", method="POST", path="/v2/orders", on_calls={1}))

    with pytest.raises(requests.exceptions.ConnectionError):
        buy(trading, "dropped-late")

    assert trading.get_order_by_client_id("dropped-late").status == OrderStatus.FILLED


def test_a_504_after_apply_makes_alpaca_py_repost_into_a_duplicate_id(exchange: LocalExchange,
                                                                      trading: TradingClient) -> None:
    exchange.faults.add(Fault(kind="status", method="POST", path="/v2/orders", on_calls={1}, status=504,
                              after_apply=True))

    with pytest.raises(APIError) as err:
        buy(trading, "gateway")

    assert err.value.status_code == 422 and err.value.message == "client_order_id must be unique"
    assert exchange.requests.count("POST", "/v2/orders") == 2
    assert trading.get_order_by_client_id("gateway").filled_qty == "10"


def test_a_stuck_order_gets_no_fill_for_n_polls(exchange: LocalExchange, trading: TradingClient) -> None:
    exchange.faults.add(Fault(kind="stuck", method="POST", path="/v2/orders", polls=3))
    placed = buy(trading, "stuck")

    statuses = [trading.get_order_by_id(placed.id).status for _ in range(4)]

    assert statuses == [OrderStatus.NEW] * 3 + [OrderStatus.FILLED]


def test_a_partial_fill_then_expiry(exchange: LocalExchange, trading: TradingClient) -> None:
    exchange.faults.add(Fault(kind="partial_then_expire", method="POST", path="/v2/orders"))
    placed = buy(trading, "half", qty=100)

    first = trading.get_order_by_id(placed.id)
    second = trading.get_order_by_id(placed.id)

    assert first.status == OrderStatus.PARTIALLY_FILLED
    assert second.status == OrderStatus.EXPIRED and second.filled_qty == first.filled_qty
    assert trading.get_open_position("IWM").qty == first.filled_qty


def test_a_late_fill_after_a_cancel(exchange: LocalExchange, trading: TradingClient) -> None:
    exchange.faults.add(Fault(kind="stuck", method="POST", path="/v2/orders", polls=5),
                        Fault(kind="late_fill_after_cancel", method="DELETE", path="/v2/orders/*"))
    placed = buy(trading, "late")

    trading.cancel_order_by_id(placed.id)

    final = trading.get_order_by_id(placed.id)
    assert final.status == OrderStatus.FILLED and final.filled_qty == "10"


def test_a_rejection_with_alpacas_code_and_message(exchange: LocalExchange, trading: TradingClient) -> None:
    exchange.faults.add(Fault(kind="reject", method="POST", path="/v2/orders", code=40310100,
                              message="trade denied due to pattern day trading protection"))

    with pytest.raises(APIError) as err:
        buy(trading, "pdt")

    assert err.value.status_code == 403 and err.value.code == 40310100
    with pytest.raises(APIError):
        trading.get_order_by_client_id("pdt")


def test_an_asynchronous_rejection(exchange: LocalExchange, trading: TradingClient) -> None:
    exchange.faults.add(Fault(kind="reject_later", method="POST", path="/v2/orders"))
    placed = buy(trading, "later")

    assert placed.status == OrderStatus.NEW
    assert trading.get_order_by_id(placed.id).status == OrderStatus.REJECTED
    with pytest.raises(APIError) as err:
        buy(trading, "later")
    assert err.value.status_code == 422


def test_faults_load_from_a_yaml_file(make_exchange: MakeExchange, tmp_path: Path) -> None:
    script = tmp_path / "faults.yaml"
    script.write_text("faults:\n  - {kind: status, method: GET, path: /v2/clock, status: 500, on_calls: [2]}\n")
    ex = make_exchange(faults_path=script)
    client = trading_client(ex)

    client.get_clock()
    with pytest.raises(APIError) as err:
        client.get_clock()

    assert err.value.status_code == 500 and client.get_clock().is_open


def test_the_request_log_shows_when_nothing_reached_the_exchange(exchange: LocalExchange) -> None:
    assert len(exchange.requests) == 0

    trading_client(exchange).get_orders()

    assert [(r.method, r.path, r.params) for r in exchange.requests] == [("GET", "/v2/orders", {})]
