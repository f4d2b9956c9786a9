"""Properties of the planner that hold for any account, prices and targets (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bot.core.domain import AccountSnapshot, PositionIntent, RebalancePlan, Symbol, TargetWeights
from bot.core.plan import apply_fills_to_snapshot, plan_rebalance

from .builders import PAIR_VEHICLES, mids, policy, snapshot

SYMBOLS = ("IWM", "QQQ", "PSQ")
RUN = "2026Q4-a1b2c3"

prices = st.decimals(min_value="1", max_value="2000", places=2)
equities = st.decimals(min_value="2000", max_value="5000000", places=2)
grosses = st.decimals(min_value="0.01", max_value="2", places=4)
held_qty = st.integers(min_value=-3000, max_value=3000)
any_weight = st.decimals(min_value="-1", max_value="1", places=4)
min_trades = st.decimals(min_value="0", max_value="1000", places=0)


@dataclass(frozen=True)
class Case:
    snap: AccountSnapshot
    targets: TargetWeights
    fractional: bool
    min_trade: Decimal
    cash_reserve: Decimal

    def plan(self, snap: AccountSnapshot | None = None) -> RebalancePlan:
        pol = policy(str(self.min_trade), fractional_longs=self.fractional, cash_reserve=str(self.cash_reserve))
        return plan_rebalance(
            self.targets, self.snap if snap is None else snap, pol, vehicles=PAIR_VEHICLES, run_key=RUN
        )

    def executed(self) -> AccountSnapshot:
        return apply_fills_to_snapshot(self.snap, self.plan().orders, mids(self.snap))

    def held(self, symbol: str) -> Decimal:
        return self.snap.qty(Symbol(symbol))


@st.composite
def cases(draw: st.DrawFn, *, pair_only: bool = False, min_trade: Decimal | None = None) -> Case:
    book = {sym: draw(prices) for sym in SYMBOLS}
    held = {sym: draw(held_qty) for sym in SYMBOLS if draw(st.booleans())}
    if pair_only:
        half = draw(grosses) / 2
        targets = {"IWM": half, "QQQ": -half}
    else:
        targets = {sym: draw(any_weight) for sym in SYMBOLS if draw(st.booleans())}
    snap = snapshot(str(draw(equities)), {s: str(p) for s, p in book.items()}, {s: q for s, q in held.items()})
    return Case(
        snap=snap,
        targets=TargetWeights({Symbol(s): w for s, w in targets.items()}),
        fractional=draw(st.booleans()),
        min_trade=draw(min_trades) if min_trade is None else min_trade,
        cash_reserve=draw(st.sampled_from([Decimal("0"), Decimal("0.05")])),
    )


def post_trade_qty(case: Case) -> dict[str, Decimal]:
    after = case.executed()
    return {sym: after.qty(Symbol(sym)) for sym in SYMBOLS}


class TestPlannerProperties:
    @given(cases())
    def test_shorts_are_whole_shares_and_longs_too_unless_fractional(self, case: Case) -> None:
        """Alpaca refuses fractional short sales; fractional buys only when the policy allows them."""
        for order in case.plan().orders:
            if order.intent is PositionIntent.SELL_TO_OPEN or not case.fractional:
                assert order.qty == order.qty.to_integral_value()

    @given(cases())
    def test_quantities_are_positive_and_finite(self, case: Case) -> None:
        """No NaN, no zero and no negative quantity reaches the broker: the sign lives in the intent."""
        for order in case.plan().orders:
            assert order.qty.is_finite() and order.qty > 0
            assert order.reference_price.is_finite() and order.reference_price > 0
            assert len(order.client_order_id) <= 48

    @given(cases())
    def test_positions_end_with_the_sign_targeted(self, case: Case) -> None:
        """Long targets end long or flat, short targets short or flat, untargeted ones flat: even small legs."""
        for sym, qty in post_trade_qty(case).items():
            weight = case.targets.get(Symbol(sym))
            assert qty == 0 or (qty > 0) == (weight > 0)

    @given(cases(pair_only=True, min_trade=Decimal(0)))
    def test_the_pair_legs_are_equal_in_dollars_within_one_share(self, case: Case) -> None:
        """Each leg rounds toward zero by less than one share, so the legs differ by less than a share's price."""
        after = post_trade_qty(case)
        price = mids(case.snap)
        long_value = after["IWM"] * price[Symbol("IWM")]
        short_value = -after["QQQ"] * price[Symbol("QQQ")]

        assert abs(long_value - short_value) <= max(price[Symbol("IWM")], price[Symbol("QQQ")])

    @given(cases(min_trade=Decimal(0)))
    def test_post_trade_gross_never_exceeds_target_gross(self, case: Case) -> None:
        """Rounding toward zero can only leave exposure below target, never above a limit set from it."""
        after = case.executed()

        gross = sum((abs(p.market_value) for p in after.positions.values()), Decimal(0)) / after.equity

        assert gross <= case.targets.gross

    @given(cases())
    def test_replanning_right_after_execution_is_a_noop(self, case: Case) -> None:
        """Whatever was traded is now on target and whatever was skipped is skipped again."""
        assert case.plan(case.executed()).is_noop

    @given(cases())
    def test_reductions_all_come_before_increases(self, case: Case) -> None:
        """Reductions free buying power for the increases that follow."""
        kinds = [o.intent.is_reduction for o in case.plan().orders]

        assert kinds == sorted(kinds, reverse=True)

    @given(cases(min_trade=Decimal(0)), st.integers(min_value=1, max_value=3000))
    def test_a_sign_flip_is_a_full_close_then_an_open(self, case: Case, held: int) -> None:
        """Never one order across zero: close the whole position, then open the other side."""
        positions = {"IWM": -held, "QQQ": held}
        flipping = snapshot(str(case.snap.equity), {s: str(p) for s, p in mids(case.snap).items()}, positions)
        targets = TargetWeights({Symbol("IWM"): Decimal("0.5"), Symbol("QQQ"): Decimal("-0.5")})
        flip_case = Case(flipping, targets, case.fractional, Decimal(0), case.cash_reserve)

        orders = flip_case.plan().orders
        after = post_trade_qty(flip_case)

        for sym, closing in (("IWM", PositionIntent.BUY_TO_CLOSE), ("QQQ", PositionIntent.SELL_TO_CLOSE)):
            steps = [(i, o.intent, o.qty) for i, o in enumerate(orders) if o.symbol == sym]
            assert steps[0][1:] == (closing, Decimal(held))
            if after[sym] != 0:
                assert len(steps) == 2 and steps[1][2] == abs(after[sym]) and steps[0][0] < steps[1][0]
