"""``pairbot exchange serve``: run the local exchange in the foreground until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bot.adapters.exchange.app import LocalExchange
from bot.adapters.exchange.generations import SCHEMA_MODES
from bot.adapters.exchange.settings import CLOCK_MODES, REMAINDERS, ExchangeSettings
from bot.adapters.net import is_loopback_host
from bot.errors import BotError, ConfigError

DEFAULT_KEY, DEFAULT_SECRET = "PKLOCAL", "local-secret"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pairbot exchange serve",
                                description="Serve the local Alpaca-compatible paper exchange.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8765, help="TCP port (0: any free one)")
    p.add_argument("--state", type=Path, default=None, help="SQLite state file (default: in memory)")
    p.add_argument("--prices", default="synthetic", help="'synthetic' or a directory of <SYMBOL>.csv")
    p.add_argument("--clock", choices=CLOCK_MODES, default="always-open")
    p.add_argument("--schema", choices=SCHEMA_MODES, default="today",
                   help="Alpaca JSON generation: today (default), legacy (easy_to_borrow, PDT fields), "
                        "drift (today plus fields and values no client knows yet)")
    p.add_argument("--faults", type=Path, default=None, help="JSON or YAML fault script")
    p.add_argument("--cash", type=_cash, default=Decimal("100000"), help="starting cash of a fresh account")
    p.add_argument("--reset", action="store_true", help="wipe the state file to a fresh account")
    p.add_argument("--seed", type=_seed, default=7)
    p.add_argument("--split-remainder", choices=REMAINDERS, default="fractional",
                   help="a split's fractional share: kept (fractional, Alpaca since 2021) or paid as cash in lieu")
    p.add_argument("--no-dividends", action="store_true",
                   help="do not pay dividends (as Alpaca paper, which does not simulate them)")
    p.add_argument("--withholding", type=_withholding, default=Decimal(0),
                   help="share of a long's dividend withheld (DIVNRA), e.g. 0.15")
    p.add_argument("--allow-remote", action="store_true", help="allow binding a non-loopback address")
    return p


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 0 to 65535, got {text!r}")
    return int(text)


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _cash(text: str) -> Decimal:
    value = _decimal(text)
    if value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite amount of dollars above 0, got {text!r}")
    return value


def _withholding(text: str) -> Decimal:
    value = _decimal(text)
    if value is None or not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a share from 0 up to (not including) 1, e.g. 0.15, got {text!r}")
    return value


def _seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number from 0, got {text!r}")
    return int(text)


def settings_from_args(args: argparse.Namespace) -> ExchangeSettings:
    if not is_loopback_host(args.host) and not args.allow_remote:
        raise ConfigError(f"refusing to bind {args.host}: not a loopback address (use --allow-remote)")
    prices: str | Path = "synthetic" if args.prices == "synthetic" else Path(args.prices)
    return ExchangeSettings(
        state_path=args.state, host=args.host, port=args.port, prices=prices, clock=args.clock,
        faults_path=args.faults, starting_cash=args.cash, reset=args.reset, seed=args.seed, schema=args.schema,
        split_remainder=args.split_remainder, simulate_dividends=not args.no_dividends,
        dividend_withholding=args.withholding,
        api_key=os.environ.get("ALPACA_API_KEY") or DEFAULT_KEY,
        secret_key=os.environ.get("ALPACA_SECRET_KEY") or DEFAULT_SECRET,
    )


def _cannot_open(args: argparse.Namespace, err: OSError) -> str:
    """`--state /proc/x.sqlite: cannot create /proc/x.sqlite: No such file or directory`: the option, the path and
    what is wrong, not a bare `[Errno 2] ...`."""
    where = f" {err.filename}" if err.filename is not None else ""
    why = err.strerror or str(err)
    state = args.state
    if state is not None and err.filename is not None and Path(err.filename) in (state, *state.parents):
        return f"--state {state}: cannot create{where}: {why}; choose a file in a directory you can write"
    return f"cannot open{where}: {why}"


def usage_lines(exchange: LocalExchange, settings: ExchangeSettings, env: dict[str, str]) -> list[str]:
    """How to reach this exchange: the key id it accepts (not masked: a local test server), its secret's
    source, and the lines that point paper mode at it."""
    url = exchange.base_url
    from_env = bool(env.get("ALPACA_SECRET_KEY"))
    secret_says = ("the value of ALPACA_SECRET_KEY" if from_env
                   else f"the default {DEFAULT_SECRET!r} (ALPACA_SECRET_KEY is not set)")
    secret = '"$ALPACA_SECRET_KEY"' if from_env else DEFAULT_SECRET
    return [
        f"accepts key id {settings.api_key}; the secret is {secret_says}",
        "point paper mode at it:",
        f"  export ALPACA_API_KEY={settings.api_key} ALPACA_SECRET_KEY={secret} ALPACA_BASE_URL={url} "
        f"ALPACA_DATA_URL={url}",
        "  and set `mode: paper` in config.yaml",
    ]


def serve_main(argv: list[str] | None = None, *, stop: threading.Event | None = None) -> int:
    """Serve until Ctrl-C (or ``stop`` is set); returns an exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        exchange = LocalExchange(settings)
    except BotError as err:
        print(f"pairbot: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        print(f"pairbot: {_cannot_open(args, err)}", file=sys.stderr)
        return ConfigError.exit_code
    except sqlite3.Error as err:  # the state file is there but is not a SQLite database pairbot can use
        print(f"pairbot: --state {args.state}: not a usable SQLite state file ({err}); choose another file",
              file=sys.stderr)
        return ConfigError.exit_code
    except ValueError as err:
        print(f"pairbot: {err}", file=sys.stderr)
        return ConfigError.exit_code
    try:
        exchange.start()
    except OSError as err:  # the port is taken, or not ours to bind
        exchange.close()
        print(f"pairbot: cannot listen on {settings.host}:{settings.port}: {err.strerror or err} (another server "
              "there? choose another --port)", file=sys.stderr)
        return ConfigError.exit_code
    try:
        label = ("SYNTHETIC prices (seeded random walks, not market data)" if exchange.prices_label == "synthetic"
                 else f"CSV replay prices from {settings.prices}")
        print(f"pairbot local exchange on {exchange.base_url} | {label} | clock {settings.clock} | "
              f"schema {settings.schema} | state {settings.state_path or 'in memory'}", file=sys.stderr)
        print("\n".join(usage_lines(exchange, settings, dict(os.environ))), file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            (stop or threading.Event()).wait()
    finally:
        exchange.close()
    return 0
