"""`pairbot report`: one self-contained HTML file, checked in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.ops.conftest import Browser, Pairbot

ERROR_TEXT = re.compile(r"Traceback|Exception|internal error|\berror\b", re.IGNORECASE)


def charts(dom: str) -> list[str]:
    """The base64 payload of every embedded PNG."""
    return re.findall(r'<img[^>]+src="data:image/png;base64,([A-Za-z0-9+/=]+)"', dom)


def test_the_ledger_report_shows_its_charts_and_fills_in_a_browser(traded: Pairbot, browser: Browser,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "report.html"

    done = traded.run("report", "--out", str(out))

    assert done.returncode == 0, done.stderr
    dom = browser.dump_dom(out)
    assert len(charts(dom)) >= 5 and all(len(c) > 2000 for c in charts(dom))
    for heading in ("Equity vs benchmarks", "Drawdown", "P&amp;L per leg", "Weights over time", "Spread: IWM - QQQ"):
        assert heading in dom
    fills = re.search(r'<table id="fills">.*?</table>', dom, re.DOTALL)
    assert fills is not None and fills.group(0).count("<tr>") == 3 and "pb-" in fills.group(0)
    assert "Benchmarks omitted" not in dom  # the embedded exchange serves SPY and IWM bars
    assert not ERROR_TEXT.search(re.sub(r"data:image/png;base64,[^\"]+", "", dom))
    shot = browser.screenshot(out, tmp_path / "report.png")
    assert shot.stat().st_size > 20_000


def test_the_ledger_report_works_offline_and_says_the_benchmarks_are_omitted(traded: Pairbot,
                                                                            tmp_path: Path) -> None:
    out = tmp_path / "offline.html"

    done = traded.run("report", "--offline", "--out", str(out))

    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "Benchmarks omitted" in page and len(charts(page)) >= 5


def test_a_backtest_directory_with_only_an_equity_curve_still_renders(pairbot: Pairbot, browser: Browser,
                                                                     tmp_path: Path) -> None:
    results = tmp_path / "bt"
    results.mkdir()
    rows = [f"2024-01-{d:02d},{100000 + 150 * d - (900 if d % 7 == 0 else 0)},{100000 + 90 * d},{100000 + 60 * d}"
            for d in range(2, 31)]
    (results / "equity.csv").write_text("date,equity,SPY_buy_hold,IWM_buy_hold\n" + "\n".join(rows) + "\n")
    out = tmp_path / "bt.html"

    done = pairbot.run("report", "--backtest", str(results), "--out", str(out))

    assert done.returncode == 0, done.stderr
    dom = browser.dump_dom(out)
    assert len(charts(dom)) >= 2
    assert "trades.csv is missing" in dom and "metrics.json is missing" in dom
    assert not ERROR_TEXT.search(re.sub(r"data:image/png;base64,[^\"]+", "", dom))


def facts_of(page: Path) -> dict[str, str]:
    """The report's facts table, measure -> value."""
    facts = re.search(r'<table id="facts">.*?</table>', page.read_text(), re.DOTALL)
    assert facts is not None
    return dict(re.findall(r"<tr><td>(.*?)</td><td[^>]*>(.*?)</td></tr>", facts.group(0), re.DOTALL))


def test_a_backtest_report_says_its_metrics_in_words_not_json(pairbot: Pairbot, tmp_path: Path) -> None:
    results, out = tmp_path / "bt", tmp_path / "bt.html"
    ran = pairbot.run("backtest", "--out", str(results))
    assert ran.returncode == 0, ran.stderr

    done = pairbot.run("report", "--backtest", str(results), "--out", str(out))

    assert done.returncode == 0, done.stderr
    rows = facts_of(out)
    for sym in ("SPY", "IWM"):
        assert re.fullmatch(r"final \$[\d,]+\.\d\d, CAGR [+-]\d+\.\d\d %, volatility \d+\.\d\d %, Sharpe [+-]\d\.\d\d, "
                            r"Sortino [+-]\d\.\d\d, max drawdown -\d+\.\d\d %", rows[f"benchmark {sym} (buy and hold)"])
    assert rows["unholdable_legs"] == "none" and rows["applied_splits"] == "none"
    assert re.fullmatch(r"IWM \d+, QQQ \d+", rows["splits_applied"])
    assert rows["max_drawdown_recovery"] == "not recovered by the end" or re.fullmatch(
        r"\d{4}-\d\d-\d\d", rows["max_drawdown_recovery"])
    assert not any(v.startswith(("{", "[")) or v == "None" for v in rows.values())


def test_an_overlay_backtest_report_writes_its_parameters_and_settings_plainly(pairbot: Pairbot,
                                                                                tmp_path: Path) -> None:
    """Its weights were `{'SPY': Decimal('0.7'), ...}` and unset settings `end=None`."""
    results, out = tmp_path / "bt", tmp_path / "bt.html"
    ran = pairbot.run("backtest", "--strategy", "overlay", "--out", str(results))
    assert ran.returncode == 0, ran.stderr

    done = pairbot.run("report", "--backtest", str(results), "--out", str(out))

    assert done.returncode == 0, done.stderr
    rows = facts_of(out)
    params, settings = rows["strategy_params"], rows["settings"]
    assert re.search(r"weights=SPY \d[\d.]*, [A-Z]+ \d", params), params
    assert "vehicle_specs=none" in params
    assert "end=-" in settings and "cash_symbol=-" in settings
    for text in (params, settings):
        assert "Decimal(" not in text and "None" not in text and "{" not in text and "&#x27;" not in text, text


def test_a_missing_backtest_directory_is_one_line_and_exit_2(pairbot: Pairbot) -> None:
    done = pairbot.run("report", "--backtest", "no-such-dir")

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no equity.csv" in done.stderr


def test_an_unwritable_out_path_is_one_line_and_exit_2_without_talk_of_orders(traded: Pairbot,
                                                                               tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    done = traded.run("report", "--offline", "--out", str(blocker / "report.html"))

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and f"{blocker}: File exists" in done.stderr
    assert "sent" not in done.stderr and "Traceback" not in done.stderr  # a report sends nothing, so says nothing of it


def test_a_ledger_without_an_account_snapshot_says_what_the_report_needs_and_how_to_get_it(pairbot: Pairbot) -> None:
    (pairbot.workdir / ".state").mkdir()
    (pairbot.workdir / ".state" / "KILL").touch()
    assert pairbot.run("rebalance").returncode == 3  # a run journaled before any snapshot was taken

    done = pairbot.run("report", "--offline")
    (pairbot.workdir / ".state" / "KILL").unlink()
    assert pairbot.run("plan").returncode == 0
    after_plan = pairbot.run("report", "--offline")

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no account snapshot yet" in done.stderr
    assert "`pairbot plan` (sends nothing)" in done.stderr
    assert after_plan.returncode == 0, after_plan.stderr


@pytest.mark.parametrize(("csv", "says"), [
    ("date,equity\nxx,yy\n", "the first column must hold dates (YYYY-MM-DD), got 'xx'"),
    ("date,equity\n2024-01-02,yy\n", "column 'equity' must hold numbers, got 'yy'"),
])
def test_a_backtest_equity_curve_that_is_not_dates_and_numbers_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], csv: str, says: str) -> None:
    from bot.cli import main

    (tmp_path / "bt").mkdir()
    (tmp_path / "bt" / "equity.csv").write_text(csv)

    code = main(["report", "--backtest", str(tmp_path / "bt"), "--out", str(tmp_path / "r.html")])

    assert code == 2
    assert capsys.readouterr().err == f"pairbot: {tmp_path / 'bt' / 'equity.csv'}: {says}\n"


def test_the_ledger_reports_benchmarks_start_at_the_first_snapshot_and_only_move_forward(traded: Pairbot) -> None:
    """The first day's close, indexed at midnight, came after the start point at 15:45: the line ran backwards
    and began left of pairbot's first point."""
    from bot.commands.report import from_ledger
    from bot.config import load_config

    data = from_ledger(traded.config, load_config(traded.config), offline=False)

    assert data.benchmarks
    for sym, series in data.benchmarks.items():
        assert series.index[0] == data.equity.index[0], sym
        assert series.index.is_monotonic_increasing and (series.index >= data.equity.index[0]).all(), sym
        assert series.iloc[0] == pytest.approx(float(data.equity.iloc[0])), sym


def test_a_close_dated_the_first_snapshots_day_is_drawn_after_it() -> None:
    import pandas as pd

    from bot.commands.report import rebased

    equity = pd.Series([99_000.0, 99_500.0], index=pd.DatetimeIndex(["2026-03-02 15:45", "2026-03-03 15:45"]))
    closes = pd.Series([100.0, 101.0, 102.0],
                       index=pd.DatetimeIndex(["2026-02-27", "2026-03-02", "2026-03-03"]))

    line = rebased(closes, equity)

    assert list(line.index) == list(pd.DatetimeIndex(["2026-03-02 15:45", "2026-03-02 20:00", "2026-03-03"]))
    assert list(line) == pytest.approx([99_000.0, 99_990.0, 100_980.0])
