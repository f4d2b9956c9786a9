"""`pairbot ledger rebuild`: move a bad (or any) ledger aside and rebuild it from the broker's orders and fills."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from bot.app import new_run_id
from bot.bootstrap import broker_for, endpoint_for
from bot.config import load_config
from bot.core.checks import ledger_breaks
from bot.errors import ReconciliationBreak
from bot.ledger import Ledger
from bot.lock import exclusive_lock
from bot.logging import Redactor, configure_logging
from bot.runner import OUR_PREFIX


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["rebuild"],
                        help="rebuild: move the ledger aside (<name>.broken-<timestamp>) and rebuild it from the "
                             "broker's orders (status=all) and FILL activities")


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


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with ExitStack() as stack:
        stack.enter_context(exclusive_lock(config.paths.state_dir / "pairbot.lock"))
        redactor = Redactor()
        configure_logging(config.paths.logs, redactor=redactor)
        endpoint = stack.enter_context(endpoint_for(config))
        redactor.add(secret=endpoint.secret_key, key_id=endpoint.api_key)
        broker = broker_for(config, endpoint)
        account = broker.account_number()  # reach the broker before touching the file
        orders = broker.all_orders()
        positions = {p.symbol: p.qty for p in broker.positions()}
        path = config.ledger_path()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        moved = move_aside(path, stamp)
        ledger = stack.enter_context(Ledger(path))
        now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
        run_id = new_run_id(now())
        ledger.start_run(run_id=run_id, started_at=now(), mode=config.mode, command="ledger rebuild",
                         strategy=config.strategy)
        ours = [o for o in orders if o.client_order_id.startswith(OUR_PREFIX)]
        for o in ours:
            ledger.record_order(o, observed_at=now())
        known = {o.order_id: o.client_order_id for o in orders}
        fills = ledger.ingest_fills(broker.fills(known=known), run_id=run_id)
        ledger.set_meta("account_number", account)
        breaks = ledger_breaks(ledger.positions(), positions)
        outcome = "rebuilt" if not breaks else "rebuilt_with_breaks"
        ledger.finish_run(run_id, finished_at=now(), outcome=outcome, exit_code=6 if breaks else 0,
                          summary={"orders": len(ours), "fills": fills, "moved_aside": str(moved) if moved else None})
        print(f"pairbot ledger rebuild | mode {config.mode} | account {account}")
        print(f"  {'moved the old ledger to ' + str(moved) if moved else 'no old ledger to move aside'}")
        held = ", ".join(f"{s} {q:+}" for s, q in sorted(positions.items())) or "flat"
        print(f"  new ledger {path}: {len(ours)} pairbot orders of {len(orders)}, {fills} fills; positions {held}")
        if breaks:
            raise ReconciliationBreak("rebuilt ledger still disagrees with the broker: "
                                      + "; ".join(v.message for v in breaks))
        print("  reconciliation: ledger positions equal broker positions")
    return 0
