"""A strategy's weights for every session at once (strategies.base.SessionWeights) against target_weights asked
session by session: the same rows, so a gated backtest is the same backtest, only faster."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.history.frame import synthetic_history
from bot.core.domain import Symbol, TargetWeights, Vehicle
from bot.errors import DataError
from bot.research.backtest import BacktestSettings, run_backtest
from strategies.base import MarketView, SessionWeights
from strategies.indicators import trailing_spread, trend_columns, trend_of, trend_scores
from strategies.pair import Hedge, PairStrategy

IWM, QQQ, PSQ = Symbol("IWM"), Symbol("QQQ"), Symbol("PSQ")


def one_by_one(strategy: PairStrategy, closes: pd.DataFrame, sessions: pd.DatetimeIndex) -> np.ndarray:
    """What a backtest asks session by session: target_weights as of each session, with the closes up to it."""
    symbols = sorted(strategy.universe)
    need = strategy.needs_history_days
    rows = []
    for day in sessions:
        p = int(closes.index.searchsorted(day, side="right"))
        view = MarketView(day.date(), {s: Decimal(1) for s in symbols}, closes.iloc[max(0, p - need) : p])
        weights = strategy.target_weights(view).weights
        rows.append([float(weights.get(s, Decimal(0))) for s in symbols])
    return np.array(rows)


def history(values: list[float], steps: list[float], start: str = "2020-01-01") -> pd.DataFrame:
    index = pd.bdate_range(start, periods=len(steps) + 1)
    iwm = 100.0 * np.cumprod(np.r_[1.0, 1.0 + np.asarray(steps)])
    qqq = 80.0 * np.cumprod(np.r_[1.0, 1.0 + np.asarray(values[: len(steps)])])
    return pd.DataFrame({IWM: iwm, QQQ: qqq}, index=index)


@st.composite
def gated_pairs(draw: st.DrawFn) -> tuple[PairStrategy, pd.DataFrame, pd.DatetimeIndex]:
    n = draw(st.integers(8, 90))
    moves = st.floats(-0.08, 0.08, allow_nan=False)
    closes = history(draw(st.lists(moves, min_size=n, max_size=n)), draw(st.lists(moves, min_size=n, max_size=n)))
    days = draw(st.integers(1, n - 2))
    # a threshold anywhere, or exactly a spread the closes make (and a hair either side): the Decimal comparison
    at = draw(st.integers(days, n))
    spread = trailing_spread(closes.iloc[: at + 1], long=IWM, short=QQQ, as_of=closes.index[at].date(), days=days)
    pick = draw(st.sampled_from(["any", "exact", "above", "below"]))
    limit = {"any": draw(st.floats(-0.6, 0.6, allow_nan=False)), "exact": spread,
             "above": float(np.nextafter(spread, np.inf)), "below": float(np.nextafter(spread, -np.inf))}[pick]
    hedge = draw(st.sampled_from([Hedge.SHORT, Hedge.INVERSE]))
    gross = Decimal(draw(st.sampled_from(["0.5", "1", "1.7", "2"])))
    strategy = PairStrategy(gross=gross, hedge=hedge, max_trailing_spread=Decimal(repr(limit)), lookback_days=days)
    first = draw(st.integers(days, n))
    keep = draw(st.lists(st.booleans(), min_size=n + 1 - first, max_size=n + 1 - first))
    sessions = closes.index[first:][[True, *keep[1:]]]  # some sessions the closes have and the market does not
    return strategy, closes, pd.DatetimeIndex(sessions)


@settings(max_examples=300, deadline=None)
@given(gated_pairs())
def test_every_row_is_what_target_weights_gives_on_that_session(case) -> None:
    strategy, closes, sessions = case

    every = strategy.weights_by_session(closes, sessions, sorted(strategy.universe))

    assert every is not None
    expected = one_by_one(strategy, closes, sessions)
    assert every.tobytes() == expected.tobytes()


def test_a_threshold_on_a_spread_itself_opens_the_gate_as_decimal_says() -> None:
    """The spread is -0.30000000000000004 in floats; against the threshold -0.3 Decimal says held, and so must
    the fast path, although float(-0.3) is above it only by the rounding of its own repr."""
    closes = pd.DataFrame({IWM: [100.0, 70.0], QQQ: [100.0, 100.0]}, index=pd.bdate_range("2024-01-01", periods=2))
    spread = trailing_spread(closes, long=IWM, short=QQQ, as_of=date(2024, 1, 2), days=1)
    sessions = pd.DatetimeIndex(closes.index[1:])
    for limit in (repr(spread), "-0.3", "-0.30000000000000005", "-0.31"):
        strategy = PairStrategy(max_trailing_spread=Decimal(limit), lookback_days=1)

        every = strategy.weights_by_session(closes, sessions, [IWM, QQQ])

        assert every is not None and every.tobytes() == one_by_one(strategy, closes, sessions).tobytes(), limit


class Hidden:
    """The same strategy without weights_by_session: the backtest asks it session by session."""

    def __init__(self, inner: PairStrategy) -> None:
        self.inner = inner
        self.name = inner.name

    universe = property(lambda self: self.inner.universe)
    vehicles: Mapping[Symbol, Vehicle] = property(lambda self: self.inner.vehicles)  # type: ignore[assignment]
    needs_history_days = property(lambda self: self.inner.needs_history_days)
    history_symbols = property(lambda self: self.inner.history_symbols)

    def target_weights(self, market: MarketView) -> TargetWeights:
        return self.inner.target_weights(market)


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return synthetic_history(["IWM", "QQQ", "PSQ", "SPY"], start=date(2010, 1, 4), end=date(2016, 12, 30))


@pytest.mark.parametrize("params", [
    {"max_trailing_spread": Decimal("-0.05")},
    {"max_trailing_spread": Decimal("0.02"), "lookback_days": 63, "hedge": Hedge.INVERSE},
    {"max_trailing_spread": Decimal("-0.01"), "lookback_days": 5, "gross": Decimal("1.5")},
    {"min_trend_score": 2, "max_trailing_spread": Decimal("0.05")},
])
def test_a_gated_backtest_is_the_same_backtest_bit_for_bit(frames, params) -> None:
    strategy = PairStrategy(**params)
    assert isinstance(strategy, SessionWeights) and not isinstance(Hidden(strategy), SessionWeights)
    run = BacktestSettings(frequency="monthly", leg_band=0.03, slippage_bps=2, borrow_bps=40, cash_rate=0.01)

    fast, slow = run_backtest(strategy, frames, run), run_backtest(Hidden(strategy), frames, run)  # type: ignore[arg-type]

    gross = fast.exposure["gross"]
    assert (gross == 0).any() and (gross > 0.5).any()  # the gate opened and closed
    assert fast.metrics == slow.metrics
    assert fast.equity.to_numpy().tobytes() == slow.equity.to_numpy().tobytes()
    pd.testing.assert_frame_equal(fast.trades, slow.trades, check_exact=True)


@st.composite
def trend_windows(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    n = draw(st.integers(40, 700))
    index = pd.bdate_range("2019-01-01", periods=n + n // 8)
    gone = draw(st.lists(st.integers(0, len(index) - 1), max_size=n // 8, unique=True))  # holidays
    stamps = index.delete(sorted(gone))[:n].values
    steps = draw(st.lists(st.floats(-0.05, 0.05, allow_nan=False), min_size=len(stamps), max_size=len(stamps)))
    values = 50.0 * np.cumprod(1.0 + np.asarray(steps))
    sessions = draw(st.sampled_from([520, 400, 300, 260]))
    ends = np.array(sorted(set(draw(st.lists(st.integers(1, len(values)), min_size=1, max_size=40)))))
    return stamps, values, ends, sessions


@settings(max_examples=150, deadline=None)
@given(trend_windows())
def test_trend_scores_are_trend_of_at_every_end_or_none_where_it_refuses(case) -> None:
    stamps, values, ends, sessions = case

    scores, figures = trend_scores(stamps, values, ends, sessions=sessions), trend_columns(stamps, values, ends,
                                                                                           sessions=sessions)

    try:
        expected = [trend_of(stamps[:p], values[:p], sessions=sessions) for p in ends.tolist()]
    except DataError:
        assert scores is None and figures is None
        return
    assert scores is not None and figures is not None
    assert scores.tolist() == [state.score for state in expected]
    for name, column in figures.items():  # every figure bit for bit, not only the score it gives
        assert column.tobytes() == np.array([getattr(state, name) for state in expected]).tobytes(), name


@pytest.mark.parametrize("params", [
    {"min_trend_score": 2},
    {"min_trend_score": 3, "max_trailing_spread": Decimal("0.02"), "hedge": Hedge.INVERSE},
    {"min_trend_score": 1, "max_trailing_spread": Decimal("-0.02"), "lookback_days": 600},
])
def test_the_trend_gate_alone_or_with_the_spread_gives_the_rows_target_weights_gives(frames, params) -> None:
    closes = pd.DataFrame({s: frames[s]["adj_close"] for s in ("IWM", "QQQ")})
    sessions = pd.DatetimeIndex(closes.index[601:])
    strategy = PairStrategy(**params)

    every = strategy.weights_by_session(closes, sessions, sorted(strategy.universe))

    assert every is not None and every.tobytes() == one_by_one(strategy, closes, sessions).tobytes()
    assert (every == 0).all(axis=1).any() and (every != 0).all(axis=1).any()  # the gate opened and closed


def test_closes_target_weights_would_refuse_are_asked_session_by_session(frames) -> None:
    closes = pd.DataFrame({s: frames[s]["adj_close"] for s in ("IWM", "QQQ")})
    sessions = pd.DatetimeIndex(closes.index[600:])

    broken = closes.copy()
    broken.iloc[700, 1] = 0.0  # QQQ: read by the gate of a PSQ-hedged pair, never traded by it
    spread = PairStrategy(max_trailing_spread=Decimal("0"), hedge=Hedge.INVERSE)
    assert spread.weights_by_session(broken, sessions, [IWM, PSQ]) is None
    bad = {**frames, "QQQ": frames["QQQ"].assign(adj_close=broken[QQQ])}
    with pytest.raises(DataError, match="QQQ: closes must be positive and finite"):
        run_backtest(spread, bad, BacktestSettings())
    assert dataclasses.replace(spread, lookback_days=700).weights_by_session(closes, sessions, [IWM, PSQ]) is None
