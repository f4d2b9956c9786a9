"""The whole job in paper mode against the local exchange serving Alpaca's JSON as it is today, as it was
(legacy) and drifted (unknown fields and values everywhere): the same book, the same refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import pytest

from bot.adapters.exchange import ExchangeSettings, Fault, LocalExchange
from tests.e2e.conftest import KEY, SECRET, PaperBook, trading_hours

SCHEMAS = ("today", "legacy", "drift")
GENERATION = {"today": "2026 schema", "legacy": "legacy schema", "drift": "2026 schema"}


@pytest.fixture(params=SCHEMAS)
def exchange(request: pytest.FixtureRequest) -> Iterator[LocalExchange]:
    settings = ExchangeSettings(state_path=None, api_key=KEY, secret_key=SECRET, now=trading_hours(),
                                starting_cash=Decimal("100000"), partial_fill_probability=0.0, schema=request.param)
    with LocalExchange(settings) as ex:
        yield ex


def test_from_flat_the_book_reaches_target_and_a_rerun_sends_nothing(paper: PaperBook) -> None:
    first, second = paper("rebalance"), paper("rebalance")

    assert first.code == 0 and first.posts == 2, first.out + first.err
    held = paper.positions()
    assert held["IWM"] > 0 > held["QQQ"]
    assert second.code == 0 and second.posts == 0 and "within band" in second.out


def test_a_hard_to_borrow_short_leg_is_refused_with_exit_3_and_no_order(paper: PaperBook) -> None:
    paper.ex.set_asset_flags("QQQ", easy_to_borrow=False)

    run = paper("rebalance")

    assert run.code == 3 and run.posts == 0
    assert "hard_to_borrow: QQQ is not easy to borrow" in run.one_line()


def test_status_and_doctor_say_which_schema_they_read_and_when_the_next_run_is(paper: PaperBook,
                                                                           exchange: LocalExchange) -> None:
    paper.hand_order("SPY", 2, "buy")
    assert paper("rebalance").code == 0

    status, doctor = paper("status"), paper("doctor")

    schema = GENERATION[exchange.settings.schema]
    assert status.code == 0 and doctor.code == 0, status.err + doctor.out
    for out in (status.out, doctor.out):
        assert schema in out and "window 10:30-11:30 New York, now Wed 2026-12-02 10:4" in out
        assert "on this host" in out and "not pairbot's (never traded): SPY +2" in out
    if exchange.settings.schema == "drift":
        assert "unknown fields" in doctor.out and "unknown values" in doctor.out


USERS_ORDER = {  # the user's open order in a symbol that is not pairbot's, with a side value 0.44 does not know
    "id": "72249bb6-6c89-4ea7-b8cf-73f1a140812b", "client_order_id": "my-own-order-1",
    "created_at": "2026-12-02T15:00:00.123456789Z", "updated_at": "2026-12-02T15:00:00.123456789Z",
    "submitted_at": "2026-12-02T15:00:00.123456789Z", "symbol": "AAPL", "asset_class": "us_equity",
    "qty": "1", "filled_qty": "0", "type": "limit", "limit_price": "1.00", "side": "sell_short_exempt",
    "time_in_force": "gtc", "status": "new", "extended_hours": False, "order_class": "",
}


def test_an_unknown_order_side_on_the_users_open_order_does_not_stop_the_run(paper: PaperBook) -> None:
    paper.ex.faults.add(Fault("status", method="GET", path="/v2/orders", status=200, body=json.dumps([USERS_ORDER])))

    run = paper("rebalance")

    assert run.code == 0, run.err
