"""`pairbot research`: one self-contained HTML page that answers the research notes' questions on the prices."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import date

from bot.adapters.history.frame import price_warnings
from bot.commands.argtypes import iso_date, non_negative_int, out_dir
from bot.commands.backtest import _config, load_prices, price_source, price_splits, settings_from
from bot.config import Config
from bot.errors import ConfigError
from bot.research.backtest import BacktestSettings
from bot.research.findings import find
from bot.research.intervals import DEFAULT_BLOCK_SESSIONS, DEFAULT_SEED, BootstrapSpec
from bot.research.page_sections import render_page

SYMBOLS = ["IWM", "QQQ"]
OPTIONAL = ["SPY", "BIL", "TNA", "UPRO", "SQQQ", "NDX", "RUT"]
TRAIN_TO = date(2019, 12, 31)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--prices", required=True, help="a directory of <SYMBOL>.csv (IWM and QQQ needed; SPY, BIL, TNA, UPRO, "
        "SQQQ, NDX, RUT used when present), 'alpaca' or 'synthetic'")
    add("--out", type=out_dir, required=True, metavar="DIR", help="write research.html here")
    add("--feed", default=None, help="Alpaca data feed for --prices alpaca")
    add("--seed", type=non_negative_int, default=None, help="seed of the synthetic market")
    add("--from", dest="start", type=iso_date, metavar="DATE", help="first session studied (default: the data's)")
    add("--to", dest="end", type=iso_date, metavar="DATE", help="last session studied (default: the data's)")
    add("--train-to", type=iso_date, default=TRAIN_TO, metavar="DATE",
        help=f"the gates' walk-forward: choose on sessions up to DATE, test after it (default {TRAIN_TO})")
    add("--resamples", type=int, default=1000, help="bootstrap resamples behind each interval (default 1000)")
    add("--block-days", type=int, default=DEFAULT_BLOCK_SESSIONS, help="mean bootstrap block, sessions")
    add("--bootstrap-seed", type=non_negative_int, default=DEFAULT_SEED, help="seed of the bootstrap")
    add("--cost-bps", type=float, help="commission, bps of notional (default: config's backtest section)")
    add("--slippage-bps", type=float, help="slippage, bps of price")
    add("--borrow-bps", type=float, help="borrow fee on short market value, annual bps")
    add("--cash-rate", default="BIL", help="cash's annual rate, or a fund whose total return cash earns (BIL)")


def run(args: argparse.Namespace) -> int:
    config = _config(args.config)
    settings = _settings(args, config)
    try:
        spec = BootstrapSpec(resamples=args.resamples, block_sessions=args.block_days, seed=args.bootstrap_seed)
    except ValueError as err:
        raise ConfigError(f"bootstrap: {err}") from None
    frames, label = load_prices(args, config, symbols=(SYMBOLS, OPTIONAL), start=args.start, end=args.end)
    if settings.cash_symbol is not None and settings.cash_symbol not in frames:
        settings = replace(settings, cash_symbol=None)
    settings = replace(settings, splits=price_splits(args, config))
    found = find(frames, settings, spec, train_to=args.train_to)
    page = render_page(found, source=price_source(args, config, sorted(frames)), label=label, spec=spec,
                       warnings=price_warnings(frames))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "research.html"
    path.write_text(page, encoding="utf-8")
    print(f"wrote {path}")
    return 0


def _settings(args: argparse.Namespace, config: Config | None) -> BacktestSettings:
    """The backtest command's settings from these flags and config.yaml; calendar and bands as configured."""
    flags = argparse.Namespace(
        start=args.start, end=args.end, fill=None, cost_bps=args.cost_bps, slippage_bps=args.slippage_bps,
        borrow_bps=args.borrow_bps, cash=None, band=None, gross_band=None, net_band=None, effective_band=None,
        frequency=None, min_trade=None, cash_reserve=None, no_band=False, fractional_longs=False,
        cash_rate=args.cash_rate)
    return settings_from(flags, config)
