"""`pairbot signals`: the trailing-year spread, rotation-day event study, NDX/RUT ratio and IWM's trend."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

from bot.commands.backtest import _config, load_prices
from bot.errors import ConfigError
from bot.research import DECLUSTER_SESSIONS, Signals, compute_signals, signals_document

INDEXES = ["NDX", "RUT"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--prices", help="a directory of <SYMBOL>.csv, 'alpaca' or 'synthetic' (default: config local.prices)")
    add("--feed", default=None, help="Alpaca data feed for --prices alpaca")
    add("--seed", type=int, default=None, help="seed of the synthetic market")
    add("--long", default="IWM", help="the long leg (default IWM)")
    add("--short", default="QQQ", help="the short leg (default QQQ)")
    add("--threshold", type=float, default=0.04, help="rotation day: long - short daily return >= this (0.04)")
    add("--days", type=int, default=252, help="trailing window of the spread, sessions (252)")
    add("--json", action="store_true", help="print one JSON document instead of tables")
    add("--events", type=int, default=15, help="most recent events to print (tables only; default 15)")
    add("--out", type=Path, metavar="DIR", help="also write spread.csv and events.csv here")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.threshold < 1:
        raise ConfigError(f"--threshold must be between 0 and 1, got {args.threshold}")
    if args.days < 2:
        raise ConfigError(f"--days must be at least 2, got {args.days}")
    config = _config(getattr(args, "config", None))
    long, short = args.long.upper(), args.short.upper()
    args.start = args.end = None
    frames, label = load_prices(args, config, symbols=([long, short], INDEXES), start=None, end=None)
    sig = compute_signals(frames, long=long, short=short, threshold=args.threshold, days=args.days)
    if args.json:
        print(json.dumps({"prices": label, **signals_document(sig)}, indent=2, allow_nan=False, default=str))
    else:
        print(render(sig, label, recent=args.events))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        sig.spread.to_frame("spread").to_csv(args.out / "spread.csv", date_format="%Y-%m-%d")
        sig.events.to_csv(args.out / "events.csv", date_format="%Y-%m-%d")
    return 0


def render(sig: Signals, label: str, *, recent: int) -> str:
    s, r, t = sig.spread_now, sig.ratio_now, sig.trend
    pair = f"{sig.long}-{sig.short}"
    last = s.last_as_extreme.isoformat() if s.last_as_extreme else "never before"
    lines = [
        f"signals | prices {label}",
        "",
        f"trailing {s.days}-session total-return spread {pair} on {s.as_of}: {s.spread:+.1%}",
        f"  percentile {s.percentile:.0%} of {len(sig.spread)} sessions since {sig.spread.index[0].date()}; "
        f"last this extreme {last}",
        f"  range {sig.spread.min():+.1%} ({sig.spread.idxmin().date()}) .. "
        f"{sig.spread.max():+.1%} ({sig.spread.idxmax().date()})",
        "",
        f"{r.numerator}/{r.denominator} on {r.as_of}: {r.value:.3f}; record {r.record:.3f} on {r.record_date} "
        f"({r.from_record:+.1%} from it)",
        "",
        f"{t.symbol} trend on {t.as_of}: {t.state} | close {t.close:.2f} vs 50-week average {t.ma_50w:.2f} "
        f"({'above' if t.above_ma else 'below'}) | weekly MACD {t.macd:+.2f} signal {t.macd_signal:+.2f} "
        f"histogram {t.macd_histogram:+.2f} | RSI(14) {t.rsi_14:.0f}",
        "",
        f"rotation days ({pair} daily return >= {sig.threshold:.0%}): {len(sig.events)} events, "
        f"{int(sig.events['first_in_cluster'].sum())} after de-clustering (first in {DECLUSTER_SESSIONS} sessions)",
        _pct_table(sig.summary),
        "",
        f"most recent {min(recent, len(sig.events))} events (forward total returns; * = first in its cluster):",
        _event_table(sig, recent),
    ]
    return "\n".join(lines)


def _pct_table(summary: pd.DataFrame) -> str:
    def cell(col: str, v: float) -> str:
        if isinstance(v, float) and math.isnan(v):
            return "-"
        return f"{v:.0f}" if col == "events" else f"{v:+.1%}" if ">" not in col else f"{v:.0%}"

    shown = summary.copy()
    for col in shown.columns:
        shown[col] = [cell(col, v) for v in summary[col]]
    return str(shown.to_string())


def _event_table(sig: Signals, recent: int) -> str:
    if sig.events.empty:
        return "  (none)"
    cols = ["spread"] + [f"fwd_{h}_{sym}" for h in ("3m", "12m", "63d", "252d") for sym in (sig.long, sig.short)]
    table = sig.events.tail(recent)
    shown = pd.DataFrame(index=[f"{d.date()}{'*' if first else ''}" for d, first in
                                zip(table.index, table["first_in_cluster"], strict=True)])
    for col in cols:
        shown[col.removeprefix("fwd_")] = [("-" if math.isnan(v) else f"{v:+.1%}") for v in table[col]]
    return str(shown.to_string())
