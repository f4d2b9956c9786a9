"""Reconciliation's parts: which orders are ours, their fills and the account's events into the ledger, and
pairbot's book against the broker's for pairbot's symbols only. bot.live.runner sequences them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from bot.adapters.ledger import Ledger
from bot.core.book import book_breaks, looks_like_reset, our_symbols
from bot.core.checks import Violation
from bot.core.corporate import Split, moved_by_hand, split_like
from bot.core.domain import NEW_YORK, OUR_PREFIX, AccountEvent, AccountSnapshot, Fill, OrderState, Symbol
from bot.errors import GateRefused, ReconciliationBreak
from bot.live.context import RunContext, pairbots_symbols


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
    foreign = foreign_open_orders(ctx, open_orders)
    if foreign:
        raise GateRefused(f"open orders not placed by pairbot in {', '.join(foreign)}; "
                          "cancel them or wait for them to finish")
    mine = [o for o in open_orders if o.client_order_id.startswith(OUR_PREFIX)]
    for o in mine:
        ctx.ledger.record_order(o, observed_at=ctx.now())
    return mine


def foreign_open_orders(ctx: RunContext, open_orders: Collection[OrderState] | None = None) -> list[Symbol]:
    """pairbot's symbols with an open order someone else placed (a rebalance refuses until they finish)."""
    ours = pairbots_symbols(ctx)
    found = ctx.broker.open_orders() if open_orders is None else open_orders
    return sorted({o.symbol for o in found if not o.client_order_id.startswith(OUR_PREFIX) and o.symbol in ours})


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


def ingest_fills(ctx: RunContext, *, read_at: datetime | None = None) -> tuple[int, tuple[Fill, ...]]:
    """Journal the fills of pairbot's orders since the watermark; returns how many were new, and the fills of
    orders pairbot did not place (never journaled: they only explain a difference).

    The watermark is the later of pairbot's latest fill and the time the fills were last read through (the
    broker's clock, `read_at`, read before them): without the second, every run would read again every fill of
    the user's own orders since pairbot's last fill."""
    marks = [m for m in (ctx.ledger.fill_watermark(), _fills_read_through(ctx.ledger)) if m is not None]
    after = max(marks) - FILL_OVERLAP if marks else None
    known = {o["order_id"]: o["client_order_id"] for o in ctx.ledger.orders()}
    fills = ctx.broker.fills(after=after, known=known)
    outside = tuple(f for f in fills if not f.client_order_id.startswith(OUR_PREFIX))
    new = ctx.ledger.ingest_fills(fills, run_id=ctx.run_id)
    through = read_through(fills, outside, ours=pairbots_symbols(ctx), read_at=read_at)
    held = _fills_read_through(ctx.ledger)
    if through is not None and (held is None or through > held):  # only once pairbot's fills are committed
        ctx.ledger.set_meta(FILLS_READ_THROUGH, through.isoformat())
    return new, outside


def read_through(fills: Collection[Fill], outside: Collection[Fill], *, ours: Collection[Symbol],
                 read_at: datetime | None = None) -> datetime | None:
    """How far these fills let the next run skip: to the latest of them, or to a moment before `read_at` (every
    fill booked by then was there to read), but not past a fill of the user's in one of pairbot's symbols (it
    explains a difference until pairbot's own next fill passes it)."""
    kept = [f.filled_at for f in outside if f.symbol in ours]
    if kept:
        return min(kept) - timedelta(microseconds=1)
    latest = [f.filled_at for f in fills] + ([read_at - READ_LAG] if read_at is not None else [])
    return max(latest, default=None)


def _fills_read_through(ledger: Ledger) -> datetime | None:
    text = ledger.meta(FILLS_READ_THROUGH)
    return None if text is None else datetime.fromisoformat(text)


FILLS_READ_THROUGH = "fills_read_through"  # every fill up to this time read (the user's are never journaled)
FILL_OVERLAP = timedelta(seconds=2)  # a fill booked a moment late is still read; ingestion is idempotent
READ_LAG = timedelta(minutes=5)  # the broker may list a fill a while after its transaction time: read that again


@dataclass(frozen=True, slots=True)
class BookDifference:
    """pairbot's ledger against the broker for pairbot's symbols: the breaks, and the quantities behind them."""

    breaks: tuple[Violation, ...]
    ledger: dict[Symbol, Decimal]
    broker: dict[Symbol, Decimal]
    ours: frozenset[Symbol]
    waiting: dict[Symbol, str] = field(default_factory=dict)  # symbols a split explains, booked on one side only
    marks: dict[Symbol, Decimal] = field(default_factory=dict)  # each symbol's price now (an accepted change's cost)

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
    breaks = book_breaks(ledger_positions, broker_positions, ours=ours, outside=outside, moved=_moved(ctx.ledger))
    marks = {p.symbol: abs(p.market_value / p.qty) for p in held if p.qty and p.market_value}  # 0: not sent
    waiting = _waiting_for_splits(ctx, ledger_positions, broker_positions, marks, today=today)
    return BookDifference(breaks, ledger_positions, broker_positions, ours, waiting, ctx.ledger.last_marks() | marks)


def _moved(ledger: Ledger) -> dict[Symbol, Decimal]:
    """Shares stock journals and transfers moved into or out of each symbol since its last accepted change."""
    accepted: dict[Symbol, datetime] = {}
    for a in ledger.adjustments():
        accepted[a.symbol] = max(a.accepted_at, accepted.get(a.symbol, a.accepted_at))
    later = [b.event for b in ledger.events() if b.event.symbol is not None and _booked_after(b.event, accepted)]
    return moved_by_hand(later)


def _booked_after(e: AccountEvent, accepted: dict[Symbol, datetime]) -> bool:
    since = accepted.get(e.symbol) if e.symbol is not None else None
    return since is None or (e.booked_at or datetime.combine(e.on, time(0), UTC)) > since


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


def ingest_events(ctx: RunContext, *, today: date | None = None) -> int:
    """Journal the account events (splits, dividends, fees, interest, journals) booked since the watermark: the
    latest event journaled or, later, the day the account was last read through (given `today`, the broker's).
    Without the second a book that never meets an event (Alpaca paper books none) would read the account's
    whole activity history on every run."""
    marks = [d for d in (_latest_event_day(ctx.ledger), _read_through(ctx.ledger)) if d is not None]
    after = max(marks) - timedelta(days=EVENT_OVERLAP_DAYS) if marks else None
    events = ctx.broker.account_events(after=after)
    fresh = ctx.ledger.ingest_events(events, run_id=ctx.run_id, ours=pairbots_symbols(ctx))
    if today is not None:
        ctx.ledger.set_meta(EVENTS_READ_THROUGH, today.isoformat())
    return fresh


def _latest_event_day(ledger: Ledger) -> date | None:
    mark = ledger.event_watermark()
    return None if mark is None else mark.astimezone(NEW_YORK).date()


def _read_through(ledger: Ledger) -> date | None:
    text = ledger.meta(EVENTS_READ_THROUGH)
    return None if text is None else date.fromisoformat(text)


EVENTS_READ_THROUGH = "events_read_through"
EVENT_OVERLAP_DAYS = 7  # events can be booked days after their date; ingestion is idempotent by activity id


def compare_positions(ctx: RunContext, snap: AccountSnapshot | None = None, *, today: date,
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
