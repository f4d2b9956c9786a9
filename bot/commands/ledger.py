"""`pairbot ledger accept | rebuild`: take a change made outside pairbot as its own, or rebuild a lost ledger."""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import sqlite3
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bot.adapters.ledger import Adjustment, Ledger
from bot.commands.rebalance import context_for, strategy_of
from bot.core.book import outside_trades
from bot.core.domain import OrderState, is_ours
from bot.core.orderkey import OrderKey
from bot.errors import ConfigError, ReconciliationBreak
from bot.live.context import RunContext, snapshot
from bot.live.reconcile import (
    BookDifference,
    book_difference,
    broker_today,
    ingest_events,
    ingest_fills,
    learn_orders,
    open_orders_or_refuse,
)
from bot.live.wiring import App, open_app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["accept", "rebuild"],
                        help="accept: journal the broker's quantities of pairbot's symbols as pairbot's own "
                             "(after a hand trade, a transfer or a paper account reset); rebuild: move the ledger "
                             "aside (<name>.broken-<timestamp>) and rebuild it from the broker's orders and fills")
    parser.add_argument("--yes", action="store_true", help="accept, or rebuild, without asking (for scripts)")
    parser.add_argument("--reason", default="", help="why, recorded with each adjustment (accept)")


def run(args: argparse.Namespace) -> int:
    if args.action == "accept":
        return accept(args)
    return rebuild(args)


# -- accept -----------------------------------------------------------------------------------------------------


def accept(args: argparse.Namespace) -> int:
    with open_app(args.config) as app:
        ctx = context_for(app, strategy_of(app), config_path=args.config)
        diff = _current_difference(ctx)
        print(f"pairbot ledger accept | mode {app.config.mode} | ledger {app.ledger.path}")
        if not diff.breaks:
            print("  nothing to accept: pairbot's ledger matches the broker for pairbot's symbols")
            return 0
        print(_difference_table(diff))
        if not _confirmed(args, diff):
            print("  nothing was changed")
            return 0
        adjustments = _journal(app, ctx, diff, reason=args.reason)
        for a in adjustments:
            print(f"  accepted {a.symbol}: {a.ledger_qty} -> {a.broker_qty} ({a.qty:+}) by {a.accepted_by}")
        print(f"  the next `{ctx.command('rebalance')}` trades pairbot's book back to target")
    return 0


def _current_difference(ctx: RunContext) -> BookDifference:
    """What reconciliation would compare, after learning pairbot's orders and fills (nothing is cancelled)."""
    learn_orders(ctx)
    if open_orders_or_refuse(ctx):
        raise ConfigError(f"pairbot's own orders are still open; let `{ctx.command('rebalance')}` settle them first")
    _, outside = ingest_fills(ctx)
    today = broker_today(ctx)
    ingest_events(ctx, today=today)
    return book_difference(ctx, today=today, outside=outside_trades(outside))


def _difference_table(diff: BookDifference) -> str:
    lines = [f"  {'symbol':<6} {'ledger':>12} {'broker':>12} {'change':>12}  what explains it"]
    for v, sym in zip(diff.breaks, diff.changed(), strict=True):
        mine, theirs = diff.ledger.get(sym, Decimal(0)), diff.broker.get(sym, Decimal(0))
        why = v.message.partition(" (")[2].rstrip(")") or "nothing pairbot knows of"
        lines.append(f"  {sym:<6} {mine:>12} {theirs:>12} {theirs - mine:>+12}  {why}")
    if diff.looks_like_reset:
        lines.append("  the broker holds none of pairbot's positions: a paper account reset, or a transfer out?")
    return "\n".join(lines)


def _confirmed(args: argparse.Namespace, diff: BookDifference) -> bool:
    if args.yes:
        return True
    if sys.stdin is None or not sys.stdin.isatty():  # None: stdin closed (`<&-`)
        raise ConfigError("ledger accept: pass --yes to accept without a prompt (stdin is not a terminal)")
    answer = input(f"  take the broker's quantities of {', '.join(diff.changed())} as pairbot's? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _journal(app: App, ctx: RunContext, diff: BookDifference, *, reason: str) -> list[Adjustment]:
    now = datetime.now(UTC)
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    why = reason or "accepted with pairbot ledger accept"
    app.ledger.start_run(run_id=app.run_id, started_at=now, mode=app.config.mode, command="ledger accept",
                         strategy=app.config.strategy)
    changes = [Adjustment(symbol=s, qty=diff.broker.get(s, Decimal(0)) - diff.ledger.get(s, Decimal(0)),
                          ledger_qty=diff.ledger.get(s, Decimal(0)), broker_qty=diff.broker.get(s, Decimal(0)),
                          reason=why, accepted_by=who, accepted_at=now, price=diff.marks.get(s))
               for s in diff.changed()]
    app.ledger.accept(changes, run_id=app.run_id)
    app.ledger.finish_run(app.run_id, finished_at=datetime.now(UTC), outcome="accepted", exit_code=0,
                          summary={"accepted": {a.symbol: str(a.qty) for a in changes}, "by": who, "why": why})
    return changes


# -- rebuild ----------------------------------------------------------------------------------------------------


def move_aside(path: Path, stamp: str) -> Path | None:
    """Rename the ledger and its SQLite sidecars; returns the new name of the main file (None if absent)."""
    moved = None
    for suffix in ("", "-wal", "-shm", "-journal"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            dst = Path(f"{path}.broken-{stamp}{suffix}")
            os.replace(src, dst)
            moved = dst if suffix == "" else moved
    return moved


def _record_decisions(ledger: Ledger, orders: list[OrderState], *, run_id: str) -> list[str]:
    """One run per decision the broker has pairbot's orders for (the run key in their client order ids), dated by
    its first order, so the trade log shows each rebuilt order under the decision that sent it. A calendar
    decision whose every leg's latest order filled in full is done: the next run does not rebalance that period
    again (an incomplete one it does). Returns the calendar periods found done."""
    by_key: dict[str, list[tuple[OrderKey, OrderState]]] = {}
    for o in orders:
        key = OrderKey.parse(o.client_order_id)
        if key is not None:
            by_key.setdefault(key.run_key, []).append((key, o))
    now, done = datetime.now(UTC), set[str]()
    for run_key, keyed in sorted(by_key.items(), key=lambda kv: min(o.submitted_at for _, o in kv[1])):
        latest: dict[str, tuple[int, OrderState]] = {}
        for key, o in keyed:
            if key.leg not in latest or key.attempt > latest[key.leg][0]:
                latest[key.leg] = (key.attempt, o)
        filled = all(o.status == "filled" for _, o in latest.values())
        first, rid = keyed[0][0], f"{run_id}-{run_key}"
        ledger.start_run(run_id=rid, started_at=min(o.submitted_at for _, o in keyed), mode="rebuilt",
                         command="ledger rebuild", strategy="")
        ledger.record_decision(rid, decision=first.decision_kind, period=first.calendar_period, run_key=run_key,
                               why=f"rebuilt from the broker's orders for {run_key} (the runs that sent them were "
                                   "in the old ledger)")
        ledger.finish_run(rid, finished_at=now, outcome="done" if filled else "incomplete", exit_code=None,
                          summary={"rebuilt": True, "orders": len(keyed)})
        if filled and first.calendar_period is not None:
            done.add(first.calendar_period)
    return sorted(done)


def _old_ledger(path: Path) -> str:
    """What the ledger about to be moved aside holds, as far as it can be read."""
    try:
        with Ledger(path, readonly=True) as old:
            return f"{len(old.runs())} runs, {len(old.adjustments())} accepted adjustment(s)"
    except (ReconciliationBreak, sqlite3.DatabaseError):
        return "unreadable"


def _rebuild_confirmed(args: argparse.Namespace, path: Path, aside: Path, orders: int) -> bool:
    """Moving a ledger aside drops its run history and accepted adjustments from view: asked, as accept asks.
    With no ledger there is nothing to drop, and nothing to ask."""
    if not path.exists():
        return True
    print(f"  moves {path} ({_old_ledger(path)}) aside to {aside}")
    print(f"  and rebuilds it from the broker's {orders} pairbot orders, their fills and the account events;")
    print("  adjustments accepted with `pairbot ledger accept` and the run history stay only in the old ledger")
    if args.yes:
        return True
    if sys.stdin is None or not sys.stdin.isatty():  # None: stdin closed (`<&-`)
        raise ConfigError("ledger rebuild: pass --yes to move the ledger aside and rebuild it without a prompt "
                          "(stdin is not a terminal)")
    answer = input("  move it aside and rebuild? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def rebuild(args: argparse.Namespace) -> int:
    with open_app(args.config, open_ledger=False) as app:
        broker, config = app.broker, app.config
        account = broker.account_number()  # reach the broker before touching the file
        orders = broker.all_orders()
        ours = [o for o in orders if is_ours(o.client_order_id)]
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        print(f"pairbot ledger rebuild | mode {config.mode} | account {account}")
        if not _rebuild_confirmed(args, app.ledger.path, Path(f"{app.ledger.path}.broken-{stamp}"), len(ours)):
            print("  nothing was changed")
            return 0
        moved = move_aside(app.ledger.path, stamp)
        ledger: Ledger = app.ledger.open()
        ctx = context_for(app, strategy_of(app), config_path=args.config)
        ledger.start_run(run_id=app.run_id, started_at=datetime.now(UTC), mode=config.mode,
                         command="ledger rebuild", strategy=config.strategy)
        for o in ours:
            ledger.record_order(o, observed_at=datetime.now(UTC))
        periods = _record_decisions(ledger, ours, run_id=app.run_id)
        ledger.set_meta("account_number", account)
        fills, _ = ingest_fills(ctx)
        today = broker_today(ctx)
        events = ingest_events(ctx, today=today)
        diff = book_difference(ctx, today=today)
        ledger.record_snapshot(app.run_id, "rebuilt", snapshot(ctx))  # the account now: what `report` starts from
        ledger.finish_run(app.run_id, finished_at=datetime.now(UTC),
                          outcome="rebuilt_with_breaks" if diff.breaks else "rebuilt",
                          exit_code=6 if diff.breaks else 0,
                          summary={"orders": len(ours), "fills": fills, "events": events,
                                   "moved_aside": str(moved) if moved else None})
        print(f"  {'moved the old ledger to ' + str(moved) if moved else 'no old ledger to move aside'}")
        if periods:
            print(f"  calendar rebalances found at the broker: {', '.join(periods)}")
        held = ", ".join(f"{s} {q:+}" for s, q in sorted(ledger.positions().items())) or "flat"
        print(f"  new ledger {ledger.path}: {len(ours)} pairbot orders of {len(orders)}, {fills} fills, "
              f"{events} account events; "
              f"pairbot's positions {held}")
        if diff.breaks:
            raise ReconciliationBreak("the rebuilt ledger still differs from the broker: "
                                      + "; ".join(v.message for v in diff.breaks)
                                      + f"; if the broker is right, run: {ctx.command('ledger accept')}")
        print("  reconciliation: pairbot's positions equal the broker's")
    return 0
