"""Gates before trading, risk checks on the plan, and ledger-vs-broker breaks: each a Violation code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.core.book import book_breaks
from bot.core.checks import Gates, Limits, Violation, gate_violations, risk_violations
from bot.core.domain import AccountSnapshot, AssetInfo, Quote, Symbol
from bot.core.plan import plan_rebalance

from .builders import NOW, PAIR_VEHICLES, account, policy, quote, snapshot, weights

PAIR = frozenset({Symbol("IWM"), Symbol("QQQ")})
QQQ_SHORT = frozenset({Symbol("QQQ")})


def gate_codes(
    snap: AccountSnapshot, *, shorts: frozenset[Symbol] = QQQ_SHORT, close: datetime | None = None
) -> list[str]:
    """The gates on `snap`; `close`: the session's close the broker's clock gives (next_close while open)."""
    if close is not None:
        snap = replace(snap, clock=replace(snap.clock, next_close=close))
    found = gate_violations(snap, universe=PAIR, shorts_planned=shorts, gates=Gates())
    return [v.code for v in found]


def risk_codes(snap: AccountSnapshot, limits: Limits | None = None, **targets: str) -> list[str]:
    plan = plan_rebalance(
        weights(**(targets or {"IWM": "0.5", "QQQ": "-0.5"})),
        snap,
        policy(),
        vehicles=PAIR_VEHICLES,
        run_key="2026Q4-a1b2c3",
    )
    return [v.code for v in risk_violations(plan, snap, Limits() if limits is None else limits, Gates())]


class TestGateViolations:
    def test_an_open_market_a_clean_account_and_fresh_quotes_pass(self) -> None:
        assert gate_codes(snapshot(spread="0.02")) == []

    def test_a_closed_market_refuses(self) -> None:
        assert gate_codes(snapshot(market_open=False)) == ["market_closed"]

    def test_the_market_gates_say_their_times_in_new_york(self) -> None:
        closed = snapshot(market_open=False)
        closed = replace(closed, clock=replace(closed.clock, next_open=datetime(2026, 11, 3, 14, 30, tzinfo=UTC)))
        [shut] = gate_violations(closed, universe=PAIR, shorts_planned=QQQ_SHORT, gates=Gates())
        late = replace(snapshot(), clock=replace(snapshot().clock, next_close=NOW + timedelta(minutes=20)))
        [near] = gate_violations(late, universe=PAIR, shorts_planned=QQQ_SHORT, gates=Gates())

        assert shut.message == ("the market is closed (now Mon 2026-11-02 10:00 New York; it opens next "
                                "Tue 2026-11-03 09:30 New York)")
        assert near.message == "20 min before the Mon 2026-11-02 10:20 New York close (need 30)"

    def test_too_close_to_the_close_refuses(self) -> None:
        """Twenty minutes is not enough time to send, fill and verify both legs."""
        assert gate_codes(snapshot(), close=NOW + timedelta(minutes=20)) == ["too_close_to_close"]

    def test_an_early_close_counts(self) -> None:
        """At 12:45 New York on the day after Thanksgiving the session closes at 13:00, not 16:00."""
        black_friday = datetime(2026, 11, 27, 17, 45, tzinfo=UTC)
        snap = snapshot(as_of=black_friday)

        assert gate_codes(snap, close=datetime(2026, 11, 27, 18, 0, tzinfo=UTC)) == ["too_close_to_close"]

    def test_a_blocked_account_refuses_naming_every_flag(self) -> None:
        snap = snapshot(state=account(trading_blocked=True, trade_suspended_by_user=True))

        [violation] = gate_violations(snap, universe=PAIR, shorts_planned=(), gates=Gates())

        assert violation == Violation("account_blocked", "account PA123: trading_blocked, trade_suspended_by_user")

    def test_an_inactive_account_refuses(self) -> None:
        assert gate_codes(snapshot(state=account(status="ACCOUNT_UPDATED"))) == ["account_blocked"]

    def test_a_planned_short_needs_shorting_enabled(self) -> None:
        assert gate_codes(snapshot(state=account(shorting_enabled=False))) == ["shorting_disabled"]

    def test_a_planned_short_needs_two_thousand_dollars_of_equity(self) -> None:
        assert gate_codes(snapshot("1999.99")) == ["equity_below_short_minimum"]

    def test_without_a_planned_short_the_short_rules_do_not_apply(self) -> None:
        """An inverse-fund hedge holds only longs, so a small account without shorting may run it."""
        snap = snapshot("1500", state=account(shorting_enabled=False))

        assert gate_codes(snap, shorts=frozenset()) == []

    def test_a_short_leg_must_be_shortable(self) -> None:
        assets = {"IWM": AssetInfo(Symbol("IWM")), "QQQ": AssetInfo(Symbol("QQQ"), shortable=False)}

        assert gate_codes(snapshot(assets=assets)) == ["not_shortable"]

    def test_a_short_leg_must_be_easy_to_borrow(self) -> None:
        assets = {"IWM": AssetInfo(Symbol("IWM")), "QQQ": AssetInfo(Symbol("QQQ"), easy_to_borrow=False)}

        assert gate_codes(snapshot(assets=assets)) == ["hard_to_borrow"]

    def test_a_stale_quote_refuses(self) -> None:
        assert gate_codes(snapshot(quote_age_seconds=121)) == ["stale_quote", "stale_quote"]

    def test_a_crossed_quote_refuses(self) -> None:
        snap = snapshot()
        crossed = {**snap.quotes, Symbol("QQQ"): quote("QQQ", bid="481", ask="480")}

        assert gate_codes(_with_quotes(snap, crossed)) == ["bad_quote"]

    def test_a_missing_or_zero_quote_refuses(self) -> None:
        snap = snapshot()

        assert gate_codes(_with_quotes(snap, {Symbol("IWM"): quote("IWM", bid="0", ask="200")})) == [
            "bad_quote",
            "bad_quote",
        ]

    def test_a_wide_spread_refuses(self) -> None:
        """$3 wide is 150 bps on IWM at $200 and 62.5 bps on QQQ at $480: wait for a better market."""
        assert gate_codes(snapshot(spread="3")) == ["wide_spread", "wide_spread"]
        assert gate_codes(snapshot(spread="1.5")) == ["wide_spread"]


def _with_quotes(snap: AccountSnapshot, quotes: Mapping[Symbol, Quote]) -> AccountSnapshot:
    return replace(snap, quotes=quotes)


class TestRiskViolations:
    def test_the_standard_pair_from_flat_passes(self) -> None:
        assert risk_codes(snapshot(spread="0.02")) == []

    def test_gross_above_the_limit_refuses(self) -> None:
        assert risk_codes(snapshot(), IWM="0.8", QQQ="-0.8") == ["max_gross"]

    def test_net_beyond_the_limit_refuses(self) -> None:
        assert risk_codes(snapshot(), Limits(max_net=Decimal("0.5")), IWM="0.6") == ["max_net"]

    def test_net_is_measured_after_existing_positions(self) -> None:
        """A held short the plan keeps counts toward net, short or long."""
        assert risk_codes(snapshot(positions={"QQQ": -150}), Limits(max_net=Decimal("0.5")), QQQ="-0.72") == [
            "max_net"
        ]

    def test_an_order_above_the_notional_cap_refuses(self) -> None:
        limits = Limits(max_order_notional=Decimal("49900"))

        assert risk_codes(snapshot(), limits) == ["order_notional", "order_notional"]

    def test_a_run_above_the_notional_cap_refuses(self) -> None:
        assert risk_codes(snapshot(), Limits(max_run_notional=Decimal("90000"))) == ["run_notional"]

    def test_opening_buys_and_shorts_need_alpacas_buffers_in_buying_power(self) -> None:
        """1.04 x $50,000 of IWM at the ask plus 1.03 x $49,920 of QQQ is $103,417.60 (REFERENCE 10.2: a market
        buy is priced 2.5-4% above the market for the check, a short 3% above the ask)."""
        assert risk_codes(snapshot(buying_power="103417")) == ["buying_power"]
        assert risk_codes(snapshot(buying_power="103418")) == []

    def test_reductions_free_buying_power_for_the_increases(self) -> None:
        """Shorting 20 more QQQ needs $9,888; selling 50 IWM at the bid frees $10,000 for it."""
        assert risk_codes(snapshot(buying_power="500", positions={"IWM": 250, "QQQ": -84})) == ["buying_power"]
        assert risk_codes(snapshot(buying_power="500", positions={"IWM": 300, "QQQ": -84})) == []


class TestBookBreaks:
    def test_agreeing_books_have_no_breaks(self) -> None:
        books = {Symbol("IWM"): Decimal("250"), Symbol("QQQ"): Decimal("-104")}

        assert book_breaks(books, dict(books), ours=PAIR) == ()

    def test_each_disagreeing_symbol_of_pairbots_is_a_break_and_missing_counts_as_zero(self) -> None:
        """A change in pairbot's own symbols is a break; a position in another symbol is the user's."""
        ledger = {Symbol("IWM"): Decimal("250"), Symbol("QQQ"): Decimal("-104")}
        broker = {Symbol("QQQ"): Decimal("-100"), Symbol("SPY"): Decimal("3")}

        assert book_breaks(ledger, broker, ours=PAIR) == (
            Violation("position_mismatch", "IWM: ledger 250, broker 0"),
            Violation("position_mismatch", "QQQ: ledger -104, broker -100"),
        )

    def test_a_difference_trades_pairbot_did_not_place_explain_says_so(self) -> None:
        ledger = {Symbol("QQQ"): Decimal("-104")}
        broker = {Symbol("QQQ"): Decimal("-94")}

        [v] = book_breaks(ledger, broker, ours=PAIR, outside={Symbol("QQQ"): Decimal("10")})

        assert v.message == "QQQ: ledger -104, broker -94 (+10 by orders pairbot did not place)"

    @pytest.mark.parametrize(("traded", "moved", "said"), [
        ("0", "10", " (+10 by a stock journal or transfer)"),
        ("4", "6", " (+4 by orders pairbot did not place, +6 by a stock journal or transfer)"),
        ("4", "0", ""),  # a part of the gap explains nothing
        ("3", "3", ""),
    ])
    def test_a_difference_is_explained_only_by_what_accounts_for_all_of_it(self, traded: str, moved: str,
                                                                          said: str) -> None:
        qqq = Symbol("QQQ")

        [v] = book_breaks({qqq: Decimal("-104")}, {qqq: Decimal("-94")}, ours=PAIR, outside={qqq: Decimal(traded)},
                          moved={qqq: Decimal(moved)})

        assert v.message == f"QQQ: ledger -104, broker -94{said}"
