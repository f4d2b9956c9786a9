"""The kernel's float decisions are the planner's Decimal decisions, on random books and prices."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.domain import (
    AccountSnapshot,
    AccountState,
    MarketClock,
    Position,
    Quote,
    Side,
    Symbol,
    TargetWeights,
    Vehicle,
)
from bot.core.drift import DriftBands, drift_breaches, measure_drift
from bot.core.plan import PlanPolicy, plan_leg, plan_rebalance
from bot.research.backtest.exact import book_breaches
from bot.research.backtest.kernel import decide_shares, decide_shares_one, leg_breaches

SYMBOLS = tuple(Symbol(s) for s in ("IWM", "PSQ", "QQQ", "TNA"))
NOW = datetime(2025, 1, 2, 15, 0, tzinfo=UTC)


def snapshot(equity: Decimal, held: dict[Symbol, int], prices: dict[Symbol, Decimal]) -> AccountSnapshot:
    return AccountSnapshot(
        as_of=NOW,
        equity=equity,
        cash=equity,
        buying_power=equity * 2,
        positions={s: Position(s, Decimal(q), Decimal(q) * prices[s]) for s, q in held.items() if q},
        quotes={s: Quote(s, p, p, NOW) for s, p in prices.items()},
        account=AccountState("PA0001", "ACTIVE"),
        clock=MarketClock(NOW, True, NOW, NOW),
    )


cents = st.integers(min_value=100, max_value=2_000_000).map(lambda c: Decimal(c) / 100)
weight = st.one_of(st.just(Decimal(0)), st.integers(-8000, 8000).map(lambda w: Decimal(w) / 10_000))
book = st.fixed_dictionaries(
    {
        "equity": st.integers(min_value=100_000, max_value=5_000_000_00).map(lambda c: Decimal(c) / 100),
        "prices": st.fixed_dictionaries({s: cents for s in SYMBOLS}),
        "weights": st.fixed_dictionaries({s: weight for s in SYMBOLS}),
        "held": st.fixed_dictionaries({s: st.integers(-3000, 3000) for s in SYMBOLS}),
        "min_trade": st.integers(0, 2000).map(Decimal),
        "reserve": st.integers(0, 5).map(lambda r: Decimal(r) / 100),
        "band": st.integers(1, 2000).map(lambda b: Decimal(b) / 10_000),
        "fractional": st.booleans(),
    }
)


# Shares after a split: whole shares times a ratio, so reverse splits leave fractions (7 x 0.2 = 1.4).
split_shares = st.tuples(st.integers(-3000, 3000), st.sampled_from(["1", "0.25", "0.2", "0.5", "2", "3"]))
split_held = st.fixed_dictionaries({s: split_shares.map(lambda x: Decimal(x[0]) * Decimal(x[1])) for s in SYMBOLS})


def as_row(values: dict[Symbol, Decimal] | dict[Symbol, int]) -> np.ndarray:
    return np.array([[float(values[s]) for s in SYMBOLS]])


def planned(b: dict, policy: PlanPolicy) -> dict[Symbol, Decimal]:
    """The shares each leg holds once the planner's steps for it fill (plan_leg: plan_rebalance refuses to
    build an order that sells a fraction short, as from -0.25 to -1 shares)."""
    snap = snapshot(b["equity"], b["held"], b["prices"])
    investable = b["equity"] * (1 - b["reserve"])
    out = {s: Decimal(b["held"][s]) for s in SYMBOLS}
    for s in SYMBOLS:
        steps, _ = plan_leg(s, b["weights"][s], snap, policy=policy, investable=investable)
        out[s] += sum((qty if intent.side is Side.BUY else -qty for intent, qty in steps), Decimal(0))
    return out


def kernel_shares(b: dict) -> list[float]:
    got = decide_shares(as_row(b["held"]), as_row(b["weights"]), np.array([float(b["equity"])]),
                        as_row(b["prices"]), np.array([float(b["min_trade"])]), np.array([float(b["reserve"])]),
                        np.array([b["fractional"]]))
    one_row = decide_shares_one(as_row(b["held"])[0].tolist(), as_row(b["weights"])[0].tolist(), float(b["equity"]),
                                as_row(b["prices"])[0].tolist(), float(b["min_trade"]), float(b["reserve"]),
                                fractional_longs=b["fractional"])
    assert one_row == got[0].tolist()
    return one_row


class TestKernelMatchesPlanner:
    @settings(max_examples=400, deadline=None)
    @given(book)
    def test_shares_after_a_rebalance_equal_the_planners(self, b):
        """Whole shares toward zero, min-trade skips and closes: the same shares as plan_rebalance."""
        snap = snapshot(b["equity"], b["held"], b["prices"])
        policy = PlanPolicy(min_trade_usd=b["min_trade"], cash_reserve=b["reserve"],
                            fractional_longs=b["fractional"])
        targets = TargetWeights({s: w for s, w in b["weights"].items() if w or s == SYMBOLS[0]})

        plan = plan_rebalance(targets, snap, policy, vehicles={}, run_key="2025Q1-abc123")
        expected = {s: Decimal(b["held"][s]) for s in SYMBOLS}
        for order in plan.orders:
            expected[order.symbol] += order.signed_qty
        got = decide_shares(
            as_row(b["held"]),
            as_row(b["weights"]),
            np.array([float(b["equity"])]),
            as_row(b["prices"]),
            np.array([float(b["min_trade"])]),
            np.array([float(b["reserve"])]),
            np.array([b["fractional"]]),
        )
        one_row = decide_shares_one(
            as_row(b["held"])[0].tolist(),
            as_row(b["weights"])[0].tolist(),
            float(b["equity"]),
            as_row(b["prices"])[0].tolist(),
            float(b["min_trade"]),
            float(b["reserve"]),
            fractional_longs=b["fractional"],
        )

        assert got[0].tolist() == [float(expected[s]) for s in SYMBOLS]
        assert one_row == got[0].tolist()

    @settings(max_examples=400, deadline=None)
    @given(book)
    def test_band_breach_equals_drift_breaches(self, b):
        """A leg outside its band triggers the kernel exactly when drift_breaches names a leg."""
        if not any(b["held"].values()):
            b["held"][SYMBOLS[0]] = 1
        snap = snapshot(b["equity"], b["held"], b["prices"])
        targets = TargetWeights(dict(b["weights"]))
        vehicles = {s: Vehicle(s, s) for s in SYMBOLS}

        reasons = drift_breaches(measure_drift(targets, snap, vehicles), DriftBands(leg=b["band"]))
        got = leg_breaches(
            as_row(b["held"]),
            as_row(b["prices"]),
            as_row(b["weights"])[:, None, :],
            np.array([[float(b["equity"])]]),
            np.array([float(b["band"])]),
        )

        assert bool(got[0, 0]) == bool(reasons)


class TestAfterASplit:
    @settings(max_examples=400, deadline=None)
    @given(book, split_held)
    def test_fractions_follow_the_planner_but_a_fractional_short_goes_whole(self, b, held):
        """A split's fractional long is the planner's to keep or trade; a fractional short is made whole at
        the next rebalance even when that trade is under min trade (Alpaca shorts whole shares only)."""
        b = {**b, "held": held}
        policy = PlanPolicy(min_trade_usd=b["min_trade"], cash_reserve=b["reserve"],
                            fractional_longs=b["fractional"])

        usual = planned(b, policy)
        any_size = planned(b, PlanPolicy(min_trade_usd=Decimal(0), cash_reserve=b["reserve"],
                                         fractional_longs=b["fractional"]))
        left_fractional_short = {s for s in SYMBOLS if held[s] < 0 and held[s] != int(held[s]) and usual[s] == held[s]}
        expected = [float(any_size[s] if s in left_fractional_short else usual[s]) for s in SYMBOLS]

        assert kernel_shares(b) == expected

    def test_a_fractional_short_under_min_trade_is_made_whole(self):
        """Short 7 shares, 1-for-5: -1.4 shares; the 0.6 share to -2 is $30, under a $100 min trade, and is traded
        by the planner and the kernel alike."""
        b = {"equity": Decimal(1000), "reserve": Decimal(0), "min_trade": Decimal(100), "fractional": False,
             "held": {s: Decimal("-1.4") if s == "QQQ" else Decimal(0) for s in SYMBOLS},
             "weights": {s: Decimal("-0.1") if s == "QQQ" else Decimal(0) for s in SYMBOLS},
             "prices": {s: Decimal(50) for s in SYMBOLS}}

        assert planned(b, PlanPolicy(min_trade_usd=Decimal(100)))[Symbol("QQQ")] == Decimal("-2")
        assert kernel_shares(b) == [0.0, 0.0, -2.0, 0.0]

    @settings(max_examples=200, deadline=None)
    @given(book, split_held)
    def test_band_breach_on_split_holdings_equals_drift_breaches(self, b, held):
        """Fractional holdings are weighed as drift_breaches weighs them."""
        if not any(held.values()):
            held[SYMBOLS[0]] = Decimal("0.4")
        snap = snapshot(b["equity"], held, b["prices"])
        reasons = drift_breaches(measure_drift(TargetWeights(dict(b["weights"])), snap,
                                               {s: Vehicle(s, s) for s in SYMBOLS}), DriftBands(leg=b["band"]))

        got = leg_breaches(as_row(held), as_row(b["prices"]), as_row(b["weights"])[:, None, :],
                           np.array([[float(b["equity"])]]), np.array([float(b["band"])]))

        assert bool(got[0, 0]) == bool(reasons)


def test_exact_whole_share_quotients_are_not_rounded_down_by_float_error():
    """0.3 x 100,000 / 120 is exactly 250 shares, though 0.3 is not exact in binary."""
    shares = decide_shares(
        np.zeros((1, 1)), np.array([[0.3]]), np.array([100_000.0]), np.array([[120.0]]), np.zeros(1), np.zeros(1)
    )

    assert shares.tolist() == [[250.0]]


UNDERLYING = {Symbol("IWM"): (Symbol("IWM"), 1), Symbol("PSQ"): (Symbol("QQQ"), -1), Symbol("QQQ"): (Symbol("QQQ"), 1),
              Symbol("TNA"): (Symbol("IWM"), 3)}
BOOK_VEHICLES = {s: Vehicle(s, u, Decimal(m)) for s, (u, m) in UNDERLYING.items()}
# (N, U) as build_market lays them out: one column per underlying, sorted
MULTIPLES = np.array([[float(m) if u == col else 0.0 for col in ("IWM", "QQQ")] for s, (u, m) in
                      sorted(UNDERLYING.items())])
# equities of 2^a 5^b dollars make every shares x price / equity a finite decimal, so drifts land exactly on bands
round_equity = st.sampled_from([Decimal(x) for x in ("50000", "80000", "100000", "125000", "200000", "250000")])
band_pick = st.sampled_from(["random", "on", "above", "below", "none"])


def book_bands(b: dict, picks: tuple[str, str, str]) -> tuple[DriftBands, np.ndarray]:
    """Gross, net and effective bands, each random, absent, or exactly on (or a hair off) the book's own drift."""
    snap = snapshot(b["equity"], b["held"], b["prices"])
    report = measure_drift(TargetWeights(dict(b["weights"])), snap, BOOK_VEHICLES)
    now, want = report.current, report.target
    worst_effective = max((abs(now.effective.get(u, Decimal(0)) - want.effective.get(u, Decimal(0)))
                           for u in set(now.effective) | set(want.effective)), default=Decimal(0))
    drifts = (abs(now.gross - want.gross), abs(now.net - want.net), worst_effective)
    hair = Decimal("1e-13")
    chosen: list[Decimal | None] = []
    for pick, drift in zip(picks, drifts, strict=True):
        chosen.append({"random": b["band"], "on": drift, "above": drift + hair, "below": abs(drift - hair),
                       "none": None}[pick])
    as_floats = np.array([[np.inf if x is None else float(x) for x in chosen]])
    # the band a backtest has is a float: live's Decimal band is that float's shortest repr
    exact = [None if x is None else Decimal(repr(float(x))) for x in chosen]
    return DriftBands(leg=Decimal("1e12"), gross=exact[0], net=exact[1], effective=exact[2]), as_floats


class TestBookBands:
    @settings(max_examples=500, deadline=None)
    @given(book, round_equity, st.tuples(band_pick, band_pick, band_pick))
    def test_book_breach_equals_drift_breaches(self, b, equity, picks):
        """Gross, net and effective exposure off target by more than their bands exactly when drift_breaches
        names them, ties on the band included (the loop stops and Decimal answers)."""
        b = {**b, "equity": equity}
        if not any(b["held"].values()):
            b["held"][SYMBOLS[0]] = 1
        bands, as_floats = book_bands(b, picks)
        snap = snapshot(b["equity"], b["held"], b["prices"])

        reasons = drift_breaches(measure_drift(TargetWeights(dict(b["weights"])), snap, BOOK_VEHICLES), bands)
        got = book_breaches(as_row(b["held"]), as_row(b["prices"]), as_row(b["weights"]),
                            np.array([float(b["equity"])]), as_floats, MULTIPLES)

        assert bool(got[0]) == bool(reasons)

    def test_a_net_drift_a_hair_over_its_band_is_a_breach_as_live_sees_it(self):
        """Long 0.7 and 0.2 against 0.8 drifts 0.1 net: over a 0.0999999999999999 band in Decimal, as live judges
        it, though the floats make the drift 0.09999999999999987 (the loop's float check alone said no)."""
        prices = {s: Decimal(100) for s in SYMBOLS}
        b = {"equity": Decimal(100_000), "prices": prices, "held": dict.fromkeys(SYMBOLS, 0),
             "weights": {s: Decimal(0) for s in SYMBOLS}}
        b["held"].update({SYMBOLS[0]: 700, SYMBOLS[1]: 200})
        b["weights"][SYMBOLS[2]] = Decimal("0.8")
        band = 0.0999999999999999
        report = measure_drift(TargetWeights(dict(b["weights"])), snapshot(b["equity"], b["held"], b["prices"]),
                               BOOK_VEHICLES)

        got = book_breaches(as_row(b["held"]), as_row(b["prices"]), as_row(b["weights"]), np.array([100_000.0]),
                            np.array([[np.inf, band, np.inf]]), MULTIPLES)

        assert not abs(700 * 100 / 100_000 + 200 * 100 / 100_000 - 0.8) > band
        assert drift_breaches(report, DriftBands(leg=Decimal("1e12"), net=Decimal(repr(band))))
        assert got[0]
