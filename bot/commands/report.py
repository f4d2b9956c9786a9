"""`pairbot report`: one self-contained HTML file from the ledger (default) or a backtest result directory."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from bot.adapters.logs import configure_silent
from bot.adapters.tradelog import RunRow, read_events, read_fills, read_snapshots, read_trade_log
from bot.config import Config, load_config
from bot.core.corporate import cash_kind, leg_cash
from bot.core.domain import AccountEvent, Symbol, is_ours
from bot.errors import BotError, ConfigError
from bot.research.html_report import ReportData, from_backtest_dir, naive_utc, write_report
from strategies.base import MarketView

BENCHMARKS = ("SPY", "IWM")
SPREAD_HISTORY_DAYS = 180


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("reports/report.html"), metavar="FILE",
                        help="where to write the HTML (default: %(default)s)")
    parser.add_argument("--backtest", type=Path, metavar="DIR",
                        help="report on `pairbot backtest --out DIR` results instead of the ledger")
    parser.add_argument("--offline", action="store_true",
                        help="do not ask the broker for SPY/IWM bars (benchmarks are then omitted)")


# -- ledger frames ------------------------------------------------------------------------------------------


def _mid(quote: dict[str, str]) -> float:
    return (float(quote["bid"]) + float(quote["ask"])) / 2


def snapshot_frames(snaps: list[dict[str, Any]]) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """Equity, signed market value per symbol and quote mids per symbol, one row per snapshot."""
    index = naive_utc([s["taken_at"] for s in snaps])
    equity = pd.Series([float(s["equity"]) for s in snaps], index=index, name="equity")
    values = pd.DataFrame([{sym: float(p["market_value"]) for sym, p in json.loads(s["positions"]).items()}
                           for s in snaps], index=index).fillna(0.0)
    mids = pd.DataFrame([{sym: _mid(q) for sym, q in json.loads(s["quotes"]).items()} for s in snaps], index=index)
    return equity, values, mids


def pnl_per_leg(fills: list[dict[str, Any]], values: pd.DataFrame,
                events: Sequence[AccountEvent] = ()) -> pd.DataFrame:
    """At each snapshot: minus the cash paid for the symbol's fills so far, plus its market value then, plus the
    cash its events brought (dividends received or paid, withholding, cash in lieu)."""
    fills = [f for f in fills if is_ours(f["client_order_id"])]
    times = naive_utc([f["filled_at"] for f in fills]) if fills else pd.DatetimeIndex([])
    symbols = sorted(set(values.columns) | {f["symbol"] for f in fills})
    out = pd.DataFrame(0.0, index=values.index, columns=symbols)
    for when in values.index:
        for f, t in zip(fills, times, strict=True):
            if t <= when:
                signed = float(f["qty"]) * (1 if f["side"] == "buy" else -1)
                out.loc[when, f["symbol"]] -= signed * float(f["price"])
        for sym, cash in leg_cash(e for e in events if e.on <= when.date()).items():
            out.loc[when, sym] = out.loc[when, sym] + float(cash) if sym in out else float(cash)
        for sym in values.columns:
            out.loc[when, sym] += values.loc[when, sym]
    return out.fillna(0.0)


def fills_table(runs: list[RunRow]) -> tuple[list[str], list[list[str]]]:
    columns = ["time (UTC)", "run", "decision", "symbol", "side", "qty", "price", "decision price", "IS bps", "IS $",
               "client order id"]
    rows = []
    for r in runs:
        for o in r.orders:
            for f in o.fills:
                rows.append([f.filled_at[:19].replace("T", " "), r.run_id, r.decision or "", f.symbol, f.side,
                             str(f.qty), f"{f.price:.4f}", "" if o.reference_price is None else f"{o.reference_price}",
                             "" if o.shortfall_bps is None else f"{o.shortfall_bps:.2f}",
                             "" if o.shortfall_usd is None else f"{o.shortfall_usd:.2f}", o.client_order_id])
    return columns, rows


def spread_legs(config: Config) -> tuple[str, str]:
    pair = config.strategies.pair
    return (pair.long_leg, pair.short_leg) if config.strategy == "pair" else ("IWM", "QQQ")


def cumulative_spread(prices: pd.DataFrame, long_leg: str, short_leg: str) -> pd.Series | None:
    if long_leg not in prices or short_leg not in prices:
        return None
    both = prices[[long_leg, short_leg]].dropna()
    if both.empty:
        return None
    rel = both / both.iloc[0]
    return (rel[long_leg] - rel[short_leg]) * 100


def targets_from(config: Config, mids: pd.DataFrame, closes: pd.DataFrame | None) -> dict[str, float]:
    strategy = config.build_strategy()
    if strategy.needs_history_days and closes is None:
        return {}
    last = mids.iloc[-1].dropna()
    prices = {Symbol(str(s)): Decimal(repr(float(p))) for s, p in last.items()}
    view = MarketView(as_of=mids.index[-1].date(), prices=prices, closes=closes)
    return {str(s): float(w) for s, w in strategy.target_weights(view).weights.items()}


# -- broker bars (optional) ----------------------------------------------------------------------------------


def broker_closes(config_path: Path, symbols: set[str], start: date, end: date) -> pd.DataFrame:
    from bot.live.wiring import open_app  # only when bars are wanted: the broker stack is slow to import

    with open_app(config_path) as app:
        return app.broker.daily_closes({Symbol(s) for s in symbols}, start, end)


def rebased(closes: pd.Series, equity: pd.Series) -> pd.Series:
    """A benchmark held from the first equity point on: the last close before it, then each later close,
    scaled to start at the same dollars. It starts at that point and only moves forward: a close dated the
    first point's own day (indexed at midnight, known by 20:00 UTC) is drawn when it was known, not before."""
    start = equity.index[0]
    s = closes.dropna()
    known = pd.Timedelta(hours=20)  # a daily close is known by 20:00 UTC
    before = s[s.index + known <= start]
    base = before.iloc[-1] if len(before) else s.iloc[0]
    later = s[s.index + known > start]
    later.index = later.index.where(later.index > start, later.index + known)
    out = pd.concat([pd.Series([base], index=pd.DatetimeIndex([start])), later.sort_index()])
    return out / base * equity.iloc[0]


def from_ledger(config_path: Path, config: Config, *, offline: bool) -> ReportData:
    ledger_path = config.ledger_path()
    snaps = read_snapshots(ledger_path)
    runs = read_trade_log(ledger_path)
    if not snaps:
        raise ConfigError(f"ledger {ledger_path} has no account snapshot yet (the report charts equity from them): "
                          "run `pairbot plan` (sends nothing) or `pairbot rebalance` first")
    equity, values, mids = snapshot_frames(snaps)
    prices_note = "SYNTHETIC prices" if config.mode == "local" and config.local.prices == "synthetic" else ""
    d = ReportData(title=f"pairbot report: {config.strategy}", equity=equity,
                   source=f"ledger {ledger_path} · mode {config.mode}{' · ' + prices_note if prices_note else ''}")
    events = read_events(ledger_path)
    d.pnl = pnl_per_leg(read_fills(ledger_path), values, events)
    d.weights = values.div(equity, axis=0)
    d.band = float(config.schedule.drift_band)
    d.rebalances = list(naive_utc([r.started_at for r in runs if r.decision in ("calendar", "drift")]))
    d.table_columns, d.table_rows = fills_table(runs)
    _add_events(d, events)
    long_leg, short_leg = spread_legs(config)
    d.spread_label = f"{long_leg} - {short_leg}, cumulative return"
    closes = None
    if offline:
        d.notes.append("Benchmarks omitted: --offline (no bars asked from the broker).")
    else:
        first, last = equity.index[0].date(), equity.index[-1].date()
        try:
            closes = broker_closes(config_path, {*BENCHMARKS, long_leg, short_leg},
                                   first - timedelta(days=SPREAD_HISTORY_DAYS), last)
        except BotError as err:
            d.notes.append(f"Benchmarks omitted: the broker was not reachable for bars ({err}).")
    _add_market(d, closes, mids, long_leg, short_leg)
    try:
        d.targets = targets_from(config, mids, closes)
    except ValueError:
        d.notes.append("Targets not drawn: the strategy could not compute them from the recorded prices.")
    _add_facts(d, runs)
    return d


def _add_market(d: ReportData, closes: pd.DataFrame | None, mids: pd.DataFrame, long_leg: str,
                short_leg: str) -> None:
    if closes is not None and not closes.empty:
        closes.index = pd.DatetimeIndex(closes.index)
        for sym in BENCHMARKS:
            if sym in closes:
                d.benchmarks[sym] = rebased(closes[sym], d.equity)
        if d.benchmarks and all(len(s) < 2 for s in d.benchmarks.values()):
            d.notes.append("No daily close after the first snapshot yet: the benchmarks are a single point.")
        d.spread = cumulative_spread(closes, long_leg, short_leg)
        if d.spread is not None:
            d.spread_label += f" since {d.spread.index[0]:%Y-%m-%d} (daily bars)"
    else:
        d.spread = cumulative_spread(mids, long_leg, short_leg)
        if d.spread is not None:
            d.spread_label += " (quotes recorded at each run)"


def _add_events(d: ReportData, events: list[AccountEvent]) -> None:
    """Splits and dividends marked on the equity chart; every event in its own table."""
    for e in events:
        if e.is_split and e.split_leg == "add":
            d.events.append((pd.Timestamp(e.on), "split", f"{e.symbol} split"))
        elif cash_kind(e) == "dividend":
            d.events.append((pd.Timestamp(e.on), "dividend", f"{e.symbol} div {e.cash:+,.2f}"))
    d.event_rows = [[e.on.isoformat(), e.activity_type, e.symbol or "-", str(e.qty) if e.qty else "-",
                     f"{e.cash:,.2f}" if e.cash else "-", e.description] for e in events]


def _add_facts(d: ReportData, runs: list[RunRow]) -> None:
    eq = d.equity
    dd = float((eq / eq.cummax() - 1).min()) * 100
    costs = [o.shortfall_usd for r in runs for o in r.orders if o.shortfall_usd is not None]
    d.facts = [
        ("period", f"{eq.index[0]:%Y-%m-%d %H:%M} to {eq.index[-1]:%Y-%m-%d %H:%M} UTC"),
        ("equity", f"${eq.iloc[0]:,.2f} to ${eq.iloc[-1]:,.2f} ({(eq.iloc[-1] / eq.iloc[0] - 1) * 100:+.2f}%)"),
        ("max drawdown", f"{dd:.2f}%"),
        ("runs", f"{len(runs)} ({sum(r.decision in ('calendar', 'drift') for r in runs)} rebalance decisions)"),
        ("fills", str(len(d.table_rows))),
        ("implementation shortfall", f"${sum(costs, Decimal(0)):,.2f} (positive is a cost)"),
    ]


def run(args: argparse.Namespace) -> int:
    if args.backtest is not None:
        configure_silent()
        data = from_backtest_dir(args.backtest)
    else:
        config = load_config(args.config)
        configure_silent()
        data = from_ledger(args.config, config, offline=args.offline)
    path = write_report(data, args.out)
    print(f"report written: {path.resolve()}")
    for note in data.notes:
        print(f"  note: {note}")
    return 0
