"""One self-contained HTML report (plots embedded as base64 PNG) from the ledger or a backtest directory."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bot.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass
class ReportData:
    title: str
    source: str
    equity: pd.Series  # DatetimeIndex (naive UTC), dollars
    facts: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    benchmarks: dict[str, pd.Series] = field(default_factory=dict)  # rebased to the first equity value
    pnl: pd.DataFrame | None = None  # per-leg P&L (realized + unrealized) over time
    weights: pd.DataFrame | None = None  # signed weight per symbol over time
    targets: dict[str, float] = field(default_factory=dict)
    band: float | None = None
    exposure: pd.DataFrame | None = None  # gross / net over time, when weights are not known
    spread: pd.Series | None = None  # long leg minus short leg cumulative return, percentage points
    spread_label: str = "IWM - QQQ"
    rebalances: list[pd.Timestamp] = field(default_factory=list)
    table_title: str = "Fills"
    table_columns: list[str] = field(default_factory=list)
    table_rows: list[list[str]] = field(default_factory=list)
    events: list[tuple[pd.Timestamp, str, str]] = field(default_factory=list)  # (when, kind, label): marked on charts
    event_rows: list[list[str]] = field(default_factory=list)  # date, type, symbol, qty, cash, description


def naive_utc(index: Sequence[Any]) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(pd.to_datetime(list(index), utc=True))
    return idx.tz_convert(None)


# -- charts -----------------------------------------------------------------------------------------------


def _png(draw: Callable[[Axes], None], *, height: float = 3.2) -> str:
    from bot.research.plots import concise_dates, figure_png  # matplotlib loads there: other commands stay fast

    def on(fig: Figure) -> None:
        ax = fig.add_subplot()
        draw(ax)
        ax.grid(True, alpha=0.3)
        if not concise_dates(ax, zone="UTC"):  # snapshots may be seconds apart or years: label either plainly
            fig.autofmt_xdate()

    return figure_png(on, size=(9, height))


def _style(series: pd.Series | pd.DataFrame) -> dict[str, Any]:
    return {"marker": "o", "markersize": 4} if len(series) <= 30 else {}


EVENT_STYLE = {"split": ("#8e44ad", "--"), "dividend": ("#27ae60", ":")}


def _mark_events(ax: Axes, events: list[tuple[pd.Timestamp, str, str]]) -> None:
    """A vertical line per split and dividend, labelled once per kind in the legend."""
    seen: set[str] = set()
    for when, kind, label in events:
        color, style = EVENT_STYLE.get(kind, ("#7f8c8d", ":"))
        ax.axvline(when, color=color, ls=style, lw=1, label=None if kind in seen else kind)
        ax.annotate(label, (when, 1.0), xycoords=("data", "axes fraction"), rotation=90, fontsize=7, color=color,
                    ha="right", va="top")
        seen.add(kind)


def equity_chart(d: ReportData) -> str:
    def draw(ax: Axes) -> None:
        ax.plot(d.equity.index, d.equity.to_numpy(), label="pairbot equity", color="#1f4e79", lw=2, **_style(d.equity))
        for name, s in d.benchmarks.items():
            ax.plot(s.index, s.to_numpy(), label=f"{name} (same start)", ls="--", lw=1.2, **_style(s))
        _mark_events(ax, d.events)
        ax.set_ylabel("$")
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)
        ax.legend(loc="best", fontsize=8)

    return _png(draw)


def drawdown_chart(d: ReportData) -> str:
    dd = (d.equity / d.equity.cummax() - 1.0) * 100

    def draw(ax: Axes) -> None:
        ax.fill_between(dd.index, dd.to_numpy(), 0, color="#c0392b", alpha=0.35)  # under the line as drawn
        ax.plot(dd.index, dd.to_numpy(), color="#c0392b", lw=1, **_style(dd))
        ax.set_ylabel("% below peak")
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)

    return _png(draw, height=2.4)


def pnl_chart(pnl: pd.DataFrame) -> str:
    def draw(ax: Axes) -> None:
        for sym in pnl.columns:
            ax.plot(pnl.index, pnl[sym].to_numpy(), label=sym, **_style(pnl))
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylabel("$")
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)
        ax.legend(loc="best", fontsize=8)

    return _png(draw)


def weights_chart(weights: pd.DataFrame, targets: dict[str, float], band: float | None) -> str:
    def draw(ax: Axes) -> None:
        for sym in weights.columns:
            line = ax.plot(weights.index, weights[sym].to_numpy() * 100, label=sym, **_style(weights))[0]
            if sym in targets:
                t = targets[sym] * 100
                ax.axhline(t, color=line.get_color(), ls=":", lw=1)
                if band is not None:
                    ax.axhspan(t - band * 100, t + band * 100, color=line.get_color(), alpha=0.12)
        ax.set_ylabel("% of equity")
        ax.legend(loc="best", fontsize=8)

    return _png(draw)


def exposure_chart(exposure: pd.DataFrame) -> str:
    def draw(ax: Axes) -> None:
        for col in exposure.columns:
            ax.plot(exposure.index, exposure[col].to_numpy() * 100, label=col, **_style(exposure))
        ax.set_ylabel("% of equity")
        ax.legend(loc="best", fontsize=8)

    return _png(draw)


def spread_chart(spread: pd.Series, rebalances: list[pd.Timestamp], label: str) -> str:
    def draw(ax: Axes) -> None:
        ax.plot(spread.index, spread.to_numpy(), color="#6c3483", label=label, **_style(spread))
        for i, when in enumerate(rebalances):
            ax.axvline(when, color="#e67e22", lw=1, ls="--", label="rebalance" if i == 0 else None)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylabel("pct points")
        ax.legend(loc="best", fontsize=8)

    return _png(draw)


# -- HTML ---------------------------------------------------------------------------------------------------

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 980px;
       color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.source { color: #555; } .note { color: #7a5c00; background: #fff8e1; padding: 0.4em 0.7em; }
img.chart { width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; } td, th { border: 1px solid #ccc; padding: 3px 7px; }
th { background: #f2f2f2; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
"""


def _img(b64: str, alt: str) -> str:
    return f'<img class="chart" alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _table(columns: list[str], rows: list[list[str]], css_id: str) -> str:
    def cell(v: str) -> str:
        is_num = v.replace(".", "", 1).replace("-", "", 1).replace(",", "").isdigit()
        return f'<td class="num">{html.escape(v)}</td>' if is_num else f"<td>{html.escape(v)}</td>"

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "\n".join("<tr>" + "".join(cell(str(v)) for v in r) + "</tr>" for r in rows)
    return f'<table id="{css_id}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def _sections(d: ReportData) -> list[tuple[str, str]]:
    out = [("Equity vs benchmarks", _img(equity_chart(d), "equity vs benchmarks")),
           ("Drawdown", _img(drawdown_chart(d), "drawdown"))]
    if d.pnl is not None and not d.pnl.empty:
        out.append(("P&L per leg (realized + unrealized)", _img(pnl_chart(d.pnl), "P&L per leg")))
    else:
        out.append(("P&L per leg", _note("Not shown: these results carry no per-leg prices to value the legs by.")))
    if d.weights is not None and not d.weights.empty:
        caption = "" if d.band is None else _note(
            f"Dotted lines are the targets; shaded bands are target ± {d.band * 100:.1f} pts (the drift band).")
        out.append(("Weights over time", _img(weights_chart(d.weights, d.targets, d.band), "weights") + caption))
    elif d.exposure is not None and not d.exposure.empty:
        out.append(("Exposure over time", _img(exposure_chart(d.exposure), "exposure")
                    + _note("Per-leg weights are not in these results; gross and net exposure are shown instead.")))
    else:
        out.append(("Weights over time", _note("Not shown: no positions over time in these results.")))
    if d.spread is not None and len(d.spread) > 0:
        out.append((f"Spread: {d.spread_label}", _img(spread_chart(d.spread, d.rebalances, d.spread_label),
                                                      "spread with rebalances")))
    else:
        out.append((f"Spread: {d.spread_label}", _note("Not shown: no price history for both legs.")))
    return out


def render_html(d: ReportData, *, generated_at: datetime | None = None) -> str:
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    facts = _table(["measure", "value"], [[k, v] for k, v in d.facts], "facts") if d.facts else ""
    notes = "".join(_note(n) for n in d.notes)
    body = "\n".join(f"<section><h2>{html.escape(t)}</h2>\n{content}</section>" for t, content in _sections(d))
    table = (_table(d.table_columns, d.table_rows, "fills") if d.table_rows
             else "<p>None recorded.</p>")
    if d.event_rows:
        table += "</section>\n<section><h2>Account events</h2>\n" + _table(
            ["date", "type", "symbol", "qty", "cash", "description"], d.event_rows, "events")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(d.title)}</title>
<style>{_CSS}</style></head>
<body>
<h1>{html.escape(d.title)}</h1>
<p class="source">{html.escape(d.source)} · generated {when}</p>
{notes}
{facts}
{body}
<section><h2>{html.escape(d.table_title)}</h2>
{table}</section>
</body></html>
"""


def write_report(d: ReportData, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(d), encoding="utf-8")
    return out


# -- a backtest result directory ----------------------------------------------------------------------------


def _fmt_metric(value: object) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:,.4f}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)[:200]
    return str(value)


def _fmt_fact(key: str, value: object) -> str:
    """One metrics.json entry in words: percentages scaled, the empty lists and maps said as such, a list of
    splits or of legs one item each."""
    if key in _PERCENT and isinstance(value, float):
        return _fmt_metric(value * 100)
    if key == "max_drawdown_recovery" and value is None:
        return "not recovered by the end"
    if isinstance(value, list):
        return "none" if not value else "; ".join(_fmt_item(v) for v in value[:20]) + (
            f"; and {len(value) - 20} more" if len(value) > 20 else "")
    if isinstance(value, dict) and all(not isinstance(v, dict | list) for v in value.values()):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    return _fmt_metric(value)


def _fmt_item(item: object) -> str:
    if isinstance(item, dict):
        if {"on", "symbol", "kind"} <= set(item):  # a split
            return f"{item['on']} {item['symbol']} {item['kind']}"
        return ", ".join(f"{k}={v}" for k, v in item.items())
    return str(item)


_BENCHMARK_WORDS = (("final_equity", "final", "${:,.2f}", 1.0), ("cagr", "CAGR", "{:+.2f} %", 100.0),
                    ("volatility", "volatility", "{:.2f} %", 100.0), ("sharpe", "Sharpe", "{:+.2f}", 1.0),
                    ("sortino", "Sortino", "{:+.2f}", 1.0), ("max_drawdown", "max drawdown", "{:.2f} %", 100.0))


def _benchmark_facts(benchmarks: object) -> list[tuple[str, str]]:
    """A row per benchmark, its buy-and-hold figures in words."""
    if not isinstance(benchmarks, dict):
        return []
    rows = []
    for sym, figures in benchmarks.items():
        if not isinstance(figures, dict):
            continue
        words = [f"{label} {_figure(figures[key], form, scale)}" for key, label, form, scale in _BENCHMARK_WORDS
                 if key in figures]
        rows.append((f"benchmark {sym} (buy and hold)", ", ".join(words)))
    return rows


def _figure(value: object, form: str, scale: float) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return "-"
    return form.format(value * scale)


def from_backtest_dir(directory: Path) -> ReportData:
    """What `pairbot backtest --out DIR` wrote: equity.csv (needed), trades.csv and metrics.json (optional)."""
    equity_csv = directory / "equity.csv"
    if not equity_csv.is_file():
        raise ConfigError(f"{directory}: no equity.csv here (write one with `pairbot backtest --out {directory}`)")
    try:
        curve = pd.read_csv(equity_csv, index_col=0)
    except (ValueError, OSError) as err:
        raise ConfigError(f"{equity_csv}: cannot read ({err})") from None
    if "equity" not in curve.columns or curve.empty:
        raise ConfigError(f"{equity_csv}: needs a non-empty 'equity' column")
    try:
        curve.index = naive_utc(curve.index)
    except (ValueError, TypeError):
        raise ConfigError(f"{equity_csv}: the first column must hold dates (YYYY-MM-DD), got "
                          f"{_first_bad(curve.index, pd.Timestamp)!r}") from None
    used = ["equity", *(c for c in curve.columns if c.endswith("_buy_hold")),
            *(["gross", "net"] if {"gross", "net"} <= set(curve.columns) else [])]
    for col in used:
        try:
            curve[col] = curve[col].astype(float)
        except ValueError:
            raise ConfigError(f"{equity_csv}: column {col!r} must hold numbers, got "
                              f"{_first_bad(curve[col], float)!r}") from None
    d = ReportData(title="pairbot backtest report", source=f"backtest results in {directory.resolve()}",
                   equity=curve["equity"], table_title="Trades")
    for col in curve.columns:
        if col.endswith("_buy_hold"):
            d.benchmarks[col.removesuffix("_buy_hold")] = curve[col]
    if {"gross", "net"} <= set(curve.columns):
        d.exposure = curve[["gross", "net"]]
    _backtest_spread(d)
    _backtest_metrics(d, directory / "metrics.json")
    _backtest_trades(d, directory / "trades.csv")
    return d


def _first_bad(values: Iterable[Any], parse: Callable[[Any], object]) -> object:
    """The first value `parse` refuses (for a message that shows what is wrong, not pandas' internals)."""
    for v in values:
        try:
            parse(v)
        except (ValueError, TypeError):
            return v
    return None


def _backtest_spread(d: ReportData) -> None:
    legs = [("IWM", "QQQ")]
    for long_leg, short_leg in legs:
        if long_leg in d.benchmarks and short_leg in d.benchmarks:
            a, b = d.benchmarks[long_leg], d.benchmarks[short_leg]
            d.spread = ((a / a.iloc[0]) - (b / b.iloc[0])) * 100
            d.spread_label = f"{long_leg} - {short_leg}, cumulative return"
            return


def _backtest_metrics(d: ReportData, path: Path) -> None:
    if not path.is_file():
        d.notes.append("metrics.json is missing: no metrics table.")
        return
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        d.notes.append("metrics.json could not be read: no metrics table.")
        return
    if isinstance(doc, dict):
        d.notes += [str(n) for n in doc.get("notes", []) if n]
        d.notes += [f"warning: {w}" for w in doc.get("warnings", []) if w]
        shown = {k: v for k, v in doc.items() if k not in ("notes", "warnings", "benchmarks", *_DESCRIBED)}
        d.facts = _described(doc) + [(_PERCENT.get(str(k), str(k)), _fmt_fact(str(k), v)) for k, v in shown.items()]
        d.facts += _benchmark_facts(doc.get("benchmarks"))
        if "strategy" in doc:
            d.title = f"pairbot backtest report: {doc['strategy']}"
        source = doc.get("source")
        if isinstance(source, dict):
            digest = f", sha256 {source['sha256']}" if source.get("sha256") else ""
            d.source += f" · prices: {doc.get('prices_label', source.get('kind'))}{digest}"


_PERCENT = {"total_return": "total_return %", "cagr": "cagr %", "volatility": "volatility %",
            "max_drawdown": "max_drawdown %", "avg_gross": "avg_gross %", "avg_net": "avg_net %"}
_DESCRIBED = ("settings", "source", "prices_label", "strategy_params", "intervals", "gate")


def _described(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """metrics.json's nested parts in words: the intervals, the gate's time in the market, the settings."""
    facts: list[tuple[str, str]] = []
    intervals = doc.get("intervals")
    if isinstance(intervals, dict):
        facts.append(("intervals", f"{intervals.get('confidence', 0.95):.0%}, {intervals.get('method')}, mean block "
                                   f"{intervals.get('mean_block_sessions')} sessions, {intervals.get('resamples')} "
                                   f"resamples, seed {intervals.get('seed')}"))
        for key, iv in intervals.items():
            if isinstance(iv, dict) and {"estimate", "low", "high"} <= set(iv):
                facts.append((f"{key} (interval)", _interval_text(key, iv)))
    gate = doc.get("gate")
    if isinstance(gate, dict):
        facts.append(("gate", f"in the market {gate['time_in_market']:.1%} of sessions, {gate['episode_count']} "
                              f"episodes, in-market t = {float(gate.get('in_market_t') or 'nan'):.2f}"))
    for key in ("strategy_params", "settings"):
        if isinstance(doc.get(key), dict):
            facts.append((key, ", ".join(f"{k}={_plain(v)}" for k, v in doc[key].items() if k != "splits")))
    return facts


def _plain(value: object) -> str:
    """A parameter or a setting as a reader writes it: "SPY 0.7, UPRO 0.1", "none" for an empty mapping, "-" for
    None, a Decimal as its text; never a Python repr."""
    if value is None:
        return "-"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value) or "none"
    return str(value)


def _interval_text(key: str, iv: dict[str, float]) -> str:
    if key == "sharpe":
        return f"{iv['estimate']:+.2f} [{iv['low']:+.2f}, {iv['high']:+.2f}]"
    unit = " pts" if key.startswith("excess") else " %"
    return f"{iv['estimate'] * 100:+.2f}{unit} [{iv['low'] * 100:+.2f}, {iv['high'] * 100:+.2f}]"


def _backtest_trades(d: ReportData, path: Path) -> None:
    if not path.is_file():
        d.notes.append("trades.csv is missing: no trades table and no rebalance markers.")
        return
    try:
        trades = pd.read_csv(path)
    except (ValueError, OSError):
        d.notes.append("trades.csv could not be read: no trades table.")
        return
    d.table_columns = [str(c) for c in trades.columns]
    d.table_rows = [[_cell(v) for v in row] for row in trades.itertuples(index=False)]
    if "date" in trades.columns and len(trades):
        try:
            d.rebalances = list(naive_utc(sorted(set(trades["date"].astype(str)))))
        except ValueError:
            d.notes.append("trades.csv has a date that is not a date: no rebalance markers.")


def _cell(v: object) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:,.4f}".rstrip("0").rstrip(".")
    return str(v)
