"""What live would have cost a short book that Alpaca paper books for free: dividends and borrow."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd

from bot.core.costs import dividends_per_share, live_costs
from bot.core.domain import Symbol

QQQ = Symbol("QQQ")
DAYS = pd.to_datetime(["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"])


def test_a_dividend_is_read_from_the_drop_of_adjusted_against_raw_closes() -> None:
    raw = pd.Series([100.0, 100.0, 99.5, 99.5], index=DAYS)
    adjusted = raw * pd.Series([0.995, 0.995, 1.0, 1.0], index=DAYS)

    assert dividends_per_share(raw, adjusted) == {date(2026, 12, 3): Decimal("0.5000")}


def test_a_split_is_not_read_as_a_dividend() -> None:
    raw = pd.Series([100.0, 100.0, 50.0, 50.0], index=DAYS)
    adjusted = pd.Series([50.0, 50.0, 50.0, 50.0], index=DAYS)

    assert dividends_per_share(raw, adjusted) == {}


def test_a_short_held_over_an_ex_date_pays_the_dividend_and_its_borrow_every_calendar_day() -> None:
    raw = pd.DataFrame({"QQQ": [360.0, 360.0, 360.0, 360.0]}, index=DAYS)
    adjusted = raw * pd.DataFrame({"QQQ": [0.999, 0.999, 1.0, 1.0]}, index=DAYS)
    holdings = [(date(2026, 12, 1), {QQQ: Decimal("-100")})]

    costs = live_costs(holdings, raw, adjusted, borrow_bps=Decimal("36"), through=date(2026, 12, 4))

    assert costs.dividends == {QQQ: Decimal("-36.00")}  # 0.36 a share x 100
    assert costs.borrow == {QQQ: Decimal("-1.44")}  # $36,000 x 0.36% a year / 360 = $0.36 a day, 4 days
    assert costs.total == Decimal("-37.44")


def test_a_long_only_book_costs_nothing_extra() -> None:
    raw = pd.DataFrame({"IWM": [200.0, 200.0, 199.0, 199.0]}, index=DAYS)

    costs = live_costs([(date(2026, 12, 1), {Symbol("IWM"): Decimal("10")})], raw, raw, borrow_bps=Decimal(50),
                       through=date(2026, 12, 4))

    assert costs.total == 0
