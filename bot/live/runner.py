"""rebalance_once(): the run protocol, and the only code that sequences I/O."""

from __future__ import annotations

import hashlib
import json
import signal
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

from bot.adapters.broker.port import Broker
from bot.adapters.ledger import Adjustment, Ledger
from bot.config import Config
from bot.core.book import book_breaks, looks_like_reset, our_symbols, outside_trades, own_book
from bot.core.checks import (
    Gates,
    Limits,
    Violation,
    gate_violations,
    risk_violations,
    unknown_assets,
    unusable_quotes,
)
from bot.core.corporate import Split, split_like
from bot.core.domain import (
    NEW_YORK,
    OUR_PREFIX,
    AccountSnapshot,
    DriftReport,
    Fill,
    OrderIntent,
    OrderState,
    PositionIntent,
    RebalancePlan,
    Symbol,
)
from bot.core.drift import DriftBands, drift_breaches, measure_drift
from bot.core.orderkey import OrderKey
from bot.core.plan import plan_rebalance
from bot.core.schedule import Decision, decide, run_key
from bot.core.window import TradingWindow, refusal
from bot.errors import BotError, ConfigError, GateRefused, Interrupted, OrderRejected, ReconciliationBreak
from strategies.base import MarketView, Strategy

log = structlog.get_logger("pairbot.runner")

Checkpoint = Callable[[str], None]
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

    def command(self, name: str) -> str:
        where = "" if self.config_path == Path("config.yaml") else f" --config {self.config_path}"
        return f"pairbot {name}{where}"


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
    fills: list[Fill] = field(default_factory=list)
    violations: tuple[Violation, ...] = ()
    executed: bool = False
    outcome: str = "done"
    exit_code: int = 0
    kill_switch: Path | None = None  # the kill switch file, when it was present (a plan still runs)
    adjustments: tuple[int, ...] = ()  # accepted changes this run trades back to target
    error: BotError | None = None  # why the run stopped, when it did

    @property
    def decided(self) -> bool:
        """A decision was reached and planned: the summary has something to show beyond the error line."""
        return self.plan is not None or self.decision == "none" and self.error is None


# -- the protocol --------------------------------------------------------------------------------------


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
    now = ctx.broker.clock().as_of
    if execute and _outside_window(ctx, report, now):
        return
    _stop_point(ctx, "before reconciling")
    reconcile(ctx, today=now.astimezone(NEW_YORK).date())
    ctx.checkpoint("after_reconcile")
    _stop_point(ctx, "after reconciling")
    snap = snapshot(ctx)
    _check_inputs(ctx, snap)
    ctx.ledger.record_snapshot(ctx.run_id, "before", snap)
    report.before = snap
    today = snap.as_of.astimezone(NEW_YORK).date()
    targets = ctx.strategy.target_weights(market_view(ctx, snap))
    report.targets = dict(targets.weights)
    drift = measure_drift(targets, snap, ctx.strategy.vehicles)
    if not _decide(ctx, report, today, drift):
        report.outcome = "nothing_to_do"
        return
    assert report.run_key is not None
    plan = _plan(ctx, report.run_key, targets, snap)
    report.plan = plan
    _check(ctx, report, plan, snap)
    if not execute:
        report.outcome = "planned"
        return
    _execute(ctx, report, plan)
    _verify(ctx, report, targets)


def _outside_window(ctx: RunContext, report: RunReport, now: datetime) -> bool:
    """Cron fires in the host's zone, some entries outside the window: those runs record it and send nothing."""
    if ctx.window is None:
        return False
    why = refusal(now, ctx.window)
    if why is None:
        return False
    report.decision, report.why, report.outcome = "none", why, "outside_window"
    ctx.ledger.record_decision(ctx.run_id, decision="none", period=None, run_key=None, why=why)
    return True


def _stop_point(ctx: RunContext, where: str) -> None:
    """A safe point: nothing is half-sent here. SIGINT or SIGTERM received earlier stops the run now."""
    signum = ctx.stop_requested()
    if signum is not None:
        name = signal.Signals(signum).name
        raise Interrupted(f"interrupted by {name}: stopped {where}, with no order half-sent; "
                          "a rerun picks up where this one stopped", signal_number=signum)


def _ours(ctx: RunContext) -> frozenset[Symbol]:
    return our_symbols(ctx.strategy.universe, ctx.ledger.positions())


def snapshot(ctx: RunContext) -> AccountSnapshot:
    """The account, with pairbot's positions apart from the user's (which are never traded or counted in drift)."""
    ours = _ours(ctx)
    return own_book(ctx.broker.snapshot(ours), ours)


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


def preview(ctx: RunContext, snap: AccountSnapshot) -> tuple[Decision, DriftReport]:
    """What a rebalance would decide on this snapshot, for status and doctor."""
    targets = ctx.strategy.target_weights(market_view(ctx, snap))
    drift = measure_drift(targets, snap, ctx.strategy.vehicles)
    return decision_for(ctx, snap.as_of.astimezone(NEW_YORK).date(), drift)[0], drift


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
    return plan_rebalance(targets, snap, ctx.config.limits.policy(), vehicles=ctx.strategy.vehicles, run_key=key,
                          attempts=_attempts(ctx.ledger, key))


def _limits(config: Config) -> tuple[Limits, Gates]:
    return config.limits.risk(), config.gates.rules()


def _check(ctx: RunContext, report: RunReport, plan: RebalancePlan, snap: AccountSnapshot) -> None:
    limits, gates = _limits(ctx.config)
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


# -- reconciliation -----------------------------------------------------------------------------------


def reconcile(ctx: RunContext, *, today: date) -> None:
    """Before anything else: adopt our orders, settle open ones, ingest fills and account events, compare."""
    learn_orders(ctx)
    mine = open_orders_or_refuse(ctx)
    _settle(ctx, mine, cancel_after=True)
    _, outside = ingest_fills(ctx)
    ingest_events(ctx)
    _compare_positions(ctx, today=today, outside=outside_trades(outside))


def learn_orders(ctx: RunContext) -> None:
    """Bind a new ledger to the account (adopting our orders the broker has), and resolve journaled intents."""
    ledger, broker = ctx.ledger, ctx.broker
    account = broker.account_number()
    if _bind_account(ledger, account):  # a new ledger: first learn which of our ids the broker has seen
        adopt_orders(ctx)
        ledger.set_meta("account_number", account)
    for rec in ledger.intents(state="journaled"):
        found = broker.order_by_client_id(rec.client_order_id)
        if found is None:
            ledger.mark_intent(rec.client_order_id, "unsent")
        else:
            ledger.record_order(found, observed_at=ctx.now())


def open_orders_or_refuse(ctx: RunContext) -> list[OrderState]:
    """pairbot's open orders (recorded); an open order someone else placed in pairbot's symbols refuses (exit 3)."""
    open_orders = ctx.broker.open_orders()
    ours = _ours(ctx)
    foreign = [o for o in open_orders if not o.client_order_id.startswith(OUR_PREFIX) and o.symbol in ours]
    if foreign:
        raise GateRefused(f"open orders not placed by pairbot in {', '.join(sorted({o.symbol for o in foreign}))}; "
                          "cancel them or wait for them to finish")
    mine = [o for o in open_orders if o.client_order_id.startswith(OUR_PREFIX)]
    for o in mine:
        ctx.ledger.record_order(o, observed_at=ctx.now())
    return mine


def adopt_orders(ctx: RunContext) -> int:
    """Record every order of ours the broker has (status=all, paged); returns how many."""
    ours = [o for o in ctx.broker.all_orders() if o.client_order_id.startswith(OUR_PREFIX)]
    for o in ours:
        ctx.ledger.record_order(o, observed_at=ctx.now())
    return len(ours)


def _bind_account(ledger: Ledger, account_number: str) -> bool:
    """True when the ledger is not bound to an account yet (the caller binds it once it has adopted)."""
    bound = ledger.meta("account_number")
    if bound is None:
        return True
    if bound != account_number:
        raise ReconciliationBreak(
            f"ledger {ledger.path} belongs to account {bound}, the broker reports {account_number}; "
            "use another ledger path (paths.ledger) for this account"
        )
    return False


def ingest_fills(ctx: RunContext) -> tuple[int, tuple[Fill, ...]]:
    """Journal the fills of pairbot's orders since the watermark; returns how many were new, and the fills of
    orders pairbot did not place (never journaled: they only explain a difference)."""
    mark = ctx.ledger.fill_watermark()
    after = None if mark is None else mark - timedelta(seconds=2)  # overlap; ingestion is idempotent
    known = {o["order_id"]: o["client_order_id"] for o in ctx.ledger.orders()}
    fills = ctx.broker.fills(after=after, known=known)
    outside = tuple(f for f in fills if not f.client_order_id.startswith(OUR_PREFIX))
    return ctx.ledger.ingest_fills(fills, run_id=ctx.run_id), outside


@dataclass(frozen=True, slots=True)
class BookDifference:
    """pairbot's ledger against the broker for pairbot's symbols: the breaks, and the quantities behind them."""

    breaks: tuple[Violation, ...]
    ledger: dict[Symbol, Decimal]
    broker: dict[Symbol, Decimal]
    ours: frozenset[Symbol]
    waiting: dict[Symbol, str] = field(default_factory=dict)  # symbols a split explains, booked on one side only

    @property
    def looks_like_reset(self) -> bool:
        return looks_like_reset(self.ledger, self.broker, self.ours)

    def changed(self) -> list[Symbol]:
        return sorted(s for s in self.ours if self.ledger.get(s, Decimal(0)) != self.broker.get(s, Decimal(0)))


def book_difference(ctx: RunContext, snap: AccountSnapshot | None = None, *, today: date,
                    outside: dict[Symbol, Decimal] | None = None) -> BookDifference:
    held = list(snap.positions.values() if snap is not None else ctx.broker.positions())
    broker_positions = {p.symbol: p.qty for p in held}
    ledger_positions = ctx.ledger.positions(as_of=today)
    ours = our_symbols(ctx.strategy.universe, ledger_positions)
    breaks = book_breaks(ledger_positions, broker_positions, ours=ours, outside=outside)
    marks = {p.symbol: abs(p.market_value / p.qty) for p in held if p.qty}
    waiting = _waiting_for_splits(ctx, ledger_positions, broker_positions, marks, today=today)
    return BookDifference(breaks, ledger_positions, broker_positions, ours, waiting)


def _waiting_for_splits(ctx: RunContext, ledger: dict[Symbol, Decimal], broker: dict[Symbol, Decimal],
                        marks: dict[Symbol, Decimal], *, today: date) -> dict[Symbol, str]:
    """Symbols whose difference is a split one side has and the other not yet: the broker moved the position
    and the price as a split would but booked no activity (yet), or the ledger has the split booked for
    today and the broker's position does not show it yet."""
    out: dict[Symbol, str] = {}
    last = ctx.ledger.last_marks()
    for sym, mine in ledger.items():
        theirs = broker.get(sym, Decimal(0))
        if sym not in marks or sym not in last or mine == theirs:
            continue
        ratio = split_like(mine, theirs, price_before=last[sym], price_after=marks[sym])
        if ratio is not None:
            out[sym] = f"waiting for the {Split(sym, today, ratio).describe()} split of {sym} to be booked"
        elif any(b.event.is_split and b.event.on == today for b in ctx.ledger.events(sym)):
            out[sym] = f"the split of {sym} booked for {today} is not in the broker's position yet: waiting for it"
    return out


def broker_today(ctx: RunContext) -> date:
    """Today in New York by the broker's clock (not the host's: the host may be wrong or in another zone)."""
    return ctx.broker.clock().as_of.astimezone(NEW_YORK).date()


def ingest_events(ctx: RunContext) -> int:
    """Journal the account events (splits, dividends, fees, interest, journals) booked since the watermark."""
    mark = ctx.ledger.event_watermark()
    after = None if mark is None else mark.astimezone(NEW_YORK).date() - timedelta(days=EVENT_OVERLAP_DAYS)
    return ctx.ledger.ingest_events(ctx.broker.account_events(after=after), run_id=ctx.run_id, ours=_ours(ctx))


EVENT_OVERLAP_DAYS = 7  # events can be booked days after their date; ingestion is idempotent by activity id


def _compare_positions(ctx: RunContext, snap: AccountSnapshot | None = None, *, today: date,
                       outside: dict[Symbol, Decimal] | None = None) -> None:
    """pairbot's ledger positions against the broker's, for pairbot's symbols only (from `snap` when given)."""
    diff = book_difference(ctx, snap, today=today, outside=outside)
    if diff.breaks and set(diff.changed()) <= set(diff.waiting):
        raise ReconciliationBreak("; ".join(f"{v.message}: {diff.waiting[s]}" for v, s in zip(
            diff.breaks, diff.changed(), strict=True)) + "; nothing was sent; the next run goes on once it is "
            f"(if it was not a split: {ctx.command('ledger accept')})")
    if diff.breaks:
        raise ReconciliationBreak(_break_message(ctx, diff.breaks, reset=diff.looks_like_reset))


def _break_message(ctx: RunContext, breaks: Collection[Violation], *, reset: bool) -> str:
    what = "; ".join(v.message for v in breaks)
    hint = " (the broker holds none of pairbot's positions: a paper account reset?)" if reset else ""
    return (f"the account changed outside pairbot: {what}{hint}; nothing was sent. If the broker is right, "
            f"make it pairbot's with: {ctx.command('ledger accept')}")


# -- execution ------------------------------------------------------------------------------------------


def _execute(ctx: RunContext, report: RunReport, plan: RebalancePlan) -> None:
    """Reductions first; then, only if every reduction filled in full, re-read the account, re-check the
    increases against it and send them. The quantities stay those of the one decision (as in the backtest)."""
    report.executed = True
    if plan.is_noop:
        return
    assert report.run_key is not None
    key = report.run_key
    if not plan.reductions or not plan.increases:
        _send_and_settle(ctx, report, plan.orders, key)
        return
    _send_and_settle(ctx, report, plan.reductions, key)
    unfilled = _unfilled(report.outcomes)
    if unfilled:
        raise OrderRejected(f"reductions incomplete ({unfilled}); no increase was sent; rerun to top up")
    snap = snapshot(ctx)
    ctx.ledger.record_snapshot(ctx.run_id, "between", snap)
    limits, gates = _limits(ctx.config)
    problems = risk_violations(replace(plan, orders=plan.increases), snap, limits, gates)
    if problems:
        raise GateRefused("after reductions: " + "; ".join(f"{v.code}: {v.message}" for v in problems))
    _send_and_settle(ctx, report, plan.increases, key)


def _unfilled(outcomes: Sequence[OrderOutcome]) -> str:
    return ", ".join(
        f"{o.intent.client_order_id} filled {o.state.filled_qty if o.state else 0}/{o.intent.qty}"
        f" ({o.state.status if o.state else 'unsent'})"
        for o in outcomes if o.state is not None and o.state.filled_qty < o.intent.qty
    )


def _send_and_settle(ctx: RunContext, report: RunReport, orders: Sequence[OrderIntent], key: str) -> None:
    sent: list[OrderState] = []
    rejected: list[str] = []
    for order in orders:
        if ctx.stop_requested() is not None:
            break  # the settle below still records what was sent; the stop is raised after it
        outcome = _send(ctx, order, key)
        report.outcomes.append(outcome)
        if outcome.state is None:
            rejected.append(outcome.error or order.client_order_id)
            break  # never go on to later legs after a refusal: the book would be half-built blindly
        sent.append(outcome.state)
    settled = _settle(ctx, sent, cancel_after=True)
    for outcome in report.outcomes:
        if outcome.state is not None and outcome.state.order_id in settled:
            outcome.state = settled[outcome.state.order_id]
    ingest_fills(ctx)
    ctx.checkpoint("after_ingest")
    if rejected:
        raise OrderRejected("; ".join(rejected))
    _stop_point(ctx, f"after {len(sent)} of {len(orders)} order(s) of this step")


def _send(ctx: RunContext, order: OrderIntent, key: str) -> OrderOutcome:
    ledger = ctx.ledger
    parsed = OrderKey.parse(order.client_order_id)
    assert parsed is not None, order.client_order_id
    attempt = parsed.attempt
    ledger.journal_intent(order, run_id=ctx.run_id, run_key=key, attempt=attempt, created_at=ctx.now())
    ctx.checkpoint("after_intent")
    try:
        state = ctx.broker.submit(order)
    except OrderRejected as err:
        ledger.mark_intent(order.client_order_id, "rejected")
        log.warning("order_rejected", client_order_id=order.client_order_id, error=str(err))
        return OrderOutcome(order, None, str(err))
    ctx.checkpoint("after_submit")
    ledger.record_order(state, observed_at=ctx.now())
    log.info("order_sent", client_order_id=order.client_order_id, order_id=state.order_id, symbol=order.symbol,
             intent=order.intent.value, qty=str(order.qty), status=state.status)
    return OrderOutcome(order, state)


def _settle(ctx: RunContext, orders: Sequence[OrderState], *, cancel_after: bool) -> dict[str, OrderState]:
    """Poll each order to a terminal state within the fill bound; cancel what is left and wait again."""
    bound = ctx.config.execution.fill_timeout_seconds
    final = _poll(ctx, orders, bound)
    stuck = [o for o in final.values() if not o.is_terminal]
    if stuck and ctx.stop_requested() is not None:
        _stop_point(ctx, f"while {len(stuck)} order(s) were still open (the next run settles them)")
    if stuck and cancel_after:
        for o in stuck:
            ctx.broker.cancel(o.order_id)
            log.warning("order_cancel_requested", order_id=o.order_id, status=o.status)
        ctx.checkpoint("after_cancel")
        final |= _poll(ctx, stuck, min(bound, 30.0))
        stuck = [o for o in final.values() if not o.is_terminal]
    if stuck:
        raise OrderRejected("orders still open after cancel: " + ", ".join(
            f"{o.client_order_id} ({o.status})" for o in stuck))
    return final


def _poll(ctx: RunContext, orders: Sequence[OrderState], bound: float) -> dict[str, OrderState]:
    final = {o.order_id: o for o in orders}
    deadline = ctx.now() + timedelta(seconds=bound)
    pending = [o.order_id for o in orders if not o.is_terminal]
    while pending:
        for oid in list(pending):
            state = ctx.broker.order(oid)
            ctx.ledger.record_order(state, observed_at=ctx.now())
            final[oid] = state
            if state.is_terminal:
                pending.remove(oid)
        ctx.checkpoint("mid_poll")
        if not pending or ctx.now() >= deadline or ctx.stop_requested() is not None:
            break
        ctx.sleep(ctx.config.execution.poll_interval_seconds)
    return final


# -- verification ---------------------------------------------------------------------------------------


def _verify(ctx: RunContext, report: RunReport, targets: Any) -> None:
    snap = snapshot(ctx)
    _compare_positions(ctx, snap, today=snap.as_of.astimezone(NEW_YORK).date())
    ctx.ledger.record_snapshot(ctx.run_id, "after", snap)
    report.after = snap
    report.residual = measure_drift(targets, snap, ctx.strategy.vehicles)
    report.fills = [f for f in ctx.ledger.fills() if f.client_order_id.startswith(f"{OUR_PREFIX}{report.run_key}-")]
    unfilled = _unfilled(report.outcomes)
    if unfilled:
        report.outcome, report.exit_code = "incomplete", OrderRejected.exit_code
        raise OrderRejected(f"incomplete: {unfilled}; rerun to top up")
    if report.adjustments:
        ctx.ledger.mark_rebalanced(report.adjustments, ctx.run_id)
    report.outcome = "done"


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
