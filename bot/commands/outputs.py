"""What one backtest leaves behind: the summary, the intervals, the gate's episodes, metrics.json and the PNG."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from bot.research.backtest import BacktestResult, BacktestSettings
from bot.research.hindsight import GateReport
from bot.research.intervals import BootstrapSpec, Intervals, bootstrap_intervals
from bot.research.metrics import DAYS_PER_YEAR

TABLE_METRICS = (
    ("final_equity", "final equity", "{:,.0f}"),
    ("cagr", "CAGR", "{:+.2%}"),
    ("volatility", "volatility", "{:.2%}"),
    ("sharpe", "Sharpe", "{:.2f}"),
    ("sortino", "Sortino", "{:.2f}"),
    ("max_drawdown", "max drawdown", "{:.2%}"),
)
INTERVAL_TITLES = {"cagr": "CAGR", "sharpe": "Sharpe", "max_drawdown": "max drawdown",
                   "excess_cagr_vs_cash": "CAGR minus cash's"}

NOT_AS_TRADED = ("prices: shares sized at the prices as given, with no split list (splits.csv) beside them; on "
                 "split-adjusted history a fund that reverse-split since looks dearer than it traded")


@dataclass(frozen=True)
class RunRecord:
    """One backtest with where its prices came from, the strategy's parameters and its intervals."""

    result: BacktestResult
    label: str  # the prices, in words
    source: Mapping[str, object]  # kind, and the directory and its hash, or the seed, or the feed
    params: Mapping[str, object]
    intervals: Intervals | None = None


def result_intervals(result: BacktestResult, spec: BootstrapSpec) -> Intervals:
    """Block-bootstrap intervals on the result's headline figures, benchmarks and cash on the same sessions."""
    arrays = result.arrays
    cash = arrays.cash_return if arrays.cash_return is not None else pd.Series(0.0, index=arrays.dates).to_numpy()
    years = (arrays.dates[-1] - arrays.dates[0]).days / DAYS_PER_YEAR
    return bootstrap_intervals(arrays.equity, years=years, cash_return=cash, benchmarks=arrays.benchmarks, spec=spec)


def interval_title(key: str) -> str:
    if key.startswith("excess_cagr_vs_") and key not in INTERVAL_TITLES:
        return f"CAGR minus {key.removeprefix('excess_cagr_vs_')}'s"
    return INTERVAL_TITLES.get(key, key)


def format_figure(key: str, value: float) -> str:
    if key == "sharpe":
        return f"{value:+.2f}"
    if key.startswith("excess"):
        return f"{value * 100:+.2f} pts"
    return f"{value * 100:+.2f}%"


def render_intervals(intervals: Intervals) -> list[str]:
    spec = intervals.spec
    lines = [f"{spec.confidence:.0%} intervals: {spec.method}, mean block {spec.block_sessions} sessions, "
             f"{spec.resamples:,} resamples, seed {spec.seed}"]
    for key, iv in intervals.figures.items():
        above = f" | above zero in {iv.share_positive:.0%} of resamples" if key.startswith("excess") else ""
        lines.append(f"  {interval_title(key):<22}{format_figure(key, iv.estimate):>12}  "
                     f"[{format_figure(key, iv.low)}, {format_figure(key, iv.high)}]{above}")
    return lines


def render(result: BacktestResult, label: str, *, intervals: Intervals | None = None) -> str:
    m = result.metrics
    lines = [f"backtest {result.strategy} {m['start']} .. {m['end']} ({m['sessions']} sessions) | prices {label}"]
    if not result.metrics.get("prices_as_traded"):
        lines.append(NOT_AS_TRADED)
    lines += [f"note: {n}" for n in result.notes]
    lines += [f"warning: {w}" for w in result.warnings]
    columns: dict[str, Mapping[str, Any]] = {result.strategy: m, **m["benchmarks"]}  # type: ignore[dict-item]
    width = max(12, *(len(c) + 2 for c in columns))
    lines.append(f"{'':<16}" + "".join(f"{c:>{width}}" for c in columns))
    for key, title, fmt in TABLE_METRICS:
        cells = "".join(f"{_fmt(col.get(key), fmt):>{width}}" for col in columns.values())
        lines.append(f"{title:<16}{cells}")
    lines.append(f"max drawdown {m['max_drawdown']:.2%} from {m['max_drawdown_peak']} to {m['max_drawdown_trough']}"
                 f", recovered {m['max_drawdown_recovery'] or 'not yet'}")
    lines.append(f"rebalances {m['rebalances']} ({m['trades']} trades) | turnover {m['turnover']:.2f}x/yr | "
                 f"avg gross {m['avg_gross']:.2f} net {m['avg_net']:+.2f} | costs ${m['costs_usd']:,.0f} "
                 f"borrow ${m['borrow_usd']:,.0f}")
    if intervals is not None:
        lines += render_intervals(intervals)
    return "\n".join(lines)


def render_gate(gate: GateReport) -> str:
    if not gate.in_market_sessions:
        return f"gate: never in the market in {gate.sessions} sessions"
    lines = [f"gate: in the market {gate.time_in_market:.1%} of sessions ({gate.in_market_sessions} of "
             f"{gate.sessions}), {len(gate.episodes)} episodes; in-market mean {gate.in_market_mean * 1e4:+.1f} "
             f"bp/day, t = {gate.in_market_t:.2f} as if days were independent"]
    lines += [f"  {e.start} .. {e.end}  {e.sessions:>5} sessions  {e.strategy_return:+.2%}" for e in gate.episodes]
    return "\n".join(lines)


def render_offsets(table: pd.DataFrame) -> str:
    cagr = table["cagr"]
    best, worst = int(table.loc[cagr.idxmax(), "offset"]), int(table.loc[cagr.idxmin(), "offset"])
    default_rank = int((cagr > cagr.iloc[0]).sum()) + 1
    lines = [f"rebalance day: {len(table)} offsets ({table.attrs['start']} .. {table.attrs['end']}): CAGR "
             f"{cagr.min():+.2%} (offset {worst}) .. {cagr.max():+.2%} (offset {best}), median {cagr.median():+.2%};"
             f" the first session (offset 0) ranks {default_rank} of {len(table)}",
             "  offset " + " ".join(f"{int(o):>6}" for o in table["offset"]),
             "  CAGR % " + " ".join(f"{v * 100:>+6.2f}" for v in cagr),
             "  Sharpe " + " ".join(f"{v:>6.2f}" for v in table["sharpe"])]
    return "\n".join(lines)


def _fmt(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def _param_doc(value: object) -> object:
    """A parameter as JSON: a mapping (an overlay's weights) stays a mapping of plain text, not its repr."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return str(value)


def metrics_doc(run: RunRecord, *, gate: GateReport | None = None) -> dict[str, object]:
    result = run.result
    return {**result.metrics, "source": dict(run.source), "prices_label": run.label,
            "strategy_params": {k: _param_doc(v) for k, v in run.params.items()},
            "settings": settings_doc(result.settings), "notes": list(result.notes),
            "warnings": list(result.warnings),
            "intervals": None if run.intervals is None else run.intervals.doc(),
            "gate": None if gate is None else gate.doc()}


def write_outputs(run: RunRecord, out: Path, *, gate: GateReport | None = None) -> list[Path]:
    result = run.result
    out.mkdir(parents=True, exist_ok=True)
    curve = pd.DataFrame({"equity": result.equity})
    for sym in result.benchmarks.columns:
        curve[f"{sym}_buy_hold"] = result.benchmarks[sym]
    curve["drawdown"] = result.equity / result.equity.cummax() - 1.0
    curve = curve.join(result.exposure)
    curve.index = curve.index.date
    curve.index.name = "date"
    paths = [out / "equity.csv", out / "trades.csv", out / "positions.csv", out / "metrics.json"]
    curve.to_csv(paths[0], float_format="%.6f")
    result.trades.to_csv(paths[1], index=False)
    positions = result.positions.copy()
    positions.index = positions.index.date
    positions.index.name = "date"
    positions.to_csv(paths[2])
    paths[3].write_text(json.dumps(metrics_doc(run, gate=gate), indent=2, default=str) + "\n")
    from bot.research.plots import backtest_png

    paths.append(backtest_png(result, out / "backtest.png", source=run.label, intervals=run.intervals))
    return paths


def settings_doc(s: BacktestSettings) -> dict[str, object]:
    doc = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(replace(s, splits=None)).items()}
    doc["splits"] = None if s.splits is None else [f"{x.symbol} {x.on} {x.ratio}" for x in s.splits]
    return doc


def settings_line(s: BacktestSettings) -> str:
    """The settings that change a result, in one line for a title."""
    band = "no band" if s.leg_band is None else f"band {s.leg_band * 100:g} pts"
    cash = s.cash_symbol or f"{s.cash_rate * 100:g}%/yr"
    return (f"{s.frequency}, {band}, fill at {s.fill.replace('_', ' ')}, commission {s.commission_bps:g} bps, "
            f"slippage {s.slippage_bps:g} bps, borrow {s.borrow_bps:g} bps/yr, cash earns {cash}")
