"""The short human summary of a run, printed on the terminal (the log has the JSON)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal

from bot.adapters.hostzone import host_zone
from bot.core.domain import NEW_YORK, AccountSnapshot, BookMeasures, Fill, Symbol
from bot.core.window import next_start
from bot.errors import ConfigError
from bot.live.context import RunContext, RunReport
from bot.live.runner import preview


def pct(x: Decimal) -> str:
    return f"{x * 100:+.2f}%"


def money(x: Decimal) -> str:
    return f"${x:,.2f}"


def _book_line(label: str, b: BookMeasures) -> str:
    eff = ", ".join(f"{s} {pct(w)}" for s, w in sorted(b.effective.items())) or "none (flat)"
    ratio = f", long/short {b.long_short_ratio:.3f}" if b.long_short_ratio is not None else ""
    return f"  {label:<8} gross {b.gross * 100:.2f}%, net {pct(b.net)}{ratio}; effective {eff}"


def _plan_table(report: RunReport) -> list[str]:
    plan, snap = report.plan, report.before
    if plan is None or snap is None:
        return []
    orders: dict[Symbol, list[str]] = defaultdict(list)
    for o in plan.orders:
        orders[o.symbol].append(f"{o.side.value} {o.qty} ({o.intent.value})")
    lines = [f"  {'symbol':<6} {'price':>10} {'target':>9} {'current':>9} {'drift':>8}  order"]
    for leg in plan.drift.legs:
        price = snap.price(leg.symbol) if leg.symbol in snap.quotes else Decimal(0)
        lines.append(f"  {leg.symbol:<6} {price:>10.2f} {pct(leg.target):>9} {pct(leg.current):>9} "
                     f"{leg.drift * 100:>+8.2f}  {'; '.join(orders.get(leg.symbol, [])) or '-'}")
    lines.append(_book_line("now", plan.drift.current))
    lines.append(_book_line("target", plan.drift.target))
    lines += [f"  skipped {s.symbol}: {s.reason}" for s in plan.skipped]
    lines += [f"  note {s.symbol}: {s.reason}" for s in plan.notes]
    return lines


def _fills(fills: list[Fill]) -> list[str]:
    by_order: dict[str, list[Fill]] = defaultdict(list)
    for f in fills:
        by_order[f.client_order_id].append(f)
    lines = []
    for coid, fs in by_order.items():
        qty = sum((f.qty for f in fs), Decimal(0))
        avg = sum((f.qty * f.price for f in fs), Decimal(0)) / qty
        lines.append(f"  {fs[0].symbol:<6} {fs[0].side.value:<4} {qty} @ {avg:.4f} in {len(fs)} fill(s)  [{coid}]")
    return lines


def _book(snap: AccountSnapshot) -> list[str]:
    held = ", ".join(f"{s} {p.qty:+}" for s, p in sorted(snap.positions.items())) or "flat"
    lines = [f"  positions {held}; equity {money(snap.equity)}; cash {money(snap.cash)}"]
    if snap.other_positions:
        lines.append(f"  not pairbot's (never traded): {others(snap)}")
    return lines


def others(snap: AccountSnapshot) -> str:
    return ", ".join(f"{s} {p.qty:+} ({money(p.market_value)})" for s, p in sorted(snap.other_positions.items()))


def render(report: RunReport, *, header: str) -> str:
    return f"{render_head(report, header=header)}\n{render_tail(report)}"


def render_head(report: RunReport, *, header: str) -> str:
    """What a run knows once it has planned: the header, the decision and the plan (printed then, before any
    order is sent: a run that hangs or is killed has said what it meant to do)."""
    reasons = report.why.split("; ")
    why = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")
    lines = [header, f"decision: {report.decision} - {why}"]
    if report.kill_switch is not None:
        lines.append(f"kill switch ON ({report.kill_switch}): `pairbot rebalance` refuses to trade until it is removed")
    if report.not_now is not None:
        lines.append(f"now a rebalance would not trade: {report.not_now}; this is what it would do inside its window")
    if report.open_orders:
        lines.append(f"open orders of pairbot's ({len(report.open_orders)}), left as they are: the plan counts only "
                     "what has filled; the next rebalance settles them before it plans")
        lines += [f"  {o.client_order_id}: {o.side.value} {o.qty} {o.symbol} ({o.status}, {o.filled_qty} filled)"
                  for o in report.open_orders]
    if report.settled:
        lines.append(f"orders an earlier run left open ({len(report.settled)}), settled before planning:")
        lines += [f"  {o.client_order_id}: {o.side.value} {o.qty} {o.symbol} -> {o.status}"
                  f" ({o.filled_qty}/{o.qty} filled)" for o in report.settled]
    if report.plan is not None:
        lines += ["plan:", *_plan_table(report)]
        if report.plan.is_noop:
            lines.append("  no order needed")
    return "\n".join(lines)


def render_tail(report: RunReport) -> str:
    """What the run did: its orders, fills, the book after, and the outcome."""
    lines: list[str] = []
    if report.outcomes:
        lines.append("orders:")
        for o in report.outcomes:
            status = o.state.status if o.state else f"refused: {o.error}"
            filled = f" ({o.state.filled_qty}/{o.intent.qty} filled)" if o.state else ""
            lines.append(f"  {o.intent.client_order_id}: {o.intent.side.value} {o.intent.qty} {o.intent.symbol}"
                         f" -> {status}{filled}")
    if report.fills:
        lines += ["fills:", *_fills(report.fills)]
    if report.after is not None:
        lines += ["book after:", *_book(report.after)]
        if report.residual is not None:
            lines.append(f"  residual max leg drift {report.residual.max_abs_leg_drift * 100:.2f} pts")
    elif report.before is not None and report.plan is None:
        lines += ["book:", *_book(report.before)]
    lines.append(f"outcome: {report.outcome} (exit {report.exit_code})")
    return "\n".join(lines)


def next_run(ctx: RunContext, snap: AccountSnapshot, *, stopped: str | None = None) -> str:
    """When the next trading run may happen (New York and host time), and what it would do then: decided as of
    that run's day (a run on the first session of a new quarter makes its calendar rebalance), or, given
    `stopped`, why it would stop instead."""
    start, at = _next_start(ctx, snap)
    if stopped is not None:
        return f"{start}; it would stop: {stopped}"
    decision, drift = preview(ctx, snap, today=at.astimezone(NEW_YORK).date())
    would = {"calendar": f"a calendar rebalance ({decision.why})", "accepted": f"a rebalance {decision.why}",
             "drift": f"a drift rebalance ({decision.why})",
             "none": f"no trade unless drift grows (largest leg {drift.max_abs_leg_drift * 100:.2f} pts)"}
    return f"{start}; it would make {would[decision.kind]}"


def _next_start(ctx: RunContext, snap: AccountSnapshot) -> tuple[str, datetime]:
    """The next run's start in words, and the moment (now when there is no window or it is inside it)."""
    window = ctx.window
    if window is None:
        return "any time it is run while the market is open (no trading window)", snap.as_of
    if window.contains(snap.as_of) and snap.clock.is_open:  # a holiday inside the window is not "now"
        at, when = snap.as_of, "now"
    else:
        today = snap.as_of.astimezone(NEW_YORK).date()
        sessions = [s.day for s in ctx.broker.sessions(today, today + timedelta(days=14))]
        at, when = next_start(snap.as_of, window, sessions), "next"
    return (f"window {window.describe()}, {when} {at.astimezone(NEW_YORK):%a %Y-%m-%d %H:%M} New York "
            f"({_on_this_host(at):%a %H:%M %Z} on this host)"), at


def _on_this_host(at: datetime) -> datetime:
    """`at` in the zone `pairbot cron` writes its lines for (the system's, not this shell's TZ), so the two agree."""
    zone: tzinfo | None
    try:
        zone = host_zone(None).zone
    except ConfigError:  # no system zone and a TZ that is no IANA name: the C library's reading of TZ is all there is
        zone = None
    return at.astimezone(zone)
