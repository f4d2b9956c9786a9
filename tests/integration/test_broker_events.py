"""The adapter's account events: non-trade activities read from the local exchange over real HTTP, the same
domain values in every schema generation, paged, with a day of overlap; and the pure mapping on literal JSON."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.broker import mapping
from bot.adapters.broker.alpaca import NON_TRADE_FILTER, AlpacaBroker
from bot.adapters.exchange import ExchangeSettings, LocalExchange
from bot.adapters.exchange.entries import NOTICE_SUB_TYPE, NOTICE_TYPE
from bot.adapters.exchange.generations import SchemaMode
from bot.core.domain import AccountEvent, OrderIntent, PositionIntent, Symbol
from bot.errors import BrokerUnavailable

from .conftest import broker_for

ET = ZoneInfo("America/New_York")
ON = date(2024, 3, 6)
BEFORE, AFTER = datetime(2024, 3, 5, 15, 0, tzinfo=ET), datetime(2024, 3, 6, 10, 0, tzinfo=ET)
EVENING_BEFORE = datetime(2024, 3, 5, 22, 30, tzinfo=UTC)


def order(symbol: str, intent: PositionIntent, qty: str) -> OrderIntent:
    return OrderIntent(symbol=Symbol(symbol), intent=intent, qty=Decimal(qty),
                       client_order_id=f"pb-e-{symbol}-{intent.short_code}-1", reference_price=Decimal("100"))


def fill(broker: AlpacaBroker, intent: OrderIntent) -> None:
    state = broker.submit(intent)
    for _ in range(10):
        if state.is_terminal:
            return
        state = broker.order(state.order_id)
    raise AssertionError(f"{intent.client_order_id} never filled")


@pytest.fixture
def exchanges() -> Iterator[dict[str, LocalExchange]]:
    """The same history in each schema: a reverse split of a long PSQ (cash remainder), a forward split of a
    short QQQ, a dividend with withholding on a long IWM, a fee, interest and a cash journal."""
    out: dict[str, LocalExchange] = {}
    modes: tuple[SchemaMode, ...] = ("today", "legacy", "drift")
    for mode in modes:
        ex = LocalExchange(ExchangeSettings(schema=mode, now=lambda: BEFORE, half_spread_bps=Decimal(0),
                                            split_remainder="cash", dividend_withholding=Decimal("0.15")))
        ex.start()
        ex.schedule_split("PSQ", ON, Decimal("0.25"))
        ex.schedule_split("QQQ", ON, Decimal("2"))
        ex.schedule_dividend("IWM", ON, Decimal("0.5"))
        broker = broker_for(ex)
        opening = (("PSQ", PositionIntent.BUY_TO_OPEN, "1575"), ("QQQ", PositionIntent.SELL_TO_OPEN, "10"),
                   ("IWM", PositionIntent.BUY_TO_OPEN, "10"))
        for symbol, intent, qty in opening:
            fill(broker, order(symbol, intent, qty))
        ex.set_now(AFTER)
        ex.book_cash("FEE", Decimal("-1.5"), ON, "regulatory fee")
        ex.book_cash("INT", Decimal("0.42"), date(2024, 3, 4))
        ex.book_cash("JNLC", Decimal("2500"), ON, "journal in")
        out[mode] = ex
    yield out
    for ex in out.values():
        ex.close()


def summary(events: tuple[AccountEvent, ...]) -> list[tuple[object, ...]]:
    return [(e.activity_type, e.symbol, e.qty, e.cash, e.sub_type, e.on, e.split_leg) for e in events]


def test_account_events_are_the_non_trade_activities_in_order(exchanges: dict[str, LocalExchange]) -> None:
    events = broker_for(exchanges["today"]).account_events()

    assert all(e.activity_type != "FILL" for e in events)
    cil = next(e for e in events if e.activity_type == "CIL")
    assert summary(events) == [
        ("SPLIT", "PSQ", -1575, 0, "RSPLIT", ON, "remove"), ("SPLIT", "PSQ", 393, 0, "RSPLIT", ON, "add"),
        ("CIL", "PSQ", Decimal("0.75"), cil.cash, "", ON, ""),
        ("SPLIT", "QQQ", 10, 0, "", ON, "remove"), ("SPLIT", "QQQ", -20, 0, "", ON, "add"),
        ("DIV", "IWM", 10, 5, "CDIV", ON, ""), ("DIVNRA", "IWM", 10, Decimal("-0.75"), "", ON, ""),
        ("FEE", None, 0, Decimal("-1.5"), "", ON, ""), ("INT", None, 0, Decimal("0.42"), "", date(2024, 3, 4), ""),
        ("JNLC", None, 0, 2500, "", ON, "")]
    assert cil.cash > 0 and events[5].per_share == Decimal("0.5")
    assert {e.booked_at for e in events[:5]} == {EVENING_BEFORE}
    assert events[7].description == "regulatory fee" and events[7].booked_at == AFTER


def test_every_schema_generation_gives_the_same_events(exchanges: dict[str, LocalExchange]) -> None:
    today, legacy, drift = (broker_for(exchanges[m]).account_events() for m in ("today", "legacy", "drift"))

    assert legacy == today
    assert tuple(e for e in drift if e.activity_type != NOTICE_TYPE) == today
    notices = [(e.sub_type, e.symbol, e.qty, e.cash) for e in drift if e.activity_type == NOTICE_TYPE]
    assert notices == [(NOTICE_SUB_TYPE, "PSQ", 0, 0), (NOTICE_SUB_TYPE, "QQQ", 0, 0)]  # one with each split


def test_the_schema_record_notes_drifts_unknown_fields_and_types(exchanges: dict[str, LocalExchange]) -> None:
    today, drift = broker_for(exchanges["today"]), broker_for(exchanges["drift"])

    today.account_events()
    drift.account_events()

    assert not any(i.startswith("activity.") for i in today.schema_seen().unknown_fields)
    assert not any(i.startswith("activity.") for i in today.schema_seen().unknown_values)
    assert "activity.execution_venue" in drift.schema_seen().unknown_fields
    assert {f"activity.activity_type={NOTICE_TYPE}", f"activity.entry_sub_type={NOTICE_SUB_TYPE}"} <= set(
        drift.schema_seen().unknown_values)


def test_after_asks_from_the_day_before_and_leaves_older_dates_out(exchanges: dict[str, LocalExchange]) -> None:
    ex = exchanges["today"]
    ex.requests.clear()

    events = broker_for(ex).account_events(after=ON)

    (asked,) = [r for r in ex.requests if r.path == "/v2/account/activities"]
    assert asked.params == {"activity_types": NON_TRADE_FILTER, "direction": "asc", "page_size": "100",
                            "after": "2024-03-05"}
    assert [e.activity_type for e in events] == ["SPLIT"] * 2 + ["CIL"] + ["SPLIT"] * 2 + [
        "DIV", "DIVNRA", "FEE", "JNLC"]


def test_more_than_a_page_of_activities_is_read_page_by_page() -> None:
    with LocalExchange(ExchangeSettings(now=lambda: AFTER)) as ex:
        for n in range(150):
            ex.book_cash("FEE", Decimal(-n - 1), ON)
        ex.requests.clear()

        events = broker_for(ex).account_events()

        assert [e.cash for e in events] == [Decimal(-n - 1) for n in range(150)]
        pages = [r.params for r in ex.requests if r.path == "/v2/account/activities"]
        assert len(pages) == 2 and pages[1]["page_token"] == events[99].activity_id


class TestToAccountEvent:
    SPLIT = {"id": "20240305223000000::a", "activity_type": "SPLIT", "date": "2024-03-06", "net_amount": "0",
             "description": "ADD, From QTY 1575 To QTY 393.75, Position Value 15750", "symbol": "PSQ",
             "qty": "393.75", "per_share_amount": None, "entry_sub_type": "RSPLIT",
             "created_at": "2024-03-05T22:30:00Z"}

    def test_a_split_leg_reads_as_sent(self) -> None:
        event = mapping.to_account_event(self.SPLIT)

        assert event == AccountEvent(activity_id="20240305223000000::a", activity_type="SPLIT", on=ON,
                                     symbol=Symbol("PSQ"), qty=Decimal("393.75"), cash=Decimal(0), per_share=None,
                                     sub_type="RSPLIT", description=str(self.SPLIT["description"]),
                                     booked_at=EVENING_BEFORE)
        assert event.split_leg == "add"

    def test_numbers_read_like_strings_and_the_other_time_and_sub_type_names_are_accepted(self) -> None:
        sent = self.SPLIT | {"qty": 393.75, "net_amount": 0, "transaction_time": "2024-03-05T22:30:00Z",
                             "entry_sub_type": None, "activity_sub_type": "RSPLIT"}
        del sent["created_at"]

        assert mapping.to_account_event(sent) == mapping.to_account_event(self.SPLIT)

    def test_an_unknown_type_is_kept_and_missing_fields_take_their_defaults(self) -> None:
        event = mapping.to_account_event({"id": "x", "activity_type": "VOF2", "date": "2024-03-06T00:00:00Z"})

        assert event == AccountEvent(activity_id="x", activity_type="VOF2", on=ON)

    @pytest.mark.parametrize(("sent", "said"), [
        ({"id": "x", "activity_type": "DIV"}, "account activity without date"),
        ({"id": "x", "activity_type": "DIV", "date": "soon"}, "unreadable date 'soon'"),
        ({"activity_type": "DIV", "date": "2024-03-06"}, "account activity without id"),
        ({"id": "x", "activity_type": "DIV", "date": "2024-03-06", "net_amount": "lots"}, "net_amount is not a number"),
        ([], "is a list, not an object"),
    ])
    def test_a_malformed_activity_is_one_line_of_broker_unavailable(self, sent: object, said: str) -> None:
        with pytest.raises(BrokerUnavailable, match=said) as caught:
            mapping.to_account_event(sent)

        assert "\n" not in str(caught.value)
