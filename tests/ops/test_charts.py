"""What the charts write around their curves: the report's date axis labelled for the span it shows (a ledger's
first snapshots can be milliseconds apart, a year of runs spans months), the backtest chart's header lines."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from bot.research.plots import concise_dates, packed_lines


def ticks(start: str, span: str, zone: str | None = None) -> tuple[list[str], str]:
    fig, ax = plt.subplots()
    try:
        index = pd.DatetimeIndex([pd.Timestamp(start), pd.Timestamp(start) + pd.Timedelta(span)])
        ax.plot(index, [1.0, 2.0])
        assert concise_dates(ax, zone=zone)
        fig.canvas.draw()
        return [t.get_text() for t in ax.get_xticklabels() if t.get_text()], ax.xaxis.get_offset_text().get_text()
    finally:
        plt.close(fig)


def test_snapshots_milliseconds_apart_show_seconds_under_the_day_and_minute() -> None:
    labels, offset = ticks("2026-12-02 02:33:19.590", "25ms", zone="UTC")
    assert offset == "2026-Dec-02 02:33 UTC"
    assert labels and all(len(label.split(".")[-1]) <= 3 for label in labels)  # no microseconds
    assert all(":" not in label for label in labels)


@pytest.mark.parametrize(("span", "shown"), [("5h", "03:00"), ("400D", "2027"), ("3000D", "2030")])
def test_longer_spans_show_hours_months_or_years(span: str, shown: str) -> None:
    labels, offset = ticks("2026-12-02 02:33:19", span, zone="UTC")
    assert shown in labels
    assert offset.endswith("UTC") == (span == "5h")  # a zone only where the ticks are times of day


def test_an_axis_without_dates_is_left_alone() -> None:
    fig, ax = plt.subplots()
    try:
        ax.plot([1.0, 2.0], [3.0, 4.0])
        assert not concise_dates(ax)
    finally:
        plt.close(fig)


def test_the_backtest_charts_intervals_are_packed_into_lines_that_fit_under_its_title() -> None:
    rows = ["CAGR -1.72% [-4.15%, +1.07%]", "Sharpe -0.20 [-0.54, +0.18]", "max drawdown -49.99% [-71.48%, -24.42%]",
            "CAGR minus cash's -1.72 pts [-4.15 pts, +1.07 pts]", "CAGR minus SPY's -3.95 pts [-12.73 pts, +2.96 pts]"]

    lines = packed_lines(rows, width=120)

    assert " · ".join(lines) == " · ".join(rows)  # every item, in order
    assert all(len(line) <= 120 for line in lines) and len(lines) == 2
    assert packed_lines(["x" * 130, "y"], width=120) == ["x" * 130, "y"]  # a longer item alone on its line
