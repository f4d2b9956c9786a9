"""The adapter's contract across Alpaca's schema generations: the local exchange serves today's, the legacy
or a drifted schema over real HTTP, and every AlpacaBroker read gives the same domain values in each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pydantic
import pytest
from alpaca.trading.client import TradingClient
from structlog.testing import capture_logs

from bot.adapters.broker.alpaca import AlpacaBroker
from bot.adapters.exchange import ExchangeSettings, LocalExchange
from bot.adapters.exchange.generations import DRIFT_FIELDS, DRIFT_VALUES
from bot.adapters.exchange.state import REVIEW_STATUS
from bot.core.domain import OrderIntent, OrderState, PositionIntent, Symbol

from .conftest import broker_for

KEY, SECRET = "PKTESTSCHEMA00001", "schema-secret"
NOW = datetime(2024, 3, 5, 15, 0, tzinfo=ZoneInfo("America/New_York"))  # a Tuesday
TODAY = NOW.date()
MODES = ["today", "legacy", "drift"]


@pytest.fixture(params=MODES)
def exchange(request: pytest.FixtureRequest) -> Iterator[LocalExchange]:
    settings = ExchangeSettings(api_key=KEY, secret_key=SECRET, schema=request.param, now=lambda: NOW)
    with LocalExchange(settings) as ex:
        ex.set_asset_flags("SPY", easy_to_borrow=False)
        yield ex


def order(symbol: str, intent: PositionIntent, qty: str) -> OrderIntent:
    return OrderIntent(symbol=Symbol(symbol), intent=intent, qty=Decimal(qty),
                       client_order_id=f"pb-s-{symbol}-{intent.short_code}-1", reference_price=Decimal("100"))


def poll_to_terminal(broker: AlpacaBroker, state: OrderState) -> list[str]:
    """The statuses seen from the submit reply until a terminal one (bounded)."""
    seen = [state.status]
    for _ in range(10):
        if state.is_terminal:
            return seen
        state = broker.order(state.order_id)
        seen.append(state.status)
    raise AssertionError(f"order never reached a terminal status: {seen}")


def trade_the_pair(broker: AlpacaBroker) -> list[list[str]]:
    return [poll_to_terminal(broker, broker.submit(o)) for o in (
        order("IWM", PositionIntent.BUY_TO_OPEN, "10"), order("QQQ", PositionIntent.SELL_TO_OPEN, "5"))]


@pytest.fixture
def traded(exchange: LocalExchange) -> tuple[LocalExchange, AlpacaBroker, list[list[str]]]:
    broker = broker_for(exchange)
    return exchange, broker, trade_the_pair(broker)


class TestEveryReadMeansTheSameInEverySchema:
    def test_orders_poll_to_filled_and_an_unknown_status_is_never_terminal(self, traded):
        ex, _broker, statuses = traded

        for seen in statuses:
            assert seen[-1] == "filled"
            assert all(s in ("new", "accepted", REVIEW_STATUS) for s in seen[:-1])
        if ex.settings.schema == "drift":
            assert statuses[0][:3] == [REVIEW_STATUS] * 3

    def test_positions_and_the_snapshot_are_the_exchanges_state(self, traded):
        ex, broker, _ = traded
        iwm, qqq = ex.book.mark("IWM", TODAY), ex.book.mark("QQQ", TODAY)

        snap = broker.snapshot([Symbol("IWM"), Symbol("QQQ"), Symbol("SPY"), Symbol("NOPE")])

        assert {s: (p.qty, p.avg_entry_price) for s, p in snap.positions.items()} == {
            "IWM": (Decimal(10), iwm.ask), "QQQ": (Decimal(-5), qqq.bid)}
        numbers = ex.engine.account_numbers(NOW)
        assert (snap.equity, snap.cash, snap.buying_power) == (numbers.equity, numbers.cash, numbers.buying_power)
        assert snap.account.is_active and snap.account.shorting_enabled and not snap.account.trading_blocked
        assert {s: (q.bid, q.ask) for s, q in snap.quotes.items()} == {
            "IWM": (iwm.bid, iwm.ask), "QQQ": (qqq.bid, qqq.ask), "SPY": (ex.book.mark("SPY", TODAY).bid,
                                                                          ex.book.mark("SPY", TODAY).ask)}

    def test_assets_map_borrowability_from_etb_and_htb_and_an_unknown_symbol_is_absent(self, traded):
        _ex, broker, _ = traded

        snap = broker.snapshot([Symbol("IWM"), Symbol("QQQ"), Symbol("SPY"), Symbol("NOPE")])

        assert {s: a.easy_to_borrow for s, a in snap.assets.items()} == {"IWM": True, "QQQ": True, "SPY": False}
        assert all(a.tradable and a.shortable and a.fractionable for a in snap.assets.values())
        assert broker.asset("NOPE") is None

    def test_orders_and_fills_carry_our_client_order_ids_and_the_fill_prices(self, traded):
        ex, broker, _ = traded
        iwm, qqq = ex.book.mark("IWM", TODAY), ex.book.mark("QQQ", TODAY)

        orders = broker.all_orders()
        fills = broker.fills()

        assert [(o.client_order_id, o.side.value, o.qty, o.filled_qty, o.filled_avg_price, o.status)
                for o in orders] == [("pb-s-IWM-bto-1", "buy", 10, 10, iwm.ask, "filled"),
                                     ("pb-s-QQQ-sto-1", "sell", 5, 5, qqq.bid, "filled")]
        assert [(f.client_order_id, f.symbol, f.side.value, f.qty, f.price) for f in fills] == [
            ("pb-s-IWM-bto-1", "IWM", "buy", 10, iwm.ask), ("pb-s-QQQ-sto-1", "QQQ", "sell", 5, qqq.bid)]
        assert {f.order_id for f in fills} == {o.order_id for o in orders}

    def test_the_clock_and_the_calendar(self, traded):
        _ex, broker, _ = traded

        clock = broker.clock()
        sessions = broker.sessions(date(2024, 3, 4), date(2024, 3, 10))

        assert clock.is_open and clock.as_of == NOW and clock.next_close == NOW + timedelta(hours=6)
        assert [s.day.day for s in sessions] == [4, 5, 6, 7, 8, 9, 10]

    def test_daily_closes_are_the_adjusted_closes(self, traded):
        ex, broker, _ = traded

        closes = broker.daily_closes([Symbol("IWM"), Symbol("QQQ")], date(2024, 2, 26), TODAY)

        book = ex.book.bars("IWM", date(2024, 2, 26), TODAY)
        assert list(closes.index.date) == list(book.index.date)
        assert closes["IWM"].tolist() == pytest.approx(book["adj_close"].tolist(), abs=1e-4)
        assert closes["QQQ"].notna().all()


class TestTheSchemaRecord:
    def test_says_which_generation_the_broker_serves(self, traded):
        ex, broker, _ = traded
        broker.snapshot([Symbol("IWM"), Symbol("QQQ")])

        seen = broker.schema_seen()

        if ex.settings.schema == "legacy":
            assert seen.generation == "legacy" and seen.missing_deprecated == ()
            assert seen.description == "legacy schema (easy_to_borrow, PDT fields)"
        else:
            assert seen.generation == "2026"
            assert seen.description == "2026 schema (borrow_status ETB/HTB; no easy_to_borrow, no PDT fields)"
            assert seen.missing_deprecated == ("account.daytrade_count", "account.daytrading_buying_power",
                                               "account.pattern_day_trader", "asset.easy_to_borrow")

    def test_lists_the_drift_modes_unknown_fields_and_values(self, traded):
        ex, broker, _ = traded
        broker.snapshot([Symbol("IWM"), Symbol("QQQ")])
        broker.sessions(TODAY, TODAY)
        broker.fills()
        broker.daily_closes([Symbol("IWM")], TODAY - timedelta(days=7), TODAY)

        seen = broker.schema_seen()

        if ex.settings.schema != "drift":
            assert not seen.tolerated_anything
            assert seen.summary().endswith("; no unknown fields or values")
            return
        assert seen.unknown_fields == tuple(sorted(f"{kind}.{f}" for kind, extra in DRIFT_FIELDS.items()
                                                   for f in extra))
        assert seen.unknown_values == tuple(sorted(
            [f"{kind}.{f}={v}" for kind, values in DRIFT_VALUES.items() for f, v in values.items()]
            + [f"order.status={REVIEW_STATUS}"]))
        assert seen.summary().startswith("2026 schema (borrow_status ETB/HTB; no easy_to_borrow, no PDT fields); "
                                         f"tolerated {len(seen.unknown_fields)} unknown fields "
                                         "(account.intraday_margin_excess, account.risk_profile, activity.")
        assert "6 unknown values (" in seen.summary() and "\n" not in seen.summary()

    def test_logs_each_distinct_tolerated_item_once(self, exchange: LocalExchange):
        broker = broker_for(exchange)

        with capture_logs() as logs:
            trade_the_pair(broker)
            broker.snapshot([Symbol("IWM"), Symbol("QQQ")])
            broker.snapshot([Symbol("IWM"), Symbol("QQQ")])

        items = [e["item"] for e in logs if e["event"] == "broker_schema_tolerated"]
        assert len(items) == len(set(items))
        assert all(e["log_level"] == "warning" for e in logs if e["event"] == "broker_schema_tolerated")
        seen = broker.schema_seen()
        assert set(items) == set(seen.unknown_fields) | set(seen.unknown_values)
        assert bool(items) == (exchange.settings.schema == "drift")


def test_alpaca_py_cannot_read_todays_assets_but_the_adapter_can() -> None:
    """The point of it all: alpaca-py 0.44 requires easy_to_borrow, which Alpaca no longer sends."""
    with LocalExchange(ExchangeSettings(api_key=KEY, secret_key=SECRET)) as ex:
        ex.set_asset_flags("QQQ", easy_to_borrow=False)
        client = TradingClient(KEY, SECRET, paper=True, url_override=ex.base_url)

        with pytest.raises(pydantic.ValidationError, match="easy_to_borrow"):
            client.get_asset("QQQ")

        qqq = broker_for(ex).asset("QQQ")
        assert qqq is not None and qqq.symbol == "QQQ" and qqq.shortable and not qqq.easy_to_borrow


def test_alpaca_py_reads_the_legacy_schema_so_the_legacy_mode_is_faithful() -> None:
    with LocalExchange(ExchangeSettings(api_key=KEY, secret_key=SECRET, schema="legacy")) as ex:
        client = TradingClient(KEY, SECRET, paper=True, url_override=ex.base_url)

        asset = client.get_asset("QQQ")
        account = client.get_account()

    assert asset.easy_to_borrow is True and account.pattern_day_trader is False and account.daytrade_count == 0


def test_alpaca_py_cannot_poll_an_order_through_a_status_it_does_not_know() -> None:
    with LocalExchange(ExchangeSettings(api_key=KEY, secret_key=SECRET, schema="drift")) as ex:
        broker = broker_for(ex)
        placed = broker.submit(order("IWM", PositionIntent.BUY_TO_OPEN, "1"))
        client = TradingClient(KEY, SECRET, paper=True, url_override=ex.base_url)

        with pytest.raises(pydantic.ValidationError, match="status"):
            client.get_order_by_id(placed.order_id)

        assert placed.status == REVIEW_STATUS and not placed.is_terminal
        assert poll_to_terminal(broker, placed)[-1] == "filled"
