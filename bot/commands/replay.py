"""`pairbot replay`: history through the local exchange and the real runner, compared with the backtest."""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bot.commands.argtypes import iso_date, non_negative_int, out_dir
from bot.research.words import shown


def _bps(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prices", default=None, help="a directory of <SYMBOL>.csv, or 'synthetic' (default: "
                        "config local.prices)")
    parser.add_argument("--from", dest="start", type=iso_date, required=True, help="first session (YYYY-MM-DD)")
    parser.add_argument("--to", dest="end", type=iso_date, required=True, help="last session (YYYY-MM-DD)")
    parser.add_argument("--strategy", default=None, help="pair, overlay or replica (default: config strategy)")
    parser.add_argument("--slippage-bps", type=_bps, default=Decimal(0),
                        help="half-spread on the exchange and slippage in the backtest (default 0)")
    parser.add_argument("--out", type=out_dir, default=None, help="keep the replay ledger and log in this directory")
    parser.add_argument("--seed", type=non_negative_int, default=None,
                        help="synthetic prices seed (default: config local.seed)")


def run(args: argparse.Namespace) -> int:
    import tempfile

    from bot.adapters.history.splits import splits_beside
    from bot.adapters.logs import Redactor, configure_logging
    from bot.commands.backtest import load_prices, progress_bar
    from bot.config import load_config
    from bot.errors import ConfigError
    from bot.research.parity import LEDGER, replay

    config = load_config(args.config)
    if args.out is not None and (args.out / LEDGER).exists():
        raise ConfigError(f"--out {args.out}: already holds a replay ({args.out / LEDGER}); a replay starts from a "
                          "fresh account: choose an empty directory or remove that one")
    if args.end <= args.start:
        raise ConfigError(f"--to {args.end} must be after --from {args.start}")
    name = args.strategy or config.strategy
    try:
        strategy = config.strategy_section(name).build()
    except (AttributeError, ValueError) as err:
        raise ConfigError(f"strategy {name!r}: {err}") from None
    args.feed = None
    symbols: list[str] = sorted(strategy.universe | strategy.history_symbols)
    frames, label = load_prices(args, config, symbols=(symbols, []), start=args.start, end=args.end)
    splits = splits_beside(Path(args.prices)) if args.prices not in (None, "synthetic", "alpaca") else None
    if splits:
        label += ", as traded (splits.csv)"
    config = config.model_copy(update={"strategy": name})
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.out or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        configure_logging(workdir, redactor=Redactor(), filename="replay.jsonl")
        print(f"replaying {name} on {label} from {args.start} to {args.end} through the local exchange "
              "(replay clock) and the real runner...", file=sys.stderr)
        result = replay(config, strategy, frames, start=args.start, end=args.end, workdir=workdir,
                        slippage_bps=args.slippage_bps, progress=progress_bar, splits=splits or ())
        print(file=sys.stderr)
    diff = result.equity_difference
    per_100k = diff / float(config.backtest.starting_cash) * 100_000
    lines = [
        f"sessions {result.sessions} ({result.start} .. {result.end}); {result.requests} HTTP requests; "
        f"{result.seconds:.1f} s",
        f"paper (exchange + runner) final equity  {result.paper_equity:>16,.4f}",
        f"backtest final equity                   {result.backtest_equity:>16,.4f}",
        f"difference                              {shown(diff, '>+16,.4f')}  ({shown(per_100k, '+.4f')} per $100,000)",
        f"trades: paper {len(result.paper_trades)}, backtest {len(result.backtest_trades)}, "
        f"{'identical' if result.trades_identical else 'DIFFERENT'}",
    ]
    lines += [f"splits applied on both sides: {', '.join(result.splits)}"] if result.splits else []
    lines += [f"run failed: {f}" for f in result.failures]
    if not result.trades_identical:
        merged = result.paper_trades.merge(result.backtest_trades, on=["date", "symbol"], how="outer",
                                           suffixes=("_paper", "_backtest"))
        bad = merged[merged["qty_paper"] != merged["qty_backtest"]]
        lines += ["first differences:", bad.head(10).to_string(index=False)]
    print("\n".join(lines))
    agree = result.trades_identical and abs(per_100k) <= 1.0 and not result.failures
    return 0 if agree else 1
