"""The backtest picture: equity against buy-and-hold benchmarks, drawdown, and exposure, in one PNG."""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bot.research.backtest import BacktestResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from bot.research.intervals import Intervals


def figure_png(draw: Callable[[Figure], None], *, size: tuple[float, float]) -> str:
    """Draw on a new headless figure (matplotlib loads here, not at import) and return it as base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=size, dpi=100)
    try:
        draw(fig)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def concise_dates(ax: Axes, *, zone: str | None = None) -> bool:
    """Date ticks as matplotlib's ConciseDateFormatter writes them (the common part once, in the axis offset:
    "19.590" s under "2026-Dec-02 02:33" for runs seconds apart, months under a year, years over decades), the
    offset naming `zone` where the ticks are times of day; False when the axis holds no dates."""
    import matplotlib.dates as mdates

    locator = ax.xaxis.get_major_locator()
    if not isinstance(locator, mdates.AutoDateLocator):
        return False
    suffix = f" {zone}" if zone else ""
    offsets = ["", "%Y", "%Y-%b", f"%Y-%b-%d{suffix}", f"%Y-%b-%d{suffix}", f"%Y-%b-%d %H:%M{suffix}"]
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, offset_formats=offsets))  # type: ignore[no-untyped-call]
    return True


def drawdown(equity: pd.Series) -> pd.Series:
    return equity / equity.cummax() - 1.0


def price_label(result: BacktestResult) -> str:
    """Which prices shares were sized at, for the title."""
    if not result.metrics.get("prices_as_traded"):
        return "split-adjusted prices (no splits.csv)"
    applied = result.metrics.get("splits_applied")
    total = sum(applied.values()) if isinstance(applied, dict) else 0
    return f"as-traded prices ({total} splits applied)"


def _dollars(value: float, _: object = None) -> str:
    """Axis labels in plain dollars ($80k, $1.2m), never powers of ten."""
    if value >= 1e6:
        return f"${value / 1e6:.3g}m"
    return f"${value / 1e3:.3g}k" if value >= 1e3 else f"${value:.3g}"


def packed_lines(items: Sequence[str], *, width: int) -> list[str]:
    """The items joined by " · " into as few lines as keep each within `width` characters (a longer item alone)."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 3 + len(item) <= width:
            lines[-1] += f" · {item}"
        else:
            lines.append(item)
    return lines


def _warn(fig: Figure, warnings: Sequence[str]) -> None:
    """Lay the figure out, leaving room at the foot for each warning, written there in red."""
    if not warnings:
        fig.tight_layout()
        return
    lines = [textwrap.fill(f"warning: {w}", width=150) for w in warnings]
    height = 0.018 * sum(line.count("\n") + 1 for line in lines) + 0.01
    fig.tight_layout(rect=(0.0, height, 1.0, 1.0))
    fig.text(0.01, 0.005, "\n".join(lines), color="firebrick", fontsize=8, va="bottom", ha="left")


def backtest_png(result: BacktestResult, path: Path, *, label: str | None = None, source: str | None = None,
                 intervals: Intervals | None = None) -> Path:
    """Write the three-panel chart; matplotlib is imported here so other commands never pay for it.

    The title names the strategy, the span, the prices (`source`: which directory, or SYNTHETIC) and how
    shares were sized; a second line gives the settings; the intervals, when given, follow on the lines under it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    from bot.commands.outputs import format_figure, interval_title, settings_line

    m = result.metrics
    prices = f"prices {source} | " if source else ""
    title = label or (f"{result.strategy} {m['start']} .. {m['end']} | {prices}{price_label(result)}\n"
                      f"{settings_line(result.settings)}")
    fig, (top, mid, low) = plt.subplots(
        3, 1, figsize=(11, 9), sharex=True, gridspec_kw={"height_ratios": [3, 1.3, 1.3]}
    )
    colors = {sym: f"C{i + 1}" for i, sym in enumerate(result.benchmarks.columns)}
    top.plot(result.equity.index, result.equity.to_numpy(), label=result.strategy, linewidth=1.4, color="C0")
    for sym in result.benchmarks.columns:
        top.plot(result.benchmarks.index, result.benchmarks[sym].to_numpy(), label=f"{sym} buy and hold",
                 linewidth=0.9, alpha=0.8, color=colors[sym])
    top.set_yscale("log")
    top.yaxis.set_major_formatter(FuncFormatter(_dollars))
    top.yaxis.set_minor_formatter(FuncFormatter(_dollars))
    top.tick_params(axis="y", which="minor", labelsize=7)
    top.set_ylabel("equity ($, log scale)")
    if intervals is not None:  # under the title, where no curve runs
        spec = intervals.spec
        rows = [f"{interval_title(k)} {format_figure(k, v.estimate)} [{format_figure(k, v.low)}, "
                f"{format_figure(k, v.high)}]" for k, v in intervals.figures.items()]
        head = f"{spec.confidence:.0%} intervals (block bootstrap, mean block {spec.block_sessions} sessions):"
        title += "\n" + "\n".join([head, *packed_lines(rows, width=120)])
    top.set_title(title, fontsize=9.5)
    top.legend(loc="upper left", fontsize=8)
    top.grid(True, alpha=0.3)
    mid.fill_between(result.equity.index, drawdown(result.equity).to_numpy() * 100, 0, alpha=0.5,
                     label=result.strategy, color="C0")
    for sym in result.benchmarks.columns:
        mid.plot(result.benchmarks.index, drawdown(result.benchmarks[sym]).to_numpy() * 100, linewidth=0.7,
                 label=sym, color=colors[sym])
    mid.set_ylabel("drawdown (%)")
    mid.legend(loc="lower left", fontsize=8)
    mid.grid(True, alpha=0.3)
    low.plot(result.exposure.index, result.exposure["gross"].to_numpy(), label="gross", color="C0")
    low.plot(result.exposure.index, result.exposure["net"].to_numpy(), label="net", color="C3")
    effective = result.effective
    if len(effective.columns) and not np.allclose(effective.sum(axis=1).to_numpy(), result.exposure["net"].to_numpy(),
                                                  atol=1e-9, equal_nan=True):
        # a book of leveraged or inverse funds: its net by underlying is what it is exposed to (PSQ long is short QQQ)
        low.plot(effective.index, effective.sum(axis=1).to_numpy(), label="net by underlying", color="C2", lw=1)
    low.axhline(0.0, color="black", linewidth=0.5)
    low.set_ylabel("exposure (x equity)")
    low.legend(loc="best", fontsize=8)  # a gated book spends time flat: no corner is always free
    low.grid(True, alpha=0.3)
    _warn(fig, result.warnings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
