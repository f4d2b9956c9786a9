"""`pairbot research`: one self-contained page, rendered in headless Chromium (skipped, never installed, without it)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands import research
from tests.backtest.test_commands import parse
from tests.ops.conftest import CHROMIUM_NAMES, Browser

ERROR_TEXT = re.compile(r"Traceback|Exception|internal error|\bnan\b", re.IGNORECASE)
SECTIONS = ("The pair against cash and SPY, by decade", "The trailing-spread gate",
            "The trend gate (50-week average, MACD, RSI)", "Rotation days", "QQQ/IWM and its record",
            "The replica (33 % TNA + cash) against IWM",
            "The S&amp;P overlay (70 % SPY, 10 % UPRO, 10 % TNA, 10 % SQQQ) against SPY", "Data, settings and method")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    found = next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)
    if found is None:
        pytest.skip(f"no headless Chromium on PATH (looked for {', '.join(CHROMIUM_NAMES)}); this test installs "
                    "nothing: apt-get install chromium to run it")
    yield Browser(binary=found, profile=tmp_path / "chromium-profile")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page on eleven synthetic years, with a short bootstrap so the test stays quick."""
    out = tmp_path_factory.mktemp("research")
    args = parse(research, ["--prices", "synthetic", "--from", "2013-01-02", "--to", "2024-12-31", "--train-to",
                            "2021-12-31", "--resamples", "100", "--out", str(out)], out)
    assert research.run(args) == 0
    return out / "research.html"


def charts(dom: str) -> list[str]:
    return re.findall(r'<img[^>]+src="data:image/png;base64,([A-Za-z0-9+/=]+)"', dom)


def test_the_research_page_renders_its_verdicts_sections_and_charts_in_a_browser(page, browser, tmp_path):
    dom = browser.dump_dom(page)

    verdicts = re.search(r'<ul class="verdicts">(.*?)</ul>', dom, re.DOTALL)
    assert verdicts is not None and verdicts.group(1).count("<li>") >= 8
    assert "The thesis did not work on this data" in dom or "The thesis worked on this data" in dom
    for heading in SECTIONS:
        assert heading in dom
    assert len(charts(dom)) >= 10 and all(len(c) > 5000 for c in charts(dom))
    assert not ERROR_TEXT.search(re.sub(r"data:image/png;base64,[^\"]+", "", dom))
    assert browser.screenshot(page, tmp_path / "research.png").stat().st_size > 50_000


def test_the_page_is_self_contained_and_says_its_prices_are_synthetic(page):
    html = page.read_text()

    assert not re.search(r'(src|href)="(?!data:)', html)
    assert "SYNTHETIC (seed 7)" in html and "95 % interval" in html
    assert "out of sample" in html and "known only in hindsight" in html
    assert html.count("Refit every 3 years on all history before (2 choices, 20") == 4  # verdicts and sections
    for gate in ("max_trailing_spread", "min_trend_score"):  # each gate's refits, one row a choice
        table = re.search(rf'<table id="refits-{gate}">(.*?)</table>', html, re.DOTALL)
        assert table is not None and table.group(1).count("<tr>") == 3


def test_every_figure_on_the_page_is_in_points_or_percent_never_scientific(page):
    text = re.sub(r"data:image/png;base64,[^\"]+", "", page.read_text())

    assert not re.search(r"\d[eE][+-]\d", text)


@pytest.mark.parametrize(("value", "points", "percent"), [(-0.00004, "+0.0 pts", "+0.0 %"),
                                                           (-0.0006, "-0.1 pts", "-0.1 %"),
                                                           (0.0123, "+1.2 pts", "+1.2 %")])
def test_figures_that_round_to_zero_are_never_minus_zero(value: float, points: str, percent: str) -> None:
    from bot.research.findings import pct, pts

    assert (pts(value), pct(value)) == (points, percent)


@pytest.mark.parametrize(("value", "spec", "text"), [(-0.00004, "+.1f", "+0.0"), (-0.0004, ".1%", "0.0%"),
                                                     (-0.0006, "+.1%", "-0.1%"), (0.0, "+.2f", "+0.00")])
def test_a_figure_shown_is_never_minus_zero(value: float, spec: str, text: str) -> None:
    from bot.research.words import shown

    assert shown(value, spec) == text
