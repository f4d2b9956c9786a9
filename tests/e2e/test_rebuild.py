"""`pairbot ledger rebuild` as a user meets it: it asks before moving a ledger aside, and `trades` and `report` read
the rebuilt ledger as they read the one it replaced."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.e2e.conftest import PaperBook


class Terminal(io.StringIO):
    """A stdin that is a terminal, with the user's answer typed in."""

    def isatty(self) -> bool:
        return True


def ledger_path(book: PaperBook) -> Path:
    return book.workdir / ".state" / "ledger-paper.sqlite"


def moved_aside(book: PaperBook) -> list[Path]:
    """The ledgers moved aside (not their SQLite sidecars)."""
    return sorted(ledger_path(book).parent.glob("ledger-paper.sqlite.broken-*Z"))


def trade_two_decisions(book: PaperBook) -> None:
    """A calendar rebalance into the pair, then a drift rebalance into the replica: 5 orders, 5 fills."""
    assert book("rebalance").code == 0
    book.configure(strategy="replica")
    assert book("rebalance").code == 0


def test_rebuild_without_a_terminal_or_yes_moves_nothing_and_says_how(paper: PaperBook) -> None:
    assert paper("rebalance").code == 0

    refused = paper("ledger", "rebuild")
    quiet = paper("rebalance")

    assert refused.code == 2 and "pass --yes" in refused.one_line()
    assert moved_aside(paper) == []
    assert quiet.code == 0 and quiet.posts == 0 and "within band" in quiet.out  # the old ledger, still in use


def test_rebuild_on_a_terminal_says_what_it_drops_and_a_no_keeps_the_ledger(paper: PaperBook,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert paper("rebalance").code == 0
    paper.hand_order("IWM", 5, "sell")
    assert paper("ledger", "accept", "--yes").code == 0
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))

    declined = paper("ledger", "rebuild")

    assert declined.code == 0 and "nothing was changed" in declined.out, declined.err
    assert f"moves {ledger_path(paper).relative_to(paper.workdir)} (2 runs, 1 accepted adjustment(s)) aside" \
           in declined.out
    assert "accepted with `pairbot ledger accept` and the run history stay only in the old ledger" in declined.out
    assert "[y/N]" in declined.out and moved_aside(paper) == []


def test_rebuild_on_a_terminal_goes_on_after_a_yes(paper: PaperBook, monkeypatch: pytest.MonkeyPatch) -> None:
    assert paper("rebalance").code == 0
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))

    rebuilt = paper("ledger", "rebuild")

    assert rebuilt.code == 0 and "moved the old ledger to" in rebuilt.out, rebuilt.out + rebuilt.err
    assert len(moved_aside(paper)) == 1


def test_a_lost_ledger_is_rebuilt_without_a_question(paper: PaperBook) -> None:
    assert paper("rebalance").code == 0
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger_path(paper)}{suffix}").unlink(missing_ok=True)

    rebuilt = paper("ledger", "rebuild")

    assert rebuilt.code == 0 and "no old ledger to move aside" in rebuilt.out, rebuilt.err


def test_trades_after_a_rebuild_lists_every_order_and_fill_under_the_decision_that_sent_it(paper: PaperBook) -> None:
    trade_two_decisions(paper)
    assert paper("ledger", "rebuild", "--yes").code == 0

    doc = json.loads(paper("trades", "--json").out)
    rows = list(csv.DictReader(io.StringIO(paper("trades", "--csv").out)))
    text, qqq = paper("trades"), paper("trades", "--symbol", "QQQ")

    decisions = {o["client_order_id"]: r for r in doc["runs"] for o in r["orders"]}
    assert len(decisions) == 5 and doc["totals"]["fills"] == 5
    assert sorted(r["decision"] for r in decisions.values()) == ["calendar", "calendar", "drift", "drift", "drift"]
    for coid, run in decisions.items():
        assert coid.startswith("pb-") and coid.split("-")[1] in run["run_id"]
        assert run["command"] == "ledger rebuild" and "rebuilt from the broker's orders" in run["why"]
    assert sum(1 for r in rows if r["client_order_id"]) == 5
    assert "pb-2026Q4-" in text.out and "TNA" in text.out.partition("fills:")[2]
    assert qqq.code == 0 and "no runs match" not in qqq.out
    assert {line.split()[0] for line in qqq.out.partition("orders:")[2].partition("fills:")[0].splitlines()[2:]} \
           == {o for o in decisions if "-QQQ-" in o}


def test_report_right_after_a_rebuild_shows_the_rebuilt_fills(paper: PaperBook) -> None:
    trade_two_decisions(paper)
    assert paper("ledger", "rebuild", "--yes").code == 0

    done = paper("report", "--offline", "--out", "report.html")

    assert done.code == 0, done.err
    page = (paper.workdir / "report.html").read_text()
    assert "pb-2026Q4-" in page and "-TNA-bto-1" in page
