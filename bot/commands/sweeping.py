"""`pairbot backtest --sweep`: the grid checked like the single flags, the sweep or its walk-forward, the table.

Everything about the arguments is checked before any variant runs: each value as its single flag would
be, a flag and a sweep of the same setting together, the sort key, --top.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from bot.errors import ConfigError
from bot.research.backtest import BacktestSettings
from bot.research.backtest.market import FREQUENCIES
from bot.research.backtest.sweep import ALIASES, SETTING_NAMES, parse_grid, run_sweep
from bot.research.hindsight import (
    RefitWalkForward,
    WalkForward,
    refit_plan,
    refit_walk_forward,
    sweep_start,
    walk_forward,
)

# The columns a sweep measures (bot.research.backtest.engine.variant_metrics; a test holds the two together).
SWEEP_METRICS = ("final_equity", "total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown",
                 "turnover", "rebalances", "decisions", "costs_usd", "borrow_usd")
PERCENT = frozenset({"total_return", "cagr", "volatility", "max_drawdown"})

# The single flag that sets each setting a sweep may vary: both at once would leave one silently unused.
FLAG_OF = {"leg_band": ("band", "no_band"), "gross_band": ("gross_band",), "net_band": ("net_band",),
           "effective_band": ("effective_band",), "frequency": ("frequency",), "fill": ("fill",),
           "commission_bps": ("cost_bps",), "slippage_bps": ("slippage_bps",), "borrow_bps": ("borrow_bps",),
           "starting_cash": ("cash",), "min_trade_usd": ("min_trade",), "cash_reserve": ("cash_reserve",),
           "fractional_longs": ("fractional_longs",), "cash_rate": ("cash_rate",), "cash_symbol": ("cash_rate",)}
OPTIONAL = frozenset({"leg_band", "gross_band", "net_band", "effective_band", "cash_symbol"})


def checked_grid(args: argparse.Namespace, settings: BacktestSettings,
                 check: Callable[[BacktestSettings], None]) -> dict[str, list[object]]:
    """The grid of --sweep with typed values, each setting value passed through `check` as its flag is."""
    if args.top < 1:
        raise ConfigError(f"--top must be at least 1, got {args.top}")
    grid = parse_grid(args.sweep)
    given = {str(p).partition("=")[0].strip() for p in args.param}
    names = [raw.partition("=")[0].strip() for raw in args.sweep]
    keys = [ALIASES.get(n, n) for n in names]
    for name, key in zip(names, keys, strict=True):
        if keys.count(key) > 1:
            raise ConfigError(f"--sweep {key} is given more than once; list every value in one --sweep")
        flags = [f for f in FLAG_OF.get(key, ()) if getattr(args, f, None) not in (None, False)]
        if flags:
            raise ConfigError(f"--sweep {name} and --{flags[0].replace('_', '-')} both set {key}: choose one")
        if key in given:
            raise ConfigError(f"--sweep {name} and --param {key} both set {key}: choose one")
    typed = {key: [_typed(key, v) for v in values] for key, values in grid.items()}
    for key, values in typed.items():
        if not values:
            raise ConfigError(f"--sweep {key} has no values")
        if key in SETTING_NAMES:
            for value in values:
                check(replace(settings, **{key: value}))  # type: ignore[arg-type]
    sort_by = args.sort_by
    if sort_by not in SWEEP_METRICS and sort_by not in typed:
        raise ConfigError(f"cannot sort by {sort_by!r}; choose one of {', '.join(SWEEP_METRICS)} or a swept name")
    return typed


def _typed(key: str, value: object) -> object:
    """A sweep value as the setting's single flag would parse it."""
    if key not in SETTING_NAMES:
        return value  # a strategy parameter: strategy_from validates it as --param and config.yaml are
    if value is None:
        if key in OPTIONAL:
            return None
        raise ConfigError(f"--sweep {key}: none is not a value of {key}")
    if key == "frequency":
        if value not in FREQUENCIES:
            raise ConfigError(f"--sweep frequency: {value!r} is not one of {', '.join(FREQUENCIES)}")
        return value
    if key == "fill":
        if value not in ("close", "next_open"):
            raise ConfigError(f"--sweep fill: {value!r} is not close or next_open")
        return value
    if key == "fractional_longs":
        text = str(value).lower()
        if text not in ("true", "false", "1.0", "0.0"):
            raise ConfigError(f"--sweep fractional_longs: {value!r} is not true or false")
        return text in ("true", "1.0")
    if key == "cash_symbol":
        if not isinstance(value, str) or not value.isalpha():
            raise ConfigError(f"--sweep cash_symbol: {value!r} is not a fund symbol")
        return value.upper()
    if not isinstance(value, float) or not math.isfinite(value):
        raise ConfigError(f"--sweep {key}: {value!r} is not a number")
    return value


def run_sweep_command(args: argparse.Namespace, frames: Mapping[str, pd.DataFrame], name: str,
                      params: Mapping[str, object], settings: BacktestSettings, label: str,
                      check: Callable[[BacktestSettings], None], preface: Sequence[str]) -> int:
    grid = checked_grid(args, settings, check)
    total = math.prod(len(v) for v in grid.values())
    start = sweep_start(frames, name, params, grid, settings.start)  # builds every variant: bad values stop here
    if getattr(args, "refit_every", None) is not None:
        plan = refit_plan(frames, name, params, grid, settings, refit_years=args.refit_every,
                          train_years=args.train_years)  # a history too short is refused before any variant runs
        print(f"walk-forward of {total} variants of {name}: {len(plan.spans)} refits every {args.refit_every} year(s), "
              f"{1 + 2 * len(plan.spans)} sweeps | prices {label}", file=sys.stderr)
        refits = refit_walk_forward(frames, name, params, grid, settings, refit_years=args.refit_every,
                                    train_years=args.train_years, window=args.window, sort_by=args.sort_by,
                                    progress=ProgressReport(), cluster=getattr(args, "cluster", None), plan=plan)
        for line in preface:
            print(line)
        print(render_refits(refits, label))
        return _write(args.out, {"walk_forward.csv": refits.table, "sweep.csv": refits.whole})
    if args.train_to is not None:
        print(f"walk-forward sweep of {total} variants of {name}, twice | prices {label}", file=sys.stderr)
        found = walk_forward(frames, name, params, grid, settings, train_to=args.train_to, sort_by=args.sort_by,
                             progress=ProgressReport(), cluster=getattr(args, "cluster", None))
        for line in preface:
            print(line)
        print(render_walk_forward(found, label))
        return _write(args.out, {"sweep_train.csv": found.train, "sweep_test.csv": found.test})
    print(f"sweep of {total} variants of {name} | prices {label}", file=sys.stderr)
    moved = [f"start moved to {start}: a variant needs history before it"] if start != settings.start else []
    table = run_sweep(frames, name, params, grid, replace(settings, start=start), sort_by=args.sort_by,
                      cluster=getattr(args, "cluster", None),
                      progress=ProgressReport())
    for line in [*preface, *(f"note: {n}" for n in [*moved, *table.attrs.get("notes", ())])]:
        print(line)
    print(f"{name} sweep {table.attrs['start']} .. {table.attrs['end']} | prices {label} | sorted by {args.sort_by}")
    print(format_table(table.head(args.top)))
    return _write(args.out, {"sweep.csv": table})


def _write(out: Path | None, tables: Mapping[str, pd.DataFrame]) -> int:
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for file, table in tables.items():
            table.to_csv(out / file, index=False)
            print(f"wrote {out / file}")
    return 0


class ProgressReport:
    """Progress of `done` of `total`: a tqdm bar on a terminal; elsewhere a plain line at each tenth and at the
    end, so a redirected log holds whole lines and never a carriage return. Starts afresh after the end."""

    def __init__(self, unit: str = "variants") -> None:
        self.unit = unit
        self._bar: Any = None
        self._shown = -1

    def __call__(self, done: int, total: int) -> None:
        if sys.stderr.isatty():
            self._tty(done, total)
        else:
            tenth = 10 * done // max(total, 1)
            if tenth != self._shown or done >= total:
                print(f"{done}/{total} {self.unit}", file=sys.stderr, flush=True)
                self._shown = tenth
        if done >= total:
            self._shown = -1

    def _tty(self, done: int, total: int) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=self.unit.rstrip("s"), file=sys.stderr, leave=False)
        self._bar.update(done - self._bar.n)
        if done >= total:
            self._bar.close()
            self._bar = None


def format_table(table: pd.DataFrame) -> str:
    """Percentages as percent, ratios to two places, money in whole dollars, inputs as typed: never 1e-05."""
    shown = pd.DataFrame(index=table.index)
    for col in table.columns:
        shown[_header(col)] = [_cell(col, v) for v in table[col]]
    return str(shown.to_string(index=False))


def _header(col: str) -> str:
    return f"{col} %" if col in PERCENT else col


def _cell(col: str, value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if not isinstance(value, int | float):
        return str(value)
    if col in PERCENT:
        return f"{value * 100:+.2f}"
    if col in ("sharpe", "sortino"):
        return f"{value:.2f}"
    if col == "turnover":
        return f"{value:.2f}x"
    if col in ("final_equity", "costs_usd", "borrow_usd"):
        return f"{value:,.0f}"
    if col in ("rebalances", "decisions"):
        return f"{value:.0f}"
    return plain_number(float(value))


def plain_number(value: float) -> str:
    """A typed value in plain notation, e.g. 0.00005 and not 5e-05."""
    return f"{value:.8f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"


def render_walk_forward(found: WalkForward, label: str) -> str:
    keys = list(found.keys)
    (a, b), (c, d) = found.train_span, found.test_span
    rows = [("in sample: best by " + found.sort_by, found.chosen_train),
            (f"out of sample: the same (rank {found.chosen_test_rank} of {len(found.test)})", found.chosen_test),
            ("out of sample: best in hindsight", found.hindsight)]
    table = pd.DataFrame([{"": title, **{k: row[k] for k in keys},
                           **{m: row[m] for m in ("cagr", "sharpe", "max_drawdown", "final_equity")}}
                          for title, row in rows])
    lines = [f"walk-forward | prices {label}",
             f"chosen on {a} .. {b} by {found.sort_by}; tested on {c} .. {d} (each span starts flat)",
             format_table(table)]
    verdict = ("the training choice was also the best out of sample" if found.chosen_test_rank == 1 else
               f"the training choice ranked {found.chosen_test_rank} of {len(found.test)} out of sample: "
               "a figure chosen on the whole history would have been hindsight")
    lines.append(verdict)
    return "\n".join(lines)


def render_refits(found: RefitWalkForward, label: str) -> str:
    """One row per refit, then the chained out-of-sample figure beside the two hindsight ones, and a verdict."""
    keys = list(found.keys)
    span = "year" if found.train_years == 1 else f"{found.train_years} years"
    how = "all history before it" if found.window == "anchored" else f"the {span} before it"

    def pct(row: pd.Series, metric: str) -> str:
        return f"{float(row[metric]):+.2%}"

    rows = [{"train": f"{r.train_span[0]} .. {r.train_span[1]}", **{k: r.chosen[k] for k in keys},
             "in sample cagr %": pct(r.chosen_train, "cagr"), "test": f"{r.test_span[0]} .. {r.test_span[1]}",
             "cagr %": pct(r.chosen_test, "cagr"), "return %": pct(r.chosen_test, "total_return"),
             "rank": f"{r.rank}/{r.variants}", "its best, return %": pct(r.hindsight_test, "total_return")}
            for r in found.refits]
    chosen, fixed, afterwards = (found.chained_cagr(w) for w in ("chosen", "fixed", "hindsight"))
    best = {k: found.whole.iloc[0][k] for k in keys}
    named = ", ".join(f"{k}={v}" for k, v in best.items())
    every = "year" if found.refit_years == 1 else f"{found.refit_years} years"
    lines = [f"walk-forward, refit every {every} ({found.window}) | prices {label}",
             f"each refit chooses by {found.sort_by} on {how}; each test span starts flat (the session between two "
             "spans is not counted)",
             format_table(pd.DataFrame(rows)),
             f"chained out of sample, {found.refits[0].test_span[0]} .. {found.refits[-1].test_span[1]}: the refit "
             f"choices {chosen:+.2%}/yr; the whole history's best by {found.sort_by} ({named}) {fixed:+.2%}/yr on the "
             f"same spans; each span's own best by {found.sort_by}, known only afterwards, {afterwards:+.2%}/yr"]
    gap = fixed - chosen
    if math.isnan(gap):
        lines.append("a chained record lost everything on some span: no annual figure to compare")
        return "\n".join(lines)
    lines.append("the choice made in advance did as well as the whole history's best: the parameter held up"
                 if gap <= 0 else
                 f"choosing in advance cost {gap * 100:.2f} pts/yr against the whole history's best: a figure "
                 "chosen on all of it is that much hindsight")
    return "\n".join(lines)
