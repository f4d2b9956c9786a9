"""What one run carries (RunContext) and what it tells (RunReport), and the helpers every step of it shares."""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from bot.adapters.broker.port import Broker
from bot.adapters.ledger import Ledger
from bot.config import Config
from bot.core.book import our_symbols, own_book
from bot.core.checks import Violation
from bot.core.domain import (
    AccountSnapshot,
    DriftReport,
    Fill,
    OrderIntent,
    OrderState,
    RebalancePlan,
    Symbol,
    Vehicle,
)
from bot.core.window import TradingWindow
from bot.errors import BotError, Interrupted
from strategies.base import Strategy

Checkpoint = Callable[[str], None]  # test-only crash points, by name
StopRequest = Callable[[], int | None]  # the signal number once SIGINT or SIGTERM arrived, else None


def _no_checkpoint(_name: str) -> None:
    return None


def _never() -> int | None:
    return None


@dataclass
class RunContext:
    config: Config
    strategy: Strategy
    broker: Broker
    ledger: Ledger
    run_id: str
    now: Callable[[], datetime]
    sleep: Callable[[float], None]
    checkpoint: Checkpoint = _no_checkpoint  # test-only crash points (see tests/reliability)
    stop_requested: StopRequest = _never  # polled at the safe points
    window: TradingWindow | None = None  # New York hours a rebalance may trade in; None: whenever the market is open
    config_path: Path = Path("config.yaml")  # named in the commands a refusal tells the user to run
    planned: Callable[[RunReport], None] | None = None  # told once the plan is made, before any order is sent

    def command(self, name: str) -> str:
        where = "" if self.config_path == Path("config.yaml") else f" --config {self.config_path}"
        return f"pairbot {name}{where}"

    @cached_property
    def vehicles(self) -> dict[Symbol, Vehicle]:
        """Every symbol's vehicle for measuring the book: the strategy's, and those of legs an earlier one left
        (built once a run: each configured strategy is built to read its vehicles)."""
        return self.config.vehicles(self.strategy)


@dataclass
class OrderOutcome:
    intent: OrderIntent
    state: OrderState | None
    error: str | None = None


@dataclass
class RunReport:
    run_id: str
    decision: str = "none"  # calendar | drift | none | refused
    period: str | None = None
    run_key: str | None = None
    why: str = ""
    targets: dict[Symbol, Decimal] = field(default_factory=dict)
    plan: RebalancePlan | None = None
    before: AccountSnapshot | None = None
    after: AccountSnapshot | None = None
    residual: DriftReport | None = None
    outcomes: list[OrderOutcome] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)  # of the orders this run sent or settled, never an earlier run's
    violations: tuple[Violation, ...] = ()
    executed: bool = False
    outcome: str = "done"
    exit_code: int = 0
    kill_switch: Path | None = None  # the kill switch file, when it was present (a plan still runs)
    adjustments: tuple[int, ...] = ()  # accepted changes this run trades back to target
    open_orders: tuple[OrderState, ...] = ()  # pairbot's orders a plan found open (a rebalance settles them first)
    not_now: str | None = None  # a plan's: why a rebalance run now would not trade (outside the window, closed)
    settled: tuple[OrderState, ...] = ()  # pairbot's orders an earlier run left open, settled by this rebalance
    error: BotError | None = None  # why the run stopped, when it did

    @property
    def decided(self) -> bool:
        """A decision was reached and planned: the summary has something to show beyond the error line."""
        return self.plan is not None or self.decision == "none" and self.error is None


def summary_fields(report: RunReport) -> dict[str, Any]:
    plan = report.plan
    return {
        "decision": report.decision,
        "period": report.period,
        "run_key": report.run_key,
        "why": report.why,
        "orders": len(plan.orders) if plan else 0,
        "sent": sum(1 for o in report.outcomes if o.state is not None),
        "filled": sum(1 for o in report.outcomes if o.state is not None and o.state.status == "filled"),
        "skipped": [f"{s.symbol}: {s.reason}" for s in plan.skipped] if plan else [],
        "notes": [f"{s.symbol}: {s.reason}" for s in plan.notes] if plan else [],
        "max_drift": str(plan.drift.max_abs_leg_drift) if plan else None,
        "residual_max_drift": str(report.residual.max_abs_leg_drift) if report.residual else None,
        "outcome": report.outcome,
    }


def stop_point(ctx: RunContext, where: str) -> None:
    """A safe point: nothing is half-sent here. SIGINT or SIGTERM received earlier stops the run now."""
    signum = ctx.stop_requested()
    if signum is not None:
        name = signal.Signals(signum).name
        raise Interrupted(f"interrupted by {name}: stopped {where}, with no order half-sent; "
                          "a rerun picks up where this one stopped", signal_number=signum)


def pairbots_symbols(ctx: RunContext) -> frozenset[Symbol]:
    return our_symbols(ctx.strategy.universe, ctx.ledger.positions())


def snapshot(ctx: RunContext) -> AccountSnapshot:
    """The account, with pairbot's positions apart from the user's (which are never traded or counted in drift)."""
    ours = pairbots_symbols(ctx)
    return own_book(ctx.broker.snapshot(ours), ours)
