"""The planner's spec, by example: whole shares, reductions first, sign flips split, small legs skipped."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pytest

from bot.core.domain import AccountSnapshot, AssetInfo, PositionIntent, RebalancePlan, Symbol, TargetWeights
from bot.core.plan import PlanPolicy, apply_fills_to_snapshot, leg_steps, plan_rebalance

from .builders import PAIR_VEHICLES, mids, orders_of, policy, snapshot, weights

PAIR = weights(IWM="0.5", QQQ="-0.5")
RUN = "2026Q4-a1b2c3"


def plan(
    targets: TargetWeights = PAIR,
    snap: AccountSnapshot | None = None,
    pol: PlanPolicy | None = None,
    *,
    attempts: Mapping[str, int] | None = None,
) -> RebalancePlan:
    """The plan for run RUN with the pair's vehicles; a flat $100k account and the default policy unless given."""
    return plan_rebalance(
        targets,
        snapshot() if snap is None else snap,
        policy() if pol is None else pol,
        vehicles=PAIR_VEHICLES,
        run_key=RUN,
        attempts=attempts,
    )


class TestPlanRebalance:
    def test_from_flat_buys_long_leg_and_shorts_short_leg_in_whole_shares(self) -> None:
        """From a flat account, equal dollars go long IWM and short QQQ, rounded toward zero."""
        result = plan()

        assert orders_of(result.orders) == [("IWM", "bto", 250), ("QQQ", "sto", 104)]

    def test_orders_carry_deterministic_client_order_ids_and_the_mid_they_were_sized_at(self) -> None:
        """A rerun of the same decision builds the same ids, so the broker can find its own orders."""
        snap = snapshot(spread="0.10")

        result = plan(snap=snap)

        assert [o.client_order_id for o in result.orders] == [
            "pb-2026Q4-a1b2c3-IWM-bto-1",
            "pb-2026Q4-a1b2c3-QQQ-sto-1",
        ]
        assert [o.reference_price for o in result.orders] == [Decimal("200"), Decimal("480")]

    def test_a_retry_uses_the_attempt_number_given_for_that_order(self) -> None:
        """A new attempt number only after the previous order is confirmed gone (the runner decides)."""
        result = plan(attempts={f"{RUN}-QQQ-sto": 2})

        assert [o.client_order_id for o in result.orders][1] == "pb-2026Q4-a1b2c3-QQQ-sto-2"

    def test_a_client_order_id_over_48_characters_is_refused(self) -> None:
        """Alpaca refuses longer ids; better to fail while planning than at the broker."""
        with pytest.raises(ValueError, match="48"):
            plan_rebalance(PAIR, snapshot(), policy(), vehicles=PAIR_VEHICLES, run_key="x" * 40)

    def test_reductions_run_before_increases_to_free_buying_power(self) -> None:
        """Covering part of the short comes before buying more of the long, whatever the symbol order."""
        snap = snapshot(positions={"IWM": 200, "QQQ": -120})

        result = plan(snap=snap)

        assert orders_of(result.orders) == [("QQQ", "btc", 16), ("IWM", "bto", 50)]

    def test_a_position_that_changes_sign_is_closed_then_reopened(self) -> None:
        """Alpaca refuses a sign flip in one order: sell the whole long, then sell short separately."""
        snap = snapshot(positions={"QQQ": 50})

        result = plan(snap=snap)

        assert orders_of(result.orders) == [("QQQ", "stc", 50), ("IWM", "bto", 250), ("QQQ", "sto", 104)]

    def test_switching_the_hedge_to_an_inverse_fund_covers_the_short_first(self) -> None:
        """A held symbol the targets omit is closed; PSQ long then carries the QQQ short exposure."""
        snap = snapshot(prices={"IWM": "200", "QQQ": "480", "PSQ": "30"}, positions={"IWM": 250, "QQQ": -104})

        result = plan(weights(IWM="0.5", PSQ="0.5"), snap)

        assert orders_of(result.orders) == [("QQQ", "btc", 104), ("PSQ", "bto", 1666)]

    def test_a_leg_below_the_minimum_trade_is_skipped_with_a_reason(self) -> None:
        """Trading one share to fix a sliver of drift costs more than it corrects."""
        snap = snapshot(positions={"IWM": 249, "QQQ": -104})

        result = plan(snap=snap, pol=policy("500"))

        assert result.is_noop
        assert [(s.symbol, s.reason) for s in result.skipped] == [
            ("IWM", "below min trade $500: 1 shares = $200.00")
        ]

    def test_a_fractional_leg_below_the_minimum_names_its_fraction(self) -> None:
        """The reason shows the shares and dollars that were not worth trading."""
        snap = snapshot("99989.76", {"IWM": "200.30"}, positions={"IWM": "249.2"})

        result = plan(weights(IWM="0.5"), snap, policy(fractional_longs=True))

        assert [s.reason for s in result.skipped] == ["below min trade $100: 0.4 shares = $80.12"]

    def test_a_close_to_zero_is_never_skipped_for_size(self) -> None:
        """Leaving one stray share would keep a leg the strategy no longer wants."""
        snap = snapshot(positions={"IWM": 1})

        result = plan(weights(IWM="0"), snap, policy("500"))

        assert orders_of(result.orders) == [("IWM", "stc", 1)]

    def test_a_weight_too_small_for_one_share_is_skipped_with_a_reason(self) -> None:
        """$40 of QQQ at $480 rounds to nothing; the operator should see why nothing was bought."""
        result = plan(weights(QQQ="0.0004"))

        assert result.is_noop
        assert [s.reason for s in result.skipped] == ["target weight 0.0004 rounds to 0 shares at $480"]

    def test_fractional_longs_keep_nine_decimals_but_shorts_stay_whole(self) -> None:
        """Alpaca takes fractional buys, never fractional short sales."""
        snap = snapshot(prices={"IWM": "300", "QQQ": "480"})

        result = plan(snap=snap, pol=policy(fractional_longs=True))

        assert orders_of(result.orders) == [("IWM", "bto", Decimal("166.666666666")), ("QQQ", "sto", 104)]

    def test_a_fund_the_broker_takes_no_fractions_in_is_bought_in_whole_shares(self) -> None:
        """REFERENCE 10.3: a fractional order in an asset with fractionable=false is refused."""
        prices = {"IWM": "300", "QQQ": "480"}
        assets = {"IWM": AssetInfo(Symbol("IWM"), fractionable=False), "QQQ": AssetInfo(Symbol("QQQ"))}

        result = plan(snap=snapshot(prices=prices, assets=assets), pol=policy(fractional_longs=True))

        assert orders_of(result.orders) == [("IWM", "bto", 166), ("QQQ", "sto", 104)]

    @pytest.mark.parametrize(("held", "want"), [("-393.75", [("QQQ", "btc", 289)]), ("-104.25", []),
                                                ("-0.75", [("QQQ", "sto", 104)])])
    def test_a_fractional_short_in_such_a_fund_trades_whole_shares_and_keeps_its_fraction(
            self, held: str, want: list[tuple[str, str, int]]) -> None:
        assets = {"IWM": AssetInfo(Symbol("IWM")), "QQQ": AssetInfo(Symbol("QQQ"), fractionable=False)}
        snap = snapshot(prices={"IWM": "200", "QQQ": "480"}, positions={"IWM": 250, "QQQ": held}, assets=assets)

        result = plan(snap=snap)

        assert [o for o in orders_of(result.orders) if o[0] == "QQQ"] == want  # never an order for the fraction
        notes = [n.reason for n in result.notes]
        assert notes == (["keeps its fraction of 0.75 share(s): QQQ is not fractionable at the broker, so only whole "
                          "shares trade"] if want else [])

    def test_the_cash_reserve_is_never_invested(self) -> None:
        """With 10% held back, each leg is sized on $90k."""
        result = plan(pol=policy(cash_reserve="0.1"))

        assert orders_of(result.orders) == [("IWM", "bto", 225), ("QQQ", "sto", 93)]

    def test_the_plan_reports_drift_of_every_leg(self) -> None:
        """The plan carries the drift table the decision was made on."""
        snap = snapshot(positions={"IWM": 200, "QQQ": -100})

        result = plan(snap=snap)

        assert [(leg.symbol, leg.current, leg.target) for leg in result.drift.legs] == [
            ("IWM", Decimal("0.4"), Decimal("0.5")),
            ("QQQ", Decimal("-0.48"), Decimal("-0.5")),
        ]

    def test_a_targeted_symbol_without_a_quote_is_refused(self) -> None:
        """Sizing needs a price; guessing one is worse than stopping."""
        with pytest.raises(ValueError, match="SPY"):
            plan(weights(SPY="0.5"))

    def test_replanning_after_execution_is_a_noop(self) -> None:
        """Running twice never trades twice, so a rerun after a crash is safe."""
        snap = snapshot(positions={"QQQ": 10})
        first = plan(snap=snap)

        after = apply_fills_to_snapshot(snap, first.orders, mids(snap))

        assert plan(snap=after).is_noop


class TestPlanPolicy:
    def test_a_cash_reserve_of_all_equity_is_refused(self) -> None:
        with pytest.raises(ValueError, match="cash_reserve"):
            PlanPolicy(cash_reserve=Decimal("1"))

    def test_a_negative_minimum_trade_is_refused(self) -> None:
        with pytest.raises(ValueError, match="min_trade_usd"):
            PlanPolicy(min_trade_usd=Decimal("-1"))


class TestLegSteps:
    def test_a_short_that_becomes_a_long_is_bought_to_close_then_bought_to_open(self) -> None:
        assert leg_steps(Decimal(-5), Decimal(3)) == [
            (PositionIntent.BUY_TO_CLOSE, Decimal(5)),
            (PositionIntent.BUY_TO_OPEN, Decimal(3)),
        ]

    def test_a_smaller_short_is_bought_to_close(self) -> None:
        assert leg_steps(Decimal(-5), Decimal(-3)) == [(PositionIntent.BUY_TO_CLOSE, Decimal(2))]

    def test_a_larger_short_is_sold_to_open(self) -> None:
        assert leg_steps(Decimal(-5), Decimal(-8)) == [(PositionIntent.SELL_TO_OPEN, Decimal(3))]

    def test_an_unchanged_position_needs_no_order(self) -> None:
        assert leg_steps(Decimal(7), Decimal(7)) == []


class TestApplyFillsToSnapshot:
    def test_filling_at_the_mark_moves_cash_and_positions_but_not_equity(self) -> None:
        """Buying $50k of IWM turns $50k of cash into $50k of IWM; shorting QQQ adds its proceeds to cash."""
        snap = snapshot()
        orders = plan(snap=snap).orders

        after = apply_fills_to_snapshot(snap, orders, mids(snap))

        assert after.equity == Decimal("100000")
        assert after.cash == Decimal("100000") - 250 * 200 + 104 * 480
        assert {s: p.qty for s, p in after.positions.items()} == {"IWM": 250, "QQQ": -104}
        assert after.positions[Symbol("QQQ")].market_value == Decimal(-104 * 480)

    def test_filling_worse_than_the_mark_costs_equity(self) -> None:
        """A buy at $1 over the mid loses $1 a share at once."""
        snap = snapshot()
        orders = plan(weights(IWM="0.5"), snap).orders

        after = apply_fills_to_snapshot(snap, orders, {Symbol("IWM"): Decimal("201")})

        assert after.equity == Decimal("100000") - 250

    def test_a_position_closed_in_full_disappears(self) -> None:
        snap = snapshot(positions={"IWM": 10})
        orders = plan(weights(IWM="0"), snap).orders

        after = apply_fills_to_snapshot(snap, orders, mids(snap))

        assert Symbol("IWM") not in after.positions


class TestSmallSignFlips:
    def test_a_small_position_on_the_wrong_side_is_closed_even_when_the_new_side_is_too_small(self) -> None:
        """Holding the wrong side is never left for size; opening a sliver of the right side is."""
        snap = snapshot("200", {"IWM": "200", "QQQ": "40"}, {"QQQ": 1})

        result = plan(weights(QQQ="-0.5"), snap, policy("500"))

        assert orders_of(result.orders) == [("QQQ", "stc", 1)]
        assert [s.reason for s in result.skipped] == ["below min trade $500: 3 shares = $120.00"]


class TestAShortASplitLeftFractional:
    """No fractional short sales: a split's fractional short is covered to whole shares by the next rebalance."""

    def test_at_target_only_the_fraction_is_covered_whatever_its_size_and_the_plan_says_why(self) -> None:
        snap = snapshot(equity="100000", prices={"QQQ": "100"}, positions={"QQQ": "-499.75"})

        result = plan(weights(QQQ="-0.499"), snap)

        assert orders_of(result.orders) == [("QQQ", "btc", Decimal("0.75"))]
        assert [n.reason.split(":")[0] for n in result.notes] == ["covered 0.75 share(s) to whole shares"]
        assert result.skipped == ()

    def test_a_bigger_short_is_covered_to_whole_then_sold_short_in_whole_shares(self) -> None:
        snap = snapshot(equity="100000", prices={"QQQ": "100"}, positions={"QQQ": "-393.75"})

        result = plan(weights(QQQ="-0.5"), snap)

        assert orders_of(result.orders) == [("QQQ", "btc", Decimal("0.75")), ("QQQ", "sto", Decimal("107"))]

    def test_a_smaller_short_is_covered_in_one_order(self) -> None:
        snap = snapshot(equity="100000", prices={"QQQ": "100"}, positions={"QQQ": "-600.5"})

        result = plan(weights(QQQ="-0.5"), snap)

        assert orders_of(result.orders) == [("QQQ", "btc", Decimal("100.5"))]

    def test_a_small_move_from_a_fractional_short_still_reaches_the_whole_target(self) -> None:
        """As the backtest does: a fractional short goes to its target at the next rebalance, whatever the size."""
        snap = snapshot(equity="100000", prices={"QQQ": "100"}, positions={"QQQ": "-498.75"})

        result = plan(weights(QQQ="-0.5"), snap)

        assert orders_of(result.orders) == [("QQQ", "btc", Decimal("0.75")), ("QQQ", "sto", Decimal("2"))]
