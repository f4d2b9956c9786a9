"""Replies that do not read as Alpaca's: one clear BrokerUnavailable line, never a KeyError or a traceback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from bot.adapters.broker.alpaca import AlpacaBroker
from bot.adapters.exchange import ExchangeSettings, Fault, LocalExchange
from bot.core.domain import OrderIntent, PositionIntent, Symbol
from bot.errors import BrokerUnavailable

from .conftest import broker_for

KEY, SECRET = "PKTESTMALFORMED01", "malformed-secret"


@pytest.fixture
def exchange() -> Iterator[LocalExchange]:
    with LocalExchange(ExchangeSettings(api_key=KEY, secret_key=SECRET)) as ex:
        yield ex


def answer(ex: LocalExchange, path: str, body: str, *, method: str = "GET", html: bool = False) -> None:
    """Every matching request is answered 200 with this body, nothing applied."""
    ex.faults.add(Fault(kind="status", status=200, body=body, html=html, method=method, path=path))


Read = Callable[[AlpacaBroker], object]
CASES: list[tuple[str, str, Read, str]] = [
    ("/v2/orders/*", '{"client_order_id": "x", "status": "new", "submitted_at": "2024-01-02T15:00:00Z"}',
     lambda b: b.order("61e69015-8549-4bfd-b9c3-01e75843f47d"), "unexpected reply from the broker: order without id"),
    ("/v2/account", "<html><body>maintenance</body></html>", lambda b: b.account_number(),
     "get account: unexpected reply from the broker: the body is not JSON"),
    ("/v2/account", "[]", lambda b: b.account_number(),
     "unexpected reply from the broker: account is a list, not an object"),
    ("/v2/positions", "{}", lambda b: b.positions(),
     "unexpected reply from the broker: the position list is an object, not a list"),
    ("/v2/positions", '[{"symbol": "IWM", "side": "long"}]', lambda b: b.positions(),
     "unexpected reply from the broker: position without qty"),
    ("/v2/positions", '[{"symbol": "IWM", "qty": "ten", "side": "long"}]', lambda b: b.positions(),
     "unexpected reply from the broker: position.qty is not a number: 'ten'"),
    ("/v2/clock", "", lambda b: b.clock(), "unexpected reply from the broker: clock is empty, not an object"),
    ("/v2/clock", '{"timestamp": "2024-01-02T10:00:00-05:00", "is_open": "yes", "next_open": "x", "next_close": "y"}',
     lambda b: b.clock(), "unexpected reply from the broker: clock.is_open is not true or false: 'yes'"),
    ("/v2/account/activities/FILL", '[{"id": "a1", "symbol": "IWM", "side": "buy", "qty": "1", "price": "1"}]',
     lambda b: b.fills(), "unexpected reply from the broker: fill activity without order_id"),
    ("/v2/stocks/quotes/latest", '{"quotes": ["IWM"]}', lambda b: b.quotes(["IWM"]),
     "unexpected reply from the broker: quotes is a list, not an object"),
]


@pytest.mark.parametrize(("path", "body", "read", "message"), CASES,
                         ids=["order without id", "non-JSON 200", "list for an object", "object for a list",
                              "position without qty", "qty not a number", "empty body", "is_open not a bool",
                              "fill without order id", "quotes not an object"])
def test_a_reply_that_does_not_read_is_broker_unavailable_in_one_line(exchange: LocalExchange, path: str,
                                                                     body: str, read: Read, message: str) -> None:
    answer(exchange, path, body, html=body.startswith("<"))

    with pytest.raises(BrokerUnavailable) as caught:
        read(broker_for(exchange, attempts=2))

    assert str(caught.value) == message
    assert "\n" not in str(caught.value) and caught.value.__cause__ is None


def test_an_order_reply_that_does_not_read_is_resolved_by_looking_its_id_up(exchange: LocalExchange) -> None:
    exchange.faults.add(Fault(kind="status", status=200, after_apply=True, body='{"status": "accepted"}',
                              method="POST", path="/v2/orders", on_calls=frozenset({1})))
    intent = OrderIntent(symbol=Symbol("IWM"), intent=PositionIntent.BUY_TO_OPEN, qty=Decimal(3),
                         client_order_id="pb-m-IWM-bto-1", reference_price=Decimal("200"))

    state = broker_for(exchange).submit(intent)

    assert state.client_order_id == "pb-m-IWM-bto-1" and state.order_id
    assert exchange.requests.count("POST", "/v2/orders") == 1


def test_a_symbol_the_broker_does_not_know_is_left_out_of_the_snapshot(exchange: LocalExchange) -> None:
    broker = broker_for(exchange)

    snap = broker.snapshot([Symbol("IWM"), Symbol("ZZZZ")])

    assert set(snap.assets) == {"IWM"} and set(snap.quotes) == {"IWM"}
    assert broker.asset("ZZZZ") is None
