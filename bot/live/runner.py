"""rebalance_once(): the run protocol, and the only code that sequences I/O (its steps: bot.live.context,
reconcile and execute)."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from typing import Any

import structlog

from bot.adapters.ledger import Adjustment, Ledger
from bot.config import Config
from bot.core.book import outside_trades
from bot.core.checks import gate_violations, risk_violations, unknown_assets, unusable_quotes
from bot.core.domain import (
    NEW_YORK,
    AccountSnapshot,
    DriftReport,
    MarketClock,
    OrderState,
    PositionIntent,
    RebalancePlan,
    Symbol,
)
from bot.core.drift import DriftBands, drift_breaches, measure_drift
from bot.core.orderkey import OrderKey
from bot.core.plan import plan_rebalance
from bot.core.schedule import Decision, decide, run_key
from bot.core.window import closed_today, refusal
from bot.errors import BotError, ConfigError, GateRefused
from bot.live.context import RunContext, RunReport, snapshot, stop_point, summary_fields
from bot.live.execute import execute_plan, fills_to_tell, settle, verify
from bot.live.reconcile import compare_positions, ingest_events, ingest_fills, learn_orders, open_orders_or_refuse
from strategies.base import MarketView, Strategy

log = structlog.get_logger("pairbot.runner")


def rebalance_once(ctx: RunContext, *, execute: bool) -> RunReport:
    """Reconcile, decide, plan, check, then (if execute) trade and verify. Raises the BotError that stopped it."""
    report = run_protocol(ctx, execute=execute)
    if report.error is not None:
        raise report.error
    return report


def run_protocol(ctx: RunContext, *, execute: bool) -> RunReport:
    """The same, but a stop is returned in report.error (with what happened before it), never raised."""
    report = RunReport(run_id=ctx.run_id)
    ctx.ledger.start_run(run_id=ctx.run_id, started_at=ctx.now(), mode=ctx.config.mode,
                         command="rebalance" if execute else "plan", strategy=ctx.config.strategy)
    structlog.contextvars.bind_contextvars(run_id=ctx.run_id)
    try:
        _protocol(ctx, report, execute=execute)
    except BotError as err:
        report.error = err
        if report.outcome != "incomplete":
            report.outcome = err.outcome
        report.exit_code = err.exit_code
        ctx.ledger.finish_run(ctx.run_id, finished_at=ctx.now(), outcome=report.outcome,
                              exit_code=report.exit_code, summary=summary_fields(report) | {"error": str(err)})
        log.warning("rebalance_finished", outcome=report.outcome, exit_code=err.exit_code, error=str(err),
                    decision=report.decision, requests=ctx.broker.request_count)
        return report
    ctx.ledger.finish_run(ctx.run_id, finished_at=ctx.now(), outcome=report.outcome, exit_code=report.exit_code,
                          summary=summary_fields(report))
    log.info("rebalance_finished", **summary_fields(report), requests=ctx.broker.request_count)
    return report


def _protocol(ctx: RunContext, report: RunReport, *, execute: bool) -> None:
    kill = ctx.config.paths.kill_switch
    report.kill_switch = kill if kill.exists() else None
    if report.kill_switch and execute:
        raise GateRefused(f"kill switch {kill} is present; remove it to trade ({ctx.command('plan')} still previews)")
    clock = ctx.broker.clock()
    now = clock.as_of
    if execute and _not_trading_now(ctx, report, clock):
        return
    if not execute and ctx.window is not None:  # a plan shows what would be traded, and says when it would not be
        report.not_now = refusal(now, ctx.window) or (None if clock.is_open else closed_today(clock))
    stop_point(ctx, "before reconciling")
    snap, found_open = reconcile(ctx, now=now, settle_open=execute)
    if execute:
        report.settled = found_open
        report.fills = fills_to_tell(ctx, report)  # told even if the run then has nothing to do
    else:
        report.open_orders = found_open
    ctx.checkpoint("after_reconcile")
    stop_point(ctx, "after reconciling")
    _check_inputs(ctx, snap)
    ctx.ledger.record_snapshot(ctx.run_id, "before", snap)
    report.before = snap
    today = snap.as_of.astimezone(NEW_YORK).date()
    targets = ctx.strategy.target_weights(market_view(ctx, snap))
    report.targets = dict(targets.weights)
    drift = measure_drift(targets, snap, ctx.vehicles)
    if not _decide(ctx, report, today, drift):
        report.outcome = "nothing_to_do"
        return
    assert report.run_key is not None
    plan = _plan(ctx, report.run_key, targets, snap)
    report.plan = plan
    if ctx.planned is not None:
        ctx.planned(report)
    _check(ctx, report, plan, snap)
    if not execute:
        report.outcome = "planned"
        return
    execute_plan(ctx, report, plan)
    verify(ctx, report, targets)


def _not_trading_now(ctx: RunContext, report: RunReport, clock: MarketClock) -> bool:
    """Cron fires in the host's zone on every weekday, some entries outside the window and some on market holidays:
    those runs record it and send nothing (exit 0). Without a window (schedule.window null, --outside-window)
    a closed market is the gates' refusal instead (exit 3)."""
    if ctx.window is None:
        return False
    why, outcome = refusal(clock.as_of, ctx.window), "outside_window"
    if why is None and not clock.is_open:
        _refuse_after_an_early_close(ctx, clock)
        why, outcome = closed_today(clock), "market_closed"
    if why is None:
        return False
    report.decision, report.why, report.outcome = "none", why, outcome
    ctx.ledger.record_decision(ctx.run_id, decision="none", period=None, run_key=None, why=why)
    return True


def _refuse_after_an_early_close(ctx: RunContext, clock: MarketClock) -> None:
    """Today is a session that has closed already (13:00 on an early-close day) inside the window: the window
    cannot trade on such days, which the user should hear of (exit 3), unlike a holiday."""
    today = clock.as_of.astimezone(NEW_YORK).date()
    session = next((s for s in ctx.broker.sessions(today, today) if s.day == today), None)
    if session is not None and session.close <= clock.as_of and ctx.window is not None:
        raise GateRefused(f"too_close_to_close: the market closed early today, at "
                          f"{session.close.astimezone(NEW_YORK):%H:%M} New York, before the window "
                          f"{ctx.window.describe()}; nothing was sent (on early-close days a window must start "
                          "by 12:30)")


def reconcile(
    ctx: RunContext, *, now: datetime, settle_open: bool = True
) -> tuple[AccountSnapshot, tuple[OrderState, ...]]:
    """Before anything else: adopt our orders, settle open ones, ingest fills and account events, then compare
    the ledger with the account as it is now: the snapshot the run goes on to decide and plan from. `now` is
    the broker's clock at the start of the run (every fill booked before it is there to be read).

    Returns pairbot's orders an earlier run left open: as settled (a rebalance reports their fills), or, for a
    plan, which sends nothing (settle_open=False), as found: recorded, neither waited for nor cancelled (the plan
    says the next rebalance settles them first)."""
    today = now.astimezone(NEW_YORK).date()
    learn_orders(ctx)
    mine = open_orders_or_refuse(ctx)
    if settle_open:
        mine = list(settle(ctx, mine, cancel_after=True).values())
    _, outside = ingest_fills(ctx, read_at=now)
    ingest_events(ctx, today=today)
    snap = snapshot(ctx)
    compare_positions(ctx, snap, today=today, outside=outside_trades(outside))
    return snap, tuple(mine)


def _check_inputs(ctx: RunContext, snap: AccountSnapshot) -> None:
    """Refuse before any arithmetic: symbols the broker does not know (exit 2), quotes no price can come from (3)."""
    unknown = unknown_assets(snap, ctx.strategy.universe)
    if unknown:
        params = ctx.config.strategy_params()
        where = [f"strategies.{ctx.config.strategy}.{k}: {v}" for k, v in params.items() if str(v).upper() in unknown]
        named = "; ".join(where) if where else ", ".join(unknown)
        raise ConfigError(f"{ctx.config_path}: {named}: the broker has no such asset; nothing was sent")
    bad = unusable_quotes(snap, snap.positions.keys() | ctx.strategy.universe)
    if bad:
        raise GateRefused("; ".join(f"{v.code}: {v.message}" for v in bad) + "; nothing was sent")


def market_view(ctx: RunContext, snap: AccountSnapshot) -> MarketView:
    """What the strategy sees today: the snapshot's marks and, if it asks, enough daily closes."""
    today = snap.as_of.astimezone(NEW_YORK).date()
    prices = {s: snap.price(s) for s in ctx.strategy.universe if s in snap.quotes}
    days = ctx.strategy.needs_history_days
    closes = None
    if days > 0:
        start = today - timedelta(days=int(days * 1.5) + 10)
        closes = ctx.broker.daily_closes(history_symbols(ctx.strategy), start, today)
    return MarketView(as_of=today, prices=prices, closes=closes)


def history_symbols(strategy: Strategy) -> frozenset[Symbol]:
    return strategy.universe | strategy.history_symbols


def config_fingerprint(config: Config) -> str:
    body = json.dumps({"strategy": config.strategy, "params": config.strategy_params()}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:6]


def _decide(ctx: RunContext, report: RunReport, today: date, drift: DriftReport) -> bool:
    decision, accepted = decision_for(ctx, today, drift)
    report.decision, report.period, report.why = decision.kind, decision.period, decision.why
    report.adjustments = tuple(a.id for a in accepted) if decision.trades else ()
    if decision.key is not None:
        report.run_key = run_key(decision.key, config_fingerprint(ctx.config))
    ctx.ledger.record_decision(ctx.run_id, decision=report.decision, period=report.period,
                               run_key=report.run_key, why=report.why)
    return decision.trades


def decision_for(ctx: RunContext, today: date, drift: DriftReport) -> tuple[Decision, list[Adjustment]]:
    """The decision on this drift today, from what the ledger says is done and accepted (reads, never writes)."""
    sched = ctx.config.schedule
    accepted = ctx.ledger.pending_adjustments()
    decision = decide(today=today, frequency=sched.frequency, done_periods=ctx.ledger.done_periods(),
                      accepted=[(a.id, a.symbol) for a in accepted],
                      breaches=drift_breaches(drift, bands_of(ctx.config)),
                      max_leg_drift=drift.max_abs_leg_drift, leg_band=sched.drift_band)
    return decision, accepted


def preview(ctx: RunContext, snap: AccountSnapshot, *, today: date | None = None) -> tuple[Decision, DriftReport]:
    """What a rebalance would decide on this snapshot, for status and doctor: today, or on the day given (the
    next run's, which may open a new calendar period)."""
    targets = ctx.strategy.target_weights(market_view(ctx, snap))
    drift = measure_drift(targets, snap, ctx.vehicles)
    day = snap.as_of.astimezone(NEW_YORK).date() if today is None else today
    return decision_for(ctx, day, drift)[0], drift


def bands_of(config: Config) -> DriftBands:
    sched = config.schedule
    return DriftBands(leg=sched.drift_band, gross=sched.gross_band, net=sched.net_band,
                      effective=sched.effective_band)


def _attempts(ledger: Ledger, key: str) -> dict[str, int]:
    """Next attempt per leg: a new number only once the previous order is terminal or was never sent."""
    latest: dict[str, tuple[int, str]] = {}
    for rec in ledger.intents(run_key=key):
        if rec.leg_key not in latest or rec.attempt > latest[rec.leg_key][0]:
            latest[rec.leg_key] = (rec.attempt, rec.state)
    nxt = {leg: (n if state == "unsent" else n + 1) for leg, (n, state) in latest.items()}
    # Orders the broker has under this key but the ledger has no intent for (a lost or rebuilt ledger):
    # their ids are taken forever, so the next attempt comes after them (reconcile left none open).
    for coid in {o["client_order_id"] for o in ledger.orders()}:
        k = OrderKey.parse(coid)
        if k is not None and k.run_key == key:
            nxt[k.leg] = max(nxt.get(k.leg, 1), k.attempt + 1)
    return nxt


def _plan(ctx: RunContext, key: str, targets: Any, snap: AccountSnapshot) -> RebalancePlan:
    return plan_rebalance(targets, snap, ctx.config.limits.policy(), vehicles=ctx.vehicles, run_key=key,
                          attempts=_attempts(ctx.ledger, key))


def _check(ctx: RunContext, report: RunReport, plan: RebalancePlan, snap: AccountSnapshot) -> None:
    limits, gates = ctx.config.limits.risk(), ctx.config.gates.rules()
    shorts = {o.symbol for o in plan.orders if o.intent is PositionIntent.SELL_TO_OPEN}
    problems = gate_violations(snap, universe=ctx.strategy.universe, shorts_planned=shorts,
                               gates=gates) if not plan.is_noop else ()
    problems += risk_violations(plan, snap, limits, gates)
    report.violations = problems
    if problems:
        ctx.ledger.record_decision(ctx.run_id, decision="refused", period=report.period, run_key=report.run_key,
                                   why="; ".join(v.message for v in problems))
        report.decision = "refused"
        raise GateRefused("; ".join(f"{v.code}: {v.message}" for v in problems))
