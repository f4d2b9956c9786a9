"""Operating faults as a user meets them: one line on stderr, the documented exit code, no order, no traceback."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest
from pytest_mock import MockerFixture

from bot.adapters.exchange import ExchangeSettings, Fault, LocalExchange
from tests.e2e.conftest import KEY, NEW_YORK, SECRET, PaperBook, TradingHours, paper_env

INTERNAL_WORDS = re.compile(r"\bNone\b|Traceback|(Config|Data)Error|GateRefused|ReconciliationBreak|OrderRejected")


def quotes_fault(ex: LocalExchange, change: Callable[[dict[str, Any]], None]) -> Fault:
    """The exchange's own latest quotes for the pair, altered, served with status 200."""
    reply = requests.get(f"{ex.base_url}/v2/stocks/quotes/latest", params={"symbols": "IWM,QQQ"}, timeout=5,
                         headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})
    body = reply.json()
    change(body["quotes"])
    return Fault("status", method="GET", path="/v2/stocks/quotes/latest", status=200, body=json.dumps(body))


def zero_quote(quotes: dict[str, Any]) -> None:
    quotes["QQQ"]["bp"] = quotes["QQQ"]["ap"] = 0


def no_quote(quotes: dict[str, Any]) -> None:
    del quotes["QQQ"]


@pytest.mark.parametrize(("change", "says"), [(zero_quote, "QQQ: no usable quote (bid 0"),
                                               (no_quote, "QQQ: no quote")], ids=["zero bid and ask", "no quote"])
def test_an_unusable_quote_is_a_gate_refusal_naming_the_symbol(paper: PaperBook, change: Any, says: str) -> None:
    paper.ex.faults.add(quotes_fault(paper.ex, change))

    run = paper("rebalance")

    assert run.code == 3 and run.posts == 0
    assert says in run.one_line() and run.out == ""


def test_an_unknown_symbol_in_the_config_is_exit_2_before_any_order(paper: PaperBook) -> None:
    paper.configure(strategies={"pair": {"short_leg": "QQQQ"}})

    run = paper("rebalance")

    assert run.code == 2 and run.posts == 0
    assert "strategies.pair.short_leg: QQQQ: the broker has no such asset" in run.one_line()


# -- paths the run cannot write --------------------------------------------------------------------------------


def freeze(path: Path) -> None:
    """Make a directory or file unwritable even for root (chattr +i), or skip where the filesystem cannot."""
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make {path} immutable here: {done.stderr.strip()}")


@pytest.fixture
def frozen() -> Iterator[Callable[[Path], Path]]:
    paths: list[Path] = []

    def make(path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        freeze(path)
        paths.append(path)
        return path

    yield make
    for path in paths:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def test_a_read_only_state_dir_is_exit_2_naming_the_lock(paper: PaperBook, frozen: Any) -> None:
    frozen(paper.workdir / ".state")

    run = paper("rebalance")

    assert run.code == 2 and run.posts == 0
    assert ".state/pairbot.lock: cannot create it" in run.one_line() and "paths.state_dir" in run.err


def test_a_read_only_ledger_dir_is_exit_6_naming_the_ledger(paper: PaperBook, frozen: Any) -> None:
    frozen(paper.workdir / "books")
    paper.configure(paths={"ledger": "books/ledger-{mode}.sqlite"})

    run = paper("rebalance")

    assert run.code == 6 and run.posts == 0
    assert "ledger books/ledger-paper.sqlite" in run.one_line() and "refusing to trade" in run.err


def test_a_read_only_log_dir_is_exit_2_naming_the_log(paper: PaperBook, frozen: Any) -> None:
    frozen(paper.workdir / "logs")

    run = paper("rebalance")

    assert run.code == 2 and run.posts == 0
    assert "log logs/pairbot.jsonl: cannot write it" in run.one_line()


def test_a_full_disk_under_the_log_is_exit_2_before_anything_is_sent(paper: PaperBook) -> None:
    (paper.workdir / "logs").mkdir()
    (paper.workdir / "logs" / "pairbot.jsonl").symlink_to("/dev/full")

    run = paper("rebalance")

    assert run.code == 2 and run.posts == 0
    assert "No space left on device" in run.one_line()


class FullDisk(sqlite3.Connection):
    """A real SQLite connection whose writes fail as SQLite fails them on a full disk (what a test cannot make),
    from the first statement starting with `FullDisk.from_sql` on."""

    from_sql = "INSERT"
    hit = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        FullDisk.hit = FullDisk.hit or " ".join(sql.split()).startswith(FullDisk.from_sql)
        if FullDisk.hit and sql.lstrip().upper().startswith(("INSERT", "UPDATE")):
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


@pytest.mark.parametrize(("from_sql", "posts"), [("INSERT INTO runs", 0), ("INSERT INTO orders", 1)],
                         ids=["at the start of the run", "right after the first order was sent"])
def test_a_full_disk_under_the_ledger_is_exit_6_and_the_rerun_converges(
        paper: PaperBook, mocker: MockerFixture, from_sql: str, posts: int) -> None:
    real_connect = sqlite3.connect
    assert paper("rebalance", "--dry-run").code == 0
    FullDisk.from_sql, FullDisk.hit = from_sql, False
    mocker.patch("bot.adapters.ledger.store.sqlite3.connect",
                 side_effect=lambda *a, **k: real_connect(*a, factory=FullDisk, **k))

    run = paper("rebalance")
    mocker.stopall()
    rerun, quiet = paper("rebalance"), paper("rebalance")

    assert run.code == 6 and run.posts == posts
    assert "ledger .state/ledger-paper.sqlite: cannot write (database or disk is full" in run.one_line()
    assert rerun.code == 0 and quiet.code == 0 and quiet.posts == 0, rerun.err + quiet.err
    ids = [o.client_order_id for o in paper.client().get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL))]
    assert len(ids) == len(set(ids)) == 2


# -- what the user reads ---------------------------------------------------------------------------------------


def test_a_refusal_before_the_decision_prints_only_its_line(paper: PaperBook) -> None:
    (paper.workdir / ".state").mkdir(exist_ok=True)
    (paper.workdir / ".state" / "KILL").touch()

    run = paper("rebalance")

    assert run.code == 3 and run.out == ""
    assert "kill switch .state/KILL is present" in run.one_line() and "pairbot plan" in run.err


def test_plan_works_under_the_kill_switch_and_says_it_is_on(paper: PaperBook) -> None:
    (paper.workdir / ".state").mkdir(exist_ok=True)
    (paper.workdir / ".state" / "KILL").touch()

    plan = paper("plan")

    assert plan.code == 0 and plan.posts == 0, plan.err
    assert "kill switch ON (.state/KILL)" in plan.out and "buy" in plan.out


def test_plan_leaves_pairbots_open_orders_alone_and_says_so_even_under_the_kill_switch(paper: PaperBook) -> None:
    paper.configure(execution={"fill_timeout_seconds": 1, "poll_interval_seconds": 0.05})
    assert paper("rebalance").code == 0
    coid = "pb-2026Q4-aaaaaa-IWM-bto-1"  # what an interrupted rebalance leaves behind: an open order of its own
    paper.client().post("/orders", {"symbol": "IWM", "qty": "1", "side": "buy", "type": "limit", "limit_price": "1.00",
                                    "time_in_force": "day", "client_order_id": coid})
    (paper.workdir / ".state" / "KILL").touch()
    deletes = paper.ex.requests.count("DELETE")

    plan = paper("plan")

    assert plan.code == 0 and plan.posts == 0, plan.err
    assert paper.ex.requests.count("DELETE") == deletes  # "sends nothing": no cancel either
    assert paper.client().get("/orders:by_client_order_id", {"client_order_id": coid})["status"] in ("new", "accepted")
    assert "open orders of pairbot's (1), left as they are" in plan.out
    assert f"{coid}: buy 1 IWM (" in plan.out
    (paper.workdir / ".state" / "KILL").unlink()

    run = paper("rebalance")  # a rebalance still settles it first: waits, then cancels

    assert paper.client().get("/orders:by_client_order_id", {"client_order_id": coid})["status"] == "canceled"
    assert "open orders of pairbot's" not in run.out


def test_no_internal_name_or_none_reaches_what_a_user_reads(paper: PaperBook) -> None:
    runs = [paper("plan"), paper("rebalance"), paper("rebalance"), paper("status")]
    paper.ex.set_account_flags(trading_blocked=True)
    paper.ex.reset()
    runs += [paper("rebalance"), paper("ledger", "accept", "--yes"), paper("rebalance")]

    for run in runs:
        assert not INTERNAL_WORDS.search(run.out + run.err), run.out + run.err


@contextlib.contextmanager
def nyse_paper(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
               start: datetime) -> Iterator[tuple[PaperBook, TradingHours]]:
    """Paper mode against a standalone local exchange on the NYSE calendar, its clock from `start` (New York)."""
    clock = TradingHours(start)
    ex = LocalExchange(ExchangeSettings(state_path=None, api_key=KEY, secret_key=SECRET, now=clock, clock="nyse",
                                        starting_cash=Decimal("100000"), partial_fill_probability=0.0))
    ex.start()
    try:
        monkeypatch.chdir(tmp_path)
        for k, v in paper_env(ex).items():
            monkeypatch.setenv(k, v)
        paper = PaperBook(tmp_path, ex, capsys)
        paper.configure()
        yield paper, clock
    finally:
        ex.stop()


def test_a_run_inside_the_window_on_a_market_holiday_sends_nothing_and_exits_0_even_with_a_book_built(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with nyse_paper(tmp_path, capsys, monkeypatch, datetime(2025, 12, 1, 10, 45, tzinfo=NEW_YORK)) as (paper, clock):
        assert paper("rebalance").code == 0
        clock.jump_to(datetime(2025, 12, 25, 10, 45, tzinfo=NEW_YORK))  # Christmas: the NYSE is closed
        requests_before = len(paper.ex.requests)

        run, by_hand = paper("rebalance"), paper("rebalance", "--outside-window")

        assert run.code == 0 and run.posts == 0, run.out + run.err  # the same as a run outside the window
        assert "the market is closed (the broker's clock; it opens next Fri 2025-12-26 09:30 New York)" in run.out
        assert "outcome: market_closed (exit 0)" in run.out
        assert by_hand.code == 0 and "within band" in by_hand.out  # by hand it reconciles and decides (a trade
        assert len(paper.ex.requests) > requests_before + 1  # would meet the market-closed gate: exit 3)


def test_status_after_the_window_on_a_quarters_last_day_says_the_next_run_makes_the_new_quarters_rebalance(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with nyse_paper(tmp_path, capsys, monkeypatch, datetime(2026, 12, 31, 10, 45, tzinfo=NEW_YORK)) as (paper, clock):
        assert paper("rebalance").code == 0  # 2026Q4 done
        clock.jump_to(datetime(2026, 12, 31, 15, 0, tzinfo=NEW_YORK))

        status = paper("status")

        assert status.code == 0, status.err
        assert "next Mon 2027-01-04 10:30 New York" in status.out  # 1 January is a holiday
        assert "it would make a calendar rebalance (quarterly rebalance for 2027Q1 not done yet)" in status.out


@pytest.mark.parametrize("then", ["pair", "replica"], ids=["then nothing to do", "then a trade"])
def test_a_rebalance_tells_the_fills_of_an_order_an_earlier_run_left_open_that_it_settled(paper: PaperBook,
                                                                                         then: str) -> None:
    assert paper("rebalance").code == 0
    coid = "pb-2026Q4-aaaaaa-IWM-bto-1"  # what an interrupted rebalance leaves behind: an open order of its own
    paper.ex.faults.add(Fault("stuck", method="POST", path="/v2/orders", on_calls=frozenset({1}), polls=20))
    paper.client().post("/orders", {"symbol": "IWM", "qty": "1", "side": "buy", "type": "market",
                                    "time_in_force": "day", "client_order_id": coid})
    paper.configure(strategy=then)

    run = paper("rebalance")

    assert run.code == 0, run.out + run.err
    assert ("within band" in run.out) == (then == "pair")
    assert f"{coid}: buy 1 IWM -> filled (1/1 filled)" in run.out
    assert f"[{coid}]" in run.out.partition("\nfills:\n")[2]


def test_plan_outside_the_window_and_status_on_a_holiday_say_a_run_would_not_trade_now(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with nyse_paper(tmp_path, capsys, monkeypatch, datetime(2026, 12, 3, 14, 0, tzinfo=NEW_YORK)) as (paper, clock):
        plan = paper("plan")  # 14:00: outside 10:30-11:30
        clock.jump_to(datetime(2027, 1, 1, 10, 45, tzinfo=NEW_YORK))  # New Year's Day, inside the window
        status = paper("status")

        assert plan.code == 0 and "now a rebalance would not trade: outside the trading window 10:30-11:30" in plan.out
        assert "buy" in plan.out  # and still what it would do inside the window
        assert status.code == 0, status.err
        assert "next Mon 2027-01-04 10:30 New York" in status.out and "now Fri" not in status.out
        assert "next calendar rebalance: due at the next session, 2027-01-04 (2027Q1 not rebalanced yet)" in status.out
