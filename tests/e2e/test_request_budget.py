"""A run's broker requests do not grow with the user's own trading: the user's fills are read once (the next run
reads fills from where this one read through), their orders mapped to client order ids by one paged listing, not
one look-up each, and account events asked for by type, so no FILL is paged through. pairbot's own fills are all
still journaled, each once, and the user's never.

First found by a reviewer: after 80 orders filled by hand, every daily run sent 91 requests, 80 of them
GET /v2/orders/{id}; Alpaca allows 200 a minute (REFERENCE.md 10.7), a quarterly run should need < 60 (B1 #1).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from bot.adapters.exchange import ExchangeSettings, LocalExchange
from tests.e2e.conftest import KEY, SECRET, PaperBook, paper_env, trading_hours
from tests.reliability.invariants import all_fills


@dataclass(frozen=True)
class Cost:
    requests: int
    order_lookups: int  # GET /v2/orders/{id}


def order_lookups(paper: PaperBook) -> int:
    return sum(1 for r in paper.ex.requests if r.method == "GET" and r.path.startswith("/v2/orders/"))


def next_day_rebalance(paper: PaperBook) -> Cost:
    """A rebalance on the next day, and what it cost."""
    paper.next_day()
    before, lookups = len(paper.ex.requests), order_lookups(paper)
    ran = paper("rebalance")
    assert ran.code == 0, ran.out + ran.err
    return Cost(len(paper.ex.requests) - before, order_lookups(paper) - lookups)


def hand_orders(paper: PaperBook, symbol: str, n: int) -> None:
    """n one-share orders of the user's, bought and sold in turn (the account's buying power is pairbot's)."""
    for i in range(n):
        paper.hand_order(symbol, 1, "sell" if i % 2 else "buy")


@contextmanager
def fresh_book(root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[PaperBook]:
    """pairbot in paper mode in its own directory, against its own exchange."""
    root.mkdir()
    settings = ExchangeSettings(state_path=None, api_key=KEY, secret_key=SECRET, now=trading_hours(),
                                starting_cash=Decimal("100000"), partial_fill_probability=0.0)
    with LocalExchange(settings) as ex, monkeypatch.context() as env:
        env.chdir(root)
        for name, value in paper_env(ex).items():
            env.setenv(name, value)
        book = PaperBook(root, ex, capsys)
        book.configure()
        yield book


def costs_after_hand_orders(paper: PaperBook, n: int) -> tuple[Cost, Cost]:
    """pairbot's first rebalance, then n orders of the user's filled, then two daily runs (within band)."""
    assert paper("rebalance").code == 0
    hand_orders(paper, "SPY", n)
    return next_day_rebalance(paper), next_day_rebalance(paper)


def ledger_fills(paper: PaperBook) -> list[tuple[str, str]]:
    with sqlite3.connect(paper.workdir / ".state" / "ledger-paper.sqlite") as db:
        return [(r[0], r[1]) for r in db.execute("SELECT activity_id, client_order_id FROM fills")]


def pairbots_fills_at_the_broker(paper: PaperBook) -> list[str]:
    client = paper.client()
    ours = {o["id"] for o in client.get("/orders", {"status": "all", "limit": 500})
            if o["client_order_id"].startswith("pb-")}
    return [f["id"] for f in all_fills(client, page_size=100) if f["order_id"] in ours]


def test_the_users_own_trading_does_not_cost_a_request_per_order_on_every_run(paper: PaperBook) -> None:
    first, second = costs_after_hand_orders(paper, 80)

    assert first.order_lookups == 0 and second.order_lookups == 0, (first, second)
    assert first.requests < 60 and second.requests < 60, (first, second)


def test_a_runs_requests_stay_flat_with_0_80_or_400_orders_of_the_users(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The run that meets the user's fills reads them once (a FILL page per 100, one listing of their orders);
    every run after that costs what it costs without them."""
    costs = {}
    for n in (0, 80, 400):
        with fresh_book(tmp_path / f"n{n}", capsys, monkeypatch) as paper:
            costs[n] = costs_after_hand_orders(paper, n)

    base_first, base_later = costs[0]
    for n, (first, later) in costs.items():
        assert first.order_lookups == 0 and later.order_lookups == 0, costs
        assert first.requests <= base_first.requests + -(-n // 100) + 1, costs
        assert later.requests == base_later.requests, costs
    assert costs[400][1].requests < 60


def test_pairbots_fills_after_the_users_are_journaled_once_and_the_users_never(paper: PaperBook) -> None:
    """The user trades SPY and then QQQ (pairbot's); the break keeps naming the hand trade on every run until
    it is accepted, and the top-up's fills, after all of the user's, are journaled like every other of pairbot's."""
    assert paper("rebalance").code == 0
    hand_orders(paper, "SPY", 80)
    paper.hand_order("QQQ", 10, "buy")

    stopped, again = paper("rebalance"), paper("rebalance")
    accepted = paper("ledger", "accept", "--yes")
    topped = paper("rebalance")
    quiet = next_day_rebalance(paper)

    for run in (stopped, again):
        assert run.code == 6 and "(+10 by orders pairbot did not place)" in run.one_line()
    assert accepted.code == 0 and topped.code == 0 and topped.posts == 1, topped.out + topped.err
    journaled = ledger_fills(paper)
    assert sorted(a for a, _ in journaled) == sorted(pairbots_fills_at_the_broker(paper))
    assert journaled and all(coid.startswith("pb-") for _, coid in journaled)
    assert quiet.order_lookups == 0 and quiet.requests < 60
