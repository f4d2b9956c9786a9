"""`pairbot status`: the account, positions vs targets, drift, book measures, P&L, next rebalance, last run."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.adapters.ledger import Adjustment
from bot.commands.rebalance import context_for, strategy_of
from bot.core.corporate import account_cash, leg_cash, net_transfers, split_lines
from bot.core.costs import LiveCosts, live_costs
from bot.core.domain import NEW_YORK, AccountEvent, AccountSnapshot, BookMeasures, DriftReport, Fill, LegDrift, Symbol
from bot.core.drift import measure_drift
from bot.core.schedule import next_calendar_rebalance, period_key
from bot.live.context import RunContext, snapshot
from bot.live.reconcile import book_difference, foreign_open_orders
from bot.live.runner import market_view
from bot.live.summary import _book_line, money, next_run, others, pct
from bot.live.wiring import App, open_app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON document instead of text")


@dataclass(frozen=True)
class Status:
    snapshot: AccountSnapshot
    drift: DriftReport
    pnl_by_symbol: dict[Symbol, Decimal]
    next_rebalance: str
    last_run: dict[str, Any] | None
    inception_equity: Decimal | None = None  # equity at the ledger's first snapshot
    kill_switch: Path | None = None
    next_run: str = ""
    schema: str = ""
    events: list[AccountEvent] = field(default_factory=list)
    live_costs: LiveCosts | None = None  # paper mode: the short dividends and borrow fee live would have booked
    breaks: list[str] = field(default_factory=list)  # pairbot's symbols where its ledger and the broker disagree

    @property
    def pnl_since_inception(self) -> Decimal | None:
        """The equity change since the first snapshot, less money moved in or out (not P&L)."""
        if self.inception_equity is None:
            return None
        return self.snapshot.equity - self.inception_equity - net_transfers(self.events)


def signed_money(x: Decimal) -> str:
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


def inception_equity(app: App) -> Decimal | None:
    snaps = app.ledger.snapshots()
    return Decimal(snaps[0]["equity"]) if snaps else None


def pnl_by_symbol(fills: list[Fill], events: list[AccountEvent], adjustments: list[Adjustment],
                  held: Mapping[Symbol, Decimal], snap: AccountSnapshot) -> dict[Symbol, Decimal]:
    """P&L per symbol of pairbot's own book since the ledger began: what its fills paid and received, the shares
    accepted changes brought in (or took out) at the mark they were accepted at, the leg's cash events
    (dividends, withholding, cash in lieu), and what the ledger holds now at the broker's price. While the broker
    holds a different quantity (a change not accepted yet) the leg is still pairbot's own, not the broker's."""
    out: dict[Symbol, Decimal] = dict(leg_cash(events))
    for f in fills:
        out[f.symbol] = out.get(f.symbol, Decimal(0)) - f.signed_qty * f.price
    for a in adjustments:
        if a.price is not None:  # accepted before pairbot kept the price: valued as the shares alone, as before
            out[a.symbol] = out.get(a.symbol, Decimal(0)) - a.qty * a.price
    for sym, qty in held.items():
        price = _price(snap, sym)
        if price is not None:
            out[sym] = out.get(sym, Decimal(0)) + qty * price
    return out


def _price(snap: AccountSnapshot, sym: Symbol) -> Decimal | None:
    """The broker's price of its position, else the quote's mid, else None (nothing to value the shares at)."""
    pos = snap.positions.get(sym)
    if pos is not None and pos.qty and pos.market_value:  # a market_value of 0: the broker did not send one
        return pos.market_value / pos.qty
    return snap.price(sym) if sym in snap.quotes else None


def gather(app: App) -> Status:
    strategy = strategy_of(app)
    ctx = context_for(app, strategy, config_path=app.config_path)
    snap = snapshot(ctx)
    today = snap.as_of.astimezone(NEW_YORK).date()
    targets = strategy.target_weights(market_view(ctx, snap))
    drift = measure_drift(targets, snap, ctx.vehicles)
    freq = app.config.schedule.frequency
    done = app.ledger.done_periods()
    sessions = [s.day for s in app.broker.sessions(today, today + timedelta(days=190))]
    nxt = next_calendar_rebalance(today, sessions, freq, done)
    if nxt is None:
        when = "not within the next 190 days"
    elif nxt == today:
        when = f"due now ({period_key(today, freq)} not rebalanced yet)"
    elif period_key(today, freq) not in done:  # today is no session (a holiday, a weekend): the next one
        when = f"due at the next session, {nxt} ({period_key(today, freq)} not rebalanced yet)"
    else:
        band = app.config.schedule.drift_band * 100
        when = f"{nxt} ({period_key(nxt, freq)}), or sooner on drift beyond {band:.1f} pts"
    runs = app.ledger.runs(limit=1)
    last = None if not runs else {"run_id": runs[0].run_id, "started_at": runs[0].started_at,
                                   "command": runs[0].command, "decision": runs[0].decision,
                                   "outcome": runs[0].outcome, "exit_code": runs[0].exit_code, "why": runs[0].why,
                                   "error": runs[0].summary.get("error")}
    breaks, stopped = book_state(ctx, snap, today)
    kill = app.config.paths.kill_switch
    events = [b.event for b in app.ledger.events()]
    live = live_costs_of(app, today) if app.config.mode == "paper" and app.config.live_costs.enabled else None
    pnl = pnl_by_symbol(app.ledger.fills(), events, app.ledger.adjustments(), app.ledger.positions(as_of=today), snap)
    return Status(snap, drift, pnl, when, last, inception_equity(app),
                  events=events, live_costs=live,
                  kill_switch=kill if kill.exists() else None, next_run=next_run(ctx, snap, stopped=stopped),
                  schema=app.broker.schema_seen().summary(), breaks=breaks)


def book_state(ctx: RunContext, snap: AccountSnapshot, today: date) -> tuple[list[str], str | None]:
    """Where pairbot's ledger and the broker disagree in pairbot's symbols (as the next run's reconciliation would
    find it, before it ingests anything new), and why that run would stop; ([], None) when they agree."""
    diff = book_difference(ctx, snap, today=today)
    foreign = foreign_open_orders(ctx)
    orders = [f"open orders not placed by pairbot in {', '.join(foreign)}"] if foreign else []
    found = [v.message for v in diff.breaks] + orders
    if diff.breaks and set(diff.changed()) <= set(diff.waiting):
        return found, "; ".join(diff.waiting[s] for s in diff.changed()) + " (exit 6; it goes on once booked)"
    if diff.breaks:
        return found, f"the account changed outside pairbot (exit 6) until {ctx.command('ledger accept')}"
    if orders:
        return found, f"{orders[0]} (exit 3) until they are filled or cancelled"
    return [], None


def live_costs_of(app: App, today: date) -> LiveCosts:
    """From pairbot's holdings day by day and the broker's raw and adjusted daily closes of its shorts."""
    holdings = app.ledger.daily_positions()
    shorts = sorted({s for _, pos in holdings for s, q in pos.items() if q < 0})
    if not shorts:
        return LiveCosts()
    first = holdings[0][0] - timedelta(days=7)
    raw = app.broker.daily_closes(shorts, first, today, adjustment="raw")
    adjusted = app.broker.daily_closes(shorts, first, today, adjustment="all")
    return live_costs(holdings, raw, adjusted, borrow_bps=app.config.live_costs.borrow_bps, through=today)


def live_cost_line(st: Status, borrow_bps: Decimal) -> list[str]:
    costs = st.live_costs
    if costs is None:
        return []
    if not costs.dividends and not costs.borrow:
        return ["what live would have cost beyond paper: nothing (pairbot has held no short)"]
    divs = ", ".join(f"{s} {signed_money(v)}" for s, v in sorted(costs.dividends.items())) or "none"
    fees = ", ".join(f"{s} {signed_money(v)}" for s, v in sorted(costs.borrow.items())) or "none"
    since = st.pnl_since_inception
    after = "" if since is None else f"; P&L after them {signed_money(since + costs.total)}"
    return [f"what live would have cost (Alpaca paper books neither): dividends the shorts would pay {divs}; "
            f"borrow at {borrow_bps} bps/yr {fees}{after}"]


def event_lines(events: list[AccountEvent]) -> list[str]:
    """Account events the ledger journaled: the legs' dividends, account cash, and the splits."""
    lines = []
    legs = leg_cash(events)
    if legs:
        lines.append("  leg cash (dividends, withholding, cash in lieu): "
                     + ", ".join(f"{s} {signed_money(v)}" for s, v in sorted(legs.items())))
    account = account_cash(events)
    if account:
        lines.append("  account cash: " + ", ".join(f"{k} {signed_money(v)}" for k, v in sorted(account.items()))
                     + ("; transfers are not P&L" if "transfer" in account else ""))
    lines += [f"  split {line}" for line in split_lines(events)]
    return lines


def _flags(snap: AccountSnapshot) -> str:
    acct = snap.account
    blocked = [name for name, on in (("trading blocked", acct.trading_blocked), ("account blocked",
               acct.account_blocked), ("suspended by user", acct.trade_suspended_by_user)) if on]
    return ", ".join(blocked) or "not blocked"


def render_text(app: App, st: Status) -> str:
    snap = st.snapshot
    acct = snap.account
    lines = [
        f"pairbot status | mode {app.config.mode} | strategy {app.config.strategy} | "
        f"as of {snap.as_of:%Y-%m-%d %H:%M} UTC (market {'open' if snap.clock.is_open else 'closed'})",
        f"account {acct.account_number} {acct.status} ({_flags(snap)}); equity {money(snap.equity)}; "
        f"cash {signed_money(snap.cash)}; buying power {money(snap.buying_power)}; "
        f"shorting {'enabled' if acct.shorting_enabled else 'disabled'}",
        f"  {'symbol':<6} {'qty':>10} {'price':>10} {'value':>14} {'weight':>9} {'target':>9} {'drift':>8} {'P&L':>12}",
    ]
    for leg in st.drift.legs:
        pos = snap.positions.get(leg.symbol)
        qty = pos.qty if pos else Decimal(0)
        value = pos.market_value if pos else Decimal(0)
        price = snap.price(leg.symbol) if leg.symbol in snap.quotes else Decimal(0)
        pnl = st.pnl_by_symbol.get(leg.symbol, Decimal(0))
        lines.append(f"  {leg.symbol:<6} {qty:>10} {price:>10.2f} {signed_money(value):>14} {pct(leg.current):>9} "
                     f"{pct(leg.target):>9} {leg.drift * 100:>+8.2f} {signed_money(pnl):>12}")
    lines += [_book_line("now", st.drift.current), _book_line("target", st.drift.target)]
    lines.append(f"  drift: largest leg {st.drift.max_abs_leg_drift * 100:.2f} pts "
                 f"(band {app.config.schedule.drift_band * 100:.2f} pts)")
    disagree = [b for b in st.breaks if not b.startswith("open orders")]
    if disagree:
        lines.append(f"pairbot's ledger and the broker disagree: {'; '.join(disagree)}; the rows above are the "
                     "broker's, the P&L pairbot's own")
    lines += [f"{b}: the next rebalance refuses (exit 3) until they are filled or cancelled" for b in st.breaks
              if b.startswith("open orders")]
    legs_total = sum(st.pnl_by_symbol.values(), Decimal(0))
    since = st.pnl_since_inception
    lines.append(f"P&L since inception: {'n/a (no snapshot yet)' if since is None else signed_money(since)}"
                 + ("" if st.inception_equity is None else f" (from equity {money(st.inception_equity)})")
                 + f"; of which the legs {signed_money(legs_total)} (realized + unrealized, with their dividends)")
    lines += event_lines(st.events)
    lines += live_cost_line(st, app.config.live_costs.borrow_bps)
    if snap.other_positions:
        lines.append(f"not pairbot's (never traded): {others(snap)}; left out of drift and targets")
    lines.append(f"next calendar rebalance: {st.next_rebalance}")
    lines.append(f"next run: {st.next_run}")
    if st.kill_switch is not None:
        lines.append(f"kill switch ON ({st.kill_switch}): every rebalance exits 3 without trading until it is removed")
    if st.last_run:
        r = st.last_run
        decided = r["decision"] or "stopped before deciding"
        why = r["why"] or r.get("error") or "-"
        lines.append(f"last run: {r['started_at'][:19]} {r['command']} -> {decided}, {r['outcome'] or 'unfinished'} "
                     f"(exit {'-' if r['exit_code'] is None else r['exit_code']}): {why}")
    else:
        lines.append("last run: none yet")
    lines.append(f"broker schema: {st.schema}")
    return "\n".join(lines)


def _book_json(b: BookMeasures) -> dict[str, Any]:
    return {"gross": str(b.gross), "net": str(b.net),
            "long_short_ratio": None if b.long_short_ratio is None else str(b.long_short_ratio),
            "effective": {k: str(v) for k, v in b.effective.items()}}


def as_json(st: Status) -> dict[str, Any]:
    snap = st.snapshot
    acct = snap.account
    since = st.pnl_since_inception

    def leg_json(leg: LegDrift) -> dict[str, Any]:
        pos = snap.positions.get(leg.symbol)
        price = snap.price(leg.symbol) if leg.symbol in snap.quotes else None
        return {"symbol": leg.symbol, "qty": str(snap.qty(leg.symbol)), "price": None if price is None else str(price),
                "value": str(pos.market_value if pos else Decimal(0)), "weight": str(leg.current),
                "target": str(leg.target), "drift": str(leg.drift),
                "pnl": str(st.pnl_by_symbol.get(leg.symbol, Decimal(0)))}

    return {
        "as_of": snap.as_of.isoformat(), "market_open": snap.clock.is_open, "equity": str(snap.equity),
        "cash": str(snap.cash), "buying_power": str(snap.buying_power), "account": acct.account_number,
        "account_flags": {"status": acct.status, "trading_blocked": acct.trading_blocked,
                          "account_blocked": acct.account_blocked, "shorting_enabled": acct.shorting_enabled},
        "legs": [leg_json(leg) for leg in st.drift.legs],
        "book": _book_json(st.drift.current), "target_book": _book_json(st.drift.target),
        "max_leg_drift": str(st.drift.max_abs_leg_drift),
        "pnl": {"since_inception": None if since is None else str(since),
                "inception_equity": None if st.inception_equity is None else str(st.inception_equity),
                "legs_total": str(sum(st.pnl_by_symbol.values(), Decimal(0)))},
        "next_rebalance": st.next_rebalance, "last_run": st.last_run,
        "kill_switch": None if st.kill_switch is None else str(st.kill_switch),
        "leg_cash": {s: str(v) for s, v in sorted(leg_cash(st.events).items())},
        "account_cash": {k: str(v) for k, v in sorted(account_cash(st.events).items())},
        "splits": split_lines(st.events),
        "live_costs": None if st.live_costs is None else {
            "dividends": {s: str(v) for s, v in st.live_costs.dividends.items()},
            "borrow": {s: str(v) for s, v in st.live_costs.borrow.items()}, "total": str(st.live_costs.total)},
        "next_run": st.next_run, "broker_schema": st.schema, "book_breaks": st.breaks,
        "not_pairbots": {s: {"qty": str(p.qty), "value": str(p.market_value)}
                         for s, p in sorted(snap.other_positions.items())},
    }


def run(args: argparse.Namespace) -> int:
    with open_app(args.config) as app:
        st = gather(app)
        print(json.dumps(as_json(st), indent=2) if args.json else render_text(app, st))
    return 0
