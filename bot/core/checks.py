"""Pre-trade gates, risk checks on a plan, and ledger-vs-broker breaks: each problem is a Violation value."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.core.domain import NEW_YORK, ONE, ZERO, AccountSnapshot, PositionIntent, RebalancePlan, Symbol
from bot.core.drift import mark

BPS = Decimal(10000)


@dataclass(frozen=True, slots=True)
class Violation:
    code: str  # short snake_case, e.g. "stale_quote"
    message: str  # one line for a human


@dataclass(frozen=True, slots=True)
class Limits:
    """Risk limits on a plan; these defaults are config.yaml's (bot/config.py takes them from here)."""

    max_gross: Decimal = Decimal("1.5")
    max_net: Decimal = Decimal("1.0")  # |net| of capital weights: a long-only overlay or replica reaches 1.0
    max_order_notional: Decimal | None = Decimal("150000")
    max_run_notional: Decimal | None = Decimal("400000")


@dataclass(frozen=True, slots=True)
class Gates:
    """Pre-trade gates; the first three are configurable (config.yaml `gates:`), with these defaults."""

    min_minutes_before_close: int = 30
    max_quote_age_seconds: int = 120
    max_spread_bps: Decimal = Decimal("50")
    min_equity_for_shorts: Decimal = Decimal("2000")
    short_buffer: Decimal = Decimal("0.03")  # Alpaca holds 3% more buying power for opening shorts
    buy_buffer: Decimal = Decimal("0.04")  # and prices a market buy 2.5-4% above the market for the check: the top


def gate_violations(
    snapshot: AccountSnapshot,
    *,
    universe: Collection[Symbol],
    shorts_planned: Collection[Symbol],
    gates: Gates,
) -> tuple[Violation, ...]:
    """Whether trading may start now. While the market is open, the broker clock's next close is this
    session's close, so early closes count."""
    return (
        *_market_violations(snapshot, gates=gates),
        *_account_violations(snapshot),
        *_short_violations(snapshot, shorts_planned=shorts_planned, gates=gates),
        *(v for sym in sorted(universe) for v in _quote_violations(snapshot, sym, gates)),
    )


def _market_violations(snapshot: AccountSnapshot, *, gates: Gates) -> list[Violation]:
    clock = snapshot.clock
    if not clock.is_open:
        return [Violation("market_closed", f"the market is closed (now {_new_york(snapshot.as_of)}; it opens next "
                                           f"{_new_york(clock.next_open)})")]
    minutes_left = (clock.next_close - snapshot.as_of).total_seconds() / 60
    if minutes_left < gates.min_minutes_before_close:
        return [
            Violation(
                "too_close_to_close",
                f"{minutes_left:.0f} min before the {_new_york(clock.next_close)} close "
                f"(need {gates.min_minutes_before_close})",
            )
        ]
    return []


def _new_york(at: datetime) -> str:
    """'Thu 2025-12-25 10:45 New York': what a person reads in a refusal, in the market's own time."""
    return f"{at.astimezone(NEW_YORK):%a %Y-%m-%d %H:%M} New York"


def _account_violations(snapshot: AccountSnapshot) -> list[Violation]:
    acct = snapshot.account
    flags = {
        f"status {acct.status}": not acct.is_active,
        "trading_blocked": acct.trading_blocked,
        "account_blocked": acct.account_blocked,
        "trade_suspended_by_user": acct.trade_suspended_by_user,
    }
    problems = [name for name, bad in flags.items() if bad]
    if not problems:
        return []
    return [Violation("account_blocked", f"account {acct.account_number}: {', '.join(problems)}")]


def _short_violations(
    snapshot: AccountSnapshot, *, shorts_planned: Collection[Symbol], gates: Gates
) -> list[Violation]:
    if not shorts_planned:
        return []
    found: list[Violation] = []
    if not snapshot.account.shorting_enabled:
        found.append(Violation("shorting_disabled", "a short is planned but shorting is disabled"))
    if snapshot.equity < gates.min_equity_for_shorts:
        found.append(
            Violation(
                "equity_below_short_minimum",
                f"equity ${snapshot.equity} below ${gates.min_equity_for_shorts} needed to short",
            )
        )
    for sym in sorted(shorts_planned):
        asset = snapshot.assets.get(sym)
        if asset is None or not asset.shortable:
            found.append(Violation("not_shortable", f"{sym} is not shortable"))
        elif not asset.easy_to_borrow:
            found.append(Violation("hard_to_borrow", f"{sym} is not easy to borrow"))
    return found


def _quote_violations(snapshot: AccountSnapshot, symbol: Symbol, gates: Gates) -> list[Violation]:
    unusable = _unusable_quote(snapshot, symbol)
    if unusable is not None:
        return [unusable]
    quote = snapshot.quotes[symbol]
    age = (snapshot.as_of - quote.as_of).total_seconds()
    if age > gates.max_quote_age_seconds:
        limit = gates.max_quote_age_seconds
        return [Violation("stale_quote", f"{symbol}: quote {age:.0f}s old (max {limit}s)")]
    spread_bps = (quote.ask - quote.bid) / quote.mid * BPS
    if spread_bps > gates.max_spread_bps:
        return [
            Violation("wide_spread", f"{symbol}: spread {spread_bps:.1f} bps > {gates.max_spread_bps} bps")
        ]
    return []


def _unusable_quote(snapshot: AccountSnapshot, symbol: Symbol) -> Violation | None:
    quote = snapshot.quotes.get(symbol)
    if quote is None:
        return Violation("bad_quote", f"{symbol}: no quote")
    if quote.bid <= 0 or quote.ask <= 0:
        return Violation("bad_quote", f"{symbol}: no usable quote (bid {quote.bid}, ask {quote.ask})")
    if quote.bid > quote.ask:
        return Violation("bad_quote", f"{symbol}: crossed quote (bid {quote.bid} > ask {quote.ask})")
    return None


def unusable_quotes(snapshot: AccountSnapshot, symbols: Collection[Symbol]) -> tuple[Violation, ...]:
    """Missing, zero or crossed quotes: no weight, drift or order can be computed from them."""
    return tuple(v for sym in sorted(symbols) if (v := _unusable_quote(snapshot, sym)) is not None)


def unknown_assets(snapshot: AccountSnapshot, symbols: Collection[Symbol]) -> tuple[Symbol, ...]:
    """Symbols the broker has no asset for (a typo in config.yaml, or a delisted fund)."""
    return tuple(sorted(s for s in symbols if s not in snapshot.assets))


def post_trade_qty(snapshot: AccountSnapshot, plan: RebalancePlan) -> dict[Symbol, Decimal]:
    qty = {sym: pos.qty for sym, pos in snapshot.positions.items()}
    for order in plan.orders:
        qty[order.symbol] = qty.get(order.symbol, ZERO) + order.signed_qty
    return qty


def risk_violations(
    plan: RebalancePlan, snapshot: AccountSnapshot, limits: Limits, gates: Gates
) -> tuple[Violation, ...]:
    """Whether the plan may be sent: exposure after it, notional caps, and buying power."""
    return (
        *_exposure_violations(plan, snapshot, limits),
        *_notional_violations(plan, limits),
        *_buying_power_violations(plan, snapshot, gates),
    )


def _exposure_violations(plan: RebalancePlan, snapshot: AccountSnapshot, limits: Limits) -> list[Violation]:
    if snapshot.equity <= 0:
        return [Violation("max_gross", f"equity ${snapshot.equity} is not positive")]
    values = [
        qty * _order_or_mark_price(plan, snapshot, sym) for sym, qty in post_trade_qty(snapshot, plan).items()
    ]
    gross = sum((abs(v) for v in values), ZERO) / snapshot.equity
    net = sum(values, ZERO) / snapshot.equity
    found: list[Violation] = []
    if gross > limits.max_gross:
        found.append(Violation("max_gross", f"post-trade gross {gross:.4f} > limit {limits.max_gross}"))
    if abs(net) > limits.max_net:
        found.append(Violation("max_net", f"post-trade net {net:.4f} beyond limit +/-{limits.max_net}"))
    return found


def _order_or_mark_price(plan: RebalancePlan, snapshot: AccountSnapshot, symbol: Symbol) -> Decimal:
    for order in plan.orders:
        if order.symbol == symbol:
            return order.reference_price
    return mark(snapshot, symbol)


def _notional_violations(plan: RebalancePlan, limits: Limits) -> list[Violation]:
    found: list[Violation] = []
    cap = limits.max_order_notional
    if cap is not None:
        found.extend(
            Violation("order_notional", f"{o.client_order_id}: ${o.notional:.2f} > cap ${cap}")
            for o in plan.orders
            if o.notional > cap
        )
    total = sum((o.notional for o in plan.orders), ZERO)
    if limits.max_run_notional is not None and total > limits.max_run_notional:
        found.append(Violation("run_notional", f"run total ${total:.2f} > cap ${limits.max_run_notional}"))
    return found


def _buying_power_violations(plan: RebalancePlan, snapshot: AccountSnapshot, gates: Gates) -> list[Violation]:
    """Increases cost the ask times 1 + a buffer (Alpaca's check: 3% on an opening short, up to 4% on a market
    buy; REFERENCE 10.2); reductions free only their value at the bid."""
    needed = freed = ZERO
    for order in plan.orders:
        quote = snapshot.quotes.get(order.symbol)
        bid = quote.bid if quote is not None else order.reference_price
        ask = quote.ask if quote is not None else order.reference_price
        if order.intent.is_reduction:
            freed += order.qty * bid
        elif order.intent is PositionIntent.SELL_TO_OPEN:
            needed += order.qty * ask * (ONE + gates.short_buffer)
        else:
            needed += order.qty * ask * (ONE + gates.buy_buffer)
    available = snapshot.buying_power + freed
    if needed > available:
        return [
            Violation(
                "buying_power",
                f"increases need ${needed:.2f} > buying power ${snapshot.buying_power:.2f}"
                f" + ${freed:.2f} freed by reductions",
            )
        ]
    return []
