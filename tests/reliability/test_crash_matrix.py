"""kill -9 at checkpoints of the run protocol, as a real process: the lock freed by the kernel, what SQLite
committed surviving, the rest lost. The whole matrix (every checkpoint, every leg, whole and piecewise fills,
a strategy switch) runs in-process in tests/integration/test_protocol.py; these cells show it holds for a
real kill -9 of a real process on the real exchange over HTTP.

After the crash: the invariants hold. Then one clean rerun converges to target (invariants again), and one
more run sends nothing (0 POST /v2/orders) because the book is within band.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from alpaca.trading.client import TradingClient

from bot.adapters.exchange import Fault, LocalExchange
from tests.e2e.conftest import KEY, SECRET
from tests.reliability import invariants
from tests.reliability.conftest import Book, make_exchange

VARIANTS = {"whole fills": 0.0, "piecewise fills": 1.0}  # the exchange's partial_fill_probability
PAIR = {"IWM": Decimal("0.495"), "QQQ": Decimal("-0.495")}
OVERLAY = {"SPY": Decimal("0.693"), "UPRO": Decimal("0.099"), "TNA": Decimal("0.099"), "SQQQ": Decimal("0.099")}
BAND = Decimal("0.05")

# From flat to the pair: one batch of two increases (IWM buy, then QQQ short). The nth hit of a per-order
# checkpoint is the nth leg; of mid_poll, the nth polling round (a second round only with piecewise fills).
FROM_FLAT = ["after_lock", "after_intent:1", "after_submit:2", "mid_poll:1"]
# From the pair to the overlay: reductions (sell IWM, cover QQQ), re-read, then four increases.
SWITCH = ["after_submit:2", "after_intent:3"]
BEFORE_ANY_ORDER = {"after_lock", "after_reconcile", "after_intent:1"}  # how orders fill cannot matter yet


def matrix(points: list[str], piecewise_only: tuple[str, ...] = ()) -> list[object]:
    cells = [(v, p) for v in VARIANTS for p in points if v == "whole fills" or p not in BEFORE_ANY_ORDER]
    cells += [("piecewise fills", p) for p in piecewise_only]
    return [pytest.param(v, p, id=f"{v}-{p}") for v, p in cells]


@pytest.fixture
def exchange(variant: str) -> Iterator[LocalExchange]:
    with make_exchange(partial_fill_probability=VARIANTS[variant]) as ex:
        yield ex


def crash_then_converge(book: Book, point: str, targets: dict[str, Decimal]) -> None:
    crashed = book.rebalance(env={"PAIRBOT_TEST_CRASH_AT": point})
    assert crashed.code == -9, f"{point} was never reached: {crashed.stdout}{crashed.stderr}"
    book.check(settled=False)
    rerun = book.rebalance()
    assert rerun.code == 0, rerun.stdout + rerun.stderr
    book.check()
    invariants.at_target(book.ex, KEY, SECRET, targets, BAND)
    last = book.rebalance()
    assert last.code == 0 and "within band" in last.stdout, last.stdout + last.stderr
    assert last.posts == 0
    book.check()


@pytest.mark.parametrize(("variant", "point"), matrix(FROM_FLAT, piecewise_only=("mid_poll:2",)))
def test_a_run_killed_anywhere_on_the_way_from_flat_converges_on_rerun(book: Book, variant: str, point: str) -> None:
    crash_then_converge(book, point, PAIR)


def seed_pair_book(book: Book) -> None:
    """pairbot's own long IWM / short QQQ book, from a clean run of the pair strategy."""
    book.configure(strategy="pair")
    seeded = book.rebalance()
    assert seeded.code == 0, seeded.stdout + seeded.stderr


@pytest.mark.parametrize(("variant", "point"), matrix(SWITCH))
def test_a_run_killed_while_switching_strategy_converges_on_rerun(book: Book, variant: str, point: str) -> None:
    seed_pair_book(book)
    book.configure(strategy="overlay")

    crash_then_converge(book, point, OVERLAY)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_run_killed_right_after_cancelling_a_stuck_order_converges_on_rerun(book: Book, variant: str) -> None:
    book.ex.faults.add(Fault("stuck", method="POST", path="/v2/orders", on_calls=frozenset({1}), polls=10_000))

    crash_then_converge(book, "after_cancel", PAIR)


def pairbots_fill_ids(view: invariants.BrokerView) -> list[str]:
    ours = {o["id"] for o in view.orders if o["client_order_id"].startswith("pb-")}
    return sorted(f["id"] for f in view.fills if f["order_id"] in ours)


@pytest.mark.parametrize("variant", ["whole fills"])
@pytest.mark.parametrize("point", ["after_submit:1", "after_ingest:1", "after_submit:3"])
def test_a_run_killed_after_the_users_own_fills_journals_each_of_pairbots_once(book: Book, variant: str,
                                                                               point: str) -> None:
    """The user fills 80 orders of SPY (not pairbot's) between runs; pairbot then switches strategy and is killed:
    the rerun journals every fill of pairbot's, each once, and none of the user's."""
    seed_pair_book(book)
    client = TradingClient(KEY, SECRET, paper=True, url_override=book.ex.base_url)
    for i in range(80):
        client.post("/orders", {"symbol": "SPY", "qty": "1", "side": "sell" if i % 2 else "buy", "type": "market",
                                "time_in_force": "day"})
        book.ex.settle()
    book.configure(strategy="replica")

    crashed = book.rebalance(env={"PAIRBOT_TEST_CRASH_AT": point})
    rerun = book.rebalance()

    assert crashed.code == -9, f"{point} was never reached: {crashed.stdout}{crashed.stderr}"
    assert rerun.code == 0, rerun.stdout + rerun.stderr
    led = invariants.ledger_view(book.ledger)
    broker = invariants.broker_view(book.ex, KEY, SECRET)
    assert sorted(led.fill_ids) == pairbots_fill_ids(broker)
    assert led.positions == {s: q for s, q in broker.positions.items() if s != "SPY"}
