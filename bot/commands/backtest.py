"""`pairbot backtest`: one strategy over history (table, CSVs, metrics.json, PNG) or a parameter sweep."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd

from bot.adapters.history.frame import (
    SYNTHETIC_SYMBOLS,
    directory_digest,
    load_csv_dir,
    price_warnings,
    synthetic_history,
)
from bot.adapters.history.splits import splits_beside
from bot.adapters.net import key_problem
from bot.commands.argtypes import dask_address, iso_date, non_negative_int, out_dir
from bot.commands.outputs import (
    NOT_AS_TRADED,
    RunRecord,
    render,
    render_gate,
    render_offsets,
    result_intervals,
    write_outputs,
)
from bot.commands.sweeping import ProgressReport, run_sweep_command
from bot.config import Config, load_config, strategy_from
from bot.core.corporate import Split
from bot.errors import ConfigError, DataError
from bot.research.backtest import BacktestSettings, run_backtest
from bot.research.backtest.market import FREQUENCIES
from bot.research.hindsight import WINDOWS, gate_report, rebalance_day_sensitivity
from bot.research.intervals import DEFAULT_BLOCK_SESSIONS, DEFAULT_SEED, BootstrapSpec
from strategies import STRATEGIES
from strategies.base import Strategy

DEFAULT_TRAIN_YEARS = 5  # --refit-every's first training span


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--strategy", help=f"one of {', '.join(sorted(STRATEGIES))} (default: config's strategy)")
    add("--param", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter, e.g. gross=1.5")
    add("--from", dest="start", type=iso_date, metavar="DATE", help="first session (YYYY-MM-DD)")
    add("--to", dest="end", type=iso_date, metavar="DATE", help="last session (YYYY-MM-DD)")
    add("--prices", help="a directory of <SYMBOL>.csv, 'alpaca' or 'synthetic' (default: config local.prices)")
    add("--feed", default=None, help="Alpaca data feed for --prices alpaca (default: config broker.feed)")
    add("--seed", type=non_negative_int, default=None, help="seed of the synthetic market (default: config local.seed)")
    add("--out", type=out_dir, metavar="DIR", help="write equity.csv, trades.csv, metrics.json and backtest.png here")
    add("--fill", choices=("close", "next_open"), help="fill at the decision close or the next open")
    add("--cost-bps", type=float, help="commission, bps of notional")
    add("--slippage-bps", type=float, help="slippage, bps of price, against each fill")
    add("--borrow-bps", type=float, help="borrow fee on short market value, annual bps (act/360)")
    add("--cash-rate", help="annual rate on cash (e.g. 0.04), or a fund whose total return cash earns (e.g. BIL)")
    add("--cash", type=float, help="starting cash (default 100000)")
    add("--band", type=float, help="leg drift band, fraction of equity (e.g. 0.05)")
    add("--no-band", action="store_true", help="calendar rebalances only")
    add("--gross-band", type=float, help="book gross exposure band")
    add("--net-band", type=float, help="book net exposure band")
    add("--effective-band", type=float, help="effective exposure band per underlying")
    add("--frequency", choices=FREQUENCIES, help="calendar rebalance frequency")
    add("--min-trade", type=float, help="skip legs whose trade is under this many dollars")
    add("--cash-reserve", type=float, help="fraction of equity never invested")
    add("--fractional-longs", action="store_true", help="long legs in fractional shares (shorts stay whole)")
    add("--sweep", action="append", default=[], metavar="NAME=V1,V2",
        help="sweep a grid, e.g. --sweep band=0.02,0.05 --sweep frequency=quarterly,annual --sweep gross=1,1.5")
    add("--sort-by", default="sharpe", help="sweep metric to sort by (default: sharpe)")
    add("--top", type=int, default=20, help="sweep rows to print (default: 20)")
    add("--cluster", metavar="ADDRESS", type=dask_address, default=None,
        help="run --sweep's chunks on the Dask scheduler at ADDRESS, e.g. tcp://host:8786 (pairbot[cluster])")
    add("--train-to", type=iso_date, metavar="DATE",
        help="walk-forward: choose the sweep's best up to DATE by --sort-by, then show it on the sessions after")
    add("--refit-every", type=int, metavar="YEARS",
        help="walk-forward refit every YEARS: choose the sweep's best on the history before each refit, follow it "
             "until the next, and chain those spans into one out-of-sample record")
    add("--train-years", type=int, metavar="N",
        help=f"with --refit-every: the first choice is made on the first N years (default {DEFAULT_TRAIN_YEARS})")
    add("--window", choices=WINDOWS,
        help="with --refit-every: choose on all history before each refit (anchored, the default) or on its "
             "last --train-years years (rolling)")
    add("--rebalance-days", type=int, metavar="N",
        help="also rebalance on each of the first N sessions of every period and print the spread of results")
    add("--resamples", type=int, default=1000,
        help="block-bootstrap resamples behind the intervals (default 1000; 0: no intervals)")
    add("--block-days", type=int, default=DEFAULT_BLOCK_SESSIONS,
        help=f"mean block length of the bootstrap, sessions (default {DEFAULT_BLOCK_SESSIONS})")
    add("--bootstrap-seed", type=non_negative_int, default=DEFAULT_SEED, help="seed of the bootstrap")


def run(args: argparse.Namespace) -> int:
    config = _config(args.config)
    name, params = _strategy_choice(args, config)
    settings = settings_from(args, config)
    strategy = _build(name, params)
    _check_combination(args)
    spec = bootstrap_spec(args)
    symbols = _symbols(strategy, args, settings)
    frames, label = load_prices(args, config, symbols=symbols, start=settings.start, end=settings.end)
    settings = replace(settings, splits=price_splits(args, config))
    warnings = price_warnings(frames)
    preface = [NOT_AS_TRADED] if settings.splits is None else []
    preface += [f"warning: {w}" for w in warnings]
    if args.sweep:
        return run_sweep_command(args, frames, name, params, settings, label, _check, preface)
    result = run_backtest(strategy, frames, settings)
    result = replace(result, warnings=result.warnings + warnings)
    intervals = result_intervals(result, spec) if spec is not None else None
    run = RunRecord(result, label, price_source(args, config, sorted(frames)), params, intervals)
    print(render(result, label, intervals=intervals))
    gate = gate_report(result) if _is_gated(strategy) else None
    if gate is not None:
        print(render_gate(gate))
    if args.rebalance_days is not None:
        print(render_offsets(rebalance_day_sensitivity(strategy, frames, settings, offsets=args.rebalance_days)))
    if args.out is not None:
        for path in write_outputs(run, args.out, gate=gate):
            print(f"wrote {path}")
    return 0


def _check_combination(args: argparse.Namespace) -> None:
    """Flags that contradict each other, or do nothing without another, are refused before any work."""
    if args.band is not None and args.no_band:
        raise ConfigError("--band and --no-band contradict each other: choose one")
    if args.train_to is not None and not args.sweep:
        raise ConfigError("--train-to chooses among a sweep's variants: add --sweep NAME=V1,V2,...")
    if args.refit_every is None and (args.train_years is not None or args.window is not None):
        raise ConfigError("--train-years and --window shape --refit-every's walk-forward: add --refit-every YEARS")
    if args.refit_every is not None:
        args.train_years = DEFAULT_TRAIN_YEARS if args.train_years is None else args.train_years
        args.window = args.window or "anchored"
        if not args.sweep:
            raise ConfigError("--refit-every chooses among a sweep's variants: add --sweep NAME=V1,V2,...")
        if args.train_to is not None:
            raise ConfigError("--refit-every and --train-to are two walk-forwards: choose one")
        if not (1 <= args.refit_every <= 50 and 1 <= args.train_years <= 50):
            raise ConfigError(f"--refit-every and --train-years are whole years from 1 to 50, got "
                              f"{args.refit_every} and {args.train_years}")
    if args.cluster is not None and not args.sweep:
        raise ConfigError("--cluster runs sweeps only (their chunks go to the Dask scheduler): add --sweep "
                          "NAME=V1,V2,... or drop --cluster")
    if args.rebalance_days is not None and args.sweep:
        raise ConfigError("--rebalance-days varies one backtest: drop --sweep")
    if args.rebalance_days is not None and not 1 <= args.rebalance_days <= 63:
        raise ConfigError(f"--rebalance-days must be 1 to 63 sessions, got {args.rebalance_days}")
    if args.train_to is not None and args.end is not None and args.train_to >= args.end:
        raise ConfigError(f"--train-to {args.train_to} must be before --to {args.end}")


def bootstrap_spec(args: argparse.Namespace) -> BootstrapSpec | None:
    if args.resamples == 0:
        return None
    try:
        return BootstrapSpec(resamples=args.resamples, block_sessions=args.block_days, seed=args.bootstrap_seed)
    except ValueError as err:
        raise ConfigError(f"bootstrap: {err}") from None


def _is_gated(strategy: Strategy) -> bool:
    return getattr(strategy, "max_trailing_spread", None) is not None or \
        getattr(strategy, "min_trend_score", None) is not None


def price_source(args: argparse.Namespace, config: Config | None, symbols: list[str]) -> dict[str, object]:
    """Where the prices came from, for metrics.json: the directory and a hash of its files, synthetic, alpaca."""
    source = args.prices or (config.local.prices if config is not None else "synthetic")
    if source == "synthetic":
        seed = args.seed if args.seed is not None else (config.local.seed if config is not None else 7)
        return {"kind": "synthetic", "seed": seed, "note": "a seeded random market, not history"}
    if source == "alpaca":
        feed = args.feed or (config.broker.feed if config is not None else "iex")
        return {"kind": "alpaca", "feed": feed, "adjustment": "all"}
    return directory_digest(Path(source), symbols)


SYNTHETIC_START = date(2000, 1, 3)


def load_prices(
    args: argparse.Namespace, config: Config | None, *, symbols: tuple[list[str], list[str]], start: date | None,
    end: date | None,
) -> tuple[dict[str, pd.DataFrame], str]:
    """Price frames for (needed, optional) symbols from --prices: a CSV directory, 'alpaca' or 'synthetic'."""
    needed, optional = symbols
    source = args.prices or (config.local.prices if config is not None else "synthetic")
    if source == "synthetic":
        seed = args.seed if args.seed is not None else (config.local.seed if config is not None else 7)
        wanted = needed + [s for s in optional if s in SYNTHETIC_SYMBOLS]
        frames = synthetic_history(wanted, start=start or SYNTHETIC_START, end=end or date.today(), seed=seed)
        return frames, f"SYNTHETIC (seed {seed})"
    if source == "alpaca":
        from bot.adapters.history.alpaca_source import alpaca_frames

        key, secret = os.environ.get("ALPACA_API_KEY"), os.environ.get("ALPACA_SECRET_KEY")
        if not key or not secret:
            raise ConfigError("--prices alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY in the environment")
        problem = key_problem("ALPACA_API_KEY", key) or key_problem("ALPACA_SECRET_KEY", secret)
        if problem is not None:
            raise ConfigError(problem)
        feed = args.feed or (config.broker.feed if config is not None else "iex")
        data_url = os.environ.get("ALPACA_DATA_URL") or (config.broker.data_url if config is not None else None)
        state = config.paths.state_dir if config is not None else Path(".state")
        frames = alpaca_frames(needed + optional, start=start, end=end, today=date.today(), api_key=key,
                               secret_key=secret, feed=feed, url_override=data_url, required=needed,
                               cache_dir=Path(state) / "history")
        return frames, f"Alpaca daily bars ({feed}, adjustment=all)"
    directory = Path(source)
    frames = load_csv_dir(directory, needed)
    for sym in optional:
        if (directory / f"{sym}.csv").is_file():
            try:
                frames.update(load_csv_dir(directory, [sym]))
            except DataError:
                continue
    return frames, str(directory)


def price_splits(args: argparse.Namespace, config: Config | None) -> tuple[Split, ...] | None:
    """The splits of the prices --prices names: DIR/splits.csv when there is one; none for the synthetic market
    (it never splits); None (unknown) for a directory without the file and for Alpaca's adjusted bars."""
    source = args.prices or (config.local.prices if config is not None else "synthetic")
    if source == "synthetic":
        return ()
    if source == "alpaca":
        return None
    return splits_beside(Path(source))


def _config(path: Path | None) -> Config | None:
    """The lead's config when a file is there; flags and built-in defaults otherwise."""
    if path is None or not Path(path).is_file():
        return None
    return load_config(Path(path))


def _strategy_choice(args: argparse.Namespace, config: Config | None) -> tuple[str, dict[str, object]]:
    name = args.strategy or (config.strategy if config is not None else "pair")
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
    params: dict[str, object] = {}
    if config is not None and name == config.strategy:
        params.update(config.strategy_params())
    elif config is not None and hasattr(config.strategies, name):
        params.update(config.strategy_section(name).model_dump())
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--param {item!r} must look like KEY=VALUE")
        params[key.strip()] = value.strip()
    return name, params


def _build(name: str, params: Mapping[str, object]) -> Strategy:
    try:
        return strategy_from(name, params)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def settings_from(args: argparse.Namespace, config: Config | None) -> BacktestSettings:
    """Flags first, then config.yaml's backtest/schedule/limits sections, then built-in defaults."""
    s = BacktestSettings()
    if config is not None:
        bt, sch, lim = config.backtest, config.schedule, config.limits
        s = replace(
            s, starting_cash=float(bt.starting_cash), commission_bps=float(bt.commission_bps),
            slippage_bps=float(bt.slippage_bps), borrow_bps=float(bt.borrow_bps), cash_rate=float(bt.cash_rate),
            fill=bt.fill, frequency=sch.frequency, leg_band=float(sch.drift_band),
            gross_band=_opt(sch.gross_band), net_band=_opt(sch.net_band), effective_band=_opt(sch.effective_band),
            min_trade_usd=float(lim.min_trade_usd), cash_reserve=float(lim.cash_reserve),
            fractional_longs=bool(lim.fractional_longs),
        )
    flags = {
        "start": args.start, "end": args.end, "fill": args.fill, "commission_bps": args.cost_bps,
        "slippage_bps": args.slippage_bps, "borrow_bps": args.borrow_bps, "starting_cash": args.cash,
        "leg_band": args.band, "gross_band": args.gross_band, "net_band": args.net_band,
        "effective_band": args.effective_band, "frequency": args.frequency, "min_trade_usd": args.min_trade,
        "cash_reserve": args.cash_reserve,
    }
    s = replace(s, **{k: v for k, v in flags.items() if v is not None})
    if args.no_band:
        s = replace(s, leg_band=None)
    if args.fractional_longs:
        s = replace(s, fractional_longs=True)
    if args.cash_rate is not None:
        s = _with_cash_rate(s, args.cash_rate)
    _check(s)
    return s


def _opt(value: object) -> float | None:
    return None if value is None else float(str(value))


def _with_cash_rate(s: BacktestSettings, text: str) -> BacktestSettings:
    try:
        return replace(s, cash_rate=float(text), cash_symbol=None)
    except ValueError:
        if not text.isalpha():
            raise ConfigError(f"--cash-rate must be a rate like 0.04 or a fund symbol like BIL, got {text!r}") from None
        return replace(s, cash_symbol=text.upper())


def _check(s: BacktestSettings) -> None:
    if s.start is not None and s.end is not None and s.start >= s.end:
        raise ConfigError(f"--from {s.start} must be before --to {s.end}")
    for name in ("commission_bps", "slippage_bps", "borrow_bps", "min_trade_usd"):
        value = getattr(s, name)
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{name} must be a non-negative number, got {value}")
    if not s.starting_cash > 0:
        raise ConfigError(f"starting cash must be positive, got {s.starting_cash}")
    if not 0 <= s.cash_reserve < 1:
        raise ConfigError(f"cash reserve must be in [0, 1), got {s.cash_reserve}")
    for name in ("leg_band", "gross_band", "net_band", "effective_band"):
        value = getattr(s, name)
        if value is not None and not value >= 0:
            raise ConfigError(f"{name} must be a non-negative number, got {value}")


def _symbols(strategy: Strategy, args: argparse.Namespace, s: BacktestSettings) -> tuple[list[str], list[str]]:
    """(symbols the run needs, symbols it shows if present)."""
    needed: set[str] = set(strategy.universe) | set(strategy.history_symbols)
    for item in args.sweep:
        key, _, values = item.partition("=")
        if key.strip() in ("hedge",) and "inverse" in values:
            needed.add(str(getattr(strategy, "inverse", "PSQ")))
        if key.strip() in ("inverse",):
            needed.update(v.strip().upper() for v in values.split(","))
    if s.cash_symbol is not None:
        needed.add(s.cash_symbol)
    optional = [b for b in s.benchmarks if b not in needed]
    return sorted(needed), optional


progress_bar = ProgressReport("sessions")  # replay's progress: a bar on a terminal, plain lines elsewhere
