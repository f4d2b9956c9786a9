"""`pairbot signals`: the trailing-year spread, rotation-day event study, NDX/RUT ratio and IWM's trend."""

from __future__ import annotations

import argparse
import json
import math

import pandas as pd

from bot.adapters.history.frame import price_warnings
from bot.commands.argtypes import iso_date, non_negative_int, out_dir, positive_int
from bot.commands.backtest import _config, load_prices
from bot.errors import ConfigError
from bot.research.market_signals import DECLUSTER_SESSIONS, Signals, compute_signals, ratio_history, signals_document
from bot.research.words import shown as figure

INDEXES = ["NDX", "RUT"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--prices", help="a directory of <SYMBOL>.csv, 'alpaca' or 'synthetic' (default: config local.prices)")
    add("--feed", default=None, help="Alpaca data feed for --prices alpaca")
    add("--seed", type=non_negative_int, default=None, help="seed of the synthetic market")
    add("--long", default="IWM", help="the long leg (default IWM)")
    add("--short", default="QQQ", help="the short leg (default QQQ)")
    add("--threshold", type=float, default=0.04, help="rotation day: long - short daily return >= this (0.04)")
    add("--days", type=int, default=252, help="trailing window of the spread, sessions (252)")
    add("--as-of", type=iso_date, metavar="DATE", help="what was known at this day's close (YYYY-MM-DD)")
    add("--json", action="store_true", help="print one JSON document instead of tables")
    add("--events", type=positive_int, default=30, help="most recent events to print (tables only; default 30)")
    add("--out", type=out_dir, metavar="DIR", help="also write spread.csv, events.csv and ratio.csv here")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.threshold < 1:
        raise ConfigError(f"--threshold must be between 0 and 1, got {args.threshold}")
    if args.days < 2:
        raise ConfigError(f"--days must be at least 2, got {args.days}")
    config = _config(getattr(args, "config", None))
    long, short = args.long.upper(), args.short.upper()
    args.start = args.end = None
    frames, label = load_prices(args, config, symbols=([long, short], INDEXES), start=None, end=None)
    sig = compute_signals(frames, long=long, short=short, threshold=args.threshold, days=args.days,
                          as_of=args.as_of)
    warnings = price_warnings(frames)
    if args.json:
        doc = {"prices": label, "warnings": warnings, **signals_document(sig)}
        print(json.dumps(doc, indent=2, allow_nan=False, default=str))
    else:
        print(render(sig, label, recent=args.events, warnings=warnings))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        sig.spread.to_frame("spread").to_csv(args.out / "spread.csv", date_format="%Y-%m-%d")
        sig.events.to_csv(args.out / "events.csv", date_format="%Y-%m-%d")
        sig.ratio.to_frame("ratio").to_csv(args.out / "ratio.csv", date_format="%Y-%m-%d")
    return 0


def render(sig: Signals, label: str, *, recent: int, warnings: tuple[str, ...] = ()) -> str:
    s, r, t = sig.spread_now, sig.ratio_now, sig.trend
    pair = f"{sig.long}-{sig.short}"
    last = s.last_as_extreme.isoformat() if s.last_as_extreme else "never before"
    as_of = f" | as of {sig.as_of}" if sig.as_of is not None else ""
    lines = [f"signals | prices {label}{as_of}", *(f"warning: {w}" for w in warnings),
             *(f"note: {n}" for n in sig.notes), "",
        f"trailing {s.days}-session total-return spread {pair} on {s.as_of}: {_pts(s.spread)}",
        f"  percentile {s.percentile:.0%} of {len(sig.spread)} sessions since {sig.spread.index[0].date()}; "
        f"last this extreme {last}",
        f"  range {_pts(sig.spread.min())} ({sig.spread.idxmin().date()}) .. "
        f"{_pts(sig.spread.max())} ({sig.spread.idxmax().date()})",
        f"  at the last 6 month ends: {_month_ends(sig.spread)}",
        f"  lowest in each of the last 3 years: {_yearly_lows(sig.spread)}",
        "",
        f"{r.numerator}/{r.denominator} on {r.as_of}: {r.value:.2f}; record {r.record:.2f} on {r.record_date} "
        f"({figure(r.from_record, '+.1%')} from it)",
        _ratio_table(sig.ratio),
        "",
        f"{sig.long} trend on {t.as_of}: {t.state} ({t.score} of 3 up) | close {t.close:.2f} vs 50-week average "
        f"{t.ma_50w:.2f} ({'above' if t.above_ma else 'below'}) | weekly MACD {t.macd:+.2f} signal "
        f"{t.macd_signal:+.2f} histogram {t.macd_histogram:+.2f} | RSI(14) {t.rsi_14:.0f}",
        "",
        f"rotation days ({pair} daily return >= {sig.threshold * 100:.0f} points): {len(sig.events)} events, "
        f"{int(sig.events['first_in_cluster'].sum())} after de-clustering (first in {DECLUSTER_SESSIONS} sessions); "
        f"by year: {_by_year(sig.events)}",
        _pct_table(sig.summary),
        "",
        "overlap-robust statistics of the forward excess return (long minus short; - where too few events "
        "to compute):",
        _study_table(sig),
        *(f"  {st.verdict}" for st in sig.studies),
        "",
        _event_table(sig, recent),
    ]
    return "\n".join(lines)


def _pts(value: float) -> str:
    """A spread of two returns, in percentage points; '-' when there is none to show (NaN)."""
    return "-" if math.isnan(value) else f"{figure(value * 100, '+.1f')} pts"


def _num(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def _month_ends(spread: pd.Series) -> str:
    ends = spread.groupby([spread.index.year, spread.index.month]).tail(1).tail(6)
    return "; ".join(f"{d.date()} {_pts(v)}" for d, v in ends.items())


def _yearly_lows(spread: pd.Series) -> str:
    lows = spread.groupby(spread.index.year).agg(["min", "idxmin"]).tail(3)
    return "; ".join(f"{_pts(row['min'])} ({row['idxmin'].date()})" for _, row in lows.iterrows())


def _by_year(events: pd.DataFrame) -> str:
    counts = events.index.year.value_counts().sort_index()
    return ", ".join(f"{y} {n}" for y, n in counts.items()) or "none"


def _ratio_table(ratio: pd.Series) -> str:
    table = ratio_history(ratio).tail(8)
    shown = pd.DataFrame({
        "year end": [f"{v:.2f}" for v in table["last"]],
        "year high": [f"{v:.2f} ({d})" for v, d in zip(table["high"], table["high_date"], strict=True)],
        "record so far": [f"{v:.2f}" for v in table["record_so_far"]],
    }, index=table.index)
    return str(shown.to_string())


def _study_table(sig: Signals) -> str:
    rows = {}
    for st in sig.studies:
        rows[f"{st.horizon} sessions"] = {
            "events": f"{st.events}", "mean": _pts(st.mean_excess), "plain t": _num(st.naive_t, ".2f"),
            "independent": f"{st.independent}", "indep. mean": _pts(st.independent_mean),
            "indep. t": _num(st.independent_t, ".2f"), "HAC t": _num(st.hac_t, ".2f"),
            "HAC p": _num(st.hac_p, ".3f"), "placebo mean": _pts(st.placebo_mean),
            "placebo p": _num(st.placebo_p, ".3f"),
            "every session": _pts(st.baseline_mean),
        }
    return str(pd.DataFrame(rows).T.to_string())


def _pct_table(summary: pd.DataFrame) -> str:
    def cell(col: str, v: float) -> str:
        if isinstance(v, float) and math.isnan(v):
            return "-"
        return f"{v:.0f}" if col == "events" else figure(v, "+.1%") if ">" not in col else figure(v, ".0%")

    shown = summary.copy()
    for col in shown.columns:
        shown[col] = [cell(col, v) for v in summary[col]]
    return str(shown.to_string())


def _event_table(sig: Signals, recent: int) -> str:
    if sig.events.empty:
        return (f"no rotation days on these prices: no session's {sig.long}-{sig.short} daily return reached "
                f"{sig.threshold * 100:.0f} points")
    heading = (f"most recent {min(recent, len(sig.events))} events (forward total returns; * = first in its "
               "cluster):")
    cols = ["spread"] + [f"fwd_{h}_{sym}" for h in ("3m", "12m", "63d", "252d") for sym in (sig.long, sig.short)]
    table = sig.events.tail(recent)
    shown = pd.DataFrame(index=[f"{d.date()}{'*' if first else ''}" for d, first in
                                zip(table.index, table["first_in_cluster"], strict=True)])
    for col in cols:
        shown[col.removeprefix("fwd_")] = [("-" if math.isnan(v) else figure(v, "+.1%")) for v in table[col]]
    return f"{heading}\n{shown.to_string()}"
