"""pairbot manages only its own book: what it did not buy is never traded, and a change made outside it in its
own symbols stops the run with one line and a way out (`pairbot ledger accept`)."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from bot.adapters.exchange import ExchangeSettings, Fault, LocalExchange
from bot.adapters.history.frame import synthetic_history
from bot.research.parity import write_csv_dir
from tests.e2e.conftest import KEY, SECRET, PaperBook, paper_env, trading_hours


def positions(book: PaperBook) -> dict[str, Decimal]:
    return book.positions()


def ledger_fill_symbols(book: PaperBook) -> set[str]:
    with sqlite3.connect(book.workdir / ".state" / "ledger-paper.sqlite") as db:
        return {r[0] for r in db.execute("SELECT symbol FROM fills")}


def test_a_position_bought_by_hand_before_the_first_run_is_never_traded_and_shown_apart(paper: PaperBook) -> None:
    paper.hand_order("SPY", 10, "buy")

    first, second = paper("rebalance"), paper("rebalance")
    status = paper("status")

    assert first.code == 0 and second.code == 0, first.err + second.err
    assert positions(paper)["SPY"] == 10
    assert "SPY" not in ledger_fill_symbols(paper)
    assert "not pairbot's (never traded): SPY +10" in first.out
    assert second.posts == 0 and "within band" in second.out
    assert status.code == 0 and "not pairbot's" in status.out and "SPY" in status.out


def test_a_hand_order_in_pairbots_symbol_stops_the_next_run_until_accepted_then_it_tops_up(paper: PaperBook) -> None:
    assert paper("rebalance").code == 0
    short = positions(paper)["QQQ"]
    paper.hand_order("QQQ", 10, "buy")

    stopped = paper("rebalance")

    assert stopped.code == 6 and stopped.posts == 0
    line = stopped.one_line()
    assert f"QQQ: ledger {short}, broker {short + 10} (+10 by orders pairbot did not place)" in line
    assert "pairbot ledger accept" in line and "IWM" not in line

    accepted = paper("ledger", "accept", "--yes", "--reason", "covered 10 by hand")
    topped = paper("rebalance")
    quiet = paper("rebalance")

    assert accepted.code == 0 and "accepted QQQ" in accepted.out, accepted.err
    assert topped.code == 0 and "decision: accepted" in topped.out, topped.out + topped.err
    assert positions(paper)["QQQ"] == short
    assert quiet.code == 0 and quiet.posts == 0 and "within band" in quiet.out


@pytest.mark.parametrize("moved", [Decimal(200), Decimal(-100)])
def test_shares_journaled_in_or_out_by_the_user_stop_the_run_until_accepted(paper: PaperBook, moved: Decimal) -> None:
    assert paper("rebalance").code == 0
    held = positions(paper)["IWM"]
    paper.ex.journal_shares("IWM", moved, date(2026, 12, 2), "from the user's other account")

    stopped, again = paper("rebalance"), paper("rebalance")

    assert stopped.code == 6 and stopped.posts == 0, stopped.out + stopped.err  # never sells or buys back the shares
    assert f"IWM: ledger {held}, broker {held + moved} ({moved:+} by a stock journal or transfer)" in stopped.one_line()
    assert again.code == 6 and again.posts == 0 and again.one_line() == stopped.one_line()
    assert "JNLS" in paper("trades").out  # journaled as an account event, its shares not counted as pairbot's

    accepted = paper("ledger", "accept", "--yes", "--reason", "moved by hand")
    topped, quiet = paper("rebalance"), paper("rebalance")

    assert accepted.code == 0, accepted.err
    assert topped.code == 0 and "decision: accepted" in topped.out, topped.out + topped.err
    assert quiet.code == 0 and quiet.posts == 0 and "within band" in quiet.out


def pnl_lines(status: str) -> tuple[Decimal, Decimal]:
    """(P&L since inception, of which the legs) from `status`."""
    found = re.search(r"P&L since inception: (-?)\$([\d,.]+).*of which the legs (-?)\$([\d,.]+)", status)
    assert found is not None, status
    total, legs = (Decimal(f"{sign}{amount.replace(',', '')}") for sign, amount in (found.group(1, 2),
                                                                                    found.group(3, 4)))
    return total, legs


def test_status_while_the_account_changed_says_so_and_the_legs_pnl_stays_pairbots(paper: PaperBook) -> None:
    assert paper("rebalance").code == 0
    short = positions(paper)["QQQ"]
    paper.hand_order("QQQ", 10, "buy")
    assert paper("rebalance").code == 6

    broken = paper("status")
    accepted = paper("ledger", "accept", "--yes")
    topped, after = paper("rebalance"), paper("status")

    assert broken.code == 0, broken.err
    assert f"pairbot's ledger and the broker disagree: QQQ: ledger {short}, broker {short + 10}" in broken.out
    assert "it would stop: the account changed outside pairbot (exit 6) until pairbot ledger accept" in broken.out
    assert "None" not in broken.out and "-> stopped before deciding, ledger_break (exit 6): the account changed" \
        in broken.out
    total, legs = pnl_lines(broken.out)
    assert abs(total - legs) < 20  # before: the hand-bought shares counted as the legs' gain (~ $4,500)
    assert accepted.code == 0 and topped.code == 0, accepted.err + topped.err
    total, legs = pnl_lines(after.out)
    assert abs(total - legs) < 20  # the accepted shares entered pairbot's book at their mark, not for nothing
    assert "disagree" not in after.out


def test_a_paper_account_reset_stops_the_run_until_accepted_then_the_book_is_rebuilt_to_target(
        paper: PaperBook) -> None:
    assert paper("rebalance").code == 0
    book = positions(paper)
    paper.ex.reset()

    stopped = paper("rebalance")
    accepted = paper("ledger", "accept", "--yes")
    rebuilt = paper("rebalance")
    quiet = paper("rebalance")

    assert stopped.code == 6 and stopped.posts == 0
    line = stopped.one_line()
    assert "IWM: ledger" in line and "QQQ: ledger" in line and "a paper account reset?" in line
    assert accepted.code == 0 and "the broker holds none of pairbot's positions" in accepted.out
    assert rebuilt.code == 0 and rebuilt.posts == 2, rebuilt.out + rebuilt.err
    assert positions(paper) == book
    assert quiet.code == 0 and quiet.posts == 0


def test_accept_without_a_terminal_or_yes_changes_nothing_and_says_how(paper: PaperBook) -> None:
    assert paper("rebalance").code == 0
    paper.hand_order("IWM", 5, "sell")

    refused = paper("ledger", "accept")
    still = paper("rebalance")

    assert refused.code == 2 and "--yes" in refused.one_line()
    assert still.code == 6


def test_accept_with_nothing_to_accept_says_so(paper: PaperBook) -> None:
    assert paper("rebalance").code == 0

    done = paper("ledger", "accept", "--yes")

    assert done.code == 0 and "nothing to accept" in done.out


def test_after_a_strategy_switch_the_old_legs_are_still_pairbots_to_close(paper: PaperBook) -> None:
    assert paper("rebalance").code == 0
    paper.configure(strategy="replica")

    moved = paper("rebalance")

    assert moved.code == 0, moved.err
    held = positions(paper)
    assert "IWM" not in held and "QQQ" not in held and held["TNA"] > 0


def test_legs_an_earlier_strategy_left_are_measured_as_what_they_are(paper: PaperBook) -> None:
    """After the overlay, SQQQ still counts as QQQ x -3 and UPRO as SPY x 3 in the book the plan shows."""
    paper.configure(strategy="overlay")
    assert paper("rebalance").code == 0
    paper.configure(strategy="pair")

    plan = paper("plan")

    assert plan.code == 0, plan.err
    now = next(line for line in plan.out.splitlines() if line.strip().startswith("now "))
    effective = dict(re.findall(r"(\w+) ([+-][\d.]+)%", now.partition("effective ")[2]))
    assert set(effective) == {"IWM", "QQQ", "SPY"}, now  # not SQQQ, TNA, UPRO as funds of their own
    assert Decimal(effective["SPY"]) > 95 and Decimal(effective["IWM"]) > 25 and Decimal(effective["QQQ"]) < -25


def test_switching_onto_a_symbol_the_user_holds_stops_until_the_user_says_it_is_pairbots(paper: PaperBook) -> None:
    paper.hand_order("TNA", 3, "buy")
    assert paper("rebalance").code == 0
    paper.configure(strategy="replica")

    stopped = paper("rebalance")

    assert stopped.code == 6 and stopped.posts == 0
    assert "TNA: ledger 0, broker 3 (+3 by orders pairbot did not place)" in stopped.one_line()


def test_the_ledger_after_rebuild_holds_only_pairbots_orders_and_fills(paper: PaperBook) -> None:
    paper.hand_order("SPY", 4, "buy")
    assert paper("rebalance").code == 0

    rebuilt = paper("ledger", "rebuild", "--yes")

    assert rebuilt.code == 0, rebuilt.err
    assert ledger_fill_symbols(paper) == {"IWM", "QQQ"}


def test_ten_aapl_bought_by_hand_before_the_first_run_are_never_traded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's own case: AAPL (here a CSV replay that quotes it) is the user's, whatever pairbot trades."""
    frames = synthetic_history(["IWM", "QQQ", "SPY"], start=date(2026, 1, 2), end=date(2026, 12, 31), seed=7)
    frames["AAPL"] = frames.pop("SPY")
    write_csv_dir(frames, tmp_path / "prices")
    settings = ExchangeSettings(state_path=None, api_key=KEY, secret_key=SECRET, now=trading_hours(),
                                prices=tmp_path / "prices", partial_fill_probability=0.0)
    with LocalExchange(settings) as ex:
        monkeypatch.chdir(tmp_path)
        for name, value in paper_env(ex).items():
            monkeypatch.setenv(name, value)
        paper = PaperBook(tmp_path, ex, capsys)
        paper.configure()
        paper.hand_order("AAPL", 10, "buy")

        first, second, status = paper("rebalance"), paper("rebalance"), paper("status")

        assert first.code == 0 and second.code == 0 and second.posts == 0, first.err + second.err
        assert paper.positions()["AAPL"] == 10 and "AAPL" not in ledger_fill_symbols(paper)
        assert "not pairbot's (never traded): AAPL +10" in status.out


def test_a_position_without_its_optional_market_value_does_not_price_an_accepted_change_at_zero(
        paper: PaperBook) -> None:
    assert paper("rebalance").code == 0
    paper.hand_order("QQQ", 10, "buy")
    held = paper.client().get("/positions")
    minimal = [{k: v for k, v in p.items() if k != "market_value"} for p in held]  # REFERENCE 6: optional
    paper.ex.faults.add(Fault("status", method="GET", path="/v2/positions", status=200, body=json.dumps(minimal)))

    accepted = paper("ledger", "accept", "--yes", "--reason", "hand trade")

    assert accepted.code == 0, accepted.out + accepted.err
    assert "accepted QQQ" in accepted.out, accepted.out
    with sqlite3.connect(paper.workdir / ".state" / "ledger-paper.sqlite") as db:
        price = db.execute("SELECT price FROM adjustments WHERE symbol = 'QQQ'").fetchone()[0]
    # README: "the shares enter pairbot's P&L at that price [the broker's price then], not for nothing"
    assert Decimal(price) > 0, f"accepted QQQ +10 at ${price}"
