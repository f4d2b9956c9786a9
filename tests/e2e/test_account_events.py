"""Across quarters: splits, dividends and cash the broker books between runs are journaled as pairbot's own
account events, explain the change in its positions, and never cause a phantom trade or a stuck book."""

from __future__ import annotations

import json
from datetime import date
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest

from bot.adapters.exchange import ExchangeSettings, Fault, LocalExchange
from bot.adapters.history.frame import synthetic_history
from bot.research.parity import write_csv_dir
from tests.e2e.conftest import IN_WINDOW, KEY, SECRET, PaperBook, paper_env, trading_hours

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
    status, trades, report = paper("status"), paper("trades"), paper("report", "--offline")

    assert run.code == 0 and run.posts == 0 and "within band" in run.out, run.out + run.err
    page = (paper.workdir / "reports" / "report.html").read_text()
    assert report.code == 0 and "<h2>Account events</h2>" in page and "REMOVE, From QTY" in page
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


def test_a_fractional_short_in_a_fund_the_broker_takes_no_fractions_in_trades_whole_shares_and_keeps_it(
        paper: PaperBook) -> None:
    paper.ex.schedule_split("QQQ", TOMORROW, Decimal("0.25"))
    paper.ex.set_asset_flags("QQQ", fractionable=False)
    assert paper("rebalance").code == 0
    paper.next_day()
    assert paper("rebalance").code == 0
    fractional = paper.positions()["QQQ"]
    paper.next_day(days=33)  # the first session of 2027Q1: a calendar rebalance

    first, second = paper("rebalance"), paper("rebalance")

    assert fractional != fractional.to_integral_value()
    assert first.code == 0 and second.code == 0, first.out + first.err + second.err  # never an order it refuses
    fraction = fractional - fractional.to_integral_value(ROUND_DOWN)  # -109.75 keeps its -0.75
    assert paper.positions()["QQQ"] - paper.positions()["QQQ"].to_integral_value(ROUND_DOWN) == fraction
    assert f"note QQQ: keeps its fraction of {abs(fraction)} share(s): QQQ is not fractionable" in first.out
    assert second.posts == 0 and "within band" in second.out


def test_dividends_on_the_long_and_the_short_leg_are_cash_and_pnl_and_send_nothing(paper: PaperBook) -> None:
    paper.ex.schedule_dividend("IWM", TOMORROW, Decimal("1.00"))
    paper.ex.schedule_dividend("QQQ", TOMORROW, Decimal("0.50"))
    assert paper("rebalance").code == 0
    held = paper.positions()
    paper.next_day()

    run = paper("rebalance")
    status = paper("status", "--json")

    assert run.code == 0 and run.posts == 0, run.out + run.err
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

    rebuilt = paper("ledger", "rebuild", "--yes")
    after = paper("rebalance")

    assert rebuilt.code == 0 and "account events" in rebuilt.out, rebuilt.out + rebuilt.err
    assert after.code == 0 and after.posts == 0, after.out


def test_paper_mode_shows_what_live_would_have_cost_the_short_apart(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Alpaca paper books no dividends and no borrow fees: status shows them apart, from the bars."""
    frames = synthetic_history(["IWM", "QQQ"], start=date(2026, 1, 2), end=date(2026, 12, 31), seed=7)
    qqq = frames["QQQ"]
    before = qqq.index < "2026-12-03"
    qqq.loc[before, "adj_close"] = qqq.loc[before, "close"] * (1 - 0.5 / float(qqq.loc["2026-12-02", "close"]))
    qqq.loc[~before, "adj_close"] = qqq.loc[~before, "close"]
    write_csv_dir(frames, tmp_path / "prices")
    settings = ExchangeSettings(state_path=None, api_key=KEY, secret_key=SECRET, now=trading_hours(),
                                prices=tmp_path / "prices", partial_fill_probability=0.0, simulate_dividends=False)
    with LocalExchange(settings) as ex:
        monkeypatch.chdir(tmp_path)
        for name, value in paper_env(ex).items():
            monkeypatch.setenv(name, value)
        paper = PaperBook(tmp_path, ex, capsys)
        paper.configure(live_costs={"borrow_bps": 50})
        assert paper("rebalance").code == 0
        short = paper.positions()["QQQ"]
        paper.next_day()
        assert paper("rebalance").code == 0

        doc = json.loads(paper("status", "--json").out)

    assert doc["leg_cash"] == {}  # paper booked no dividend
    assert Decimal(doc["live_costs"]["dividends"]["QQQ"]) == (short * Decimal("0.5")).quantize(Decimal("0.01"))
    assert Decimal(doc["live_costs"]["borrow"]["QQQ"]) < 0
