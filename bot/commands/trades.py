"""`pairbot trades`: runs with their decision, orders with their status history, fills and shortfall."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from bot.adapters.logs import configure_silent
from bot.adapters.tradelog import OrderRow, RunRow, TradeFilter, read_events, read_trade_log
from bot.commands.argtypes import iso_date
from bot.config import load_config
from bot.core.corporate import cash_kind
from bot.core.domain import AccountEvent
from bot.errors import ConfigError

CSV_COLUMNS = (
    "run_id", "run_started_at", "command", "decision", "why", "outcome", "exit_code", "client_order_id", "symbol",
    "side", "intent", "qty", "reference_price", "status", "status_history", "filled_qty", "avg_fill_price",
    "fills", "first_fill_at", "last_fill_at", "shortfall_bps", "shortfall_usd", "event_type", "event_date", "cash",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="one CSV row per order (or per run without orders)")
    out.add_argument("--json", action="store_true", help="one JSON document: runs > orders > history and fills")
    parser.add_argument("--since", type=iso_date, metavar="DATE", help="runs started on or after DATE (YYYY-MM-DD)")
    parser.add_argument("--until", type=iso_date, metavar="DATE", help="runs started on or before DATE (YYYY-MM-DD)")
    parser.add_argument("--symbol", metavar="SYM", help="only orders in SYM (and the runs that traded it)")
    parser.add_argument("--run", metavar="RUN_ID", help="only this run")


def _s(value: Decimal | None, places: int | None = None) -> str:
    if value is None:
        return ""
    return f"{value:.{places}f}" if places is not None else str(value)


def history_text(order: OrderRow) -> str:
    return " > ".join(status for status, _, _ in order.history) or order.intent_state


def order_json(o: OrderRow) -> dict[str, Any]:
    return {
        "client_order_id": o.client_order_id, "order_id": o.order_id, "symbol": o.symbol, "side": o.side,
        "intent": o.intent, "qty": str(o.qty), "reference_price": _s(o.reference_price) or None,
        "intent_state": o.intent_state, "status": o.status,
        "status_history": [{"status": s, "filled_qty": q, "observed_at": t} for s, q, t in o.history],
        "fills": [{"activity_id": f.activity_id, "qty": str(f.qty), "price": str(f.price), "filled_at": f.filled_at}
                  for f in o.fills],
        "filled_qty": str(o.filled_qty), "avg_fill_price": _s(o.avg_fill_price, 4) or None,
        "shortfall_bps": _s(o.shortfall_bps, 2) or None, "shortfall_usd": _s(o.shortfall_usd, 2) or None,
    }


def event_json(e: AccountEvent) -> dict[str, Any]:
    return {"activity_id": e.activity_id, "type": e.activity_type, "sub_type": e.sub_type, "date": e.on.isoformat(),
            "symbol": e.symbol, "qty": str(e.qty), "cash": str(e.cash), "kind": cash_kind(e),
            "description": e.description}


def as_json(runs: list[RunRow], events: Sequence[AccountEvent] = ()) -> dict[str, Any]:
    orders = [o for r in runs for o in r.orders]
    costs = [o.shortfall_usd for o in orders if o.shortfall_usd is not None]
    return {
        "runs": [{"run_id": r.run_id, "started_at": r.started_at, "command": r.command, "strategy": r.strategy,
                  "decision": r.decision, "why": r.why, "outcome": r.outcome, "exit_code": r.exit_code,
                  "orders": [order_json(o) for o in r.orders]} for r in runs],
        "events": [event_json(e) for e in events],
        "totals": {"runs": len(runs), "orders": len(orders), "fills": sum(len(o.fills) for o in orders),
                   "shortfall_usd": _s(sum(costs, Decimal(0)), 2), "events": len(events)},
    }


def as_csv(runs: list[RunRow], events: Sequence[AccountEvent] = ()) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for e in events:  # an event row: no run, no order; its type, date, symbol, qty and cash
        writer.writerow({"command": "account event", "why": e.description, "symbol": e.symbol or "", "qty": e.qty,
                         "event_type": e.activity_type, "event_date": e.on.isoformat(), "cash": e.cash})
    for r in runs:
        base = {"run_id": r.run_id, "run_started_at": r.started_at, "command": r.command, "decision": r.decision,
                "why": r.why, "outcome": r.outcome, "exit_code": r.exit_code}
        if not r.orders:
            writer.writerow(base)
        for o in r.orders:
            writer.writerow(base | {
                "client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side, "intent": o.intent,
                "qty": o.qty, "reference_price": _s(o.reference_price), "status": o.status or o.intent_state,
                "status_history": history_text(o), "filled_qty": o.filled_qty,
                "avg_fill_price": _s(o.avg_fill_price, 4), "fills": len(o.fills),
                "first_fill_at": o.fills[0].filled_at if o.fills else "",
                "last_fill_at": o.fills[-1].filled_at if o.fills else "",
                "shortfall_bps": _s(o.shortfall_bps, 2), "shortfall_usd": _s(o.shortfall_usd, 2),
            })
    return buf.getvalue()


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header).rstrip(), *(fmt.format(*r).rstrip() for r in rows)]


def render_text(runs: list[RunRow], events: Sequence[AccountEvent] = ()) -> str:
    if not runs and not events:
        return "no runs match"
    lines = ["runs:"] if runs else []
    lines += ["  " + x for x in _table(
        ("started (UTC)", "run", "command", "decision", "outcome", "exit", "why"),
        [(r.started_at[:19].replace("T", " "), r.run_id, r.command, r.decision or "-", r.outcome or "(unfinished)",
          "" if r.exit_code is None else str(r.exit_code), r.why or "") for r in runs])]
    orders = [o for r in runs for o in r.orders]
    if orders:
        lines += ["orders:"]
        lines += ["  " + x for x in _table(
            ("client order id", "symbol", "side", "qty", "decision px", "filled", "avg fill", "status history",
             "IS bps", "IS $"),
            [(o.client_order_id, o.symbol, o.side, str(o.qty), _s(o.reference_price, 4) or "-", str(o.filled_qty),
              _s(o.avg_fill_price, 4) or "-", history_text(o), _s(o.shortfall_bps, 2) or "-",
              _s(o.shortfall_usd, 2) or "-") for o in orders])]
        fills = [(o, f) for o in orders for f in o.fills]
        lines += ["fills:"]
        lines += ["  " + x for x in _table(
            ("time (UTC)", "symbol", "side", "qty", "price", "client order id"),
            [(f.filled_at[:19].replace("T", " "), f.symbol, f.side, str(f.qty), _s(f.price, 4), o.client_order_id)
             for o, f in fills])] if fills else ["  none"]
        costs = [o.shortfall_usd for o in orders if o.shortfall_usd is not None]
        lines.append(f"implementation shortfall (fill vs decision price; positive is a cost): "
                     f"${sum(costs, Decimal(0)):,.2f} over {len(costs)} filled order(s)")
    if events:
        lines += ["account events:"]
        lines += ["  " + x for x in _table(
            ("date", "type", "symbol", "qty", "cash", "description"),
            [(e.on.isoformat(), e.activity_type, e.symbol or "-", str(e.qty) if e.qty else "-",
              f"{e.cash:,.2f}" if e.cash else "-", e.description) for e in events])]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    configure_silent()
    config = load_config(args.config)
    if args.since and args.until and args.since > args.until:
        raise ConfigError(f"--since {args.since} is after --until {args.until}")
    flt = TradeFilter(since=args.since, until=args.until, symbol=args.symbol, run_id=args.run)
    runs = read_trade_log(config.ledger_path(), flt)
    events = [] if args.run else read_events(config.ledger_path(), flt)
    if args.json:
        print(json.dumps(as_json(runs, events), indent=2))
    elif args.csv:
        print(as_csv(runs, events), end="")
    else:
        print(render_text(runs, events))
    return 0
