"""The tolerant mapping and the schema record, on literal Alpaca JSON (no server needed)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.adapters.broker import mapping
from bot.adapters.broker.schema import SchemaRecord, observe
from bot.errors import BrokerUnavailable

ORDER = {"id": "61e69015-8549-4bfd-b9c3-01e75843f47d", "client_order_id": "pb-x", "symbol": "IWM", "side": "buy",
         "qty": "10", "filled_qty": "0", "filled_avg_price": None, "status": "new",
         "submitted_at": "2024-01-02T14:35:01.937734Z"}
ASSET = {"symbol": "QQQ", "tradable": True, "shortable": True, "fractionable": True}


class TestBorrowability:
    @pytest.mark.parametrize(("fields", "easy"), [
        ({"borrow_status": "ETB"}, True),
        ({"borrow_status": "HTB"}, False),
        ({"borrow_status": "LOCATE_REQUIRED"}, False),
        ({"borrow_status": "HTB", "easy_to_borrow": True}, False),
        ({"easy_to_borrow": True}, True),
        ({"easy_to_borrow": False}, False),
        ({}, False),
    ], ids=["ETB", "HTB", "any other value", "borrow_status wins", "legacy true", "legacy false", "neither"])
    def test_borrow_status_decides_and_easy_to_borrow_is_the_fallback(self, fields: dict[str, object],
                                                                     easy: bool) -> None:
        assert mapping.to_asset(ASSET | fields, "QQQ").easy_to_borrow is easy

    def test_an_asset_with_neither_field_is_noted(self) -> None:
        record = SchemaRecord()

        new = record.see("asset", ASSET)

        assert [t.kind for t in new] == ["note"]
        assert record.seen().notes == ("asset QQQ has neither borrow_status nor easy_to_borrow: "
                                       "taken as hard to borrow",)
        assert "taken as hard to borrow" in record.seen().summary()


class TestOrders:
    def test_an_unknown_status_is_kept_as_its_string_and_is_not_terminal(self) -> None:
        state = mapping.to_order_state(ORDER | {"status": "pending_risk_review", "x_new": 1})

        assert state.status == "pending_risk_review" and not state.is_terminal

    @pytest.mark.parametrize("status", ["filled", "canceled", "expired", "rejected", "replaced"])
    def test_only_the_known_terminal_statuses_are_terminal(self, status: str) -> None:
        assert mapping.to_order_state(ORDER | {"status": status}).is_terminal

    @pytest.mark.parametrize("status", ["held", "new", "accepted", "pending_new", "done_for_day", "suspended"])
    def test_other_statuses_are_not_terminal(self, status: str) -> None:
        assert not mapping.to_order_state(ORDER | {"status": status}).is_terminal

    def test_numbers_sent_as_json_numbers_stay_exact(self) -> None:
        state = mapping.to_order_state(ORDER | {"qty": 10, "filled_qty": 2.5, "filled_avg_price": 200.01})

        assert (state.qty, state.filled_qty, state.filled_avg_price) == (10, Decimal("2.5"), Decimal("200.01"))

    def test_an_unknown_side_is_refused_rather_than_guessed(self) -> None:
        with pytest.raises(BrokerUnavailable, match="side .sell_plus., neither buy nor sell"):
            mapping.to_order_state(ORDER | {"side": "sell_plus"})


class TestPositionsQuotesFills:
    def test_the_sign_comes_from_side_and_an_unknown_side_leaves_it_to_qty(self) -> None:
        short = mapping.to_position({"symbol": "QQQ", "qty": "125", "side": "short", "market_value": "50000"})
        odd = mapping.to_position({"symbol": "QQQ", "qty": "-125", "side": "borrowed"})

        assert (short.qty, short.market_value) == (Decimal(-125), Decimal(-50000))
        assert odd.qty == Decimal(-125)

    def test_a_zero_or_crossed_quote_is_mapped_as_given_and_one_without_a_price_is_absent(self) -> None:
        t = "2024-01-02T15:02:43.651613184Z"

        crossed = mapping.to_quote("IWM", {"t": t, "bp": 201.0, "ap": 200.5})
        zero = mapping.to_quote("IWM", {"t": t, "bp": 0, "ap": 0})

        assert crossed is not None and (crossed.bid, crossed.ask) == (Decimal("201.0"), Decimal("200.5"))
        assert zero is not None and zero.bid == zero.ask == 0
        assert mapping.to_quote("IWM", {"t": t, "bp": 1.0}) is None

    def test_a_short_sale_fill_is_a_sell(self) -> None:
        fill = mapping.fill_from_activity({"id": "20240102::a", "order_id": "o1", "symbol": "QQQ", "side": "sell_short",
                                           "qty": "5", "price": "400.1", "transaction_time": "2024-01-02T15:00:00Z"},
                                          "pb-x")

        assert fill is not None and fill.side.value == "sell" and fill.signed_qty == Decimal(-5)

    def test_a_side_no_client_knows_is_refused_for_pairbots_fill_and_left_out_for_the_users(self) -> None:
        body = {"id": "20240102::a", "order_id": "o1", "symbol": "QQQ", "side": "cross", "qty": "5",
                "price": "400.1", "transaction_time": "2024-01-02T15:00:00Z"}
        assert mapping.fill_from_activity(body, "by-hand-1") is None
        with pytest.raises(BrokerUnavailable, match="side .cross., neither buy nor sell"):
            mapping.fill_from_activity(body, "pb-x")

    def test_an_order_of_the_users_with_a_side_no_client_knows_is_still_read(self) -> None:
        body = {"id": "o2", "client_order_id": "by-hand-2", "symbol": "AAPL", "side": "cross", "qty": "1",
                "filled_qty": "0", "status": "new", "submitted_at": "2024-01-02T15:00:00Z"}

        order = mapping.to_order_state(body)

        assert order.symbol == "AAPL" and order.client_order_id == "by-hand-2"
        with pytest.raises(BrokerUnavailable):
            mapping.to_order_state(body | {"client_order_id": "pb-2026Q4-aaaaaa-IWM-bto-1"})


class TestTheSchemaRecord:
    def test_an_unseen_broker_says_so(self) -> None:
        assert SchemaRecord().seen().summary() == (
            "schema (no asset read yet, no account read yet); no unknown fields or values")

    def test_a_legacy_asset_with_a_2026_account_is_mixed(self) -> None:
        record = SchemaRecord()
        record.see("asset", ASSET | {"easy_to_borrow": True})
        record.see("account", {"account_number": "PA1", "equity": "1"})

        seen = record.seen()

        assert seen.generation == "mixed"
        assert seen.description == "mixed schema (easy_to_borrow, no PDT fields)"

    def test_an_item_is_new_only_the_first_time(self) -> None:
        record = SchemaRecord()

        first = record.see("order", ORDER | {"status": "pending_risk_review", "x_new": 1})
        again = record.see("order", ORDER | {"status": "pending_risk_review", "x_new": 2})

        assert [t.item for t in first] == ["order.x_new", "order.status=pending_risk_review"] and again == []

    def test_the_summary_lists_at_most_three_names_of_a_kind(self) -> None:
        record = SchemaRecord()
        record.see("clock", {"a": 1, "b": 2, "c": 3, "d": 4})

        assert "tolerated 4 unknown fields (clock.a, clock.b, clock.c, ...)" in record.seen().summary()

    def test_observing_is_pure(self) -> None:
        raw = dict(ORDER)

        assert observe("order", raw) == observe("order", raw) and raw == ORDER
