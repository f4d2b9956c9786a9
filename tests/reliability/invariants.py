"""The promises as checks: one broker order per intent, every fill recorded once, ledger == broker.

Everything here reads the broker over real HTTP with alpaca-py (paged) and the ledger with sqlite3; nothing
of pairbot's own code is used, so a bug there cannot hide itself.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from alpaca.trading.client import TradingClient

from bot.adapters.exchange import LocalExchange

COID = re.compile(r"^pb-(?P<leg>.+)-(?P<attempt>\d+)$")
TERMINAL = {"filled", "canceled", "expired", "rejected", "replaced"}


@dataclass(frozen=True)
class BrokerView:
    orders: list[dict[str, Any]]
    fills: list[dict[str, Any]]
    positions: dict[str, Decimal]


@dataclass(frozen=True)
class LedgerView:
    fill_ids: list[str]
    positions: dict[str, Decimal]
    intents: dict[str, str]  # client order id -> state
    order_ids: dict[str, str]  # broker order id -> client order id


def broker_view(ex: LocalExchange, key: str, secret: str) -> BrokerView:
    """Every order (status=all, paged by submitted_at), every FILL activity (paged by token), positions."""
    client = TradingClient(key, secret, paper=True, url_override=ex.base_url)
    orders = paged(client, "/orders", {"status": "all", "direction": "asc", "limit": 50},
                   size="limit", cursor="after", field="submitted_at")
    positions = {p.symbol: Decimal(p.qty) for p in client.get_all_positions()}  # type: ignore[union-attr]
    return BrokerView(orders, all_fills(client), positions)


def all_fills(client: TradingClient, page_size: int = 20) -> list[dict[str, Any]]:
    """Every FILL activity, oldest first, through the page_token cursor."""
    return paged(client, "/account/activities/FILL", {"direction": "asc", "page_size": page_size},
                 size="page_size", cursor="page_token", field="id")


def paged(client: TradingClient, path: str, params: dict[str, Any], *, size: str, cursor: str,
          field: str) -> list[dict[str, Any]]:
    """Every item of a list endpoint: ask for params[size] at a time, resume after the last item's `field`."""
    items: list[dict[str, Any]] = []
    query = dict(params)
    while True:
        page = client.get(path, query)
        assert isinstance(page, list)
        items += page
        if len(page) < query[size]:
            return items
        query[cursor] = page[-1][field]


def ledger_view(path: Path) -> LedgerView:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT activity_id, symbol, side, qty FROM fills").fetchall()
        intents = dict(db.execute("SELECT client_order_id, state FROM intents").fetchall())
        order_ids = dict(db.execute("SELECT order_id, client_order_id FROM orders").fetchall())
    finally:
        db.close()
    positions: Counter[str] = Counter()
    for _id, symbol, side, qty in rows:
        positions[symbol] += Decimal(qty) * (1 if side == "buy" else -1)
    return LedgerView([r[0] for r in rows], {s: q for s, q in positions.items() if q}, intents, order_ids)


def _when(raw: str | None) -> datetime | None:
    return None if raw is None else datetime.fromisoformat(raw.replace("Z", "+00:00"))


def order_problems(orders: list[dict[str, Any]]) -> list[str]:
    """At most one broker order per intent; a leg's next attempt only after the previous one was terminal."""
    problems: list[str] = []
    ours = [o for o in orders if o["client_order_id"].startswith("pb-")]
    for coid, n in Counter(o["client_order_id"] for o in ours).items():
        if n > 1:
            problems.append(f"{n} broker orders for intent {coid}")
    legs: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for o in ours:
        m = COID.match(o["client_order_id"])
        if m is None:
            problems.append(f"malformed client order id {o['client_order_id']}")
            continue
        legs[m["leg"]].append((int(m["attempt"]), o))
    for leg, attempts in legs.items():
        attempts.sort(key=lambda t: t[0])
        for (n1, first), (n2, second) in zip(attempts, attempts[1:], strict=False):
            if n2 <= n1:
                problems.append(f"leg {leg}: attempt {n2} after {n1}")
            ended = [_when(first.get(k)) for k in ("filled_at", "canceled_at", "expired_at", "failed_at")]
            ended_at = min((t for t in ended if t is not None), default=None)
            started = _when(second["submitted_at"])
            if first["status"] not in TERMINAL or ended_at is None or (started and started < ended_at):
                problems.append(f"leg {leg}: attempt {n2} sent while attempt {n1} was {first['status']}")
    return problems


def check(ex: LocalExchange, key: str, secret: str, ledger: Path, *, settled: bool = True) -> BrokerView:
    """Assert every invariant; clears the exchange's faults first so the checks themselves read cleanly.

    settled=False is for the moment right after a kill -9: the ledger may lag the broker (fills not ingested
    yet), but it must never hold a fill, an order or a position the broker does not have, nor a fill twice.
    """
    ex.faults.clear()
    broker = broker_view(ex, key, secret)
    problems = order_problems(broker.orders)
    broker_fill_ids = [f["id"] for f in broker.fills]
    if ledger.exists():
        led = ledger_view(ledger)
        lost = set(broker_fill_ids) - set(led.fill_ids)
        extra = set(led.fill_ids) - set(broker_fill_ids)
        twice = [f for f, n in Counter(led.fill_ids).items() if n > 1]
        if extra or twice or (settled and lost):
            problems.append(f"fills differ: {len(lost)} at the broker only, {len(extra)} in the ledger only, "
                            f"{len(twice)} recorded twice")
        if settled and led.positions != broker.positions:
            problems.append(f"ledger positions {led.positions} != broker positions {broker.positions}")
        for oid, coid in led.order_ids.items():
            match = [o for o in broker.orders if o["id"] == oid]
            if not match or match[0]["client_order_id"] != coid:
                problems.append(f"ledger order {oid} ({coid}) is not that order at the broker")
    elif broker_fill_ids:
        problems.append(f"no ledger at {ledger} but {len(broker_fill_ids)} fills at the broker")
    assert not problems, "invariants broken:\n  " + "\n  ".join(problems)
    return broker


def duplicate_orders(orders: list[dict[str, Any]]) -> int:
    return sum(n - 1 for n in Counter(o["client_order_id"] for o in orders).values())


def weights(ex: LocalExchange, key: str, secret: str) -> dict[str, Decimal]:
    """Each position's market value as a signed fraction of equity, read from the broker."""
    client = TradingClient(key, secret, paper=True, url_override=ex.base_url)
    equity = Decimal(client.get_account().equity or "0")  # type: ignore[union-attr]
    return {p.symbol: Decimal(p.market_value or "0") / equity for p in client.get_all_positions()}  # type: ignore[union-attr]


def at_target(ex: LocalExchange, key: str, secret: str, targets: dict[str, Decimal], band: Decimal) -> None:
    held = weights(ex, key, secret)
    off = {s: held.get(s, Decimal(0)) - w for s, w in targets.items() if abs(held.get(s, Decimal(0)) - w) > band}
    stray = {s: w for s, w in held.items() if s not in targets}
    assert not off and not stray, f"book not at target: off {off}, stray {stray}, held {held}"
