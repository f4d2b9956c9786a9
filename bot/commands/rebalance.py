"""`pairbot rebalance` (and `pairbot plan`): one run of the protocol, a human summary, an exit code."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from bot.app import App, crash_checkpoint, open_app
from bot.errors import BotError, ConfigError
from bot.notify import notify_run
from bot.runner import RunContext, RunReport, rebalance_once
from bot.summary import render
from strategies import build_strategy
from strategies.base import Strategy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="plan and check only; send no order")


def strategy_of(app: App) -> Strategy:
    try:
        return build_strategy(app.config.strategy, app.config.strategy_params())
    except ValueError as err:
        raise ConfigError(f"{app.config_path}: strategies.{app.config.strategy}: {err}") from None


def header(app: App, *, execute: bool) -> str:
    mode = app.config.mode
    where = {"local": "embedded local exchange", "paper": "Alpaca paper", "live": "Alpaca LIVE"}[mode]
    if mode == "local":
        prices = app.config.local.prices
        where += ", SYNTHETIC prices" if prices == "synthetic" else f", prices from {prices}"
    verb = "rebalance" if execute else "plan (dry run: nothing is sent)"
    return f"pairbot {verb} | mode {mode} ({where}) | strategy {app.config.strategy} | run {app.run_id}"


def run(args: argparse.Namespace) -> int:
    execute = args._name == "rebalance" and not args.dry_run
    with open_app(args.config) as app:
        strategy = strategy_of(app)
        ctx = RunContext(config=app.config, strategy=strategy, broker=app.broker, ledger=app.ledger,
                         run_id=app.run_id, now=lambda: datetime.now(UTC), sleep=time.sleep,
                         checkpoint=crash_checkpoint())
        report: RunReport | None = None
        error: BotError | None = None
        try:
            report = rebalance_once(ctx, execute=execute)
        except BotError as err:
            error = err
            partial = getattr(err, "report", None)
            if partial is not None:
                print(render(partial, header=header(app, execute=execute)))
            raise
        finally:
            if execute and (report is not None or error is not None):
                notify_run(app.config, app.run_id, report or getattr(error, "report", None), error)
        print(render(report, header=header(app, execute=execute)))
        print(f"ledger {app.ledger.path} | log {app.log_path} | {app.broker.request_count} broker requests")
        return report.exit_code
