"""The planner: target weights + account snapshot -> the orders that get there, reductions first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal

from bot.core.domain import (
    ONE,
    ZERO,
    AccountSnapshot,
    OrderIntent,
    Position,
    PositionIntent,
    RebalancePlan,
    Skip,
    Symbol,
    TargetWeights,
    Vehicle,
)
from bot.core.drift import mark, measure_drift
from bot.core.orderkey import OrderKey

FRACTIONAL_QUANTUM = Decimal("0.000000001")  # Alpaca takes fractional quantities to 9 decimal places
CENT = Decimal("0.01")

BTO, BTC = PositionIntent.BUY_TO_OPEN, PositionIntent.BUY_TO_CLOSE
STO, STC = PositionIntent.SELL_TO_OPEN, PositionIntent.SELL_TO_CLOSE


@dataclass(frozen=True, slots=True)
class PlanPolicy:
    """How targets become orders; these defaults are config.yaml's (bot/config.py takes them from here)."""

    min_trade_usd: Decimal = Decimal("100")
    fractional_longs: bool = False
    cash_reserve: Decimal = Decimal("0.01")  # fraction of equity never invested

    def __post_init__(self) -> None:
        if not self.min_trade_usd.is_finite() or self.min_trade_usd < 0:
            raise ValueError(f"min_trade_usd must be a non-negative number, got {self.min_trade_usd}")
        if not self.cash_reserve.is_finite() or not ZERO <= self.cash_reserve < ONE:
            raise ValueError(f"cash_reserve must be in [0, 1), got {self.cash_reserve}")


def target_qty(weight: Decimal, *, investable: Decimal, price: Decimal, fractional_longs: bool) -> Decimal:
    """Shares for a weight, rounded toward zero so rounding can never push exposure past the target.

    Shorts are always whole shares (Alpaca refuses fractional short sales).
    """
    quantum = FRACTIONAL_QUANTUM if fractional_longs and weight > 0 else ONE
    return _tidy((weight * investable / price).quantize(quantum, rounding=ROUND_DOWN))


def _tidy(qty: Decimal) -> Decimal:
    """250.000000000 -> 250 and 0.400000000 -> 0.4; -0 -> 0."""
    if qty == qty.to_integral_value():
        return qty.quantize(ONE) + ZERO
    return qty.normalize()


def leg_steps(current: Decimal, target: Decimal) -> list[tuple[PositionIntent, Decimal]]:
    """The orders taking one position from current to target shares; a sign change is close, then open."""
    if target == current:
        return []
    flips = current != 0 and (target == 0 or (target > 0) != (current > 0))
    if flips:
        close = (BTC if current < 0 else STC, abs(current))
        return [close] if target == 0 else [close, (BTO if target > 0 else STO, abs(target))]
    delta = target - current
    if current > 0 or target > 0:
        return [(BTO if delta > 0 else STC, abs(delta))]
    return [(STO if delta < 0 else BTC, abs(delta))]


def client_order_id(run_key: str, symbol: Symbol, intent: PositionIntent, attempts: Mapping[str, int]) -> str:
    leg = OrderKey(run_key, symbol, intent.short_code)
    return str(OrderKey(run_key, symbol, intent.short_code, attempts.get(leg.leg, 1)))


def _skip_reason(*, current: Decimal, target: Decimal, price: Decimal, policy: PlanPolicy) -> str | None:
    """Why a leg is left alone, or None to trade it. A close to zero target is never skipped for size."""
    if target == current or target == 0:
        return None
    delta = abs(target - current)
    notional = delta * price
    if notional < policy.min_trade_usd:
        return f"below min trade ${policy.min_trade_usd}: {_tidy(delta)} shares = ${notional.quantize(CENT)}"
    return None


def plan_leg(
    symbol: Symbol, weight: Decimal, snapshot: AccountSnapshot, *, policy: PlanPolicy, investable: Decimal
) -> tuple[list[tuple[PositionIntent, Decimal]], Skip | None]:
    """The steps for one leg, and why some or all of it is skipped (or, for a fractional short, rounded).

    A small sign flip still closes the wrong-side position; only the small new side is skipped.
    """
    price = mark(snapshot, symbol)
    if price <= 0:
        raise ValueError(f"{symbol}: price must be positive, got {price}")
    current = snapshot.qty(symbol)
    fractionable = _fractionable(snapshot, symbol)
    target = target_qty(weight, investable=investable, price=price,
                        fractional_longs=policy.fractional_longs and fractionable)
    if current != current.to_integral_value() and not fractionable:
        return _whole_orders_only(symbol, current, target, price, policy)
    if current < 0 and current != current.to_integral_value() and target <= 0:
        return _round_short(symbol, current, target)
    if target == 0 and current == 0 and weight != 0:
        return [], Skip(symbol, f"target weight {weight} rounds to 0 shares at ${price}")
    reason = _skip_reason(current=current, target=target, price=price, policy=policy)
    if reason is None:
        return leg_steps(current, target), None
    wrong_side = current != 0 and (current > 0) != (target > 0)
    return (leg_steps(current, ZERO) if wrong_side else []), Skip(symbol, reason)


def _fractionable(snapshot: AccountSnapshot, symbol: Symbol) -> bool:
    """Whether the broker takes fractional orders in the symbol (its asset's `fractionable`; yes when unknown)."""
    asset = snapshot.assets.get(symbol)
    return asset is None or asset.fractionable


def _whole_orders_only(symbol: Symbol, current: Decimal, target: Decimal, price: Decimal,
                       policy: PlanPolicy) -> tuple[list[tuple[PositionIntent, Decimal]], Skip | None]:
    """A fractional position (a split left it) in a fund the broker takes no fractional orders in: whole-share
    orders move its whole part to the target and the fraction stays, said when it trades (an order for the
    fraction would be refused on every run)."""
    whole = current.to_integral_value(rounding=ROUND_DOWN)  # toward zero: -393.75 -> -393
    reason = _skip_reason(current=whole, target=target, price=price, policy=policy)
    if reason is not None:
        return [], Skip(symbol, reason)
    steps = leg_steps(whole, target)
    fraction = _tidy(abs(current - whole))
    note = Skip(symbol, f"keeps its fraction of {fraction} share(s): {symbol} is not fractionable at the broker, so "
                        "only whole shares trade", traded=True)
    return steps, note if steps else None


def _round_short(symbol: Symbol, current: Decimal, target: Decimal) -> tuple[list[tuple[PositionIntent, Decimal]],
                                                                          Skip | None]:
    """A short a split left fractional (-393.75) goes to its whole-share target whatever the size (as the
    backtest does): the fraction is covered first (short sales are whole shares only), then the rest traded."""
    whole = current.to_integral_value(rounding=ROUND_DOWN)  # toward zero: -393.75 -> -393
    fraction = _tidy(whole - current)
    note = Skip(symbol, f"covered {fraction} share(s) to whole shares: a split left the short fractional "
                        "(no fractional short sales)", traded=True)
    rest = leg_steps(whole, target)
    if rest and rest[0][0] is BTC:
        return [(BTC, fraction + rest[0][1]), *rest[1:]], note
    return [(BTC, fraction), *rest], note


def plan_rebalance(
    targets: TargetWeights,
    snapshot: AccountSnapshot,
    policy: PlanPolicy,
    *,
    vehicles: Mapping[Symbol, Vehicle],
    run_key: str,
    attempts: Mapping[str, int] | None = None,
) -> RebalancePlan:
    """Whole-share (or 9 dp fractional long) market orders from the snapshot to the targets.

    A held symbol the targets omit is closed. Orders run reductions first, to free buying power.
    """
    drift = measure_drift(targets, snapshot, vehicles)
    investable = snapshot.equity * (ONE - policy.cash_reserve)
    tries = {} if attempts is None else attempts
    orders: list[OrderIntent] = []
    skipped: list[Skip] = []
    for leg in drift.legs:
        steps, skip = plan_leg(leg.symbol, leg.target, snapshot, policy=policy, investable=investable)
        if skip is not None:
            skipped.append(skip)
        price = mark(snapshot, leg.symbol)
        for intent, qty in steps:
            coid = client_order_id(run_key, leg.symbol, intent, tries)
            orders.append(OrderIntent(leg.symbol, intent, _tidy(qty), coid, price))
    # Stable sort: symbol order is kept within reductions and within increases.
    ordered = sorted(orders, key=lambda o: not o.intent.is_reduction)
    return RebalancePlan(orders=tuple(ordered), drift=drift, skipped=tuple(s for s in skipped if not s.traded),
                         notes=tuple(s for s in skipped if s.traded))


def apply_fills_to_snapshot(
    snapshot: AccountSnapshot, orders: Sequence[OrderIntent], prices: Mapping[Symbol, Decimal]
) -> AccountSnapshot:
    """The snapshot after every order fills in full at prices[symbol] (a simulated broker's view).

    Positions are marked at the snapshot's mark, so filling at the mark leaves equity unchanged.
    Buying power moves by each order's notional (down for increases, up for reductions): a rough model.
    """
    positions = dict(snapshot.positions)
    cash, equity, buying_power = snapshot.cash, snapshot.equity, snapshot.buying_power
    for order in orders:
        fill = prices[order.symbol]
        value_at = snapshot.price(order.symbol) if order.symbol in snapshot.quotes else fill
        cash -= order.signed_qty * fill
        equity += order.signed_qty * (value_at - fill)
        buying_power += order.qty * fill * (ONE if order.intent.is_reduction else -ONE)
        _apply_to_position(positions, order, fill=fill, value_at=value_at)
    return replace(snapshot, positions=positions, cash=cash, equity=equity, buying_power=buying_power)


def _apply_to_position(
    positions: dict[Symbol, Position], order: OrderIntent, *, fill: Decimal, value_at: Decimal
) -> None:
    old = positions.get(order.symbol, Position(order.symbol, ZERO, ZERO))
    qty = _tidy(old.qty + order.signed_qty)
    if qty == 0:
        positions.pop(order.symbol, None)
        return
    same_side_increase = not order.intent.is_reduction and old.qty != 0
    entry = (
        (old.avg_entry_price * abs(old.qty) + fill * order.qty) / abs(qty)
        if same_side_increase
        else (old.avg_entry_price if order.intent.is_reduction else fill)
    )
    positions[order.symbol] = Position(order.symbol, qty, qty * value_at, entry)

