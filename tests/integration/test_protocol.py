"""The run protocol in-process: bot.live.runner against the FakeBroker and a real SQLite ledger.

A crash at a checkpoint is a BaseException the protocol does not catch (nothing after it runs, what was
committed stays); the rerun is a fresh context on the same ledger file and the same broker. The real
kill -9 (a process, its lock, its fsync) keeps a few cells in tests/reliability/test_crash_matrix.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.ledger import Ledger
from bot.config import Config, parse_config
from bot.core.domain import NEW_YORK, AssetInfo, Symbol
from bot.errors import BotError, BrokerUnavailable, OrderRejected
from bot.live.context import RunContext, RunReport
from bot.live.runner import run_protocol
from tests.fakes import FakeBroker

PRICES = {"IWM": Decimal("200"), "QQQ": Decimal("500"), "SPY": Decimal("600"), "UPRO": Decimal("90"),
          "TNA": Decimal("40"), "SQQQ": Decimal("20"), "PSQ": Decimal("30")}


class Crash(BaseException):
    """kill -9 at a checkpoint, in-process."""


@dataclass
class Book:
    """One ledger file and one fake broker; each run a fresh context, as each cron run is a fresh process."""

    path: Path
    broker: FakeBroker
    config: dict[str, Any] = field(default_factory=lambda: {"mode": "paper", "schedule": {"window": None}})
    runs: int = 0

    def run(self, *, crash_at: str = "", stop: Callable[[], int | None] = lambda: None,
            execute: bool = True) -> RunReport:
        config = parse_config(self.config)
        name, _, nth = crash_at.partition(":")
        hits = {"n": 0}

        def checkpoint(point: str) -> None:
            if point == name:
                hits["n"] += 1
                if hits["n"] == int(nth or 1):
                    raise Crash(point)

        self.runs += 1
        with Ledger(self.path) as ledger:
            ctx = RunContext(config=config, strategy=strategy_of(config), broker=self.broker, ledger=ledger,
                             run_id=f"run-{self.runs}", now=lambda: self.broker.now, sleep=lambda _s: None,
                             checkpoint=checkpoint, stop_requested=stop, window=config.schedule.window)
            return run_protocol(ctx, execute=execute)

    def positions(self) -> dict[str, Decimal]:
        return {p.symbol: p.qty for p in self.broker.positions()}

    def client_ids(self) -> list[str]:
        return [o.client_order_id for o in self.broker.all_orders()]

    def ledger_positions(self) -> dict[Symbol, Decimal]:
        with Ledger(self.path) as ledger:
            return ledger.positions()


def strategy_of(config: Config) -> Any:
    return config.build_strategy()


@pytest.fixture
def book(tmp_path: Path) -> Book:
    return Book(tmp_path / "ledger.sqlite", FakeBroker(prices=dict(PRICES)))


def weights(book: Book) -> dict[str, Decimal]:
    snap = book.broker.snapshot(list(PRICES))
    return {s: p.market_value / snap.equity for s, p in snap.positions.items()}


def at_target(book: Book, targets: dict[str, str], band: str = "0.05") -> bool:
    got = weights(book)
    return all(abs(got.get(s, Decimal(0)) - Decimal(w)) <= Decimal(band) for s, w in targets.items())


PAIR = {"IWM": "0.495", "QQQ": "-0.495"}


def converges(book: Book, targets: dict[str, str] = PAIR) -> None:
    """A clean rerun reaches target with the ledger equal to the broker; one more sends nothing."""
    rerun = book.run()
    assert rerun.error is None, rerun.error
    assert book.ledger_positions() == {s: q for s, q in book.positions().items() if q}
    assert at_target(book, targets)
    before = len(book.client_ids())
    quiet = book.run()
    assert quiet.error is None and quiet.decision == "none" and len(book.client_ids()) == before
    ids = book.client_ids()
    assert len(ids) == len(set(ids))


class TestFromFlat:
    def test_the_first_run_buys_the_long_leg_and_shorts_the_short_one_then_a_rerun_sends_nothing(self, book):
        first = book.run()

        assert first.error is None and first.decision == "calendar"
        assert book.positions()["IWM"] > 0 > book.positions()["QQQ"]
        converges(book)

    def test_a_dry_run_plans_and_sends_nothing(self, book):
        plan = book.run(execute=False)

        assert plan.error is None and plan.outcome == "planned" and plan.plan is not None
        assert book.client_ids() == []


CHECKPOINTS = ["after_reconcile", "after_intent:1", "after_submit:1", "after_intent:2", "after_submit:2",
               "mid_poll:1", "after_ingest:1"]


class TestACrashAnywhereConverges:
    @pytest.mark.parametrize("point", CHECKPOINTS)
    def test_from_flat(self, book, point):
        with pytest.raises(Crash):
            book.run(crash_at=point)

        converges(book)

    @pytest.mark.parametrize("point", CHECKPOINTS + ["mid_poll:2"])
    def test_from_flat_with_orders_filling_in_parts(self, book, point):
        book.broker.partial_fill = True
        with pytest.raises(Crash):
            book.run(crash_at=point)

        converges(book)

    @pytest.mark.parametrize("point", ["after_intent:1", "after_submit:2", "mid_poll:1", "after_ingest:1",
                                       "after_intent:3", "after_submit:6", "after_ingest:2"])
    def test_while_switching_strategy(self, book, point):
        assert book.run().error is None
        book.config = {**book.config, "strategy": "overlay"}
        with pytest.raises(Crash):
            book.run(crash_at=point)

        converges(book, {"SPY": "0.693", "UPRO": "0.099", "TNA": "0.099", "SQQQ": "0.099"})


class TestFaults:
    def test_an_order_applied_before_the_broker_went_quiet_is_adopted_not_resent(self, book):
        book.broker.fail("submit", "apply")  # the broker took the order, its answer never came

        first = book.run()

        assert isinstance(first.error, BrokerUnavailable) and first.exit_code == 4
        assert len(book.client_ids()) == 1
        converges(book)

    def test_a_rejected_order_stops_the_run_before_the_next_leg(self, book):
        book.broker.assets["QQQ"] = AssetInfo(Symbol("QQQ"), easy_to_borrow=True, shortable=True)
        book.broker.fail("submit", OrderRejected("order: refused (403: insufficient buying power)"))

        first = book.run()

        assert isinstance(first.error, OrderRejected) and first.exit_code == 5
        assert book.client_ids() == []  # the first leg was refused; the second never sent
        converges(book)

    def test_a_broker_down_for_reads_is_exit_4_and_sends_nothing(self, book):
        book.broker.fail("snapshot", *[BrokerUnavailable("broker error 503")] * 3)

        first = book.run()

        assert first.exit_code == 4 and book.client_ids() == []

    def test_a_hard_to_borrow_short_leg_is_refused_before_any_order(self, book):
        book.broker.assets["QQQ"] = AssetInfo(Symbol("QQQ"), easy_to_borrow=False)

        first = book.run()

        assert first.exit_code == 3 and "hard_to_borrow" in str(first.error) and book.client_ids() == []


class TestStops:
    def test_a_signal_before_the_second_order_stops_there_and_the_rerun_finishes(self, book):
        sent = lambda: 15 if len(book.client_ids()) >= 1 else None  # noqa: E731 - SIGTERM once one order is out

        first = book.run(stop=sent)

        assert first.exit_code == 143 and first.outcome == "interrupted" and len(book.client_ids()) == 1
        converges(book)

    def test_a_change_made_by_hand_stops_with_the_way_out(self, book):
        assert book.run().error is None
        book.broker.hand_trade("QQQ", Decimal(10))

        stopped = book.run()

        assert stopped.exit_code == 6 and "pairbot ledger accept" in str(stopped.error)

    def test_a_split_between_runs_is_explained_and_sends_nothing(self, book):
        assert book.run().error is None
        before = book.positions()["QQQ"]
        book.broker.now += timedelta(days=1)
        book.broker.split("QQQ", Decimal(2))
        orders = len(book.client_ids())

        after = book.run()

        assert after.error is None and after.decision == "none" and len(book.client_ids()) == orders
        assert book.positions()["QQQ"] == before * 2 == book.ledger_positions()[Symbol("QQQ")]


    def test_account_events_are_read_from_the_last_run_on_not_from_the_accounts_first_day(self, book):
        """Alpaca paper books no dividends: with no event ever journaled, each run still reads only the last week."""
        assert book.run().error is None
        first_day = book.broker.now.astimezone(NEW_YORK).date()
        book.broker.now += timedelta(days=40)

        assert book.run().error is None

        assert book.broker.events_asked_after == [None, first_day - timedelta(days=7)]


class TestDecisions:
    def test_within_the_band_nothing_is_sent(self, book):
        assert book.run().error is None

        again = book.run()

        assert again.decision == "none" and "within band" in again.why

    def test_drift_beyond_the_band_rebalances_under_a_drift_key(self, book):
        assert book.run().error is None
        book.broker.prices["IWM"] = Decimal("260")

        moved = book.run()

        assert moved.decision == "drift" and moved.run_key is not None and moved.run_key.startswith("d2026")
        assert at_target(book, PAIR)

    def test_outside_the_trading_window_a_rebalance_records_it_and_sends_nothing(self, book):
        book.config = {"mode": "paper"}  # the default window, 10:30-11:30 New York
        book.broker.now = datetime(2026, 12, 2, 19, 0, tzinfo=book.broker.now.tzinfo)  # 14:00 New York

        run = book.run()

        assert book.broker.request_count == 1  # the clock, nothing else
        assert run.error is None and run.outcome == "outside_window" and book.client_ids() == []


def test_every_bot_error_is_returned_with_what_happened_before_it(book):
    book.broker.fail("submit", OrderRejected("order: refused"))

    report = book.run()

    assert isinstance(report.error, BotError) and report.plan is not None and report.decision == "calendar"
