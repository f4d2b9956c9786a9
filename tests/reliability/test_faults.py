"""Scripted broker faults against `pairbot rebalance` (a real subprocess, mode paper, real HTTP).

For each fault: the documented exit code, one clear stderr line, the invariants, and a clean rerun that
converges to target. Persistent refusals (flags, clock, quotes) must stop with a named reason and send nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from bot.adapters.exchange import Fault, LocalExchange
from tests.e2e.conftest import KEY, SECRET, Cli
from tests.reliability import invariants
from tests.reliability.conftest import Book, make_exchange

PAIR = {"IWM": Decimal("0.495"), "QQQ": Decimal("-0.495")}
BAND = Decimal("0.05")
ORDERS = "/v2/orders"
NY = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Case:
    faults: tuple[Fault, ...] = ()
    code: int = 0
    says: str = ""  # on the one stderr line (code != 0)
    setup: Callable[[LocalExchange], None] | None = None
    posts: int | None = None  # exact POST /v2/orders of the faulty run, when it matters
    extra: dict[str, Any] = field(default_factory=dict)


def read_fault(kind: str, path: str = "/v2/account", **kw: Any) -> Fault:
    return Fault(kind, method="GET", path=path, on_calls=frozenset({1}), **kw)


def post_fault(kind: str, calls: frozenset[int] | None = frozenset({1}), **kw: Any) -> Fault:
    return Fault(kind, method="POST", path=ORDERS, on_calls=calls, **kw)


def reject(message: str, status: int = 403, code: int = 40310000) -> Fault:
    return post_fault("reject", status=status, code=code, message=message)


# Transient faults: the run survives them (exit 0) or stops with a code, and the clean rerun converges.
# Faults that a run survives are grouped (each on its own route and call) to keep the suite fast.
TRANSIENT: dict[str, Case] = {
    "429 with a reset time on a read and on the order POST": Case(
        (read_fault("rate_limit", retry_after=1), post_fault("rate_limit", retry_after=1)), posts=3),
    "500 502 503 504 with json and html bodies on reads": Case((
        read_fault("status", "/v2/positions", status=500), read_fault("status", "/v2/clock", status=502, html=True),
        read_fault("status", "/v2/calendar", status=503), read_fault("status", "/v2/assets/*", status=504, html=True),
        read_fault("status", "/v2/stocks/quotes/latest", status=502), read_fault("status", "/v2/orders", status=500,
                                                                                 html=True))),
    "500 json and 503 html on the order POST (not applied)": Case(
        (post_fault("status", status=500), post_fault("status", frozenset({3}), status=503, html=True)), posts=4),
    "502 json and 504 html on the order POST": Case(
        (post_fault("status", status=502), post_fault("status", frozenset({3}), status=504, html=True)), posts=4),
    "504 json and 502 html after the order was applied": Case(
        (post_fault("status", status=504, after_apply=True),
         post_fault("status", frozenset({2}), status=502, html=True, after_apply=True)), posts=2),
    "a read and an order POST slower than the read timeout": Case(
        (read_fault("delay", delay_seconds=1.5), post_fault("delay", delay_seconds=1.5))),
    "connections dropped before a read, before and after an order is applied": Case(
        (read_fault("drop_before", "/v2/clock"), post_fault("drop_before"),
         post_fault("drop_after_apply", frozenset({3}))), posts=3),
    "every order POST dropped after being applied": Case((post_fault("drop_after_apply", None),), posts=2),
    "the broker down for every read": Case((Fault("status", method="GET", status=503),), code=4,
                                           says="broker error 503", posts=0),
    "the broker answering html 502 to every read": Case((Fault("status", method="GET", status=502, html=True),),
                                                        code=4, says="broker error 502", posts=0),
    "the order endpoint down": Case((post_fault("status", None, status=500),), code=4, says="broker error 500",
                                    posts=2),
    "the order endpoint silent": Case((post_fault("delay", None, delay_seconds=1.2),
                                       post_fault("drop_before", None)), code=4, says="order pb-", posts=2),
    "a partial fill then expiry": Case((post_fault("partial_then_expire"),), code=5, says="incomplete"),
    "an order stuck in accepted/new": Case((post_fault("stuck", polls=10_000),), code=5, says="incomplete"),
    "a late fill after the cancel": Case((post_fault("stuck", polls=10_000), post_fault("late_fill_after_cancel")),
                                         code=0),
    "a rejection after acceptance": Case((post_fault("reject_later"),), code=5, says="incomplete"),
    "insufficient buying power": Case((reject("insufficient buying power"),), code=5,
                                      says="insufficient buying power", posts=1),
    "a wash trade rejection": Case((reject("potential wash trade detected. use complex orders", 422, 42210000),),
                                   code=5, says="wash trade", posts=1),
    "insufficient qty": Case((reject("insufficient qty available for order (requested: 2, available: 1)"),),
                             code=5, says="insufficient qty", posts=1),
    "account not allowed to short (at the POST)": Case((post_fault("reject", frozenset({2}), status=403,
                                                                   message="account is not allowed to short"),),
                                                       code=5, says="not allowed to short", posts=2),
}


@pytest.mark.parametrize("case", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_a_broker_fault_gives_its_exit_code_one_line_and_a_clean_rerun_converges(book: Book, case: Case) -> None:
    book.ex.faults.add(*case.faults)

    run = book.rebalance()

    assert run.code == case.code, run.stdout + run.stderr
    if case.code:
        assert case.says in run.one_line()
    else:
        assert run.stderr == ""
    if case.posts is not None:
        assert run.posts == case.posts
    book.check()
    book.ex.faults.clear()
    rerun = book.rebalance()
    assert rerun.code == 0, rerun.stderr
    assert rerun.posts == 0 or case.code != 0  # a run that survived left nothing to do
    book.check()
    invariants.at_target(book.ex, KEY, SECRET, PAIR, BAND)


def quotes_body(ex: LocalExchange, change: Callable[[dict[str, Any]], None]) -> str:
    """The exchange's real latest quotes for the pair, altered: a crafted body for a 200 `status` fault."""
    reply = requests.get(f"{ex.base_url}/v2/stocks/quotes/latest", params={"symbols": "IWM,QQQ"}, timeout=5,
                         headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})
    body = reply.json()
    for quote in body["quotes"].values():
        change(quote)
    return json.dumps(body)


def stale(q: dict[str, Any]) -> None:
    """Three hours older than the exchange's own quote time (never the wall clock: the exchange's is set)."""
    quoted = datetime.fromisoformat(q["t"].replace("Z", "+00:00"))
    q["t"] = (quoted - timedelta(hours=3)).isoformat().replace("+00:00", "Z")


def zero(q: dict[str, Any]) -> None:
    q["bp"] = 0


def crossed(q: dict[str, Any]) -> None:
    q["bp"], q["ap"] = q["ap"] + 1, q["bp"]


def flags(**kw: Any) -> Callable[[LocalExchange], None]:
    return lambda ex: ex.set_account_flags(**kw)


def asset(symbol: str, **kw: bool) -> Callable[[LocalExchange], None]:
    return lambda ex: ex.set_asset_flags(symbol, **kw)


def quotes(change: Callable[[dict[str, Any]], None]) -> Callable[[LocalExchange], None]:
    return lambda ex: ex.faults.add(Fault("status", method="GET", path="/v2/stocks/quotes/latest", status=200,
                                          body=quotes_body(ex, change)))


REFUSALS: dict[str, Case] = {
    "QQQ not shortable": Case(code=3, says="not_shortable", setup=asset("QQQ", shortable=False)),
    "QQQ hard to borrow": Case(code=3, says="hard_to_borrow", setup=asset("QQQ", easy_to_borrow=False)),
    "shorting disabled on the account": Case(code=3, says="shorting_disabled", setup=flags(shorting_enabled=False)),
    "trading blocked": Case(code=3, says="trading_blocked", setup=flags(trading_blocked=True)),
    "account blocked": Case(code=3, says="account_blocked", setup=flags(account_blocked=True)),
    "trading suspended by the user": Case(code=3, says="trade_suspended_by_user",
                                          setup=flags(trade_suspended_by_user=True)),
    "account inactive": Case(code=3, says="status INACTIVE", setup=flags(status="INACTIVE")),
    "stale quotes": Case(code=3, says="stale_quote", setup=quotes(stale)),
    "a zero bid": Case(code=3, says="bad_quote", setup=quotes(zero)),
    "crossed quotes": Case(code=3, says="bad_quote", setup=quotes(crossed)),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refusing_account_or_market_stops_with_a_named_gate_and_sends_nothing(book: Book, case: Case) -> None:
    assert case.setup is not None
    case.setup(book.ex)

    run = book.rebalance()

    assert run.code == case.code, run.stdout + run.stderr
    assert case.says in run.one_line()
    assert run.posts == 0
    book.check()
    book.ex.reset()  # the condition clears: default flags, a fresh account
    rerun = book.rebalance()
    assert rerun.code == 0, rerun.stderr
    book.check()
    invariants.at_target(book.ex, KEY, SECRET, PAIR, BAND)


def et(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NY)


SESSIONS = {
    "a weekend": (et("2025-11-29T12:00"), 3, "market_closed"),
    "a holiday": (et("2025-12-25T11:00"), 3, "market_closed"),
    "after the close": (et("2025-12-01T16:30"), 3, "market_closed"),
    "an early close, 15 minutes before it": (et("2025-11-28T12:45"), 3, "too_close_to_close"),
    "an early close, with time to trade": (et("2025-11-28T10:30"), 0, ""),
}


@pytest.mark.parametrize(("now", "code", "says"), SESSIONS.values(), ids=SESSIONS.keys())
def test_the_nyse_calendar_gates_trading(cli: Cli, now: datetime, code: int, says: str) -> None:
    with make_exchange(clock="nyse", now=lambda: now) as ex:
        book = Book(cli, ex)
        book.configure(schedule={"window": None})  # the market's own gates, without the trading window

        run = book.rebalance()

        assert run.code == code, run.stdout + run.stderr
        if code:
            assert says in run.one_line()
            assert run.posts == 0
        else:
            assert run.posts == 2
        book.check()


WINDOW = {
    "before the window": (et("2025-12-01T10:05"), 0, "outside the trading window 10:30-11:30 New York"),
    "after the window": (et("2025-12-01T14:00"), 0, "outside the trading window 10:30-11:30 New York"),
    "inside the window on a holiday": (et("2025-12-25T10:45"), 0,
                                       "the market is closed (the broker's clock; it opens next Fri 2025-12-26 09:30"),
    "inside the window on an early close": (et("2025-11-28T10:45"), 0, "decision: calendar"),
}


@pytest.mark.parametrize(("now", "code", "says"), WINDOW.values(), ids=WINDOW.keys())
def test_the_trading_window_is_checked_against_the_brokers_clock(cli: Cli, now: datetime, code: int,
                                                                 says: str) -> None:
    with make_exchange(clock="nyse", now=lambda: now) as ex:
        book = Book(cli, ex)
        book.configure()

        run = book.rebalance()

        assert run.code == code, run.stdout + run.stderr
        assert says in (run.stdout if code == 0 else run.one_line())
        if "outside" in says or "closed" in says:  # the clock, nothing else (closed: and today's calendar)
            assert run.requests == (1 if "outside" in says else 2) and run.posts == 0


def test_a_window_that_opens_after_an_early_close_is_the_close_gates_refusal_not_a_holiday(cli: Cli) -> None:
    fired = et("2025-11-28T13:00")  # window 12:45-13:45 fires at 13:00; the day after Thanksgiving closed at 13:00
    with make_exchange(clock="nyse", now=lambda: fired) as ex:
        book = Book(cli, ex)
        book.configure(schedule={"window": "12:45-13:45"})

        run = book.rebalance()

        assert run.code == 3, run.stdout + run.stderr
        assert "the market closed early today, at 13:00 New York, before the window 12:45-13:45" in run.one_line()
        assert run.posts == 0
