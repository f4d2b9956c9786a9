"""`pairbot rebalance` (and `pairbot plan`): one run of the protocol, a human summary, an exit code."""

from __future__ import annotations

import argparse
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from bot.config import Config
from bot.core.window import TradingWindow
from bot.errors import ConfigError
from bot.live.context import RunContext, RunReport, StopRequest
from bot.live.notify import notify_run
from bot.live.runner import run_protocol
from bot.live.summary import render, render_head, render_tail
from bot.live.wiring import App, crash_checkpoint, open_app
from strategies.base import Strategy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="plan and check only; send no order")
    parser.add_argument("--outside-window", action="store_true",
                        help="trade now even outside schedule.window (a run by hand; the market must be open)")


def strategy_of(app: App) -> Strategy:
    try:
        return app.config.build_strategy()
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


def context_for(app: App, strategy: Strategy, *, config_path: Path,
                stop_requested: StopRequest | None = None) -> RunContext:
    """The run's context from the app: wall clock, real sleep, the crash matrix's hook (tests only)."""
    return RunContext(config=app.config, strategy=strategy, broker=app.broker, ledger=app.ledger,
                      run_id=app.run_id, now=lambda: datetime.now(UTC), sleep=time.sleep,
                      checkpoint=crash_checkpoint(), stop_requested=stop_requested or (lambda: None),
                      config_path=config_path, window=trading_window(app.config))


def trading_window(config: Config) -> TradingWindow | None:
    """The configured window, except on the embedded demo exchange's always-open clock, which has no hours."""
    if config.mode == "local" and config.local.clock == "always-open":
        return None
    return config.schedule.window


@contextmanager
def stop_at_safe_points() -> Iterator[StopRequest]:
    """SIGINT and SIGTERM ask the run to stop at its next safe point; a second one stops it at once."""
    received: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        if received:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        received.append(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: received[0] if received else None
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run(args: argparse.Namespace) -> int:
    execute = args._name == "rebalance" and not args.dry_run
    with open_app(args.config) as app, stop_at_safe_points() as stop:
        ctx = context_for(app, strategy_of(app), config_path=args.config, stop_requested=stop)
        if getattr(args, "outside_window", False):
            ctx.window = None
        told: list[bool] = []

        def planned(report: RunReport) -> None:  # the plan as soon as it is made: before the orders, not after
            print(render_head(report, header=header(app, execute=execute)), flush=True)
            told.append(True)

        ctx.planned = planned
        report = run_protocol(ctx, execute=execute)
        if execute:
            notify_run(app.config, app.run_id, report, report.error)
        if report.decided:
            print(render_tail(report) if told else render(report, header=header(app, execute=execute)))
        ctx.checkpoint("after_summary")
        if report.error is not None:
            raise report.error
        print(f"ledger {app.ledger.path} | log {app.log_path} | {app.broker.request_count} broker requests")
        return report.exit_code
