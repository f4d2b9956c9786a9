"""Across quarters: splits, dividends and cash the broker books between runs are journaled as pairbot's own
account events, explain the change in its positions, and never cause a phantom trade or a stuck book."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot.exchange import Fault
from tests.e2e.conftest import IN_WINDOW, PaperBook

TOMORROW = date(2026, 12, 3)  # IN_WINDOW is Wednesday 2026-12-02


def inverse_pair(paper: PaperBook) -> None:
    paper.configure(strategies={"pair": {"hedge": "inverse"}})


def test_a_reverse_split_of_psq_between_runs_is_explained_and_sends_nothing(paper: PaperBook) -> None:
    inverse_pair(paper)
    paper.ex.schedule_split("PSQ", TOMORROW, Decimal("0.25"))
    assert paper("rebalance").code == 0
    before = paper.positions()["PSQ"]
    paper.next_day()

    run = paper("rebalance")
    status, trades = paper("status"), paper("trades")

    assert run.code == 0 and run.posts == 0 and "within band" in run.out, run.out + run.err
    assert paper.positions()["PSQ"] == before / 4
    assert f"PSQ 2026-12-03: {before} -> {before / 4} shares" in status.out
    assert "SPLIT" in trades.out and "RSPLIT" not in trades.out.split("account events:")[0]


def test_a_forward_split_of_the_short_leg_between_runs_is_explained_and_sends_nothing(paper: PaperBook) -> None:
    paper.ex.schedule_split("QQQ", TOMORROW, Decimal("2"))
    assert paper("rebalance").code == 0
    before = paper.positions()["QQQ"]
    paper.next_day()

    run = paper("rebalance")

    assert run.code == 0 and run.posts == 0, run.out + run.err
    assert paper.positions()["QQQ"] == before * 2


def test_a_short_a_split_left_fractional_is_rounded_by_the_next_rebalance_with_a_reason(paper: PaperBook) -> None:
    paper.ex.schedule_split("QQQ", TOMORROW, Decimal("0.25"))
    assert paper("rebalance").code == 0
    paper.next_day()
    assert paper("rebalance").code == 0  # within band: the fraction waits for the next rebalance
    fractional = paper.positions()["QQQ"]
    paper.next_day(days=33)  # the first session of 2027Q1: a calendar rebalance

    run = paper("rebalance")

    assert fractional != fractional.to_integral_value()
    assert run.code == 0, run.out + run.err
    assert "a split left the short fractional" in run.out
    assert paper.positions()["QQQ"] == paper.positions()["QQQ"].to_integral_value()


def test_dividends_on_the_long_and_the_short_leg_are_cash_and_pnl_and_send_nothing(paper: PaperBook) -> None:
    paper.ex.schedule_dividend("IWM", TOMORROW, Decimal("1.00"))
    paper.ex.schedule_dividend("QQQ", TOMORROW, Decimal("0.50"))
    assert paper("rebalance").code == 0
    held = paper.positions()
    paper.next_day()

    run = paper("rebalance")
    status = paper("status", "--json")

    assert run.code == 0 and run.posts == 0, run.out + run.err
    import json

    doc = json.loads(status.out)
    assert doc["leg_cash"] == {"IWM": str(held["IWM"] * 1), "QQQ": str(held["QQQ"] * Decimal("0.5"))}
    legs = {leg["symbol"]: Decimal(leg["pnl"]) for leg in doc["legs"]}
    assert legs["QQQ"] < 0 or legs["IWM"] > 0  # each leg's P&L carries its dividend


def test_a_split_the_broker_has_not_booked_yet_waits_with_one_line_then_goes_on(paper: PaperBook) -> None:
    inverse_pair(paper)
    paper.ex.schedule_split("PSQ", TOMORROW, Decimal("0.25"))
    assert paper("rebalance").code == 0
    paper.next_day()
    paper.ex.faults.add(Fault("status", method="GET", path="/v2/account/activities", status=200, body="[]"))

    waiting = paper("rebalance")
    paper.ex.faults.clear()
    booked = paper("rebalance")

    assert waiting.code == 6 and waiting.posts == 0
    assert "waiting for the 1-for-4 split of PSQ to be booked" in waiting.one_line()
    assert booked.code == 0 and booked.posts == 0, booked.out + booked.err


def test_fees_interest_and_a_deposit_are_journaled_and_a_deposit_is_not_pnl(paper: PaperBook) -> None:
    assert paper("rebalance").code == 0
    paper.ex.book_cash("INT", Decimal("12.34"), IN_WINDOW.date())
    paper.ex.book_cash("FEE", Decimal("-1.50"), IN_WINDOW.date())
    paper.ex.book_cash("JNLC", Decimal("5000"), IN_WINDOW.date())

    run = paper("rebalance")
    status = paper("status")

    assert run.code == 0, run.err
    assert "account cash: fee -$1.50, interest $12.34, transfer $5,000.00; transfers are not P&L" in status.out


def test_a_rebuilt_ledger_replays_the_splits_and_matches_the_broker(paper: PaperBook) -> None:
    inverse_pair(paper)
    paper.ex.schedule_split("PSQ", TOMORROW, Decimal("0.25"))
    assert paper("rebalance").code == 0
    paper.next_day()
    assert paper("rebalance").code == 0

    rebuilt = paper("ledger", "rebuild")
    after = paper("rebalance")

    assert rebuilt.code == 0 and "account events" in rebuilt.out, rebuilt.out + rebuilt.err
    assert after.code == 0 and after.posts == 0, after.out
