"""Execution: send a plan's orders (reductions first), settle them within the fill bound, verify the book."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import structlog

from bot.core.checks import risk_violations
from bot.core.domain import NEW_YORK, Fill, OrderIntent, OrderState, RebalancePlan
from bot.core.drift import measure_drift
from bot.core.orderkey import OrderKey
from bot.errors import GateRefused, OrderRejected
from bot.live.context import OrderOutcome, RunContext, RunReport, snapshot, stop_point
from bot.live.reconcile import compare_positions, ingest_fills

log = structlog.get_logger("pairbot.runner")


def execute_plan(ctx: RunContext, report: RunReport, plan: RebalancePlan) -> None:
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
    unfilled = unfilled_orders(report.outcomes)
    if unfilled:
        raise OrderRejected(f"reductions incomplete ({unfilled}); no increase was sent; rerun to top up")
    snap = snapshot(ctx)
    ctx.ledger.record_snapshot(ctx.run_id, "between", snap)
    limits, gates = ctx.config.limits.risk(), ctx.config.gates.rules()
    problems = risk_violations(replace(plan, orders=plan.increases), snap, limits, gates)
    if problems:
        raise GateRefused("after reductions: " + "; ".join(f"{v.code}: {v.message}" for v in problems))
    _send_and_settle(ctx, report, plan.increases, key)


def unfilled_orders(outcomes: Sequence[OrderOutcome]) -> str:
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
    settled = settle(ctx, sent, cancel_after=True)
    for outcome in report.outcomes:
        if outcome.state is not None and outcome.state.order_id in settled:
            outcome.state = settled[outcome.state.order_id]
    ingest_fills(ctx)
    ctx.checkpoint("after_ingest")
    if rejected:
        raise OrderRejected("; ".join(rejected))
    stop_point(ctx, f"after {len(sent)} of {len(orders)} order(s) of this step")


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


def settle(ctx: RunContext, orders: Sequence[OrderState], *, cancel_after: bool) -> dict[str, OrderState]:
    """Poll each order to a terminal state within the fill bound; cancel what is left and wait again."""
    bound = ctx.config.execution.fill_timeout_seconds
    final = _poll(ctx, orders, bound)
    stuck = [o for o in final.values() if not o.is_terminal]
    if stuck and ctx.stop_requested() is not None:
        stop_point(ctx, f"while {len(stuck)} order(s) were still open (the next run settles them)")
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


def fills_to_tell(ctx: RunContext, report: RunReport) -> list[Fill]:
    """The fills a run's summary tells: of the orders it sent, and of those an earlier run left open that it
    settled (an earlier run tells only orders it saw final, so no fill is told twice). Not every order of the
    run key: an earlier attempt of the same decision was another run's, and told by it."""
    mine = {o.intent.client_order_id for o in report.outcomes if o.state is not None}
    mine |= {o.client_order_id for o in report.settled}
    return [f for f in ctx.ledger.fills() if f.client_order_id in mine]


def verify(ctx: RunContext, report: RunReport, targets: Any) -> None:
    snap = snapshot(ctx)
    compare_positions(ctx, snap, today=snap.as_of.astimezone(NEW_YORK).date())
    ctx.ledger.record_snapshot(ctx.run_id, "after", snap)
    report.after = snap
    report.residual = measure_drift(targets, snap, ctx.vehicles)
    report.fills = fills_to_tell(ctx, report)
    unfilled = unfilled_orders(report.outcomes)
    if unfilled:
        report.outcome, report.exit_code = "incomplete", OrderRejected.exit_code
        raise OrderRejected(f"incomplete: {unfilled}; rerun to top up")
    if report.adjustments:
        ctx.ledger.mark_rebalanced(report.adjustments, ctx.run_id)
    report.outcome = "done"
